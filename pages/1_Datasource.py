"""Datasources: where images come from and where results go; access checks, copy, write-back."""

import streamlit as st

from bps_app import blind, jobs, state, widgets
from bps_app import datasource_form as dsf
from bps_app.safe_text import md
from bps_core.verbs import (
    DEFAULT_TASK,
    PARTS,
    CopySelection,
    CopySettings,
    IngestSettings,
    WritebackSettings,
    check_access,
    join_uri,
)

with state.open_project() as project:
    input_cfg = project.config.datasource
    output_cfg = project.config.output
    active = {kind: jobs.active_job(project, kind) for kind in ("ingest", "copy", "writeback")}
    last = {kind: next(iter(jobs.list_jobs(project, kind, limit=1)), None)
            for kind in ("ingest", "copy", "writeback")}  # fmt: skip
    # A blind labeler copies by her own labels: their classes, not everyone's.
    mine = blind.view(project, state.user_name())
    class_names = sorted(project.label_counts()) if mine is None else mine.classes()
    round_ids = project.rounds.ids()
    n_samples = project.n_samples()

st.title("Datasources")
st.caption(
    "The **input** is where images are listed and read (list + read). The **output** is where "
    "thumbnails, predictions, metadata and embeddings are written back in Lightly's `.lightly/` "
    "layout (list + read + write + delete). Secrets are never stored: use a profile, a role, "
    "or keys from the environment / Streamlit secrets."
)
st.dataframe(
    dsf.describe_frame([input_cfg] + ([output_cfg] if output_cfg else [])), hide_index=True
)


def _last_result(kind: str) -> None:
    if widgets.job_outcome(kind):  # a job this session watched just ended: said in full
        return
    job = last[kind]
    if job is None or job.active:
        return
    if job.state == "succeeded":
        st.caption(f"Last {kind} job, finished {job.finished_at}:")
        st.dataframe(dsf.job_result_frame(job.result), hide_index=True)
    else:
        st.warning(md(f"Last {kind} job {job.state}: {job.error}"))


tab_in, tab_out, tab_copy, tab_wb = st.tabs(
    ["Input", "Output", "Copy to a bucket", "Write-back (.lightly/)"]
)

with tab_in:
    st.button(
        "Use the NASA BPS public bucket",
        icon=":material/public:",
        key="nasa_preset",
        on_click=dsf.apply_preset,
        args=("input", dsf.NASA_BPS_PRESET),
        help="s3://nasa-bps-training-data/Microscopy/train/ (us-west-2, anonymous)",
    )
    cfg, problem = dsf.datasource_form(
        "input", ds_id=input_cfg.id, purpose=input_cfg.purpose, current=input_cfg
    )
    if problem:
        st.error(md(problem))
    st.caption(
        "Saving re-lists the images and keeps sample keys (and labels) for files found under "
        "the same relative paths, e.g. after moving from a local copy to the S3 bucket. The "
        "project switches to the new input only once its images are listed: a folder without "
        "images or without the metadata CSV leaves it as it was."
    )
    save = dsf.check_and_save_buttons(
        "input", cfg, changed=cfg is not None and cfg != input_cfg,
        busy=active["ingest"] is not None, save_label="Save and re-list the images",
    )  # fmt: skip
    if save and cfg is not None:
        # The project switches to cfg only when the job has ingested its images: a folder
        # without images (or without the metadata CSV) fails and leaves the input as it was.
        with state.open_project() as project:
            submitted = widgets.submit_job(project, lambda: IngestSettings(datasource=cfg))
        if submitted:
            st.rerun()
    if active["ingest"] is not None:
        widgets.job_monitor(active["ingest"].id)
    _last_result("ingest")
    st.caption(f"{n_samples:,} samples in this project.")

with tab_out:
    cfg, problem = dsf.datasource_form("output", ds_id="output", purpose="output",
                                       current=output_cfg)  # fmt: skip
    if problem:
        st.error(md(problem))
    save = dsf.check_and_save_buttons(
        "output", cfg, changed=cfg is not None and cfg != output_cfg, busy=False,
        save_label="Save as output",
    )  # fmt: skip
    if save and cfg is not None:
        with state.open_project() as project:
            project.set_datasources(output=cfg)
        st.toast(f"Output set to {md(cfg.uri)}")
        st.rerun()

with tab_copy:
    st.caption(
        "Copy the images of a selection to another bucket or folder (e.g. another team's "
        "account). Existing objects are never replaced unless you ask; a re-run skips what is "
        "already there. One set of credentials for both buckets copies server-side."
    )
    selected = state.map_selection()
    choices = {"map": f"Map selection ({len(selected)})", "round": "A selection round",
               "classes": "Label classes", "all": f"All samples ({n_samples:,})"}  # fmt: skip
    what = st.radio("What", list(choices), format_func=choices.get, horizontal=True,
                    key="copy_what")  # fmt: skip
    selection: CopySelection | None = None
    if what == "map":
        selection = CopySelection(kind="keys", keys=tuple(selected)) if selected else None
        if not selected:
            st.info("Select samples with the lasso on the Explore and label page first.")
    elif what == "round":
        if round_ids:
            rnd = st.selectbox("Round", round_ids, index=len(round_ids) - 1, key="copy_round")
            selection = CopySelection(kind="round", round=int(rnd))
        else:
            st.info("No selection rounds yet.")
    elif what == "classes":
        chosen = st.multiselect("Classes", class_names, key="copy_classes")
        selection = (CopySelection(kind="classes", classes=tuple(chosen),
                                   labeler=blind.user_of(mine) or "")
                     if chosen else None)  # fmt: skip
    else:
        selection = CopySelection(kind="all")
    st.markdown("**Destination**")
    dest, problem = dsf.datasource_form("copy", ds_id="copy-dest", purpose="output")
    if problem:
        st.error(md(problem))
    overwrite = st.checkbox("Replace destination objects that differ", key="copy_overwrite")
    c1, c2 = st.columns(2)
    if c1.button("Check destination access", key="check_copy", disabled=dest is None) and dest:
        dsf.access_report(check_access(dest))
    start = c2.button(
        "Start copy",
        key="start_copy",
        type="primary",
        disabled=dest is None or selection is None or active["copy"] is not None,
    )
    if start and dest is not None and selection is not None:
        to, picked = dest, selection  # narrowed to not-None, for the lambda
        with state.open_project() as project:
            submitted = widgets.submit_job(project, lambda: CopySettings(
                dest=to, selection=picked, overwrite=overwrite))  # fmt: skip
        if submitted:
            st.rerun()
    if active["copy"] is not None:
        widgets.job_monitor(active["copy"].id)
    _last_result("copy")

with tab_wb:
    target = output_cfg or (input_cfg if input_cfg.can_write else None)
    if target is None:
        st.info("Set an output datasource first (Output tab).")
    else:
        st.caption(f"Writes under {md(join_uri(target.uri, '.lightly/'))} in Lightly's layout.")
        parts = st.multiselect("Parts", PARTS, default=list(PARTS), key="wb_parts")
        task = st.text_input("Prediction task name", DEFAULT_TASK, key="wb_task")
        if st.button("Write back", key="start_wb", type="primary",
                     disabled=not parts or active["writeback"] is not None):  # fmt: skip
            with state.open_project() as project:
                submitted = widgets.submit_job(
                    project, lambda: WritebackSettings(parts=tuple(parts), task=task)
                )
            if submitted:
                st.rerun()
        if active["writeback"] is not None:
            widgets.job_monitor(active["writeback"].id)
        _last_result("writeback")

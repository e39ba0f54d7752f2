"""Agreement: blind double labeling's setting, the labelers' agreement (Cohen's kappa per pair,
Fleiss' kappa and Krippendorff's alpha with three or more), each labeler's labels, and the
adjudication queue where a reviewer's decision becomes the label."""

import streamlit as st

from bps_app import cache, state, tables, widgets
from bps_app.safe_text import md
from bps_core.verbs import (
    DoubleLabelingSettings,
    SettingsError,
    UnknownSampleError,
    adjudicate,
    agreement_report,
    clear_double_labeling,
    disagreements,
    labeler_labels,
    set_double_labeling,
)

with state.open_project() as project:
    report = agreement_report(project)
    wide = labeler_labels(project)
    disputes = disagreements(project)
    classes = project.classes()
    rel_index = cache.relpaths(project)
    n_ok = project.n_samples("ok")
    source = project.config.datasource
    default_window = project.config.display

setting = report.setting
user = state.user_name()
ADJUDICATION_TAB = "Adjudication queue"
st.title("Agreement")


def _save(labelers: str, share: float, blind: bool, seed: int) -> None:
    names = tuple(n.strip() for n in labelers.split(",") if n.strip())
    try:
        settings = DoubleLabelingSettings(labelers=names, share=share, blind=blind, seed=seed)
    except SettingsError as exc:
        st.error(md(str(exc)))
        return
    with state.open_project() as p:
        change = set_double_labeling(p, settings)
    state.reset_agreement_form()  # the box shows the saved list, not what was typed
    kept = (f", {change.n_kept_labeled} kept because already labeled"
            if change.n_kept_labeled else "")  # fmt: skip
    state.flash(state.AGREEMENT_FLASH, f"Double labeling is on: {change.n_samples:,} samples "
                f"assigned to each of {', '.join(settings.labelers)} ({change.n_added:,} "
                f"assignments added, {change.n_removed:,} removed{kept}).")  # fmt: skip
    st.rerun()


def _turn_off() -> None:
    with state.open_project() as p:
        clear_double_labeling(p)
    state.flash(state.AGREEMENT_FLASH, "Double labeling is off; assignments and labels are kept.")


def _decide(key: str, label: str) -> None:
    if not user:
        return
    try:
        with state.open_project() as p:
            adjudicate(p, [(key, label)], user=user)
    except (UnknownSampleError, ValueError) as exc:
        state.set_adjudication_error(str(exc))


if message := state.pop_flash(state.AGREEMENT_FLASH):
    st.success(md(message))

on = setting is not None and setting.enabled
blind_labeler = on and setting is not None and setting.blind and user in setting.labelers
if setting is None:
    st.caption("Double labeling is off: nobody has been assigned samples yet.")
else:
    mode = "blind" if setting.blind else "not blind"
    st.caption(
        f"Double labeling is **{'on' if on else 'off'}** ({mode}): {setting.share:.0%} of the "
        f"good samples, each labeled by {md(', '.join(setting.labelers))}."
    )

with st.expander("Double-labeling setting", expanded=setting is None or not on):
    if blind_labeler:
        st.info("You are one of the blind labelers: ask a reviewer to change the setting.")
    elif not user:  # else clearing the name would get a blind labeler round the rule above
        st.warning("Enter your name in the sidebar to change the double-labeling setting.")
    else:
        with st.form("agreement_setting", border=False):
            labelers = st.text_input(
                "Labelers", value=", ".join(setting.labelers) if setting else "",
                key=state.AGREEMENT_LABELERS, placeholder="e.g. alice, bob",
                help="Two or more names, as each labeler types theirs in the sidebar.",
            )  # fmt: skip
            c1, c2, c3 = st.columns(3)
            share = widgets.number_field(
                "Share of the samples", low=0.01, high=1.0, step=0.05,
                value=float(setting.share) if setting else 0.2, key="agreement_share", where=c1,
                help=f"Every labeler labels this share of the {n_ok:,} good samples.",
            )  # fmt: skip
            seed = widgets.number_field(
                "Seed", low=0, high=None, value=setting.seed if setting else 0,
                key="agreement_seed", where=c2,
            )  # fmt: skip
            blind = c3.toggle(
                "Blind", value=setting.blind if setting else True, key="agreement_blind",
                help="Labelers see no one's labels in the queue; a disagreement counts as "
                "unlabeled until a reviewer decides it.",
            )  # fmt: skip
            numbers_ok = widgets.check_numbers(share, seed)
            if st.form_submit_button("Save and assign", type="primary") and numbers_ok:
                _save(labelers, share.number, bool(blind), seed.number)
        if on:
            st.button("Turn double labeling off", key="agreement_off", on_click=_turn_off,
                      help="Keeps the assignments and every label; the queue shows labels "
                      "again and disagreements keep their last label.")  # fmt: skip

if setting is None:
    st.info("Choose two or more labelers and a share above, then each labels in the Label "
            "queue under their own name.")  # fmt: skip
    st.stop()

st.subheader("Progress")
st.dataframe(report.progress_frame(), hide_index=True, key="agreement_progress")
if blind_labeler:
    st.info("You are one of the blind labelers, so the agreement, the other labels and "
            "the adjudication queue stay hidden while blind double labeling is on.")  # fmt: skip
    st.stop()

m = st.columns(3)
m[0].metric("Samples assigned to every labeler", f"{report.n_assigned:,}")
m[1].metric("Open disagreements", f"{report.n_disputed:,}")
m[2].metric("Adjudicated", f"{report.n_adjudicated:,}")

# Fixed tab names: a name that changed with each decision would send the reviewer back to the
# first tab after every one. The tabs track which one is open ("rerun"): the adjudication
# queue's digit keys must exist only while it is shown, or a digit typed on another tab would
# decide a disagreement the reviewer cannot see.
tab_kappa, tab_labels, tab_adjudicate = st.tabs(
    ["Agreement", "Labels per labeler", ADJUDICATION_TAB], key=state.AGREEMENT_TAB,
    on_change="rerun",
)  # fmt: skip
with tab_kappa:
    t = report.tables
    st.markdown("**Cohen's kappa per labeler pair** (on the samples both labeled)")
    st.dataframe(tables.agreement_pairs_table(t.pairs), hide_index=True, key="agreement_pairs")
    if len(t.overall):
        st.markdown("**All labelers**: Fleiss' kappa (samples every labeler labeled) and "
                    "Krippendorff's alpha (samples two or more labeled)")  # fmt: skip
        st.dataframe(tables.agreement_figures_table(t.overall), hide_index=True,
                     key="agreement_overall")  # fmt: skip
    st.markdown("**Per class** (one class against the rest)")
    st.dataframe(tables.agreement_figures_table(t.per_class), hide_index=True,
                 key="agreement_per_class")  # fmt: skip
    st.download_button("Download the figures (CSV)", cache.table_csv(report.to_frame()),
                       "agreement.csv", "text/csv", key="agreement_download")  # fmt: skip

with tab_labels:
    st.caption("Each labeler's own label on every double-labeled sample (their last label, "
               "undos taken back; a reviewer's decisions are not theirs).")  # fmt: skip
    only = st.toggle("Only open disagreements", key="agreement_only_disputes")
    shown = wide[wide.index.isin(disputes.key)] if only else wide
    st.dataframe(tables.labeler_labels_table(shown, rel_index), hide_index=True,
                 key="agreement_labels")  # fmt: skip


def _adjudication_queue() -> None:
    """The open disagreements one at a time: the nucleus view, each labeler's label, and a
    class button (digit key) per class that records the reviewer's decision."""
    if error := state.pop_adjudication_error():
        st.error(md(error))
    skipped = state.adjudication_skipped()
    todo = disputes[~disputes.key.isin(skipped)]
    if disputes.empty:
        st.success("No open disagreement.")
        return
    if todo.empty:
        st.info(f"You skipped all {len(disputes):,} open disagreements.")
        st.button("Walk them again", key="adjudicate_again", on_click=state.reset_adjudication,
                  icon=":material/replay:")  # fmt: skip
        return
    if not user:
        st.warning("Enter your name in the sidebar to decide.")
    row = todo.iloc[0]
    key = str(row.key)
    st.caption(f"Disagreement 1 of {len(todo):,} left. A class button (or its digit key) "
               "records your decision, which becomes the label.")  # fmt: skip
    left, right = st.columns([3, 2])
    with left:
        window = widgets.display_controls(default_window, key="adjudicate_display")
        style = widgets.view_controls(state.VIEW_ADJUDICATE, window)
        widgets.nucleus_image(key, rel_index[key], source, style)
    right.markdown(f"**{md(tables.file_name(key))}**")
    for labeler in wide.columns:
        said = row.get(labeler)
        right.metric(f"{labeler} said", md(said) if isinstance(said, str) else "—")
    buttons = right.columns(2)
    for i, c in enumerate(classes):
        buttons[i % 2].button(md(c.name), key=f"adjudicate_class_{c.name}", on_click=_decide,
                              args=(key, c.name), shortcut=c.hotkey, disabled=not user,
                              width="stretch")  # fmt: skip
    right.button("Skip", key="adjudicate_skip", on_click=state.skip_adjudication, args=(key,),
                 shortcut="Right", icon=":material/arrow_forward:")  # fmt: skip
    widgets.shortcut_keys_in_order()  # digits pressed fast: one decision each, in order


with tab_adjudicate:
    if tab_adjudicate.open:
        _adjudication_queue()

"""Project overview: samples by condition, label progress, datasource, problems, next steps."""

import streamlit as st

from bps_app import blind, cache, figures, jobs, state, tables, widgets
from bps_app.safe_text import md
from bps_core.verbs import IngestSettings, current_map, list_embedding_sets

with state.open_project() as project:
    summary = project.summary()
    samples = cache.load_samples(project)
    problems = project.problems()
    config = project.config
    ingest_unfinished = project.ingest_unfinished()
    ingest_job = jobs.active_job(project, "ingest") if ingest_unfinished else None
    read_only = project.read_only
    classes = project.classes()
    sets = list_embedding_sets(project)
    shown_map = current_map(project)
    model = cache.current_model(project)
    stale = cache.stale_model(project)
    n_rounds = project.rounds.count()
    reviews = project.reviews.counts()
    # A blind double labeler counts their own labels only: the classes of everyone's would
    # tell them what the others said.
    blind_view = blind.view(project, state.user_name())

label_counts = (summary["label_counts"] if blind_view is None
                else blind_view.label_counts([c.name for c in classes]))  # fmt: skip

st.title(md(config.name))
st.caption(
    f"Datasource: {md(config.datasource.uri)}  ·  project folder: {md(project.folder)}  ·  "
    f"database: {md(summary['database'])}"
)
if ingest_job is not None:
    st.info("Listing the images (an ingest job is running) ...", icon=":material/sync:")
elif ingest_unfinished:
    st.warning(
        "The last ingest of this project did not finish (the process was stopped), so images "
        "may be missing. Complete it with the button below, or run `bps-labeler ingest` on "
        f"{md(project.folder)} (unless one is running from the command line now).",
        icon=":material/warning:",
    )
    if not read_only and st.button("Complete the ingest", key="home_complete_ingest"):
        with state.open_project() as project:
            submitted = widgets.submit_job(project, IngestSettings)
        if submitted:
            st.rerun()
if read_only:
    st.info(
        "This project is read-only for the server's user: you can browse it, but labels and "
        "jobs cannot be saved.",
        icon=":material/lock:",
    )

n, labeled = summary["samples"], sum(label_counts.values())
c1, c2, c3, c4 = st.columns(4)
c1.metric("Samples", f"{n:,}")
c2.metric("Labeled" if blind_view is None else "Labeled by you", f"{labeled:,}")
c3.metric("Label classes", len(label_counts))
c4.metric("Problems", f"{len(problems):,}")

st.subheader("Samples by condition")
fig = figures.condition_counts_figure(samples)
if fig is None:
    st.info(
        "This dataset has no BPS condition metadata (particle_type, dose_Gy, hr_post_exposure)."
    )
else:
    st.caption(f"{tables.n_conditions(samples)} conditions")
    st.plotly_chart(fig, key="home_conditions_chart")

st.subheader("Embeddings and map")
current = next((s for s in sets if s["current"]), None)
c1, c2 = st.columns(2)
if current is None:
    c1.warning("No embeddings yet: the map, neighbours and selection need them.",
               icon=":material/hub:")  # fmt: skip
else:
    others = f" ({len(sets) - 1} other set{'s' * (len(sets) != 2)} stored)" if len(sets) > 1 else ""
    c1.success(f"Embedding set `{current['version']}`: {current['method']}, "
               f"{current['samples']:,} samples{others}.", icon=":material/hub:")  # fmt: skip
if shown_map is None:
    c2.warning("No map of the current embeddings yet.", icon=":material/scatter_plot:")
else:
    c2.success(f"{shown_map.config.method.upper()} map `{shown_map.id}` of "
               f"{len(shown_map.keys):,} points.", icon=":material/scatter_plot:")  # fmt: skip

st.subheader("Label progress")
if blind_view is not None:
    st.caption(blind.NOTE)
by = "" if blind_view is None else " by you"
st.progress(labeled / n if n else 0.0, text=f"{labeled:,} of {n:,} samples labeled{by}")
# A reviewer accepts, fixes or rejects labels in the Label queue's Reviewer mode; the review
# of everyone's labels is not a blind labeler's to see.
if labeled and blind_view is None:
    st.progress(reviews.n_reviewed / labeled,
                text=f"{reviews.n_reviewed:,} of {labeled:,} labels reviewed")  # fmt: skip
    if reviews.by_reviewer:
        v = reviews.by_verdict
        who = ", ".join(f"{md(r)} {n:,}" for r, n in reviews.by_reviewer.items())
        st.caption(f"Verdicts: {v['accept']:,} accepted, {v['fix']:,} fixed, {v['reject']:,} "
                   f"rejected (by {who}).")  # fmt: skip
fig = figures.label_counts_figure(label_counts, {c.name: c.color for c in classes})
if fig is not None:
    st.plotly_chart(fig, key="home_label_chart")

if len(problems):
    with st.expander(f"{len(problems):,} problems found at ingest", icon=":material/warning:"):
        st.dataframe(problems, hide_index=True)

st.subheader("Next")
EMBED, LABEL, ROUNDS = "pages/2_Embed.py", "pages/3_Explore_and_label.py", "pages/5_Select.py"
QUEUE = "pages/4_Queue.py"
if current is None:
    st.markdown("Compute embeddings (the pixel baseline takes seconds, SimCLR minutes): they "
                "place every image on the map.")  # fmt: skip
    widgets.page_link(EMBED, label="Embeddings: compute a set", icon=":material/hub:")
elif shown_map is None:
    st.markdown("Compute a map of the current embeddings (UMAP or PCA).")
    widgets.page_link(EMBED, label="Embeddings: compute a map", icon=":material/hub:")
elif blind_view is not None:  # she may not train, nor pick rounds by the model or the labels
    st.markdown("Label the samples assigned to you: they come first in the Label queue. "
                "Training and the model's rounds wait until the agreement round ends.")  # fmt: skip
    widgets.page_link(QUEUE, label="Label queue", icon=":material/keyboard:")
    widgets.page_link(LABEL, label="Explore and label", icon=":material/draw:")
elif labeled == 0:
    st.markdown(
        "Lasso a cluster on the map and label it, or start a selection round. Existing labels "
        "import with `bps-labeler label PROJECT_DIR --csv labels.csv` (columns `filename,label`)."
    )
    widgets.page_link(LABEL, label="Explore and label", icon=":material/draw:")
    widgets.page_link(ROUNDS, label="Selection rounds", icon=":material/checklist:")
elif model is None:
    if stale is not None:
        st.markdown(
            "The latest model was trained on another embedding set: its predictions are stale. "
            "Train again on this set (or switch back on Embeddings)."
        )
    else:
        st.markdown("Label at least two classes, then train a model: its predictions and "
                    "uncertainty then guide the next selection round.")  # fmt: skip
    widgets.page_link(ROUNDS, label="Selection rounds: train a model", icon=":material/checklist:")
    widgets.page_link(LABEL, label="Explore and label", icon=":material/draw:")
else:
    what = "the next" if n_rounds else "a first"
    st.markdown(f"Select {what} round of samples the model is least sure of, label them in "
                "the queue, and train again.")  # fmt: skip
    widgets.page_link(ROUNDS, label="Selection rounds", icon=":material/checklist:")
    widgets.page_link(LABEL, label="Explore and label", icon=":material/draw:")

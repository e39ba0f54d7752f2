"""Results: a class's share per condition, corrected for the model's bias, with intervals."""

import streamlit as st

from bps_app import blind, cache, figures, state, tables, widgets
from bps_app.safe_text import md
from bps_core.verbs import REPORT_RANDOM_SHARE_MIN, BpsError, label_origins

DEFAULT_BY = ("particle_type", "dose_Gy", "hr_post_exposure")
CLUSTER_NONE = "none (CLT intervals)"
RANDOM_PER_GROUP = 10  # the random labels per condition the warning below suggests

with state.open_project() as project:
    samples = cache.load_samples(project)
    model = cache.current_model(project)
    stale = cache.stale_model(project)  # trained on another embedding set: not used
    label_counts = project.current_labels().label.value_counts()
    n_labeled = int(label_counts.sum())
    labels_version = project.labels_version()
    reviews_version = project.reviews.version()
    review_counts = project.reviews.counts()
    project_dir = str(project.folder)
    blinded = blind.view(project, state.user_name()) is not None

st.title("Results")
if blinded:  # the results are the model's predictions corrected by everyone's labels
    st.info(blind.NOTE)
    st.stop()
st.caption(
    "The share of a class per condition: the model's predictions on every image, corrected "
    "by the labels of the same group (prediction-powered inference), with confidence intervals."
)

if n_labeled == 0 or model is None:
    if n_labeled == 0:
        st.info(
            "No labels yet: label samples of at least two classes on the Explore and label "
            "or Label queue page, then train a model on the Selection rounds page."
        )
    elif stale is not None:
        st.info(f"The latest model belongs to embedding set {stale.embedding_version}, not the "
                f"current one, so it is not used ({n_labeled:,} labeled samples): train again "
                "on the Selection rounds page, or switch back to that set on the Embeddings "
                "page.")  # fmt: skip
    else:
        st.info(f"No model yet ({n_labeled:,} labeled samples): train one on the Selection "
                "rounds page, then come back for the results.")  # fmt: skip
    widgets.page_link(
        "pages/5_Select.py", label="Go to Selection rounds", icon=":material/checklist:"
    )
    st.stop()

group_columns, _ = tables.metadata_columns(samples)
clusters = [c for c in ("mouse", "well") if c in samples.columns]
c1, c2, c3, c4 = st.columns([1, 2, 1, 1])
# The rarest labeled class first: the one whose share is usually the question.
rarest = min(model.classes, key=lambda c: label_counts.get(c, 0))
class_name = c1.selectbox("Class", model.classes, model.classes.index(rarest), key="results_class")
by = c2.multiselect(
    "Group by", group_columns, [c for c in DEFAULT_BY if c in group_columns],
    key="results_by", help="One row per combination of these metadata columns.",
)  # fmt: skip
cluster = c3.selectbox(
    "Cluster", [CLUSTER_NONE, *clusters], key="results_cluster",
    help="Nuclei of one mouse (or well) are not independent: a group with at least 5 of them "
    "gets an interval from a bootstrap over whole mice (wells).",
)  # fmt: skip
level = c4.select_slider("Level", [0.8, 0.9, 0.95, 0.99], 0.95, key="results_level")
r1, r2 = st.columns(2)
reviewed_only = r1.checkbox(
    "Reviewed labels only", key="results_reviewed_only",
    help="Only labels a reviewer accepted (or fixed, or adjudicated) count as labeled; an "
    "unreviewed label counts as unlabeled, its image's prediction used.",
)  # fmt: skip
random_only = r2.checkbox(
    "Labels of random rounds only", key="results_random_only",
    help="The correction and its interval assume a group's labeled images are a random sample "
    "of it. Labels from lasso clusters or model-led rounds (uncertain, diverse picks) are not: "
    "tick this to count only the labels of samples that random selection rounds picked.",
)  # fmt: skip
if not by:
    st.info("Pick at least one metadata column to group by.")
    st.stop()

try:
    with st.spinner("Computing the shares..."):
        table = cache.report_table(project_dir, labels_version, model.id, class_name, tuple(by),
                                   None if cluster == CLUSTER_NONE else cluster, level,
                                   reviewed_only, reviews_version, random_only)  # fmt: skip
except BpsError as exc:
    st.error(md(str(exc)))
    st.stop()

n_reviewed = review_counts.n_reviewed
only = " (only they count as labeled)" if reviewed_only else ""
suffix = ("_reviewed" if reviewed_only else "") + ("_random" if random_only else "")
# How many labels the table counts: with "random rounds only" often a handful of the labeled
# samples, which "253 labeled samples (only those of random rounds count)" hid.
n_random = int(table.n_labeled.sum()) if random_only else 0
counted = (f"; {n_random:,} of them picked by random rounds, and only those count"
           if random_only else "")  # fmt: skip
if random_only and n_random == 0:
    st.warning("No labeled sample was picked by a random selection round, so no group has a "
               "correction: run a round with the strategy random on the Selection rounds page "
               "and label it in the queue.")  # fmt: skip
if not random_only:  # every label used: warn when most were picked on purpose (docs/results.md)
    with state.open_project() as project:
        origins = label_origins(project, reviewed_only=reviewed_only)
    if origins.mostly_chosen:
        st.warning(
            f"**Only {origins.n_random:,} of the {origins.n_labels:,} labels used come from "
            "random picks** (samples a random selection round picked). The others were picked "
            "on purpose (lasso or map selections, browsing, uncertain, diverse or typical "
            "rounds), so they are not a random sample of their group, and the corrected shares "
            "and their intervals may be biased. Tick **Labels of random rounds only**, or run a "
            "round with the strategy random on the Selection rounds page, **Balance over** "
            f"{md(', '.join(by))}, {RANDOM_PER_GROUP} images per condition "
            f"({RANDOM_PER_GROUP * len(table):,} for these {len(table):,} groups), and label "
            "it in the queue. Warned below "
            f"{REPORT_RANDOM_SHARE_MIN:.0%} random picks.",
            icon=":material/warning:",
        )
st.caption(f"Model {md(model.id)}; {n_labeled:,} labeled samples, {n_reviewed:,} of them "
           f"reviewed{only}{counted}; {len(table):,} groups; {level:.0%} intervals. The corrected "
           "share is the model's share (its mean probability over the group's images) plus the "
           "mean of label minus probability over the group's labeled images; it and its "
           "interval hold if those labeled images are a random sample of the group (see "
           "**Labels of random rounds only**).")  # fmt: skip
view = tables.results_view(table, tuple(by))
# The default columns fit a 1280 px window; the rest on request (or the table's own Show/hide
# columns menu), with the groups pinned so that a wider table scrolls past them.
more = st.pills(
    "More columns", [c for c in tables.RESULTS_MORE if c in view.columns],
    selection_mode="multi", key="results_more",
    help="The Results CSV holds every column.",
)  # fmt: skip
st.dataframe(
    view, hide_index=True, width="stretch", key="results_table",
    column_order=tables.results_columns(view, more),
    column_config={
        **{c: st.column_config.Column(pinned=True) for c in by},
        # Narrow, and grown to what is left: a note of 200 characters would push the table
        # past the window's edge; a click on a cell shows it whole.
        "note": st.column_config.TextColumn(
            width="small", help="Why a group has no correction or interval, or a rough one. "
            "Click a note to read it whole.",
        ),
    },
)  # fmt: skip
d1, d2 = st.columns(2)
d1.download_button(
    "Results CSV", cache.table_csv(table), file_name=f"results_{class_name}{suffix}.csv",
    mime="text/csv", key="results_download_csv", icon=":material/download:",
)  # fmt: skip
d2.download_button(
    "Figure PNG", figures.results_png(table, tuple(by), class_name),
    file_name=f"results_{class_name}{suffix}.png", mime="image/png", key="results_download_png",
    icon=":material/image:",
)  # fmt: skip

st.plotly_chart(figures.results_figure(table, tuple(by), class_name), key="results_plot")
if {"plate", "well"} <= set(samples.columns):
    plate_table = cache.report_table(project_dir, labels_version, model.id, class_name,
                                     ("plate", "well"), None, level, reviewed_only,
                                     reviews_version, random_only)  # fmt: skip
    heat = figures.plate_heatmap_figure(plate_table, class_name)
    if heat is not None:
        st.subheader("Per well")
        st.plotly_chart(heat, key="results_heatmap")

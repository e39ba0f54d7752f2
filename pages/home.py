"""Project overview: samples by condition, label progress, datasource, problems, next steps."""

import streamlit as st

from bps_app import cache, state, widgets
from bps_app.safe_text import md
from bps_core import jobs

with state.open_project() as project:
    summary = project.summary()
    samples = cache.load_samples(project)
    problems = project.problems()
    config = project.config
    ingest_unfinished = project.ingest_unfinished()
    ingest_job = jobs.active_job(project, "ingest") if ingest_unfinished else None
    read_only = project.read_only

st.title(md(config.name))
st.caption(f"Datasource: {md(config.datasource.uri)}  ·  project folder: {md(project.folder)}")
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
            widgets.submit_job(project, "ingest", {})
        st.rerun()
if read_only:
    st.info(
        "This project is read-only for the server's user: you can browse it, but labels and "
        "jobs cannot be saved.",
        icon=":material/lock:",
    )

n, labeled = summary["samples"], summary["labeled"]
c1, c2, c3, c4 = st.columns(4)
c1.metric("Samples", f"{n:,}")
c2.metric("Labeled", f"{labeled:,}")
c3.metric("Label classes", len(summary["label_counts"]))
c4.metric("Problems", f"{len(problems):,}")

st.subheader("Samples by condition")
fig = widgets.condition_counts_chart(samples)
if fig is None:
    st.info(
        "This dataset has no BPS condition metadata (particle_type, dose_Gy, hr_post_exposure)."
    )
else:
    n_conditions = (
        samples.dropna(subset=["particle_type"])
        .groupby(["particle_type", "dose_Gy", "hr_post_exposure"])
        .ngroups
    )
    st.caption(f"{n_conditions} conditions")
    st.plotly_chart(fig, key="home_conditions_chart")

st.subheader("Label progress")
st.progress(labeled / n if n else 0.0, text=f"{labeled:,} of {n:,} samples labeled")
if summary["label_counts"]:
    st.bar_chart(summary["label_counts"], horizontal=True, height=200)

if len(problems):
    with st.expander(f"{len(problems):,} problems found at ingest", icon=":material/warning:"):
        st.dataframe(problems, hide_index=True)

st.subheader("Next")
if labeled == 0:
    st.markdown(
        "- Browse the images on **Explore and label**.\n"
        "- Import existing labels: `bps-labeler label PROJECT_DIR --csv labels.csv` "
        "(columns `filename,label`)."
    )
st.page_link("pages/3_Explore_and_label.py", label="Explore and label", icon=":material/draw:")

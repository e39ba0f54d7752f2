"""Embeddings: train or import embeddings as a background job, watch it, see the result."""

import plotly.express as px
import streamlit as st

from bps_app import cache, state, widgets
from bps_app.safe_text import md, plot_text
from bps_core import jobs
from bps_core.embeddings import METHODS, list_embedding_sets
from bps_core.embeddings.model import ARCHS
from bps_core.errors import BpsError

with state.open_project() as project:
    sets = list_embedding_sets(project)
    running = jobs.active_job(project, "embed")
    recent = jobs.list_jobs(project, "embed", limit=5)

st.title("Embeddings")
st.caption(
    "Self-supervised SimCLR (lightly) trained from scratch on this project's images, an instant "
    "pixel baseline, or a Lightly embeddings CSV. Work runs as a background job: it keeps going "
    "when you change pages or close the tab."
)

if running is None:
    with st.form("embed_form"):
        c1, c2, c3 = st.columns(3)
        method = c1.selectbox("Method", METHODS, key="embed_method")
        arch = c2.selectbox("Backbone", list(ARCHS), index=1, key="embed_arch")
        image_size = c3.select_slider(
            "Image size (px)", [32, 48, 64, 96, 128], 64, key="embed_size"
        )
        c4, c5, c6 = st.columns(3)
        epochs = c4.number_input("Epochs (at most)", 1, 500, 30, key="embed_epochs")
        minutes = c5.number_input(
            "Time budget (minutes)", 0.5, 240.0, 2.0, 0.5, key="embed_minutes"
        )
        batch = c6.select_slider("Batch size", [32, 64, 128, 256], 128, key="embed_batch")
        mask = st.checkbox(
            "Mask out neighbouring nuclei (uses the BPS MASK partners)", key="embed_mask"
        )
        csv_path = st.text_input(
            "Lightly embeddings CSV (method csv)",
            key="embed_csv",
            placeholder="/path/to/embeddings.csv",
        )
        submitted = st.form_submit_button("Start", type="primary")
    if submitted and method == "csv":
        try:  # the job reads the file: the browser may only name one inside the data roots
            csv_path = str(state.path_policy().check(csv_path, "Embeddings CSV"))
        except BpsError as exc:
            st.error(md(exc))
            submitted = False
    if submitted:
        params = {
            "method": method, "arch": arch, "image_size": int(image_size), "epochs": int(epochs),
            "max_seconds": float(minutes) * 60, "batch_size": int(batch),
            "mask_neighbours": bool(mask), "csv": csv_path if method == "csv" else "",
        }  # fmt: skip
        with state.open_project() as project:
            widgets.submit_job(project, "embed", params)
        st.rerun()
else:
    widgets.job_monitor(running.id)

if sets:
    st.subheader("Embedding sets")
    current = next(s for s in sets if s["current"]) if any(s["current"] for s in sets) else sets[0]
    st.dataframe(widgets.embedding_sets_frame(sets), hide_index=True)
    if current["quality"]:
        st.markdown("**Quality** (k-NN on synthetic ground truth, 5 folds grouped by well)")
        st.dataframe(widgets.quality_frame(current["quality"]), hide_index=True)
    with state.open_project() as project:
        preview = cache.map_frame(project)
    if preview is not None:
        color = "particle_type" if "particle_type" in preview.columns else None
        if color:  # metadata values: Plotly renders HTML in legends and hover
            preview = preview.assign(particle_type=preview.particle_type.map(plot_text))
        fig = px.scatter(
            preview, x="x", y="y", color=color, render_mode="webgl", height=420,
            color_discrete_map=widgets.PARTICLE_COLORS, opacity=0.7,
        )  # fmt: skip
        fig.update_traces(marker={"size": 4})
        fig.update_layout(margin={"t": 10, "b": 10}, xaxis_visible=False, yaxis_visible=False)
        st.plotly_chart(fig, key="embed_map_preview")

if recent:
    with st.expander("Recent jobs"):
        st.dataframe(widgets.jobs_frame(recent), hide_index=True)

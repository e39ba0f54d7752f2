"""The naive map page, the peer of bench_rerun.py: the same map, selection panel and display
controls as pages/3_Explore_and_label.py, written the common way: the map frame goes through
``st.cache_data`` (copied out of the cache on every rerun) and nothing is a fragment, so every
click in the panel reruns the whole page and resends the figure."""

import pandas as pd
import streamlit as st

from bps_app import cache, figures, state, widgets
from bps_core.labels import selected_ids
from bps_core.project import Project
from bps_core.projection import MapConfig, load_map

st.set_page_config(layout="wide")


@st.cache_data(show_spinner=False)
def map_data(project_dir: str, map_id: str) -> pd.DataFrame:
    with Project.open(project_dir) as project:
        record = project.maps.get(map_id)
        assert record is not None
        m = load_map(project, MapConfig(**record.params), record.embedding_version)
        xy = pd.DataFrame({"key": m.keys, "x": m.xy[:, 0], "y": m.xy[:, 1]})
        return xy.merge(project.samples(), on="key", how="left")


with state.open_project() as project:
    samples = cache.load_samples(project)
    m = load_map(project, MapConfig())
    frame = map_data(str(project.folder), m.id)
    labels = project.current_labels()
    source = project.config.datasource
    window_default = project.config.display

st.title("Explore and label")
frame = frame.merge(labels[["key", "label"]], on="key", how="left")
fig = figures.map_figure(frame, "label", {})
event = st.plotly_chart(fig, key="umap_scatter", on_select="rerun",
                        selection_mode=("points", "lasso", "box"))  # fmt: skip
ids = selected_ids(event.selection.points) if event and event.selection else []
keys = frame.key[frame.sample_id.isin(ids)].tolist()
if keys:
    chosen = frame[frame.key.isin(keys)]
    st.subheader(f"{len(keys):,} selected")
    window = widgets.display_controls(window_default, key="map_display")
    shown = chosen.sample(n=min(24, len(chosen)), random_state=0).key.tolist()
    widgets.thumbnail_grid(shown, samples.set_index("key").relpath, source, window)

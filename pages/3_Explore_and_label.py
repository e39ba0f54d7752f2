"""Explore: a filtered, paged thumbnail gallery with 16-bit display controls.

The UMAP map with lasso labeling arrives with the map issue; this page already browses images.
"""

import streamlit as st

from bps_app import cache, state, widgets
from bps_core.errors import ImageDecodeError

PAGE_SIZE = 24
FILTER_COLUMNS = ("particle_type", "dose_Gy", "hr_post_exposure", "plate", "well")

with state.open_project() as project:
    samples = cache.load_samples(project)
    source = project.config.datasource
    default_window = project.config.display

st.title("Explore")
st.caption("Not built yet: the embedding map with lasso labeling and the keyboard queue.")

ok = samples[samples.status == "ok"]
filters = st.columns(len(FILTER_COLUMNS))
for col, name in zip(filters, FILTER_COLUMNS, strict=True):
    if name in ok.columns:
        values = sorted(ok[name].dropna().unique().tolist())
        chosen = col.multiselect(name, values, key=f"explore_filter_{name}")
        if chosen:
            ok = ok[ok[name].isin(chosen)]

window = widgets.display_controls(default_window, key="explore_display")
n_pages = max(1, -(-len(ok) // PAGE_SIZE))
page = st.number_input(f"Page (of {n_pages})", 1, n_pages, 1, key="explore_page")
shown = ok.iloc[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
st.caption(f"{len(ok):,} samples match")

bad: list[str] = []
grid = st.columns(6)
for i, row in enumerate(shown.itertuples()):
    try:
        png = cache.thumbnail(source, row.relpath, 160, window)
    except ImageDecodeError as exc:
        bad.append(str(exc))
        with state.open_project() as project:
            project.mark_bad(row.key, exc.reason)
        continue
    grid[i % 6].image(png, caption=row.relpath.rsplit("/", 1)[-1], width="stretch")
if bad:
    st.warning(
        f"{len(bad)} file(s) could not be decoded and were marked bad:\n\n- " + "\n- ".join(bad)
    )

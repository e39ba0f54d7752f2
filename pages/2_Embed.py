"""Embeddings: compute sets and maps as background jobs, pick the current ones, see the result."""

import streamlit as st

from bps_app import cache, figures, jobs, state, widgets
from bps_app.safe_text import md
from bps_core.verbs import (
    ARCHS,
    DEVICE_CHOICES,
    MAP_METHODS,
    METHODS,
    BpsError,
    EmbedConfig,
    MapConfig,
    list_embedding_sets,
    list_maps,
    map_estimate,
    set_current_version,
    use_map,
)

with state.open_project() as project:
    sets = list_embedding_sets(project)
    maps = list_maps(project)
    running = jobs.active_job(project, "embed")
    running_map = jobs.active_job(project, "map")
    map_eta = map_estimate(project)
    recent = jobs.list_jobs(project, "embed", limit=5) + jobs.list_jobs(project, "map", limit=5)
    stale = cache.stale_model(project)

st.title("Embeddings")
st.caption(
    "Self-supervised SimCLR (lightly) trained from scratch on this project's images, an instant "
    "pixel baseline, or a Lightly embeddings CSV. Work runs as a background job: it keeps going "
    "when you change pages or close the tab."
)
widgets.job_outcome("embed", "map")
if flash := state.pop_flash(state.EMBED_FLASH):
    st.success(flash, icon=":material/check_circle:")

ray_address = state.ray_address()
if running is not None:
    widgets.job_monitor(running.id)
elif ray_address:
    st.caption(
        f"Decoding and inference run on the Ray cluster at `{ray_address}` (set in the "
        "project's server.toml); SimCLR training runs in the job's own process."
    )
# Drawn while a job runs too (Start disabled): a form hidden for a run loses what was typed,
# and "Start" again after a failed CSV import then started SimCLR training instead.
with st.form("embed_form"):
    c1, c2, c3 = st.columns(3)
    method = c1.selectbox("Method", METHODS, key="embed_method")
    arch = c2.selectbox("Backbone", list(ARCHS), index=1, key="embed_arch")
    image_size = c3.select_slider("Image size (px)", [32, 48, 64, 96, 128], 64, key="embed_size")
    c4, c5, c6 = st.columns(3)
    epochs = widgets.number_field("Epochs (at most)", low=1, high=500, value=30,
                                  key="embed_epochs", where=c4)  # fmt: skip
    minutes = widgets.number_field(
        "Time budget (minutes)", low=0.5, high=240.0, value=2.0, step=0.5, key="embed_minutes",
        where=c5, help="Wall-clock bound on the whole step: decoding, training and embedding. "
        "The UMAP map follows.",
    )  # fmt: skip
    batch = c6.select_slider("Batch size", [32, 64, 128, 256], 128, key="embed_batch")
    numbers_ok = widgets.check_numbers(epochs, minutes)
    c7, c8 = st.columns([1, 2])
    device = c7.selectbox(
        "Device", DEVICE_CHOICES, key="embed_device",
        help="Where SimCLR training and inference run. auto: a CUDA GPU when this server "
        "has one (mixed precision), else the CPU.",
    )  # fmt: skip
    mask = c8.checkbox(
        "Mask out neighbouring nuclei (uses the BPS MASK partners)", key="embed_mask"
    )
    csv_path = st.text_input(
        "Lightly embeddings CSV (method csv)",
        key="embed_csv",
        placeholder="/path/to/embeddings.csv",
        help="A file on this server, inside the folders it may read (by default the "
        "project's exports/ folder and its local datasource); a relative path is taken under "
        "the project folder.",
    )
    st.caption("The new set becomes the current one; earlier sets stay, to switch back.")
    submitted = st.form_submit_button(
        "Start", type="primary", disabled=running is not None,
        help="An embed job is running: wait for it, or cancel it above."
        if running is not None else None,
    )  # fmt: skip
if submitted and not numbers_ok:  # the form says which number is out of range
    submitted = False
if submitted and method == "csv":
    try:  # the job reads the file: the browser may only name one inside the data roots
        csv_path = str(state.check_typed_path(csv_path, "Embeddings CSV"))
    except BpsError as exc:
        st.error(md(exc))
        submitted = False
if submitted:
    with state.open_project() as project:
        submitted = widgets.submit_job(project, lambda: EmbedConfig(
            method=method, arch=arch, image_size=int(image_size), epochs=epochs.number,
            max_seconds=minutes.number * 60, batch_size=int(batch),
            mask_neighbours=bool(mask), csv=csv_path.strip(),
            ray_address=ray_address if method != "csv" else "", device=str(device),
        ))  # fmt: skip
    if submitted:
        st.rerun()


def _label(version: str) -> str:
    s = next(s for s in sets if s["version"] == version)
    flag = " (current)" if s["current"] else ""
    return f"{version} · {s['method']} · {s['created_at'][:16].replace('T', ' ')}{flag}"


if sets:
    st.subheader("Embedding sets")
    st.caption(
        "The current set drives the map, nearest neighbours, selection and models. Models "
        "trained on another set are stale: their predictions are hidden until you train again "
        "or switch back."
    )
    if stale is not None:
        st.warning(
            f"The latest model was trained on embedding set {stale.embedding_version}, not the "
            "current one: its predictions are stale and hidden.",
            icon=":material/history:",
        )
    st.dataframe(widgets.embedding_sets_frame(sets, maps), hide_index=True)
    current = next((s for s in sets if s["current"]), None)
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    versions = [s["version"] for s in sets]
    # Keyed by the current set: after a switch (here, a finished job, another user) the picker
    # starts again from the current set instead of keeping a stale pick.
    pick = c1.selectbox(
        "Embedding set", versions, format_func=_label,
        key=f"embed_pick_{current['version'] if current else ''}",
        index=versions.index(current["version"]) if current else 0,
    )  # fmt: skip
    if c2.button("Use this set", key="embed_use", icon=":material/swap_horiz:",
                 disabled=current is not None and pick == current["version"]):  # fmt: skip
        with state.open_project() as project:
            set_current_version(project, pick)
        state.flash(
            state.EMBED_FLASH, f"Embedding set {pick} is now current; the map shows its chosen map."
        )
        st.rerun()
    if current is None:
        st.info("No embedding set is current: choose one above.")
    else:
        st.subheader(f"Maps of set {current['version']}")
        own = [m for m in maps if m["embedding_version"] == current["version"]]
        if not own:
            st.info("This set has no map yet: compute one below.")
        else:
            st.dataframe(widgets.maps_frame(own), hide_index=True)
            ids = [m["id"] for m in own]
            shown = next((m["id"] for m in own if m["current"]), ids[0])
            c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
            pick_map = c1.selectbox(
                "Map", ids, index=ids.index(shown), key=f"embed_map_pick_{shown}",
                format_func=lambda i: widgets.map_label(next(m for m in own if m["id"] == i)),
            )  # fmt: skip
            if c2.button("Show this map", key="embed_map_use", icon=":material/map:",
                         disabled=pick_map == shown):  # fmt: skip
                try:
                    with state.open_project() as project:
                        m = use_map(project, pick_map)
                except BpsError as exc:
                    st.error(md(exc))
                else:
                    state.flash(
                        state.EMBED_FLASH, f"Map {m.id} ({m.config.method.upper()}) is now shown."
                    )
                    st.rerun()
        if running_map is not None:
            widgets.job_monitor(running_map.id)
        else:
            with st.form("map_form"):
                st.markdown("**New map of the current set**")
                if map_eta is not None:
                    st.caption(f"A UMAP map takes {map_eta.text()}; PCA is near instant.")
                c1, c2, c3, c4 = st.columns(4)
                map_method = c1.selectbox(
                    "Method", MAP_METHODS, key="map_method",
                    format_func=str.upper, help="UMAP keeps neighbourhoods; PCA is instant.",
                )  # fmt: skip
                n_neighbors = widgets.number_field(
                    "Neighbours (UMAP)", low=2, high=200, value=MapConfig.n_neighbors,
                    key="map_neighbors", where=c2,
                    help="Small: local detail; large: global structure.",
                )  # fmt: skip
                min_dist = widgets.number_field(
                    "min_dist (UMAP)", low=0.0, high=1.0, value=MapConfig.min_dist, step=0.05,
                    key="map_min_dist", where=c3, help="How tightly UMAP packs similar points.",
                )  # fmt: skip
                seed = widgets.number_field("Seed", low=0, high=2**31 - 1, value=0,
                                            key="map_seed", where=c4)  # fmt: skip
                map_numbers_ok = widgets.check_numbers(n_neighbors, min_dist, seed)
                go_map = st.form_submit_button("Compute the map", type="primary")
            if go_map and map_numbers_ok:  # else the form says which number is out of range
                with state.open_project() as project:
                    submitted = widgets.submit_job(project, lambda: MapConfig(
                        method=map_method, n_neighbors=n_neighbors.number,
                        min_dist=min_dist.number, seed=seed.number))  # fmt: skip
                if submitted:
                    st.rerun()
        if current["quality"]:
            st.markdown("**Quality** (k-NN on synthetic ground truth, 5 folds grouped by well)")
            st.dataframe(widgets.quality_frame(current["quality"]), hide_index=True)
        with state.open_project() as project:
            preview = cache.map_frame(project)
        fig = figures.embedding_preview_figure(preview) if preview is not None else None
        if fig is not None:
            st.plotly_chart(fig, key="embed_map_preview")

if recent:
    recent.sort(key=lambda j: j.created_at, reverse=True)
    with st.expander("Recent jobs"):
        st.dataframe(widgets.jobs_frame(recent), hide_index=True)

"""Explore and label: lasso a cluster on the map and label it; browse; undo; history."""

import pandas as pd
import streamlit as st

from bps_app import cache, figures, state, widgets
from bps_app.safe_text import md
from bps_core.errors import UnknownSampleError
from bps_core.labels import selected_ids
from bps_core.project.store import UndoResult
from bps_core.queue import LabelQueue

PAGE_SIZE = 24
FILTER_COLUMNS = ("particle_type", "dose_Gy", "hr_post_exposure", "plate", "well")
COLOR_COLUMNS = ("label", "prediction", "uncertainty", "round", "particle_type", "dose_Gy",
                 "hr_post_exposure", "plate", "well", "mouse")  # fmt: skip
NEW_CLASS = "+ new class"
QUEUE_PAGE = "pages/4_Queue.py"

with state.open_project() as project:
    samples = cache.load_samples(project)
    rel_index = cache.relpaths(project)
    source = project.config.datasource
    default_window = project.config.display
    frame = cache.map_frame(project)
    labels = project.current_labels()
    classes = project.classes()
    model_cols = cache.model_columns(project)
    round_col = cache.round_column(project)

user = state.user_name()
st.title("Explore and label")
map_tab, browse_tab, history_tab = st.tabs(["Map", "Browse", "History"])


@st.fragment
def _selection_panel(chosen: pd.DataFrame) -> None:
    """What is selected, thumbnails and the label form. A fragment: paging, excluding and
    contrast changes rerun only this panel, never the map figure above it."""
    keys = chosen.key.tolist()
    st.subheader(f"{len(keys):,} selected")
    window = widgets.display_controls(default_window, key="map_display")
    if len(keys) == 1:
        widgets.sample_detail(keys[0], window)
    else:
        cols = st.columns(3)
        counts = chosen.label.fillna(widgets.UNLABELED).value_counts()
        cols[0].dataframe(counts.rename("samples"), width="stretch")
        for col, name in zip(cols[1:], ("particle_type", "hr_post_exposure"), strict=True):
            if name in chosen.columns:
                col.dataframe(chosen[name].value_counts().rename("samples"), width="stretch")
    order = chosen.sample(frac=1.0, random_state=0).key.tolist()  # a seeded random order
    n_pages = -(-len(order) // PAGE_SIZE)
    page = 1
    if n_pages > 1:
        page = int(st.number_input(f"Thumbnail page (of {n_pages}, random order)", 1, n_pages,
                                   1, key="map_thumb_page"))  # fmt: skip
    shown = order[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    bad: list[str] = []
    if len(keys) > 1:
        rel = chosen.set_index("key").relpath
        bad = widgets.thumbnail_grid(shown, rel, source, window, open_key="map_open")
    excluded = st.multiselect(
        "Exclude from the label action", shown, format_func=widgets.file_name, key="map_exclude"
    )
    skip = set(excluded) | set(bad)
    target = [k for k in keys if k not in skip]
    if st.button("Label these in the queue", icon=":material/keyboard:", key="map_to_queue"):
        state.set_queue(LabelQueue.of(target))
        st.switch_page(QUEUE_PAGE)
    options = [c.name for c in classes] + [NEW_CLASS]
    with st.form("map_label_form", clear_on_submit=True, border=False):
        c1, c2 = st.columns(2)
        choice = c1.selectbox("Class", options, key="map_class")
        new_name = c2.text_input("New class name", key="map_new_class")
        c3, c4 = st.columns(2)
        do_label = c3.form_submit_button(
            f"Label {len(target):,} samples", type="primary", disabled=not user
        )
        do_clear = c4.form_submit_button(f"Clear labels of {len(target):,}", disabled=not user)
    if not user:
        st.warning("Enter your name in the sidebar to label.")
    if do_label or do_clear:
        label = None if do_clear else (new_name.strip() if choice == NEW_CLASS else choice)
        if do_label and not label:
            st.error("Type a name for the new class.")
            return
        try:
            with state.open_project() as p:
                action = p.add_labels(target, label, user=user, source="lasso")
        except (UnknownSampleError, ValueError) as exc:
            st.error(md(exc))
            return
        verb = (
            f"Labeled {action.n_events:,} samples as {md(repr(label))}"
            if label
            else f"Cleared the labels of {action.n_events:,} samples"
        )
        st.session_state["map_flash"] = verb + "."
        state.set_selection([])
        st.rerun()  # the whole page: the map recolours


def _undo_redo() -> None:
    c1, c2, _ = st.columns([1, 1, 4])
    if c1.button("Undo", key="map_undo", icon=":material/undo:", disabled=not user):
        with state.open_project() as p:
            result = p.undo(user)
        _report(result, "Undid")
    if c2.button("Redo", key="map_redo", icon=":material/redo:", disabled=not user):
        with state.open_project() as p:
            result = p.redo(user)
        _report(result, "Redid")


def _report(result: UndoResult | None, verb: str) -> None:
    if result is None:
        st.toast(f"Nothing to {verb.lower()[:-1]}.")
        return
    skipped = (
        f"; {result.n_skipped} kept because someone relabeled them since"
        if result.n_skipped
        else ""
    )
    st.session_state["map_flash"] = f"{verb} your last action: {result.n_changed} samples{skipped}."
    st.rerun()


with map_tab:
    if flash := st.session_state.pop("map_flash", None):
        st.success(flash)
    if frame is None:
        st.info(
            "No map yet. Compute embeddings on the **Embeddings** page (or run "
            "`bps-labeler embed PROJECT_DIR`); the UMAP map follows."
        )
    else:
        frame = frame.merge(labels[["key", "label"]], on="key", how="left")
        if model_cols is not None:
            frame = frame.merge(model_cols, on="key", how="left")
        if not round_col.empty:
            frame = frame.merge(round_col, on="key", how="left")
        color_options = [c for c in COLOR_COLUMNS if c in frame.columns]
        color_by = (
            st.segmented_control(
                "Colour by", color_options, default="label", key=state.MAP_COLOR_BY
            )
            or "label"
        )
        class_colors = {c.name: c.color for c in classes}
        fig = figures.map_figure(frame, color_by, class_colors)
        event = st.plotly_chart(
            fig,
            key=state.MAP_CHART,
            on_select="rerun",
            selection_mode=("points", "lasso", "box"),
        )
        ids = selected_ids(event.selection.points) if event and event.selection else []
        keys = frame.key[frame.sample_id.isin(ids)].tolist()
        state.set_selection(keys)
        if not keys:
            st.caption(
                f"{len(frame):,} samples. Drag a lasso (or a box) around a cluster to select "
                "it; click a point to open it."
            )
        else:
            _selection_panel(frame[frame.key.isin(keys)])
    _undo_redo()

with browse_tab:
    ok = samples[samples.status == "ok"]
    filters = st.columns(len(FILTER_COLUMNS))
    for col, name in zip(filters, FILTER_COLUMNS, strict=True):
        if name in ok.columns:
            values = sorted(ok[name].dropna().unique().tolist())
            chosen_values = col.multiselect(name, values, key=f"explore_filter_{name}")
            if chosen_values:
                ok = ok[ok[name].isin(chosen_values)]
    window = widgets.display_controls(default_window, key="explore_display")
    n_pages = max(1, -(-len(ok) // PAGE_SIZE))
    page = st.number_input(f"Page (of {n_pages})", 1, n_pages, 1, key="explore_page")
    st.caption(f"{len(ok):,} samples match")
    page_keys = ok.key.iloc[(page - 1) * PAGE_SIZE : page * PAGE_SIZE].tolist()
    bad_keys = widgets.thumbnail_grid(page_keys, rel_index, source, window, open_key="browse_open")
    if bad_keys:
        st.warning(
            f"{len(bad_keys)} file(s) could not be decoded and were marked bad:\n\n- "
            + "\n- ".join(md(rel_index[k]) for k in bad_keys)
        )

with history_tab:
    with state.open_project() as project:
        events = project.label_events()
    if events.empty:
        st.info("No labels yet.")
    else:
        c1, c2 = st.columns(2)
        users = c1.multiselect("User", sorted(events.user.unique()), key="history_users")
        classes_f = c2.multiselect(
            "Class", sorted(events.label.dropna().unique()), key="history_classes"
        )
        shown_events = events
        if users:
            shown_events = shown_events[shown_events.user.isin(users)]
        if classes_f:
            shown_events = shown_events[shown_events.label.isin(classes_f)]
        per_action = (
            shown_events.groupby("action_id", sort=False)
            .agg(time=("created_at", "first"), user=("user", "first"), how=("source", "first"),
                 label=("label", "first"), samples=("key", "size"))
            .sort_values("time", ascending=False)
        )  # fmt: skip
        per_action["label"] = per_action.label.fillna("(cleared)")
        st.dataframe(per_action.reset_index(drop=True), hide_index=True)
        st.caption(f"{len(shown_events):,} events in {len(per_action):,} actions")

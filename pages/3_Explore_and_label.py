"""Explore and label: lasso a cluster on the map and label it; browse; undo; history."""

import streamlit as st

from bps_app import blind, cache, figures, filters, state, tables, widgets
from bps_app.safe_text import md
from bps_core.verbs import (
    LabelQueue,
    UndoResult,
    UnknownSampleError,
    ViewWindow,
)

PAGE_SIZE = 24
FILTER_COLUMNS = ("particle_type", "dose_Gy", "hr_post_exposure", "plate", "well")
COLOR_COLUMNS = ("label", "prediction", "uncertainty", "issue score", "round", "particle_type",
                 "dose_Gy", "hr_post_exposure", "plate", "well", "mouse")  # fmt: skip
#: The columns of the selected rows the selection panel and zoom use.
PANEL_COLUMNS = ("key", "x", "y", "relpath", "label", "prediction", "tag_names", "particle_type",
                 "hr_post_exposure")  # fmt: skip
NEW_CLASS = "+ new class"
QUEUE_PAGE = "pages/4_Queue.py"

with state.open_project() as project:
    samples = cache.load_samples(project)
    rel_index = cache.relpaths(project)
    source = project.config.datasource
    default_window = project.config.display
    frame = cache.map_frame(project)
    map_tok = cache.map_token(frame) if frame is not None else ""
    current = cache.current_labels(project)  # read-only, re-read when a label changes
    # A blind double labeler sees their own labels only, and nothing made of everyone's
    # labels (the model's predictions, label issues) until the agreement round ends.
    blind_view = blind.view(project, state.user_name())
    labels = current.frame if blind_view is None else blind_view.own
    label_ids = current.sample_ids if blind_view is None else None
    classes = project.classes()
    model_cols = cache.model_columns(project) if blind_view is None else None
    round_col = cache.round_column(project)
    issue_col = cache.issue_column(project) if blind_view is None else None  # cleanlab's, binned
    facets = blind.facets(cache.facets(project), blind_view)
    project_facets_version = cache.facets_token(project)

user = state.user_name()
st.title("Explore and label")
if blind_view is not None:
    st.caption(blind.NOTE)
# The tabs track which one is open ("rerun"): only the open tab's work runs. At a million
# samples, Browse's table and History's log cost seconds of every map rerun while hidden.
map_tab, browse_tab, history_tab = st.tabs(
    ["Map", "Browse", "History"], key=state.EXPLORE_TAB, on_change="rerun"
)


@st.fragment
def _selection_panel(chosen: tables.Frame) -> None:
    """What is selected, thumbnails and the label form. A fragment: paging, excluding and
    contrast changes rerun only this panel, never the map figure above it."""
    keys = chosen.key.tolist()
    st.subheader(f"{len(keys):,} selected")
    if origin := state.selection_origin():
        st.caption(origin)
    window = widgets.display_controls(default_window, key="map_display")
    if len(keys) == 1:
        widgets.sample_detail(keys[0], window)
    else:
        cols = st.columns(3)
        cols[0].markdown(tables.count_lines(chosen.label, "label", missing=widgets.UNLABELED))
        for col, name in zip(cols[1:], ("particle_type", "hr_post_exposure"), strict=True):
            if name in chosen.columns:
                col.markdown(tables.count_lines(chosen[name], name))
    how = "most similar first" if origin else "random order"  # found by similarity, or not
    n_pages = -(-len(keys) // PAGE_SIZE)
    page = widgets.NumberField(1)
    if n_pages > 1:
        page = widgets.number_field(
            f"Thumbnail page (of {n_pages}, {how})", low=1, high=n_pages, value=1,
            key="map_thumb_page", high_means=f"the {n_pages} pages",
        )  # fmt: skip
    shown: list[str] = []  # no thumbnails for a page typed out of range, not another page's
    if widgets.check_numbers(page):
        # The page's rows of chosen (its keys are chosen's, once each): by position, in order
        # when found by similarity, else in a seeded random order; no lookup among 100k keys.
        at = tables.page_positions(len(keys), page.number, PAGE_SIZE,
                                   shuffled=not origin)  # fmt: skip
        shown = [keys[i] for i in at]
    bad: list[str] = []
    if len(keys) > 1 and shown:
        rows = chosen.iloc[at]
        rel = rows.relpath.set_axis(shown)  # by key, as the grid looks them up
        bad = widgets.thumbnail_grid(shown, rel, source, window, open_key="map_open",
                                     captions=tables.thumbnail_captions(rows, shown))  # fmt: skip
    excluded = st.multiselect(
        "Exclude from the label action", shown, format_func=widgets.file_name, key="map_exclude"
    )
    skip = set(excluded) | set(bad)
    target = [k for k in keys if k not in skip] if skip else keys
    _find_similar(keys)
    if st.button("Label these in the queue", icon=":material/keyboard:", key="map_to_queue"):
        state.start_plain_queue(LabelQueue.of(target), "the map selection")
        state.switch_page(QUEUE_PAGE)
    _label_form(target)
    widgets.tag_editor(target, "map", user=user, label=f"Tag these {len(target):,}")


def _find_similar(keys: list[str]) -> None:
    """Query by example: the N samples most similar to the selection become the selection."""
    c1, c2, c3 = st.columns([1, 1, 2], vertical_alignment="bottom")
    n = widgets.number_field("How many", low=1, high=1000, value=48, key="map_similar_n", where=c1)
    # A blind labeler's "unlabeled" is "not labeled by me": others' labels must not show
    # through the samples left out.
    unlabeled = "Unlabeled only" if blind_view is None else "Not labeled by me"
    unlabeled_only = c2.toggle(unlabeled, value=True, key="map_similar_unlabeled")
    ok = widgets.check_numbers(n)  # else the button stays off: never a search for another N
    if c3.button("Find similar images", icon=":material/image_search:", key="map_similar",
                 disabled=not ok) and ok:  # fmt: skip
        mine = None if blind_view is None else blind_view.own.key
        with state.open_project() as p:
            found = cache.similar(p, keys, n.number, unlabeled_only=unlabeled_only, labeled=mine)
        if not found:
            st.info("No similar samples: no embedding holds the selection, or none is left.")
            return
        what = ("samples" if not unlabeled_only else "unlabeled samples" if blind_view is None
                else "samples not labeled by you")  # fmt: skip
        state.set_selection(
            found, origin=f"The {len(found):,} {what} most similar to the previous selection "
            f"of {len(keys):,} (cosine similarity in embedding space, most similar first)."
        )  # fmt: skip
        st.rerun()


def _label_form(target: list[str]) -> None:
    """Class choice, the new-class name only when "+ new class" is chosen, and buttons that
    name what they will do. No st.form: the button must show the class it applies before it
    is pressed."""
    names = [c.name for c in classes]
    options = [*names, NEW_CLASS]
    last = state.last_class()
    c1, c2 = st.columns(2)
    choice = c1.selectbox(
        "Class", options, index=options.index(last) if last in names else 0, key=state.MAP_CLASS
    )
    label = choice
    if choice == NEW_CLASS:
        label = c2.text_input(
            "New class name", key=state.MAP_NEW_CLASS, placeholder="type it, then press Enter",
            max_chars=state.CLASS_NAME_MAX,
        ).strip()  # fmt: skip
    n = len(target)
    c3, c4 = st.columns(2)
    do_label = c3.button(
        f"Label {n:,} as {md(repr(label))}" if label else f"Label {n:,} as …",
        type="primary",
        disabled=not user or not label or not n,
        key="map_label",
    )
    do_clear = c4.button(f"Clear labels of {n:,}", disabled=not user or not n, key="map_clear")
    if not user:
        st.warning("Enter your name in the sidebar to label.")
    elif not label:
        st.caption("Type the new class name and press Enter: the button then names it.")
    if not (do_label or do_clear):
        return
    applied = label if do_label else None
    try:
        with state.open_project() as p:
            action = p.add_labels(target, applied, user=user, source="lasso")
            cache.note_label_write(p, action.written)  # the rerun need not read them back
    except (UnknownSampleError, ValueError) as exc:
        st.error(md(exc))
        return
    if applied:
        verb = f"Labeled {action.n_events:,} samples as {md(repr(applied))}"
        state.set_last_class(applied)
        state.reset_label_form()  # the form starts over on that class
    else:
        verb = f"Cleared the labels of {action.n_events:,} samples"
    state.flash(state.MAP_FLASH, verb + ".")
    st.rerun()  # the whole page: the map recolours


def _undo_redo() -> None:
    c1, c2, _ = st.columns([1, 1, 4])
    if c1.button("Undo", key="map_undo", icon=":material/undo:", disabled=not user):
        with state.open_project() as p:
            result = p.undo(user)
            cache.note_label_write(p, result.written if result else None)
        _report(result, "Undid")
    if c2.button("Redo", key="map_redo", icon=":material/redo:", disabled=not user):
        with state.open_project() as p:
            result = p.redo(user)
            cache.note_label_write(p, result.written if result else None)
        _report(result, "Redid")


def _report(result: UndoResult | None, verb: str) -> None:
    if result is None:
        st.toast(f"Nothing of yours to {'undo' if verb == 'Undid' else 'redo'}.")
        return
    skipped = (
        f"; {result.n_skipped:,} kept because someone relabeled "
        f"{'it' if result.n_skipped == 1 else 'them'} since"
        if result.n_skipped
        else ""
    )
    n = f"{result.n_changed:,} sample{'' if result.n_changed == 1 else 's'}"
    state.flash(state.MAP_FLASH, f"{verb} your last action: {n}{skipped}.")
    st.rerun()


def _map_mode_caption(
    view: figures.MapView, n_map: int, window: tuple[float, float, float, float] | None
) -> None:
    """Says what the chart shows: every point, or a density overview and how to see points."""
    where = (
        f"{view.n_shown:,} of {n_map:,} samples in the zoomed view"
        if window
        else (f"{n_map:,} samples")
    )
    if view.full:
        st.caption(f"Every point of {where}.")
    else:
        st.caption(
            f"Density overview of {where}: each cell's colour mixes its samples' colours, "
            "hover a cell for its count. Lasso or box to select; zoom to a selection of at "
            f"most {figures.FULL_POINTS_MAX:,} samples to see every point."
        )


def _zoom_controls(chosen: tables.Frame, window: tuple[float, float, float, float] | None) -> None:
    """Zoom to the selection's bounding box, or back to the whole map (plotly's own zoom
    is not reported to the server: these are the zoom the density overview follows)."""
    c1, c2, _ = st.columns([1, 1, 3])
    if c1.button("Zoom to selection", key="map_zoom_selection", icon=":material/zoom_in:",
                 disabled=chosen.empty):  # fmt: skip
        around = ViewWindow.around(chosen.x.to_numpy(), chosen.y.to_numpy())
        if around is not None:
            state.set_map_window(around.as_tuple())
            st.rerun()
    if c2.button("Show whole map", key="map_zoom_whole", icon=":material/zoom_out_map:",
                 disabled=window is None):  # fmt: skip
        state.set_map_window(None)
        st.rerun()


with map_tab:
    if map_tab.open:
        if flash := state.pop_flash(state.MAP_FLASH):
            st.success(flash)
        if frame is None:
            st.info(
                "No map yet. Compute embeddings on the **Embeddings** page (or run "
                "`bps-labeler embed PROJECT_DIR`); the UMAP map follows."
            )
        else:
            base = frame  # cached and read-only: its key positions are held per map
            colours = filters.colour_columns(facets)
            frame = tables.map_table(frame, labels, model_cols, round_col, issue_col, colours,
                                     label_ids=label_ids)  # fmt: skip
            with st.expander("Filter the map"):
                map_filters = filters.facet_filters(facets, "map")
            if map_filters:
                frame = frame[filters.apply(facets, map_filters, frame.key)].reset_index(drop=True)
            color_options = filters.colour_options(frame, facets, COLOR_COLUMNS)
            color_by = (
                st.segmented_control(
                    "Colour by", color_options, default="label", key=state.MAP_COLOR_BY
                )
                or "label"
            )
            class_colors = {c.name: c.color for c in classes}
            map_window = state.map_window()
            # A blind labeler's map holds their labels: never handed to another user.
            token = (map_tok, cache.map_inputs_token(project_facets_version,
                     round_col), repr(map_filters), blind.token(blind_view))  # fmt: skip
            rows = (
                map_tok,
                repr(map_filters),
                (project_facets_version, blind.token(blind_view)) if map_filters else None,
            )
            view = cache.map_view(token, frame, color_by, class_colors, map_window, rows)
            _map_mode_caption(view, len(frame), map_window)
            event = st.plotly_chart(
                view.spec,
                key=state.MAP_CHART,
                on_select="rerun",
                selection_mode=("points", "lasso", "box"),
            )
            widgets.map_selection_sends_shapes()
            if view.full:
                widgets.map_clicks_open_points()
            selection = event.selection if event and event.selection else {}

            def chart_keys(rows: tables.Frame = frame) -> list[str]:  # when the chart's changed
                in_view = (
                    rows
                    if map_window is None
                    else rows[ViewWindow(*map_window).contains(rows.x, rows.y)]
                )
                return figures.chart_keys(selection, in_view)

            keys = state.sync_selection_with_chart(figures.chart_signature(selection), chart_keys)
            panel_part = frame[[c for c in PANEL_COLUMNS if c in frame.columns]]  # not 100k x all
            # Unfiltered, the map table is the cached map frame with columns added: the
            # selection's rows and its columns of that frame are remembered per selection.
            chosen = tables.selected_rows(panel_part, keys, base=None if map_filters else base)
            _zoom_controls(chosen, map_window)
            if chosen.empty:
                st.caption(
                    f"{len(frame):,} samples. Drag a lasso (or a box) around a cluster to select "
                    "it; click a point to open it."
                )
            else:
                _selection_panel(chosen)
        _undo_redo()

with browse_tab:
    if browse_tab.open:
        ok = tables.browse_table(samples, labels, model_cols)
        ok = ok[filters.apply(facets, filters.facet_filters(facets, "browse"), ok.key)]
        if "tag_names" in facets.columns:
            ok = tables.with_columns(ok, facets[["tag_names"]])
        browse_columns = [c for c in FILTER_COLUMNS if c in ok.columns]
        meta_filters = st.columns(max(len(browse_columns), 1))
        for col, name in zip(meta_filters, browse_columns, strict=False):
            values = sorted(map(str, ok[name].dropna().unique()), key=figures.natural_key)
            chosen_values = col.multiselect(name, values, key=f"explore_filter_{name}")
            if chosen_values:
                ok = ok[ok[name].astype(str).isin(chosen_values)]
        window = widgets.display_controls(default_window, key="explore_display")
        n_pages = max(1, -(-len(ok) // PAGE_SIZE))
        page = widgets.number_field(
            f"Page (of {n_pages})", low=1, high=n_pages, value=1, key="explore_page",
            high_means=f"the {n_pages} pages",
        )  # fmt: skip
        st.caption(f"{len(ok):,} samples match")
        at = page.number if widgets.check_numbers(page) else 0  # 0: show no page
        page_rows = ok.iloc[(at - 1) * PAGE_SIZE : at * PAGE_SIZE] if at else ok.iloc[:0]
        page_keys = page_rows.key.tolist()
        captions = tables.thumbnail_captions(page_rows, page_keys)
        bad_keys = widgets.thumbnail_grid(
            page_keys, rel_index, source, window, open_key="browse_open", captions=captions
        )
        if bad_keys:
            st.warning(
                f"{len(bad_keys)} file(s) could not be decoded or are missing and were marked bad:"
                "\n\n- " + "\n- ".join(md(rel_index[k]) for k in bad_keys)
            )

with history_tab:
    if history_tab.open:
        with state.open_project() as project:
            events = blind.own_label_events(cache.label_history(project), blind_view, project)
            tag_events = blind.own_events(cache.tag_history(project), blind_view)
        if events.empty:
            st.info("No labels of yours yet." if blind_view is not None else "No labels yet.")
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
            per_action = tables.label_actions(shown_events)
            per_action["time"], tz = widgets.local_times(per_action.time)
            per_action = per_action.rename(columns={"time": f"time ({tz})"})
            st.dataframe(per_action.reset_index(drop=True), hide_index=True)
            st.caption(f"{len(shown_events):,} events in {len(per_action):,} actions")
        st.markdown("**Tags**")
        if tag_events.empty:
            st.caption(
                f"No tags {'of yours ' if blind_view is not None else ''}yet: tag samples in "
                "the queue, a sample's dialog or a map selection."
            )
        else:
            per_tag_action = tables.tag_actions(tag_events)
            per_tag_action["time"], tz = widgets.local_times(per_tag_action.time)
            per_tag_action = per_tag_action.rename(columns={"time": f"time ({tz})"})
            st.dataframe(per_tag_action.reset_index(drop=True), hide_index=True, key="history_tags")
            st.caption(f"{len(tag_events):,} tag events in {len(per_tag_action):,} actions")

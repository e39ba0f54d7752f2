"""Label queue: one image (or a small grid) at a time, labeled with the keyboard.

Digits pick a class (each class keeps its digit for the whole project), the arrow keys move,
Z undoes your last action. Every label is saved the moment it is given. A reviewer's queue
("Reviewer: ...") walks labels not reviewed yet: A or Enter accepts, a digit fixes, X rejects.
"Label issues" walks the labels cleanlab flags as likely wrong, with the same keys.
A prediction walk ("Model predicts: ...", "Model disagrees ...") walks the current model's
predictions by confidence: A or Enter accepts the prediction (or keeps the label), a digit
corrects, S skips.
"""

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from bps_app import blind as blind_mode  # ``blind`` below: whether this user labels blind
from bps_app import (
    cache,
    filters,
    issue_mode,
    prediction_mode,
    review_mode,
    state,
    widgets,
)
from bps_app.safe_text import md
from bps_core.verbs import (
    FacetFilter,
    LabelerView,
    LabelQueue,
    StaleLabelError,
    UnknownSampleError,
    filtered_keys,
    labeler_view,
    unlabeled_keys,
)

VIEWS = {"One image": 1, "Grid of 6": 6}
FROM_UNLABELED = "Unlabeled samples (random order)"
FROM_FILTERED = "Unlabeled samples matching the filters"
FROM_SELECTION = "The map selection"
REVIEW = "Review class: "
ROUND = "Selection round "

# The grid's tiles, in pixels: six in a row of the page, under their "Tile n" boxes, as when
# each was stretched over a sixth of the page (the images are one wrapping list, issue 20).
GRID_SIZE = 150

with state.open_project() as project:
    samples = cache.load_samples(project)
    rel_index = cache.relpaths(project)
    source = project.config.datasource
    default_window = project.config.display
    labels = cache.current_labels(project)
    classes = project.classes()
    round_ids = project.rounds.ids()
    # A blind labeler filters by their own labels only, and not by the model's predictions.
    facets = blind_mode.facets(cache.facets(project), blind_mode.view(project, state.user_name()))
    # Double labeling: a labeler of it finds the samples assigned to them among the unlabeled
    # until they labeled them themselves; in blind mode they see only their own labels here.
    mine = labeler_view(project, state.user_name(), labels.frame)
    model = cache.current_model(project)

user = state.user_name()
blind = mine is not None and mine.blind
shown_labels = mine.own if mine is not None and blind else labels.frame  # what this user may see
labeled_keys = mine.labeled(labels.keys) if mine is not None else labels.keys
st.title("Label queue")
# The double-labeling line: its count changes with a label or an undo, which rerun only the
# queue's fragment, so the fragment writes it here.
top = st.container()
if flash := state.pop_flash(state.QUEUE_FLASH):
    st.toast(md(flash), icon=":material/check_circle:")
if (resumed := state.resume_saved_queue(labeled_keys)) is not None:
    rq, came_from, cut = resumed
    st.toast(md(f"Resumed your queue{f': {came_from}' if came_from else ''}; image "
                f"{rq.position + 1:,} of {len(rq.keys):,}"
                + (" (its first images: it was longer)" if cut else "") + "."),
             icon=":material/resume:")  # fmt: skip


def _start(
    origin: str,
    page_size: int,
    review_others: bool,
    order: str,
    with_labeled: bool,
    chosen: list[FacetFilter],
) -> None:
    if prediction_mode.is_origin(origin):
        state.forget_saved_queue()
        prediction_mode.start(origin, order=order, include_labeled=with_labeled)
        return
    if review_mode.is_origin(origin):
        state.forget_saved_queue()
        review_mode.start(origin, others_only=review_others, user=user)
        return
    if issue_mode.is_origin(origin):
        state.forget_saved_queue()
        issue_mode.start()
        return
    if origin == FROM_SELECTION:
        keys = state.map_selection()
    elif origin.startswith(ROUND):
        with state.open_project() as p:
            keys = p.rounds.keys(int(origin.removeprefix(ROUND)))
    elif origin.startswith(REVIEW):
        keys = shown_labels[shown_labels.label == origin.removeprefix(REVIEW)].key.tolist()
    elif origin == FROM_FILTERED:
        matching = set(filtered_keys(facets, chosen))
        pending = [k for k in (mine.pending if mine else ()) if k in matching]
        keys = unlabeled_keys(samples[samples.key.isin(matching)], labeled_keys, first=pending)
    else:
        keys = unlabeled_keys(samples, labeled_keys, first=mine.pending if mine else ())
    state.start_plain_queue(LabelQueue.of(keys, page_size), origin)


def _label(name: str) -> None:
    q = state.queue()
    if q is None or q.finished or not user:
        return
    if not q.chosen:
        state.set_queue_error("Choose at least one tile to label.")
        return
    shown = state.queue_shown()  # what the screen showed (None: blind, see only your own)
    try:
        with state.open_project() as p:
            action = p.add_labels(q.chosen, name, user=user, source="queue",
                                  shown=None if shown is None else
                                  {k: shown.get(k) for k in q.chosen})  # fmt: skip
            cache.note_label_write(p, action.written)  # the rerun need not read it back
    except (UnknownSampleError, StaleLabelError, ValueError) as exc:
        state.set_queue_error(str(exc))
        return
    state.queue_actions()[action.action_id] = (q.position, q.chosen)
    state.set_queue(q.after_labeling(q.chosen))


def _move(pages: int) -> None:
    if (q := state.queue()) is not None:
        state.set_queue(q.move(pages))


def _toggle(key: str) -> None:
    if (q := state.queue()) is not None:
        state.set_queue(q.toggle(key))


def _choose_all(chosen: bool) -> None:
    if (q := state.queue()) is not None:
        state.set_queue(q.choose(q.current if chosen else ()))


def _restart_with(keys: list[str]) -> None:
    if (q := state.queue()) is not None:
        state.set_queue(LabelQueue.of(keys, q.page_size))


def _undo() -> None:
    if not user:
        return
    with state.open_project() as p:
        result = p.undo(user)
        cache.note_label_write(p, result.written if result else None)
    if result is None:
        state.set_queue_error("Nothing to undo.")
        return
    ours = state.queue_actions()
    if (q := state.queue()) is not None and result.target_action_id in ours:
        position, keys = ours.pop(result.target_action_id)  # show that page again
        state.set_queue(q.after_undo(position, keys))


def _add_class() -> None:
    name = state.take_queue_new_class()
    if name:
        try:
            with state.open_project() as p:
                p.ensure_class(name)
        except ValueError as exc:
            state.set_queue_error(str(exc))


def _remove_class() -> None:
    name = state.take_queue_class_to_remove()
    if name:
        try:
            with state.open_project() as p:
                p.remove_class(name)
        except ValueError as exc:
            state.set_queue_error(str(exc))


q = state.queue()
selection = state.map_selection()
origins = [FROM_UNLABELED, FROM_FILTERED]
if selection:
    origins.append(FROM_SELECTION)
origins += [f"{ROUND}{rid}" for rid in sorted(round_ids, reverse=True)[:5]]
origins += [REVIEW + c.name for c in classes if c.name in set(shown_labels.label)]
if not blind:  # a blind labeler never walks other labelers' labels, as a reviewer neither
    labeled_classes = set(labels.frame.label)
    origins += review_mode.origins([c.name for c in classes if c.name in labeled_classes])
    origins += issue_mode.origins(not labels.frame.empty)
    origins += prediction_mode.origins(list(model.classes) if model is not None else [])
with st.expander("Queue", expanded=q is None or q.finished), st.form("queue_start", border=False):
    st.caption("Filters (for the queue of unlabeled samples matching them)")
    queue_filters = filters.facet_filters(facets, "queue")
    c1, c2 = st.columns([3, 1])
    origin = c1.selectbox("Samples", origins, key="queue_origin")
    view = c2.segmented_control("View", list(VIEWS), default="One image", key="queue_view")
    # The reviewer and prediction queues' options; a blind labeler is offered neither queue,
    # so the options would be controls that do nothing.
    review_others, order, with_labeled = False, next(iter(prediction_mode.ORDERS)), False
    if not blind:
        c1, c2, c3 = st.columns([2, 2, 2])
        review_others = c1.checkbox("Reviewer: only labels others gave",
                                    key="queue_review_others",
                                    help="Reviewer queues: leave your own labels out.")  # fmt: skip
        order = c2.selectbox("Predictions: order", list(prediction_mode.ORDERS),
                             key="queue_pred_order",
                             help="Model predicts: walking order")  # fmt: skip
        with_labeled = c3.checkbox("Predictions: include labeled samples",
                                   key="queue_pred_labeled",
                                   help="Model predicts: walk labeled samples too")  # fmt: skip
    if st.form_submit_button("Start", type="primary", icon=":material/play_arrow:"):
        _start(
            origin,
            VIEWS.get(view or "One image", 1),
            review_others,
            order,
            with_labeled,
            queue_filters,
        )
        st.rerun()


def _double_labeling_note(mine: LabelerView | None) -> str:
    """Why the queue starts where it does, for a labeler of double labeling ("": nobody)."""
    if mine is None or not (mine.pending or mine.blind):
        return ""
    first = (
        f"Double labeling: the {len(mine.pending):,} samples assigned to you that you "
        "have not labeled yet come first among the unlabeled. "
        if mine.pending
        else ""
    )
    return first + (blind_mode.NOTE if mine.blind else "")


@st.fragment
def _queue_body(form_open: bool, view: widgets.QueueView | None, top: DeltaGenerator) -> None:
    """Everything a key press changes: progress, the class and move keys, the image or grid.

    A fragment: a digit, an arrow or Z reruns only this, not the sidebar, the queue's source
    controls (the facets and their filters), the image's display controls nor the reads
    above (issue 20). So it reads the labels itself, on every run: a label given is counted on
    the run it causes. ``form_open``: whether the full run drew the source controls open (a
    queue that finishes here reruns the page, so they open to start another). ``view``: the
    display window and nucleus-view style the full run's controls chose (None: not drawn, the
    queue had no image; one that has one now reruns the page to draw them). ``top``: the
    container under the title, where the double-labeling line goes (redrawn on each run).
    """
    q = state.queue()
    if q is not None and q.finished and not form_open:
        st.rerun()
    if q is not None and q.keys and not q.finished and view is None:
        st.rerun()
    with state.open_project() as p:
        labels = cache.current_labels(p)
        classes = p.classes()
        # The frame only if double labeling needs it: a key press uses the lookups alone.
        mine = labeler_view(p, user, lambda: labels.frame)
    blind = mine is not None and mine.blind
    labeled_keys = mine.labeled(labels.keys) if mine is not None else labels.keys
    line = top.empty()  # written on every run: a fragment may write outside only so
    if note := _double_labeling_note(mine):
        line.caption(note)
    if mine is not None and blind:  # what this user may see
        current = dict(zip(mine.own.key, mine.own.label, strict=True))
    else:
        current = labels.label_of
    if error := state.pop_queue_error():
        st.error(md(error))
    if not user:
        st.warning("Enter your name in the sidebar to label.")
    if q is None:
        st.info("Choose which samples to walk through and press **Start**.")
        return
    if not q.keys:
        st.info("This queue is empty: nothing matches. Choose other samples above.")
        return
    window, style = view or (default_window, state.view_style(state.VIEW_QUEUE))
    if state.issue_mode(q):  # the labels cleanlab flags: keep or correct each
        issue_mode.render(q, user=user, samples=samples, rel_index=rel_index, source=source,
                          style=style)  # fmt: skip
        return
    if (walk := state.prediction_walk(q)) is not None:  # the model's predictions, by confidence
        prediction_mode.render(q, walk, user=user, samples=samples, rel_index=rel_index,
                               source=source, style=style)  # fmt: skip
        return
    if state.review_mode(q):  # a reviewer's queue: accept, fix or reject the labels shown
        review_mode.render(q, user=user, samples=samples, rel_index=rel_index, source=source,
                           style=style)  # fmt: skip
        return

    # A class key refuses a sample someone else labeled since this screen showed it (two
    # labelers on one image); blind labelers label on their own, unseen by design.
    state.set_queue_shown(None if blind else {k: current.get(k) for k in q.current})

    # Progress counts the queue's samples that carry a label: skipping (Next, arrow key) moves on
    # without counting.
    n_labeled = q.n_labeled(labeled_keys)
    where = (
        "finished"
        if q.finished
        else f"image {q.position + 1:,} of {len(q.keys):,}"
        if q.page_size == 1
        else f"page {q.page:,} of {q.n_pages:,}"
    )
    st.progress(n_labeled / len(q.keys), text=f"{n_labeled:,} of {len(q.keys):,} labeled · {where}")

    # Rows as horizontal containers, not columns: a column is one more message and one more
    # browser render of the page on every key press (issue 20).
    buttons = st.container(horizontal=True)
    for c in classes:
        buttons.button(
            md(c.name),
            key=f"queue_class_{c.name}",
            on_click=_label,
            args=(c.name,),
            shortcut=c.hotkey,
            disabled=not user or q.finished or not q.chosen,
            width="stretch",
        )
    with buttons.popover("New class", icon=":material/add:"):
        st.text_input("Class name", key=state.QUEUE_NEW_CLASS, on_change=_add_class,
                      max_chars=state.CLASS_NAME_MAX)  # fmt: skip
    if classes:  # a typo or test class: gone from the buttons, its digit freed
        with buttons.popover("Remove class", icon=":material/delete:"):
            st.selectbox("Class", [c.name for c in classes], key=state.QUEUE_REMOVE_CLASS,
                         help="Only a class no sample carries now can be removed; one the "
                         "label history names stays in the history.")  # fmt: skip
            confirm = st.checkbox("Yes, remove it", key=state.QUEUE_REMOVE_CONFIRM)
            st.button("Remove", key="queue_remove_class_go", on_click=_remove_class,
                      disabled=not confirm)  # fmt: skip
    if not classes:
        st.caption(
            "Create a class first (New class); it gets the digit key 1, the next 2, and so on."
        )

    nav = st.container(horizontal=True, vertical_alignment="center")
    nav.button("Previous", key="queue_prev", on_click=_move, args=(-1,), shortcut="Left",
               icon=":material/arrow_back:", width="stretch")  # fmt: skip
    nav.button("Next", key="queue_next", on_click=_move, args=(1,), shortcut="Right",
               icon=":material/arrow_forward:", width="stretch",
               help="Skip: moves on without labeling")  # fmt: skip
    nav.button("Undo", key="queue_undo", on_click=_undo, shortcut="Z", disabled=not user,
               icon=":material/undo:", width="stretch")  # fmt: skip
    nav.caption("Keys: digits label, ← → move (skipping is not labeling), Z undoes, T tags.")

    if q.finished:
        rest = q.unlabeled(labeled_keys)
        if not rest:
            st.success(
                f"Queue finished: all {len(q.keys):,} samples are labeled. Start another above."
            )
            return
        st.info(f"End of the queue: {n_labeled:,} of {len(q.keys):,} labeled, {len(rest):,} still "
                "unlabeled (skipped).")  # fmt: skip
        st.button(f"Walk the {len(rest):,} unlabeled again", key="queue_walk_left", type="primary",
                  on_click=_restart_with, args=(rest,), icon=":material/replay:")  # fmt: skip
        return

    if q.page_size == 1:
        key = q.current[0]
        left, right = st.columns([3, 2])
        with left:
            widgets.nucleus_image(key, rel_index[key], source, style)
        widgets.prefetch_views(q.upcoming(widgets.PREFETCH_AHEAD), rel_index, source, style)
        right.markdown(f"**{md(widgets.file_name(key))}**")
        label = current.get(key)
        right.metric("Your label" if blind else "Current label",
                     md(label) if isinstance(label, str) else widgets.UNLABELED)  # fmt: skip
        if blind:
            right.caption("Blind double labeling: other people's labels are hidden.")
        widgets.sample_facts(right, samples, key, rel_index.index)
        with right:
            widgets.tag_editor([key], "queue", user=user)
    else:
        captions = {}
        for k in q.current:
            label = current.get(k)
            captions[k] = f"{widgets.file_name(k)} · {label if isinstance(label, str) else '—'}"
        head = st.columns([4, 1, 1])
        head[0].caption(
            f"A class key labels the {len(q.chosen)} chosen of {len(q.current)} tiles; untick a "
            "tile to leave it for another class."
        )
        head[1].button("Choose all", key="queue_choose_all", on_click=_choose_all, args=(True,),
                       type="tertiary", icon=":material/select_all:")  # fmt: skip
        head[2].button("Choose none", key="queue_choose_none", on_click=_choose_all, args=(False,),
                       type="tertiary", icon=":material/deselect:")  # fmt: skip
        ticks = st.columns(6)
        for i, k in enumerate(q.current):
            state.mirror_queue_tile(k, k in q.chosen)  # the queue decides; the box mirrors it
            ticks[i % 6].checkbox(f"Tile {i + 1}", key=state.queue_tile_key(k), on_change=_toggle,
                                  args=(k,))  # fmt: skip
        widgets.thumbnail_grid(list(q.current), rel_index, source, window, size=GRID_SIZE,
                               captions=captions, style=style,
                               open_key=None if blind else "queue_open")  # fmt: skip
        widgets.prefetch_views(q.upcoming(q.page_size), rel_index, source, style, size=GRID_SIZE)
        widgets.tag_editor(list(q.chosen), "queue", user=user,
                           label=f"Tags of the {len(q.chosen)} chosen")  # fmt: skip


# The image's display controls (FITC window, layers, colours) belong to the full run: a key
# press does not resend them.
shown = (widgets.queue_view_controls(default_window)
         if q is not None and q.keys and not q.finished else None)  # fmt: skip
# Keys pressed faster than the runs reach the server one run each, in order (a coalesced run
# would call the class buttons' callbacks in page order, or one button's once).
widgets.shortcut_keys_in_order()
_queue_body(q is None or q.finished, shown, top)

"""The Queue page's review mode: a reviewer accepts, fixes or rejects labels one at a time.

Each screen shows one sample's current label, who gave it and when. Verdicts name the label
event shown, so a label changed by someone else since the screen was drawn is refused
("relabeled by X since you opened it") rather than judged blind.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from bps_app import cache, state, walks, widgets
from bps_app.safe_text import md
from bps_core.composite import CompositeStyle
from bps_core.errors import BpsError
from bps_core.project.reviews import Verdict
from bps_core.queue import LabelQueue
from bps_core.storage import DatasourceConfig
from bps_core.verbs.reviews import ReviewQueueSettings, ReviewSettings, review, review_queue

ORIGIN_ALL = "Reviewer: all unreviewed labels"
ORIGIN_CLASS = "Reviewer: unreviewed labels of "
#: Keys of the review mode: A (or Enter) accepts, X rejects; digits fix, Z undoes, arrows move.
ACCEPT_KEY, ACCEPT_KEY_2, REJECT_KEY = "A", "Enter", "X"

#: How this walk puts its queue back (moves and undo keep the walk).
_WALK: walks.Restart = state.set_review_queue
#: What Z says when there is nothing of yours to undo.
UNDO_NOTHING = "Nothing to undo (an accept is not undone: give another verdict)."


def origins(labeled_classes: list[str]) -> list[str]:
    """The queue origins of review mode: every unreviewed label, then one per labeled class."""
    return [ORIGIN_ALL, *(ORIGIN_CLASS + c for c in labeled_classes)] if labeled_classes else []


def is_origin(origin: str) -> bool:
    """Whether ``origin`` (the queue's "Samples" choice) starts review mode."""
    return origin == ORIGIN_ALL or origin.startswith(ORIGIN_CLASS)


def start(origin: str, *, others_only: bool, user: str) -> None:
    """Starts a review queue of the labels ``origin`` names (only others' with ``others_only``).

    An error (no name for "others' labels only") is kept for the page to show.
    """
    label = origin.removeprefix(ORIGIN_CLASS) if origin.startswith(ORIGIN_CLASS) else None
    try:
        settings = ReviewQueueSettings(label=label, others_only=others_only)
        with state.open_project() as p:
            rq = review_queue(p, settings, user=user)
    except BpsError as exc:
        state.set_queue_error(str(exc))
        return
    state.set_review_queue(LabelQueue.of(rq.keys, 1))


def _verdict(verdict: str, label: str | None, key: str, seen: int, user: str) -> None:
    q = state.queue()
    if q is None or q.finished or not user:
        return
    try:
        with state.open_project() as p:
            done = review(p, ReviewSettings((Verdict(key, verdict, label, seen),)), user=user)
            cache.note_label_write(p, done.written)  # the rerun need not read it back
    except (BpsError, ValueError) as exc:  # a stale screen stays, showing the new label
        state.set_queue_error(str(exc))
        return
    if done.action_id is not None:  # a fix or reject: Z undoes it and shows the sample again
        walks.remember(done.action_id, q, key)
    state.set_review_queue(q.move(1))


def _when(iso: object) -> str:
    return f"{str(iso)[:16].replace('T', ' ')} UTC" if isinstance(iso, str) else ""


def _verdict_buttons(row: pd.Series | None, key: str, user: str, classes: list[str],
                     hotkeys: dict[str, str | None]) -> None:  # fmt: skip
    can = bool(user) and row is not None
    seen = int(row.event_id) if row is not None else 0
    now = row.label if row is not None else None
    cols = st.container(horizontal=True)  # one message, not one per column (issue 20)
    cols.button("Accept", key="queue_review_accept", type="primary", shortcut=ACCEPT_KEY,
                on_click=_verdict, args=("accept", None, key, seen, user), disabled=not can,
                icon=":material/check:", width="stretch",
                help="The label is right (also Enter)")  # fmt: skip
    cols.button("Reject", key="queue_review_reject", shortcut=REJECT_KEY, on_click=_verdict,
                args=("reject", None, key, seen, user), disabled=not can,
                icon=":material/close:", width="stretch",
                help="Wrong, and no class fits: the sample is unlabeled again")  # fmt: skip
    for name in classes:
        text = f"{name} (keep)" if name == now else f"Fix: {name}"
        cols.button(md(text), key=f"queue_review_fix_{name}", shortcut=hotkeys.get(name),
                    on_click=_verdict, args=("fix", name, key, seen, user), disabled=not can,
                    width="stretch",
                    help=f"The label becomes {name} (its own class: accept)")  # fmt: skip


def _nav(row: pd.Series | None, key: str, user: str) -> None:
    seen = int(row.event_id) if row is not None else 0
    nav = st.container(horizontal=True, vertical_alignment="center")
    nav.button("Previous", key="queue_review_prev", on_click=walks.move, args=(-1, _WALK),
               shortcut="Left", icon=":material/arrow_back:", width="stretch")  # fmt: skip
    nav.button("Next", key="queue_review_next", on_click=walks.move, args=(1, _WALK),
               shortcut="Right", icon=":material/arrow_forward:", width="stretch",
               help="Skip: moves on without a verdict")  # fmt: skip
    # Enter accepts too: a second, quiet button, as a button takes one shortcut.
    nav.button("Accept", key="queue_review_accept_enter", type="tertiary",
               shortcut=ACCEPT_KEY_2, on_click=_verdict, args=("accept", None, key, seen, user),
               disabled=not user or row is None, icon=":material/check:",
               help="The label is right (same as A)")  # fmt: skip
    nav.button("Undo", key="queue_review_undo", on_click=walks.undo,
               args=(user, _WALK, UNDO_NOTHING), shortcut="Z", disabled=not user,
               icon=":material/undo:", width="stretch",
               help="Undo your last fix or reject (its label is back, unreviewed)")  # fmt: skip
    nav.caption("Keys: A or Enter accepts, a digit fixes to that class, X rejects, Z undoes "
                "a fix or reject, ← → move (skipping gives no verdict).")  # fmt: skip


def render(
    q: LabelQueue,
    *,
    user: str,
    samples: pd.DataFrame,
    rel_index: pd.Series,
    source: DatasourceConfig,
    style: CompositeStyle,
) -> None:
    """Draws the review mode of the queue ``q``: progress, verdict keys, the sample and its label.

    Args:
        q: The session's review queue (one image a page).
        user: The reviewer ("" disables the verdicts).
        samples: The samples frame (metadata shown beside the image).
        rel_index: Sample key -> relative path.
        source: The input datasource.
        style: The nucleus view's style (``widgets.queue_view_controls``, drawn above).
    """
    with state.open_project() as p:
        states = cache.review_states(p)
        classes = p.classes()
        history = p.reviews.history(q.current[0]) if not q.finished else None
    current, unreviewed = states.frame, states.unreviewed
    done = sum(1 for k in q.keys if k not in unreviewed)
    n_reviewed = int((current.review != "unreviewed").sum())
    where = "finished" if q.finished else f"image {q.position + 1:,} of {len(q.keys):,}"
    st.progress(done / len(q.keys), text=f"{done:,} of {len(q.keys):,} reviewed · "
                f"{len(q.keys) - done:,} remaining · {where}")  # fmt: skip
    st.caption(f"Review mode. In the whole project {n_reviewed:,} of {len(current):,} labels "
               "are reviewed.")  # fmt: skip
    if q.finished:
        walks.end_of_walk(
            [k for k in q.keys if k in unreviewed], _WALK,
            done=f"Review finished: all {len(q.keys):,} labels of this queue are reviewed. "
            "Start another above.",
            left="End of the queue: {n} labels still unreviewed (skipped).",
            again="Walk the {n} unreviewed again", key="queue_review_again",
        )  # fmt: skip
        return
    key = q.current[0]
    found = current[current.key == key]
    row = found.iloc[0] if len(found) else None
    _verdict_buttons(row, key, user, [c.name for c in classes],
                     {c.name: c.hotkey for c in classes})  # fmt: skip
    _nav(row, key, user)

    left, right = st.columns([3, 2])
    with left:
        widgets.nucleus_image(key, rel_index[key], source, style)
    widgets.prefetch_views(q.upcoming(widgets.PREFETCH_AHEAD), rel_index, source, style)
    right.markdown(f"**{md(widgets.file_name(key))}**")
    if row is None:
        right.metric("Current label", widgets.UNLABELED)
        right.caption("Not labeled (rejected or cleared since the queue started): nothing to "
                      "review; move on.")  # fmt: skip
    else:
        right.metric("Current label", md(row.label))
        right.caption(f"by **{md(row.user)}** · {_when(row.created_at)} · {md(row.source)}")
        if row.review == "unreviewed":
            right.caption("Not reviewed yet.")
        else:
            right.caption(f"Reviewed: {row.review} by {md(row.reviewer)} · "
                          f"{_when(row.reviewed_at)}")  # fmt: skip
    if history is not None and len(history):
        shown_history = history.assign(when=history.created_at.map(_when))
        right.dataframe(shown_history[["verdict", "label", "labeled_by", "result", "reviewer",
                                       "when"]], hide_index=True, width="stretch",
                        key="queue_review_history")  # fmt: skip
    widgets.sample_facts(right, samples, key, rel_index.index)

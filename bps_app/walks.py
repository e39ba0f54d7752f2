"""What the Label queue's one-at-a-time walks share (reviewer, label issues, predictions).

Each walk keeps its queue through its own ``state.set_*_queue`` (which also marks the mode);
these moves take that function as ``restart``, so a walk moved or undone stays that walk.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from bps_app import cache, state
from bps_core.queue import LabelQueue

#: Puts a queue back as the session's queue, in the walk's mode.
Restart = Callable[[LabelQueue], None]


def move(pages: int, restart: Restart) -> None:
    """Moves the walk ``pages`` samples on (negative: back)."""
    if (q := state.queue()) is not None:
        restart(q.move(pages))


def remember(action_id: str | None, q: LabelQueue, key: str) -> None:
    """Records that ``action_id`` (a label action of this walk) was taken on ``key`` at the
    walk's position, so Z undoes it and shows the sample again."""
    if action_id is not None:
        state.queue_actions()[action_id] = (q.position, (key,))


def undo(user: str, restart: Restart, nothing: str) -> None:
    """Undoes ``user``'s last label action; when it was taken in this walk, the walk goes
    back to that sample. ``nothing`` is the message when there is nothing to undo."""
    if not user:
        return
    with state.open_project() as p:
        result = p.undo(user)
        cache.note_label_write(p, result.written if result else None)
    if result is None:
        state.set_queue_error(nothing)
        return
    ours = state.queue_actions()
    if (q := state.queue()) is not None and result.target_action_id in ours:
        position, keys = ours.pop(result.target_action_id)
        restart(q.after_undo(position, keys))


def restart_with(keys: list[str], restart: Restart) -> None:
    """Walks ``keys`` again from the first, one sample a page, in the walk's mode."""
    restart(LabelQueue.of(keys, 1))


def end_of_walk(
    rest: list[str], restart: Restart, *, done: str, left: str, again: str, key: str
) -> None:
    """What a finished walk shows: ``done`` when nothing is left open, else ``left`` and a
    button that walks the ``rest`` (samples skipped without a decision) again.

    ``left`` and ``again`` may hold ``{n}``, the number left (formatted with a comma).
    """
    if not rest:
        st.success(done)
        return
    n = f"{len(rest):,}"
    st.info(left.format(n=n))
    st.button(again.format(n=n), key=key, type="primary", on_click=restart_with,
              args=(rest, restart), icon=":material/replay:")  # fmt: skip

"""Undos and redos in the label log: the label action each one stems from, and its source.

An undo or redo appends events with source ``undo`` or ``redo`` and an action whose
``target_action_id`` is the action it reverses or re-applies (a redo's target may itself be a
redo). Whoever reads the log by who wrote a label (a reviewer's decision, a labeler's own
label) asks for the first action's source: a redo of an adjudication is an adjudication again.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

import pandas as pd

from bps_core.project import db

#: The label sources of an undo's and a redo's events.
REVERSAL_SOURCES = ("undo", "redo")
_CHUNK = 900


def reversal_targets(conn: db.Connection) -> dict[str, str]:
    """Each undo or redo action's target action (a few rows: one per undo or redo)."""
    rows = conn.execute(
        "SELECT action_id, target_action_id FROM label_actions WHERE kind IN ('undo', 'redo')"
    ).fetchall()
    return {str(a): str(t) for a, t in rows if t is not None}


def action_sources(conn: db.Connection, actions: Collection[str]) -> dict[str, str]:
    """The source of the label events of each of ``actions`` that has any (one per action)."""
    wanted = list(actions)
    out: dict[str, str] = {}
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i : i + _CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT DISTINCT action_id, source FROM label_events WHERE action_id IN ({marks})",  # noqa: S608
            chunk,
        ).fetchall()
        out.update((str(a), str(s)) for a, s in rows)
    return out


def first_action(action: str, targets: Mapping[str, str]) -> str | None:
    """The label action ``action`` stems from: followed through ``targets`` to the end.

    ``action`` itself when it is no undo or redo; None on a cycle (cannot happen: each targets
    an older action).
    """
    seen: set[str] = set()
    while action in targets:
        if action in seen:
            return None
        seen.add(action)
        action = targets[action]
    return action


def origins(
    events: pd.DataFrame,
    targets: Mapping[str, str],
    sources: Callable[[set[str]], Mapping[str, str]] | None = None,
) -> pd.Series:
    """Each event's origin: its source, or for an undo or redo the first action's source.

    An undo or redo whose first action's source is unknown keeps its own source.

    Args:
        events: Label events: columns source and action_id.
        targets: Each undo or redo action's target action (``reversal_targets``).
        sources: The source of each of a set of actions; default: read from ``events``
            (which must then hold the first actions' events).
    """
    reversal = events.source.isin(REVERSAL_SOURCES)
    origin = events.source.copy()
    if not reversal.any():
        return origin
    reversals = events.action_id[reversal]
    firsts = {a: first_action(a, targets) for a in reversals.unique()}
    wanted = {f for f in firsts.values() if f is not None}
    if sources is None:
        rows = events[events.action_id.isin(wanted)].drop_duplicates("action_id")
        found_sources: Mapping[str, str] = dict(zip(rows.action_id, rows.source, strict=True))
    else:
        found_sources = sources(wanted)
    found = {a: found_sources[f] for a, f in firsts.items() if f is not None and f in found_sources}
    origin[reversal] = reversals.map(found).fillna(origin[reversal])
    return origin

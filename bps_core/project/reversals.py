"""Undos and redos in the label log: the label action each one stems from, and its source.

An undo or redo appends events with source ``undo`` or ``redo`` and an action whose
``target_action_id`` is the action it reverses or re-applies (a redo's target may itself be a
redo). Whoever reads the log by who wrote a label (a reviewer's decision, a labeler's own
label) asks for the first action's source: a redo of an adjudication is an adjudication again.
Whoever reads it by which label a sample holds (is it one a reviewer set or accepted?) asks
for the event each undo or redo puts back (``put_back_events``): a labeler's undo back to a
reviewer's fix holds the reviewer's label, though the undo is the labeler's action.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

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


def origins(events: pd.DataFrame, targets: Mapping[str, str]) -> pd.Series:
    """Each event's origin: its source, or for an undo or redo the first action's source.

    An undo or redo whose first action's source is unknown keeps its own source.

    Args:
        events: Label events: columns source and action_id; they must hold the first
            actions' events.
        targets: Each undo or redo action's target action (``reversal_targets``).
    """
    reversal = events.source.isin(REVERSAL_SOURCES)
    origin = events.source.copy()
    if not reversal.any():
        return origin
    reversals = events.action_id[reversal]
    firsts = {a: first_action(a, targets) for a in reversals.unique()}
    wanted = {f for f in firsts.values() if f is not None}
    rows = events[events.action_id.isin(wanted)].drop_duplicates("action_id")
    found_sources = dict(zip(rows.action_id, rows.source, strict=True))
    found = {a: found_sources[f] for a, f in firsts.items() if f is not None and f in found_sources}
    origin[reversal] = reversals.map(found).fillna(origin[reversal])
    return origin


def put_back_events(conn: db.Connection, events: Iterable[tuple[int, int, str]]) -> dict[int, int]:
    """The label event whose label each undo or redo event puts back.

    An undo puts back the label its sample had before the action it takes back: the sample's
    last event before that action's first on it. A redo puts back the label that action set:
    its last event on the sample. Either is older than the undo or redo, and may itself be
    one (follow it again). One query per undo or redo action, none per sample.

    Args:
        conn: The project's connection.
        events: (event id, sample id, action id) of undo and redo events.

    Returns:
        By event id, the event put back; an undo back to no label at all (before the
        sample's first event) is left out.
    """
    reversals = conn.execute(
        "SELECT action_id, kind, target_action_id FROM label_actions WHERE kind IN ('undo', 'redo')"
    ).fetchall()
    targets = {str(a): (str(k), str(t)) for a, k, t in reversals if t is not None}
    by_action: dict[str, list[tuple[int, int]]] = {}
    for event_id, sample_id, action in events:
        by_action.setdefault(str(action), []).append((int(event_id), int(sample_id)))
    out: dict[int, int] = {}
    for action, rows in by_action.items():
        if action not in targets:
            continue
        kind, target = targets[action]
        if kind == "undo":
            query = (
                "SELECT t.sample_id, (SELECT MAX(e.id) FROM label_events e "
                "  WHERE e.sample_id = t.sample_id AND e.id < t.first_id) "
                "FROM (SELECT sample_id, MIN(id) AS first_id FROM label_events "
                "      WHERE action_id = ? GROUP BY sample_id) AS t"
            )
        else:
            query = (
                "SELECT sample_id, MAX(id) FROM label_events WHERE action_id = ? GROUP BY sample_id"
            )
        found = {int(sid): back for sid, back in conn.execute(query, (target,)).fetchall()}
        for event_id, sample_id in rows:
            if (back := found.get(sample_id)) is not None:
                out[event_id] = int(back)
    return out


def _events(conn: db.Connection, event_ids: Iterable[int]) -> dict[int, tuple[int, str, str, str]]:
    """Event id -> (sample id, source, action id, user) of each of ``event_ids``."""
    wanted = sorted({int(e) for e in event_ids})
    out: dict[int, tuple[int, str, str, str]] = {}
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i : i + _CHUNK]
        rows = conn.execute(
            "SELECT id, sample_id, source, action_id, user FROM label_events "
            f"WHERE id IN ({','.join('?' * len(chunk))})",  # noqa: S608
            chunk,
        ).fetchall()
        out.update((int(e), (int(s), str(src), str(a), str(u))) for e, s, src, a, u in rows)
    return out


def put_back_authors(conn: db.Connection, event_ids: Iterable[int]) -> dict[int, str]:
    """Who wrote the label each undo or redo event among ``event_ids`` puts back.

    The user of the event it puts back (``put_back_events``), followed through undos and redos
    to an event that is neither: a blind labeler's undo of her label on a sample another
    labeler labeled before her puts back his label, written in the log as her undo event.

    Returns:
        By undo or redo event id, the author; one back to no label is left out, and so is
        any event of ``event_ids`` that is no undo or redo.
    """
    found = _events(conn, event_ids)
    pending = {e: (e, s, a) for e, (s, src, a, _) in found.items() if src in REVERSAL_SOURCES}
    out: dict[int, str] = {}
    while pending:
        back = put_back_events(conn, pending.values())
        earlier = _events(conn, back.values())
        step: dict[int, tuple[int, int, str]] = {}
        for root, (event_id, _, _) in pending.items():
            if (b := back.get(event_id)) is None or b not in earlier:
                continue
            sample_id, source, action, user = earlier[b]
            if source in REVERSAL_SOURCES:
                step[root] = (b, sample_id, action)
            else:
                out[root] = user
        pending = step
    return out

"""Sample keys to database ids, in one statement whatever their number.

The keys travel as one parameter, a list the engine unpacks into rows: SQLite's ``json_each``
over a JSON array, PostgreSQL's ``unnest`` over a text array. Either way the rows are ``j``
with columns ``value`` (the key) and ``key`` (its position in the list), so a statement can
join ``samples`` on ``s.key = j.value`` and keep the list's order with ``ORDER BY j.key``.
No bound-parameter limit applies, and a 100k-key lasso is resolved inside SQLite or the
server, not row by row in Python.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bps_core.project import db


def key_rows(c: db.Connection, keys: Sequence[str]) -> tuple[str, Any]:
    """A FROM item listing ``keys`` as rows ``j(value, key)``, and its one parameter.

    Args:
        c: The connection (its engine picks the form).
        keys: The keys, in order (duplicates are kept).

    Returns:
        The SQL text to put after FROM (one ``?`` placeholder) and the value to bind to it.
    """
    if db.engine(c) == "sqlite":
        if any("\x00" in k for k in keys):
            return _bound_key_rows(c, keys)
        return "json_each(?) AS j", json.dumps(list(keys))
    return "unnest(?::text[]) WITH ORDINALITY AS j(value, key)", list(keys)


def _bound_key_rows(c: db.Connection, keys: Sequence[str]) -> tuple[str, Any]:
    """``key_rows`` for keys holding a NUL character (SQLite only).

    json_each's text ends at the first NUL, so such a key never matched its sample. They are
    bound one by one into a temporary table of this connection instead (a rare, hostile case;
    the placeholder stays, bound to a constant, so callers need not know).
    """
    c.execute("CREATE TEMP TABLE IF NOT EXISTS bound_keys (value TEXT, key INTEGER)")
    c.execute("DELETE FROM temp.bound_keys")
    c.executemany("INSERT INTO temp.bound_keys VALUES (?, ?)", [(k, i) for i, k in enumerate(keys)])
    return "(SELECT value, key FROM temp.bound_keys WHERE ? = 1) AS j", 1


def id_rows(c: db.Connection, ids: Sequence[int]) -> tuple[str, Any]:
    """A FROM item listing sample ``ids`` as rows ``j(value, key)``, and its one parameter."""
    if db.engine(c) == "sqlite":
        return "json_each(?) AS j", json.dumps(list(ids))
    return "unnest(?::bigint[]) WITH ORDINALITY AS j(value, key)", list(ids)


def sample_ids(c: db.Connection, keys: Sequence[str]) -> dict[str, int]:
    """The id of each key of ``keys`` the project holds (unknown keys are left out)."""
    unique = list(dict.fromkeys(keys))
    if not unique:
        return {}
    rows, arg = key_rows(c, unique)
    q = f"SELECT j.value, s.id FROM {rows} JOIN samples AS s ON s.key = j.value"  # noqa: S608
    return {str(k): int(v) for k, v in c.execute(q, (arg,)).fetchall()}

"""Sample keys to database ids, in chunks under SQLite's bound-parameter limit."""

from __future__ import annotations

from collections.abc import Sequence

from bps_core.project import db

_CHUNK = 900


def sample_ids(c: db.Connection, keys: Sequence[str]) -> dict[str, int]:
    """The id of each key of ``keys`` the project holds (unknown keys are left out)."""
    ids: dict[str, int] = {}
    unique = list(dict.fromkeys(keys))
    for i in range(0, len(unique), _CHUNK):
        chunk = unique[i : i + _CHUNK]
        marks = ",".join("?" * len(chunk))
        q = f"SELECT key, id FROM samples WHERE key IN ({marks})"  # noqa: S608
        ids.update((str(k), int(v)) for k, v in c.execute(q, chunk).fetchall())
    return ids

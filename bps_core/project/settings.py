"""The project's key-value settings (current embedding set, chosen maps, ingest state)."""

from __future__ import annotations

from bps_core.project import db

#: The version of the current embedding set.
CURRENT_EMBEDDING_KEY = "current_embedding"
#: Prefix of ``current_map:<embedding version>``: the chosen map of that embedding set.
CURRENT_MAP_PREFIX = "current_map:"
#: The last ingest's state, as JSON ``{"state": ..., "at": ...}``.
INGEST_STATE_KEY = "ingest_state"


def get_setting(conn: db.Connection, key: str) -> str | None:
    """The value stored under ``key``, or None."""
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    return str(row[0]) if row else None


def put_setting(c: db.Connection, key: str, value: str) -> None:
    """Stores ``value`` under ``key``; call inside a ``db.write`` transaction."""
    c.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )

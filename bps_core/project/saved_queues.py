"""Each labeler's last plain labeling queue, kept in the project.

A page reload (a new browser session) resumes it instead of returning to the queue's start form.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bps_core.project import db
from bps_core.project.settings import get_setting, put_setting

#: Prefix of ``queue:<user>``: that labeler's last plain queue, as JSON.
QUEUE_PREFIX = "queue:"
#: At most this many of a queue's keys are kept: a queue of every unlabeled sample of a large
#: project would otherwise write megabytes at each start; nobody labels more in one sitting.
MAX_SAVED_KEYS = 20_000


@dataclass(frozen=True)
class SavedQueue:
    """A labeler's queue as it was started.

    Its keys in order, its tiles per page, where it came from (the start form's words), and
    whether keys beyond MAX_SAVED_KEYS were cut.
    """

    keys: tuple[str, ...]
    page_size: int
    origin: str
    truncated: bool = False


class SavedQueues:
    """The saved queues (``settings`` rows ``queue:<user>``).

    Reached as ``Project.saved_queues``.
    """

    def __init__(self, conn: db.Connection) -> None:
        self._conn = conn

    def save(self, user: str, keys: tuple[str, ...], page_size: int, origin: str) -> None:
        """Keeps ``user``'s queue, replacing the one kept before (the first MAX_SAVED_KEYS)."""
        value = json.dumps({"keys": list(keys[:MAX_SAVED_KEYS]), "page_size": int(page_size),
                            "origin": origin, "truncated": len(keys) > MAX_SAVED_KEYS})  # fmt: skip
        db.write(self._conn, lambda c: put_setting(c, QUEUE_PREFIX + user, value))

    def clear(self, user: str) -> None:
        """Forgets ``user``'s queue (they started a walk that is not a plain queue)."""
        db.write(self._conn, lambda c: c.execute("DELETE FROM settings WHERE key = ?",
                                                 (QUEUE_PREFIX + user,)))  # fmt: skip

    def load(self, user: str) -> SavedQueue | None:
        """``user``'s kept queue, or None (none kept, or a value this version cannot read)."""
        raw = get_setting(self._conn, QUEUE_PREFIX + user)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            keys = tuple(str(k) for k in data["keys"])
            return SavedQueue(keys, max(1, int(data["page_size"])), str(data.get("origin", "")),
                              bool(data.get("truncated", False)))  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return None

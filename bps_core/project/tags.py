"""Tags beside the class ("unsure", "ask an expert", "debris?"): several per sample, with history.

Tags live in the append-only ``tag_events`` log, like labels: adding or removing a tag on many
samples appends one event per sample that changes, all in one transaction under one action id.
A sample carries a tag while the last event for that (sample, tag) pair adds it (the
``current_tags`` view). Nothing is ever updated or deleted, so who tagged what and when stays.

A blind double labeler sees their own tags only (a tag can name a class): read with ``user``,
the current tags are those that user's own last event on each (sample, tag) adds.

The SQL here is portable (``?`` placeholders, no rowid or PRAGMA) and reads many samples at
once: no query per sample.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from bps_core.errors import UnknownSampleError
from bps_core.project import db
from bps_core.project.keys import sample_ids

#: The longest tag name, in characters.
MAX_TAG = 48
#: Unicode categories refused in a tag: control, format (bidi, zero-width) and surrogates.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs"})
#: Characters a tag may not hold: the comma joins tags in CSV files and the facet column.
_FORBIDDEN = ","
_CHUNK = 900
HISTORY_COLUMNS = ("event_id", "key", "tag", "present", "user", "created_at", "action_id")


def _shown(value: object, limit: int = 40) -> str:
    text = repr(str(value))
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def clean_tag(value: str) -> str:
    """Returns a tag name as stored, or refuses it.

    Inner whitespace is collapsed and the ends trimmed; the result must be 1-``MAX_TAG``
    characters without a comma, control, zero-width or bidi-control character.

    Args:
        value: The tag as typed.

    Raises:
        ValueError: The tag is empty, too long or holds a refused character (one line).
    """
    tag = " ".join(str(value).split())
    if not tag or len(tag) > MAX_TAG:
        raise ValueError(f"a tag must be 1-{MAX_TAG} characters, got {len(tag)}: {_shown(value)}")
    for i, ch in enumerate(tag, start=1):
        if unicodedata.category(ch) in _INVISIBLE:
            raise ValueError(
                f"{_shown(value)} holds an invisible or control character (U+{ord(ch):04X} "
                f"at character {i}); retype it without it"
            )
        if ch in _FORBIDDEN:
            raise ValueError(
                f"{_shown(value)} holds a comma (character {i}); commas separate tags, "
                "so give each tag on its own"
            )
    return tag


@dataclass(frozen=True)
class TagAction:
    """What ``Tags.set`` wrote.

    Attributes:
        action_id: The action's id (every event of it carries it).
        tag: The tag, as stored.
        present: True when the tag was added, False when removed.
        n_changed: Samples whose tags changed (an event each).
        n_unchanged: Samples that already were as asked (no event).
    """

    action_id: str
    tag: str
    present: bool
    n_changed: int
    n_unchanged: int


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


# The current tags as one user's own events leave them: the ``current_tags`` view of their
# events alone.
_CURRENT_OF_USER = (
    "(SELECT e.sample_id, e.tag, e.user, e.created_at FROM tag_events AS e "
    "JOIN (SELECT sample_id, tag, MAX(id) AS id FROM tag_events WHERE user = ? "
    "      GROUP BY sample_id, tag) AS last ON last.id = e.id WHERE e.present = 1)"
)


def _current(user: str | None) -> tuple[str, list[str]]:
    """What to select the current tags from (everyone's, or ``user``'s own) and its args."""
    return ("current_tags", []) if user is None else (_CURRENT_OF_USER, [user])


class Tags:
    """The ``tag_events`` log and the current tags; reached as ``Project.tags``."""

    def __init__(self, conn: db.Connection, *, clean_name: Callable[[str, str], str]) -> None:
        self._conn = conn
        self._clean_name = clean_name  # the store's user-name rules

    def set(
        self, keys: Iterable[str], tag: str, *, present: bool, user: str, own: bool = False
    ) -> TagAction:
        """Adds (``present``) or removes ``tag`` on samples, as one action in one transaction.

        Samples that already are as asked get no event; an unknown key writes nothing.

        Args:
            keys: Sample keys; duplicates count once.
            tag: The tag name (see ``clean_tag``).
            present: True adds the tag, False removes it.
            user: Who tagged.
            own: Compare with ``user``'s own tags only (``current(user=...)``), as a blind
                labeler sees them: their tag is written even where another user's is current.

        Raises:
            UnknownSampleError: a key is not in the project; nothing is written.
            ValueError: a bad tag or user name.
        """
        tag = clean_tag(tag)
        user = self._clean_name(user, "user name")
        unique = list(dict.fromkeys(keys))
        action = uuid.uuid4().hex
        source, source_args = _current(user if own else None)

        def tx(c: db.Connection) -> TagAction:
            ids = sample_ids(c, unique)
            missing = [k for k in unique if k not in ids]
            if missing:
                raise UnknownSampleError(missing)
            having: set[int] = set()
            wanted = [ids[k] for k in unique]
            for i in range(0, len(wanted), _CHUNK):
                chunk = wanted[i : i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = c.execute(
                    f"SELECT sample_id FROM {source} AS t WHERE tag = ? AND sample_id IN ({marks})",  # noqa: S608
                    [*source_args, tag, *chunk],
                ).fetchall()
                having.update(int(r[0]) for r in rows)
            change = [sid for sid in wanted if (sid in having) != present]
            if change:
                now = _now()
                c.executemany(
                    "INSERT INTO tag_events (sample_id, tag, present, user, created_at, "
                    "action_id) VALUES (?, ?, ?, ?, ?, ?)",
                    [(sid, tag, int(present), user, now, action) for sid in change],
                )
            return TagAction(action, tag, present, len(change), len(wanted) - len(change))

        return db.write(self._conn, tx)

    def add(self, keys: Iterable[str], tag: str, *, user: str) -> TagAction:
        """Adds ``tag`` to samples; see ``set``."""
        return self.set(keys, tag, present=True, user=user)

    def remove(self, keys: Iterable[str], tag: str, *, user: str) -> TagAction:
        """Removes ``tag`` from samples; see ``set``."""
        return self.set(keys, tag, present=False, user=user)

    def current(self, *, user: str | None = None) -> pd.DataFrame:
        """Every current (sample, tag) pair, in sample then tag order.

        Args:
            user: Only the tags this user's own events leave (what a blind labeler sees);
                None: everyone's.

        Returns:
            Columns key, tag, user (who added it), created_at.
        """
        source, args = _current(user)
        rows = self._conn.execute(
            f"SELECT s.key, t.tag, t.user, t.created_at FROM {source} AS t "  # noqa: S608
            "JOIN samples s ON s.id = t.sample_id ORDER BY s.id, t.tag",
            args,
        ).fetchall()
        return pd.DataFrame(rows, columns=["key", "tag", "user", "created_at"])

    def of(self, keys: Iterable[str], *, user: str | None = None) -> dict[str, list[str]]:
        """The current tags of each of ``keys`` (sorted; keys without tags map to []).

        ``user``: only the tags their own events leave (see ``current``).
        """
        source, args = _current(user)
        unique = list(dict.fromkeys(keys))
        ids = sample_ids(self._conn, unique)
        by_id = {v: k for k, v in ids.items()}
        out: dict[str, list[str]] = {k: [] for k in unique}
        wanted = list(by_id)
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT sample_id, tag FROM {source} AS t WHERE sample_id IN ({marks}) "  # noqa: S608
                "ORDER BY tag",
                [*args, *chunk],
            ).fetchall()
            for sid, tag in rows:
                out[by_id[int(sid)]].append(str(tag))
        return out

    def counts(self) -> dict[str, int]:
        """Samples carrying each tag, most used first (ties by name); unused tags left out."""
        rows = self._conn.execute(
            "SELECT tag, COUNT(*) FROM current_tags GROUP BY tag ORDER BY COUNT(*) DESC, tag"
        ).fetchall()
        return {str(t): int(n) for t, n in rows}

    def recent(self, user: str | None = None, limit: int = 5) -> list[str]:
        """The tags added most recently (by ``user`` when given), newest first, each once."""
        where, args = ("AND user = ? ", [user]) if user else ("", [])
        rows = self._conn.execute(
            f"SELECT tag, MAX(id) FROM tag_events WHERE present = 1 {where}"  # noqa: S608
            "GROUP BY tag ORDER BY MAX(id) DESC",
            args,
        ).fetchall()
        return [str(t) for t, _ in rows[: max(limit, 0)]]

    def history(self, key: str | None = None, *, user: str | None = None) -> pd.DataFrame:
        """The tag events, oldest first: of every sample or of ``key``, of everyone or ``user``.

        Columns: event_id, key, tag, present (True: added, False: removed), user,
        created_at, action_id.
        """
        conditions = [("s.key = ?", key), ("e.user = ?", user)]
        given = [(sql, value) for sql, value in conditions if value is not None]
        where = f"WHERE {' AND '.join(sql for sql, _ in given)} " if given else ""
        rows = self._conn.execute(
            "SELECT e.id, s.key, e.tag, e.present, e.user, e.created_at, e.action_id "  # noqa: S608
            f"FROM tag_events e JOIN samples s ON s.id = e.sample_id {where}ORDER BY e.id",
            [value for _, value in given],
        ).fetchall()
        frame = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))
        frame["present"] = frame.present.astype(bool)
        return frame

    def version(self) -> int:
        """The id of the newest tag event (0 before the first); changes with every tag write."""
        return int(self._conn.execute("SELECT MAX(id) FROM tag_events").fetchone()[0] or 0)

"""A reviewer's verdicts on labels: accept, fix or reject, recorded next to the label log.

A verdict judges one label event, the sample's current label when the reviewer saw it. An
``accept`` adds a review row only; a ``fix`` appends a label event with source ``review``
carrying the new class, a ``reject`` one with no class (the sample is unlabeled again), each
with its review row, in one transaction. A current label counts as reviewed when its event was
accepted, or when it came from a review fix or an adjudication. Any later label event (a
relabel, the same class again) makes the sample's label unreviewed again, except an undo or a
redo: it puts back an earlier event's label (``reversals.put_back_events``), and that label's
review state with it. A labeler's undo of their relabel returns the reviewer's fix, still
fixed by the reviewer; a reviewer's undo of their fix returns the label they judged, which their
fix left unaccepted.

The SQL here is portable (``?`` placeholders, ``ON CONFLICT``, no rowid or PRAGMA), and every
query reads many samples at once: no query per sample.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd

from bps_core.errors import BpsError, UnknownSampleError
from bps_core.project import db, reversals
from bps_core.project.keys import sample_ids
from bps_core.project.label_writes import LabelAction, LabelWrite, newest_event, read_back

#: What a reviewer can say about a label.
VERDICTS = ("accept", "fix", "reject")
#: The review state of a current label, as ``Reviews.current`` reports it.
REVIEW_STATES = ("unreviewed", "accepted", "fixed", "adjudicated")
_CHUNK = 900
#: A class a review may fix to or label with: one not removed (retired) from the class list.
_LIVE_CLASS = "SELECT id FROM label_classes WHERE name = ? AND retired_at IS NULL"


class ReviewError(BpsError):
    """A verdict cannot be recorded: an unlabeled sample, a bad verdict, a duplicate."""


class StaleReviewError(ReviewError):
    """The label changed since the reviewer saw it; nothing was written.

    Attributes:
        keys: The samples relabeled since.
    """

    def __init__(self, message: str, keys: list[str]) -> None:
        self.keys = keys
        super().__init__(message)


@dataclass(frozen=True)
class Verdict:
    """One reviewer decision on a sample's current label.

    Attributes:
        key: The sample key.
        verdict: ``accept``, ``fix`` or ``reject``.
        label: The class a ``fix`` sets (None otherwise).
        seen_event_id: The label event the reviewer saw (``Reviews.current``'s ``event_id``);
            the verdict is refused when the label changed since. None: whatever is current.
    """

    key: str
    verdict: str
    label: str | None = None
    seen_event_id: int | None = None


@dataclass(frozen=True)
class ReviewCounts:
    """How far review got.

    Attributes:
        n_labeled: Current labels.
        n_reviewed: Current labels that are reviewed.
        by_verdict: Verdicts ever given, per verdict (``accept``, ``fix``, ``reject``).
        by_reviewer: Verdicts ever given, per reviewer.
    """

    n_labeled: int
    n_reviewed: int
    by_verdict: dict[str, int] = field(default_factory=dict)
    by_reviewer: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class VerdictsRecorded:
    """What ``Reviews.record`` wrote.

    Attributes:
        counts: Verdicts recorded per verdict (``accept``, ``fix``, ``reject``).
        action_id: The label action of the fixes and rejects (``Project.undo`` reverses it),
            or None when every verdict was an accept (an accept is a review row only).
    """

    counts: dict[str, int]
    action_id: str | None
    #: The label events the fixes and rejects appended (SQLite; None on PostgreSQL or
    #: without any), see ``LabelWrite``: a page hands them to its next labels read.
    written: LabelWrite | None = field(default=None, compare=False, repr=False)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _chunks(values: Sequence[int]) -> list[Sequence[int]]:
    return [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]


def _last_events(
    c: db.Connection, ids: Sequence[int]
) -> dict[int, tuple[int, int | None, str, str]]:
    """Sample id -> (event id, class id, user, created_at) of its last label event."""
    out: dict[int, tuple[int, int | None, str, str]] = {}
    for chunk in _chunks(list(ids)):
        marks = ",".join("?" * len(chunk))
        rows = c.execute(
            "SELECT e.sample_id, e.id, e.class_id, e.user, e.created_at FROM label_events e "
            "JOIN (SELECT sample_id, MAX(id) AS id FROM label_events "
            f"      WHERE sample_id IN ({marks}) GROUP BY sample_id) AS last ON last.id = e.id",  # noqa: S608
            list(chunk),
        ).fetchall()
        out.update((int(r[0]), (int(r[1]), r[2], str(r[3]), str(r[4]))) for r in rows)
    return out


#: The review state, reviewer and reviewed_at of an unreviewed label.
_UNREVIEWED: tuple[str, str | None, str | None] = ("unreviewed", None, None)


def _event_reviews(
    c: db.Connection, event_ids: Sequence[int]
) -> dict[int, tuple[int, str, str, str, str, str | None, str | None]]:
    """By each of ``event_ids``: its sample id, source, action id, user and created_at.

    Then the user and time of the newest accept of it (None, None when none).
    """
    out: dict[int, tuple[int, str, str, str, str, str | None, str | None]] = {}
    for chunk in _chunks(list(event_ids)):
        marks = ",".join("?" * len(chunk))
        events = c.execute(
            "SELECT id, sample_id, source, action_id, user, created_at FROM label_events "
            f"WHERE id IN ({marks})",  # noqa: S608
            list(chunk),
        ).fetchall()
        samples = sorted({int(r[1]) for r in events})
        accepts: dict[int, tuple[str, str]] = {}
        for part in _chunks(samples):  # by sample: label_reviews_by_sample, oldest first
            rows = c.execute(
                "SELECT event_id, user, created_at FROM label_reviews WHERE sample_id IN "
                f"({','.join('?' * len(part))}) AND verdict = 'accept' ORDER BY id",  # noqa: S608
                list(part),
            ).fetchall()
            accepts.update((int(e), (str(u), str(t))) for e, u, t in rows)
        for eid, sid, source, action, user, when in events:
            acc_user, acc_at = accepts.get(int(eid), (None, None))
            out[int(eid)] = (int(sid), str(source), str(action), str(user), str(when), acc_user,
                             acc_at)  # fmt: skip
    return out


def _shown_keys(keys: list[str]) -> str:
    shown = ", ".join(repr(k.split(":", 1)[-1]) for k in keys[:3])
    return shown + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")


# The last event of every sample, its class and whether a reviewer's accept names it.
_CURRENT = (
    "SELECT s.key, k.name, e.user, e.created_at, e.source, e.id, r.verdict, r.user, "
    "r.created_at, e.action_id, e.sample_id FROM label_events e "
    "JOIN (SELECT sample_id, MAX(id) AS id FROM label_events GROUP BY sample_id) AS last "
    "  ON last.id = e.id "
    "JOIN samples s ON s.id = e.sample_id "
    "JOIN label_classes k ON k.id = e.class_id "
    "LEFT JOIN (SELECT event_id, MAX(id) AS id FROM label_reviews WHERE verdict = 'accept' "
    "           GROUP BY event_id) AS acc ON acc.event_id = e.id "
    "LEFT JOIN label_reviews r ON r.id = acc.id "
)
CURRENT_COLUMNS = (
    "key", "label", "user", "created_at", "source", "event_id", "review", "reviewer",
    "reviewed_at",
)  # fmt: skip


class Reviews:
    """The ``label_reviews`` table and review state of labels; reached as ``Project.reviews``."""

    def __init__(self, conn: db.Connection, *, clean_name: Callable[[str, str], str]) -> None:
        self._conn = conn
        self._clean_name = clean_name  # the store's name rules (this module cannot import it)

    def record(self, verdicts: Sequence[Verdict], *, user: str) -> VerdictsRecorded:
        """Records verdicts on current labels, all in one transaction (all or nothing).

        An ``accept`` adds a review row naming the current label event; a ``fix`` appends a
        label event (source ``review``) with its class, a ``reject`` one that clears the label;
        the label events form one undoable action of ``user``.

        Args:
            verdicts: One per sample (a sample may appear once).
            user: The reviewer.

        Returns:
            How many of each verdict were recorded, and the label action of the fixes and
            rejects (None without any).

        Raises:
            UnknownSampleError: a key is not in the project.
            StaleReviewError: a label changed since the reviewer saw it (``seen_event_id``).
            ReviewError: an unknown verdict, a fix without a class or to a class the project
                does not have, a sample twice, or an unlabeled sample.
            ValueError: an empty user or class name that cannot be stored.
        """
        clean_name = self._clean_name
        user = clean_name(user, "user name")
        keys = [v.key for v in verdicts]
        twice = sorted(k for k, n in Counter(keys).items() if n > 1)
        if twice:
            raise ReviewError(f"a sample can get one verdict at a time: {_shown_keys(twice)} "
                              "appear more than once")  # fmt: skip
        labels: dict[str, str] = {}
        for v in verdicts:
            if v.verdict not in VERDICTS:
                raise ReviewError(f"verdict {v.verdict!r} for {_shown_keys([v.key])}: choose "
                                  f"one of {', '.join(VERDICTS)}")  # fmt: skip
            if v.verdict == "fix":
                if not v.label:
                    raise ReviewError(f"a fix of {_shown_keys([v.key])} needs the class to set")
                labels[v.key] = clean_name(v.label, "class name")

        def tx(c: db.Connection) -> VerdictsRecorded:
            ids = sample_ids(c, keys)
            missing = [k for k in keys if k not in ids]
            if missing:
                raise UnknownSampleError(missing)
            last = _last_events(c, [ids[k] for k in keys])
            unlabeled = [k for k in keys if ids[k] not in last or last[ids[k]][1] is None]
            if unlabeled:
                raise ReviewError(f"{len(unlabeled)} sample(s) not labeled, nothing to review: "
                                  f"{_shown_keys(unlabeled)}")  # fmt: skip
            stale = [v for v in verdicts if v.seen_event_id is not None
                     and last[ids[v.key]][0] != v.seen_event_id]  # fmt: skip
            if stale:
                _, _, who, when = last[ids[stale[0].key]]
                raise StaleReviewError(
                    f"{_shown_keys([v.key for v in stale])} relabeled by {who} at "
                    f"{when[:19].replace('T', ' ')} UTC "
                    "since you opened it; reload and review the new label",
                    [v.key for v in stale],
                )
            class_ids: dict[str, int] = {}
            for name in set(labels.values()):
                row = c.execute(_LIVE_CLASS, (name,)).fetchone()
                if row is None:
                    raise ReviewError(f"no class {name!r} to fix to; create it first (a "
                                      "reviewer's typo must not make a new class)")  # fmt: skip
                class_ids[name] = int(row[0])
            now, action = _now(), uuid.uuid4().hex
            counts = dict.fromkeys(VERDICTS, 0)
            judged: list[tuple[int, int, str]] = []  # (sample id, event judged, verdict)
            events: list[tuple[int, int | None]] = []  # (sample id, new class) of fix/reject
            for v in verdicts:
                sid = ids[v.key]
                event_id, class_id, _, _ = last[sid]
                verdict = v.verdict
                if verdict == "fix" and class_ids[labels[v.key]] == class_id:
                    verdict = "accept"  # "fixed" to the class it has: the label was right
                if verdict != "accept":
                    events.append((sid, class_ids[labels[v.key]] if verdict == "fix" else None))
                judged.append((sid, event_id, verdict))
                counts[verdict] += 1
            result: dict[int, int] = {}
            written: LabelWrite | None = None
            if events:
                before = newest_event(c)
                c.executemany(
                    "INSERT INTO label_events (sample_id, class_id, user, created_at, source, "
                    "action_id) VALUES (?, ?, ?, ?, 'review', ?)",
                    [(sid, cls, user, now, action) for sid, cls in events],
                )
                written = read_back(c, before, len(events), user, now, "review")
                if written is not None:  # the same pairs as the query below, already read
                    result = dict(zip(written.sample_ids.tolist(), written.event_ids.tolist(),
                                      strict=True))  # fmt: skip
                else:
                    q = "SELECT sample_id, id FROM label_events WHERE action_id = ?"
                    result = {int(s): int(e) for s, e in c.execute(q, (action,)).fetchall()}
                c.execute(
                    "INSERT INTO label_actions (action_id, user, kind, n_events, created_at) "
                    "VALUES (?, ?, 'label', ?, ?)",
                    (action, user, len(events), now),
                )
            c.executemany(
                "INSERT INTO label_reviews (sample_id, event_id, verdict, result_event_id, "
                "user, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                [(sid, event_id, verdict, result.get(sid), user, now)
                 for sid, event_id, verdict in judged],
            )  # fmt: skip
            return VerdictsRecorded(counts, action if events else None, written)

        return db.write(self._conn, tx)

    def label_unlabeled(
        self, pairs: Sequence[tuple[str, str]], *, user: str, action_id: str | None = None
    ) -> LabelAction:
        """Labels samples that are still unlabeled (a reviewer accepting predictions).

        One label event per sample, source ``review`` (so the label counts as reviewed), all in
        one undoable action of ``user``, in one transaction. Refused, with nothing written, when
        any sample got a label since the reviewer saw it unlabeled.

        Args:
            pairs: (sample key, class) pairs; each sample once, each class one the project has.
            user: The reviewer.
            action_id: The label action to write; generated when omitted.

        Returns:
            The label action (``Project.undo`` of the reviewer reverses it), with the events
            it appended.

        Raises:
            UnknownSampleError: a key is not in the project.
            StaleReviewError: a sample was labeled since (it names who labeled it).
            ReviewError: a sample twice, or a class the project does not have.
            ValueError: an empty user or class name that cannot be stored.
        """
        clean_name = self._clean_name
        user = clean_name(user, "user name")
        keys = [k for k, _ in pairs]
        twice = sorted(k for k, n in Counter(keys).items() if n > 1)
        if twice:
            raise ReviewError(f"a sample can get one label at a time: {_shown_keys(twice)} "
                              "appear more than once")  # fmt: skip
        names = {k: clean_name(lab, "class name") for k, lab in pairs}

        def tx(c: db.Connection) -> LabelAction:
            ids = sample_ids(c, keys)
            missing = [k for k in keys if k not in ids]
            if missing:
                raise UnknownSampleError(missing)
            last = _last_events(c, [ids[k] for k in keys])
            labeled = [k for k in keys if ids[k] in last and last[ids[k]][1] is not None]
            if labeled:
                _, _, who, when = last[ids[labeled[0]]]
                raise StaleReviewError(
                    f"{_shown_keys(labeled)} labeled by {who} at "
                    f"{when[:19].replace('T', ' ')} UTC since you opened it; nothing was "
                    "written: reload and review its label",
                    labeled,
                )
            class_ids: dict[str, int] = {}
            for name in set(names.values()):
                row = c.execute(_LIVE_CLASS, (name,)).fetchone()
                if row is None:
                    raise ReviewError(f"no class {name!r} to label with; create it first")
                class_ids[name] = int(row[0])
            now, action = _now(), action_id or uuid.uuid4().hex
            before = newest_event(c)
            c.executemany(
                "INSERT INTO label_events (sample_id, class_id, user, created_at, source, "
                "action_id) VALUES (?, ?, ?, ?, 'review', ?)",
                [(ids[k], class_ids[names[k]], user, now, action) for k in keys],
            )
            c.execute(
                "INSERT INTO label_actions (action_id, user, kind, n_events, created_at) "
                "VALUES (?, ?, 'label', ?, ?)",
                (action, user, len(keys), now),
            )
            written = read_back(c, before, len(keys), user, now, "review")
            return LabelAction(action, len(keys), written)

        return db.write(self._conn, tx)

    def current(self) -> pd.DataFrame:
        """Every current label with its review state, in sample order.

        Columns: key, label, user (who gave the label), created_at, source, event_id (the
        label event, what a verdict names as ``seen_event_id``), review (one of
        ``REVIEW_STATES``), reviewer and reviewed_at (None while unreviewed).
        """
        rows = self._conn.execute(_CURRENT + "ORDER BY s.id").fetchall()
        put_back = self._put_back_states(
            [(r[5], r[10], r[9]) for r in rows if r[4] in reversals.REVERSAL_SOURCES]
        )
        out = []
        for row in rows:
            key, label, who, when, source, event_id, verdict, reviewer, reviewed_at = row[:9]
            if verdict is not None:
                state = "accepted"
            elif source == "review":
                state, reviewer, reviewed_at = "fixed", who, when
            elif source == "adjudication":
                state, reviewer, reviewed_at = "adjudicated", who, when
            else:
                state, reviewer, reviewed_at = put_back.get(int(event_id), _UNREVIEWED)
            out.append((key, label, who, when, source, int(event_id), state, reviewer,
                        reviewed_at))  # fmt: skip
        return pd.DataFrame(out, columns=list(CURRENT_COLUMNS))

    def reviewed_keys(self) -> set[str]:
        """The keys of samples whose current label is reviewed (accepted, fixed, adjudicated)."""
        # r.sample_id first: label_reviews_by_sample makes this a lookup, not a scan
        accepted = (
            "EXISTS (SELECT 1 FROM label_reviews r WHERE r.sample_id = e.sample_id "
            "        AND r.event_id = e.id AND r.verdict = 'accept')"
        )
        rows = self._conn.execute(
            f"SELECT s.key, e.source, e.id, e.sample_id, e.action_id, {accepted} "  # noqa: S608
            "FROM label_events e "
            "JOIN (SELECT sample_id, MAX(id) AS id FROM label_events GROUP BY sample_id) AS last "
            "  ON last.id = e.id "
            "JOIN samples s ON s.id = e.sample_id "
            "WHERE e.class_id IS NOT NULL AND (e.source IN ('review', 'adjudication', 'undo', "
            f"  'redo') OR {accepted})"
        ).fetchall()
        reversed_rows = [r for r in rows if r[1] in reversals.REVERSAL_SOURCES and not r[5]]
        put_back = self._put_back_states([(e, sid, a) for _, _, e, sid, a, _ in reversed_rows])
        # An undo or redo counts when accepted, or when the label it puts back is reviewed.
        return {
            str(k) for k, s, e, _, _, ok in rows
            if ok or s not in reversals.REVERSAL_SOURCES
            or put_back.get(int(e), _UNREVIEWED)[0] != "unreviewed"
        }  # fmt: skip

    def _put_back_states(
        self, events: Sequence[tuple[int, int, str]]
    ) -> dict[int, tuple[str, str | None, str | None]]:
        """By undo or redo event: the review state of the label it puts back.

        The state (``REVIEW_STATES``), reviewer and reviewed_at of the event put back
        (``reversals.put_back_events``): accepted when a reviewer accepted that event, fixed
        or adjudicated (by whoever wrote it, when) when a reviewer wrote it, and for an undo or
        redo, followed on to the event it put back. A few queries per step back, none per
        sample; every step goes to an older event, so it ends.

        Args:
            events: (event id, sample id, action id) of current undo and redo events.
        """
        out: dict[int, tuple[str, str | None, str | None]] = {}
        pending = {int(e): (int(e), int(sid), str(a)) for e, sid, a in events}
        while pending:
            back = reversals.put_back_events(self._conn, pending.values())
            found = _event_reviews(self._conn, sorted(set(back.values())))
            step: dict[int, tuple[int, int, str]] = {}
            for root, (event_id, _, _) in pending.items():
                earlier = back.get(event_id)
                if earlier is None or earlier not in found:
                    continue  # back to no label: unreviewed
                sample_id, source, action, who, when, acc_user, acc_at = found[earlier]
                if acc_user is not None:
                    out[root] = ("accepted", acc_user, acc_at)
                elif source == "review":
                    out[root] = ("fixed", who, when)
                elif source == "adjudication":
                    out[root] = ("adjudicated", who, when)
                elif source in reversals.REVERSAL_SOURCES:
                    step[root] = (earlier, sample_id, action)
            pending = step
        return out

    def queue(self, *, label: str | None = None, exclude_user: str | None = None) -> list[str]:
        """The keys of current labels not reviewed yet, in sample order.

        Args:
            label: Only labels of this class.
            exclude_user: Leave out labels this user gave (a reviewer checks others' work).
        """
        frame = self.current()
        keep = frame.review == "unreviewed"
        if label is not None:
            keep &= frame.label == label
        if exclude_user is not None:
            keep &= frame.user != exclude_user
        return [str(k) for k in frame.key[keep]]

    def history(self, key: str) -> pd.DataFrame:
        """The verdicts on sample ``key``, oldest first.

        Columns: review_id, verdict, label (the class judged), labeled_by (who gave it),
        result (the class a fix set; None after a reject or an accept), reviewer, created_at.
        """
        rows = self._conn.execute(
            "SELECT r.id, r.verdict, k.name, e.user, rk.name, r.user, r.created_at "
            "FROM label_reviews r JOIN samples s ON s.id = r.sample_id "
            "JOIN label_events e ON e.id = r.event_id "
            "LEFT JOIN label_classes k ON k.id = e.class_id "
            "LEFT JOIN label_events re ON re.id = r.result_event_id "
            "LEFT JOIN label_classes rk ON rk.id = re.class_id "
            "WHERE s.key = ? ORDER BY r.id",
            (key,),
        ).fetchall()
        cols = ["review_id", "verdict", "label", "labeled_by", "result", "reviewer",
                "created_at"]  # fmt: skip
        return pd.DataFrame(rows, columns=cols)

    def counts(self) -> ReviewCounts:
        """Current labels, how many are reviewed, and verdicts per verdict and per reviewer."""
        n_labeled = int(self._conn.execute("SELECT COUNT(*) FROM current_labels").fetchone()[0])
        by_verdict = dict.fromkeys(VERDICTS, 0)
        for verdict, n in self._conn.execute(
            "SELECT verdict, COUNT(*) FROM label_reviews GROUP BY verdict"
        ).fetchall():
            by_verdict[str(verdict)] = int(n)
        by_reviewer = {
            str(u): int(n)
            for u, n in self._conn.execute(
                "SELECT user, COUNT(*) FROM label_reviews GROUP BY user ORDER BY COUNT(*) DESC, "
                "user"
            ).fetchall()
        }
        return ReviewCounts(n_labeled, len(self.reviewed_keys()), by_verdict, by_reviewer)

    def version(self) -> int:
        """The id of the newest verdict (0 before the first); changes with every verdict."""
        return int(self._conn.execute("SELECT MAX(id) FROM label_reviews").fetchone()[0] or 0)

"""Blind double labeling: who must label which sample on their own, and what each said.

What each said is derived from the append-only label log, never stored twice. The setting
lives in the ``settings`` table (key ``double_labeling``, JSON); the assignments in
``label_assignments``. A labeler's own label on a sample is their last event on it among the
labeling sources (adjudication and review events, and undos and redos of them, are a
reviewer's, not a labeler's), skipping events one of their undos took back: so a labeler's undo
restores their own previous label, whoever labeled the sample in between. Whether a reviewer
settled a disagreement is derived the same way: a decision (an adjudication event, or a redo of
one) that no undo took back, newer than every labeler's own event on the sample; or the newest
such decision made on the labelers' own labels as they are now, while the sample holds its
label (a labeler's undo back to the labels the reviewer decided).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import pandas as pd

from bps_core.project import db, reversals
from bps_core.project.settings import get_setting, put_setting

#: The settings key of the double-labeling setting (JSON of ``DoubleLabeling``).
DOUBLE_LABELING_KEY = "double_labeling"
#: Label sources that are a labeler's own (a reviewer writes ``adjudication`` and ``review``).
OWN_SOURCES = ("lasso", "queue", "import", "api", "redo")
_REVIEWER_SOURCES = ("adjudication", "review")


@dataclass(frozen=True)
class DoubleLabeling:
    """The double-labeling setting as stored.

    Attributes:
        share: The share of the good samples assigned, in (0, 1].
        labelers: Who labels each assigned sample (two or more distinct names).
        blind: Whether labelers must not see each other's labels (the queue hides them, and a
            disagreement leaves the sample unlabeled until a reviewer adjudicates it).
        seed: Seeds which samples are drawn.
        enabled: False once turned off (assignments and labels are kept).
        updated_at: When it was last changed (UTC ISO).
    """

    share: float
    labelers: tuple[str, ...]
    blind: bool = True
    seed: int = 0
    enabled: bool = True
    updated_at: str = ""

    @property
    def blind_active(self) -> bool:
        """Whether blind double labeling is on now."""
        return self.enabled and self.blind


@dataclass(frozen=True)
class AssignmentChange:
    """What setting double labeling changed in ``label_assignments``.

    Attributes:
        n_samples: Samples assigned to every labeler by the new setting.
        n_added: Rows (sample, labeler) added.
        n_removed: Rows removed (the share shrank or a labeler left; none they had labeled).
        n_kept_labeled: Rows the new setting no longer asks for but kept, because that labeler
            had already labeled that sample.
    """

    n_samples: int
    n_added: int
    n_removed: int
    n_kept_labeled: int


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def draw_rank(seed: int, key: str) -> int:
    """A sample's place in the seeded draw: a hash of the seed and the key.

    Ranks depend on nothing else, so a larger share keeps every sample a smaller one drew, and
    samples ingested later do not reshuffle the others.
    """
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _chosen(rows: Sequence[tuple[int, str]], share: float, seed: int) -> list[int]:
    """The ids of the ``share`` of ``rows`` (id, key) with the lowest draw rank."""
    if not rows:
        return []
    n = max(1, round(share * len(rows)))
    ranked = sorted(rows, key=lambda r: (draw_rank(seed, r[1]), r[0]))
    return [sid for sid, _ in ranked[:n]]


class Assignments:
    """The double-labeling setting and ``label_assignments``; ``Project.assignments``."""

    def __init__(self, conn: db.Connection) -> None:
        self._conn = conn
        #: The last ``_events`` frame and what it was read at (newest event, the setting).
        self._events_memo: tuple[tuple[object, ...], pd.DataFrame] | None = None

    # -- the setting -----------------------------------------------------------------------
    def settings(self) -> DoubleLabeling | None:
        """The stored setting (on or turned off), or None when never set or unreadable."""
        stored = get_setting(self._conn, DOUBLE_LABELING_KEY)
        if stored is None:
            return None
        try:
            raw = json.loads(stored)
            return DoubleLabeling(
                share=float(raw["share"]), labelers=tuple(str(u) for u in raw["labelers"]),
                blind=bool(raw["blind"]), seed=int(raw["seed"]),
                enabled=bool(raw["enabled"]), updated_at=str(raw.get("updated_at", "")),
            )  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return None

    def active(self) -> DoubleLabeling | None:
        """The setting while double labeling is on, else None."""
        setting = self.settings()
        return setting if setting is not None and setting.enabled else None

    def configure(
        self, labelers: Sequence[str], share: float, *, seed: int = 0, blind: bool = True
    ) -> AssignmentChange:
        """Turns double labeling on (or changes it): assigns the drawn samples to every labeler.

        The ``share`` of the good samples with the lowest draw rank (``draw_rank``) is assigned
        to each labeler. Changing the share or the labelers adds and removes as few rows as it
        can; a row whose labeler already labeled that sample is kept (counted in
        ``n_kept_labeled``), never dropped. All in one transaction, with the setting.

        Args:
            labelers: Two or more distinct, already cleaned user names.
            share: Share of the good samples, in (0, 1].
            seed: Seeds the draw.
            blind: Whether labelers must not see each other's labels.

        Raises:
            ValueError: fewer than two distinct labelers, or a share out of (0, 1].
        """
        names = tuple(dict.fromkeys(labelers))
        if len(names) < 2:
            raise ValueError(f"labelers: give two or more distinct names, got {len(names)}")
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], got {share}")
        setting = DoubleLabeling(share, names, blind, int(seed), True, _now())

        def tx(c: db.Connection) -> AssignmentChange:
            rows = c.execute("SELECT id, key FROM samples WHERE status = 'ok'").fetchall()
            chosen = _chosen([(int(i), str(k)) for i, k in rows], share, seed)
            want = {(sid, u) for sid in chosen for u in names}
            q = "SELECT sample_id, user FROM label_assignments"
            have = {(int(s), str(u)) for s, u in c.execute(q).fetchall()}
            labeled = {(int(s), str(u)) for s, u in c.execute(
                "SELECT DISTINCT sample_id, user FROM label_events WHERE source NOT IN (?, ?)",
                _REVIEWER_SOURCES,
            ).fetchall()}  # fmt: skip
            add = sorted(want - have)
            extra = have - want
            drop = sorted(extra - labeled)
            now = _now()
            c.executemany(
                "INSERT INTO label_assignments (sample_id, user, assigned_at) VALUES (?, ?, ?) "
                "ON CONFLICT (sample_id, user) DO NOTHING",
                [(s, u, now) for s, u in add],
            )
            c.executemany("DELETE FROM label_assignments WHERE sample_id = ? AND user = ?", drop)
            put_setting(c, DOUBLE_LABELING_KEY, json.dumps(asdict(setting)))
            return AssignmentChange(len(chosen), len(add), len(drop), len(extra) - len(drop))

        return db.write(self._conn, tx)

    def disable(self) -> DoubleLabeling | None:
        """Turns double labeling off; the assignments and every label stay (the log is kept).

        Returns:
            The setting as it now stands, or None when it was never set.
        """
        setting = self.settings()
        if setting is None:
            return None
        off = DoubleLabeling(setting.share, setting.labelers, setting.blind, setting.seed,
                             False, _now())  # fmt: skip
        db.write(self._conn, lambda c: put_setting(c, DOUBLE_LABELING_KEY, json.dumps(asdict(off))))
        return off

    # -- reads -----------------------------------------------------------------------------
    def table(self) -> pd.DataFrame:
        """Every assignment: columns key, user, assigned_at, in sample order."""
        rows = self._conn.execute(
            "SELECT s.key, a.user, a.assigned_at FROM label_assignments a "
            "JOIN samples s ON s.id = a.sample_id ORDER BY a.sample_id, a.user"
        ).fetchall()
        return pd.DataFrame(rows, columns=["key", "user", "assigned_at"])

    def keys(self, user: str) -> list[str]:
        """The keys of the samples assigned to ``user``, in sample order."""
        rows = self._conn.execute(
            "SELECT s.key FROM label_assignments a JOIN samples s ON s.id = a.sample_id "
            "WHERE a.user = ? ORDER BY a.sample_id",
            (user,),
        ).fetchall()
        return [str(k) for (k,) in rows]

    def token(self) -> tuple[object, ...]:
        """A cheap value that changes whenever the events frame, and so the hidden keys, may.

        Every change the frame reflects appends an event or an action (an undo whose every
        sample was skipped appends only its action) or rewrites the setting (assignments
        change only with it): together they date it.
        """
        return (
            self._conn.execute("SELECT MAX(id) FROM label_events").fetchone()[0],
            self._conn.execute("SELECT COUNT(*) FROM label_actions").fetchone()[0],
            get_setting(self._conn, DOUBLE_LABELING_KEY),
        )

    def _events(self) -> pd.DataFrame:
        """Every event on an assigned sample, in one query.

        With whether its user is assigned to it, whether an undo took its action back and the
        source of the label action it stems from (``origin``: an undo or redo of an
        adjudication stems from the adjudication); ``action_at`` and ``undone_at`` are the
        rowids of its action and of the undo that took it back (NaN: none), which order
        actions as events cannot (an undo whose samples were all skipped writes no event). An
        undo takes back the whole action in its labeler's own view, also on the samples where
        the log kept the label because someone labeled them since (``Project.undo`` never
        overwrites a newer label of another person; blind labelers label the same samples).
        """
        at = self.token()
        if self._events_memo is not None and self._events_memo[0] == at:
            return self._events_memo[1]
        rows = self._conn.execute(
            "SELECT e.id, e.sample_id, s.key, k.name, e.user, e.source, e.action_id, "
            "CASE WHEN u.target_action_id IS NULL THEN 0 ELSE 1 END, "
            "CASE WHEN asg.user IS NULL THEN 0 ELSE 1 END, a.rowid, u.at "
            "FROM label_events e "
            "JOIN (SELECT DISTINCT sample_id FROM label_assignments) d "
            "ON d.sample_id = e.sample_id "
            "JOIN samples s ON s.id = e.sample_id "
            "LEFT JOIN label_classes k ON k.id = e.class_id "
            "LEFT JOIN label_actions a ON a.action_id = e.action_id "
            "LEFT JOIN (SELECT target_action_id, MIN(rowid) AS at FROM label_actions "
            "WHERE kind = 'undo' GROUP BY target_action_id) u "
            "ON u.target_action_id = e.action_id "
            "LEFT JOIN label_assignments asg ON asg.sample_id = e.sample_id AND asg.user = e.user "
            "ORDER BY e.id"
        ).fetchall()
        cols = ["event_id", "sample_id", "key", "label", "user", "source", "action_id",
                "undone", "assigned", "action_at", "undone_at"]  # fmt: skip
        frame = pd.DataFrame(rows, columns=cols)
        for col in ("action_at", "undone_at"):  # NaN: no action row, never undone
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
        # A few rows (one per undo or redo), read apart: a join per event cost a quarter more.
        frame["origin"] = reversals.origins(frame, reversals.reversal_targets(self._conn))
        self._events_memo = (at, frame)
        return frame

    def labeler_labels(self) -> pd.DataFrame:
        """Each labeler's own current label on each sample assigned to them.

        Their last event on it among ``OWN_SOURCES`` that none of their undos took back; a
        cleared label counts as none. Computed from the label log in one query.

        Returns:
            Columns key, user, label, event_id (the event that set it), one row per (sample,
            labeler) with a label, in sample order.
        """
        return _own_labels(self._events())

    def own_labels_after_undos(self, user: str) -> dict[int, str | None]:
        """``user``'s own label right after each of their undos on samples assigned to them.

        By undo event id: the label the undo gave back to their own view (their last own
        event before it that no undo up to it took back; None: no label of theirs), which is
        not always the one the log's undo event puts back: undoing their label on a sample
        another labeler labeled after their earlier label puts the other's label back in the
        log, while their own earlier label stands. Undos of a reviewer's decision (which are
        no labeler's own) are left out.
        """
        events = self._events()
        theirs = events[(events.user == user) & (events.assigned == 1)
                        & ~events.origin.isin(_REVIEWER_SOURCES)]  # fmt: skip
        undos = theirs[theirs.source == "undo"]
        if undos.empty:
            return {}
        own = theirs[theirs.source.isin(OWN_SOURCES)]
        # Per sample, their own events oldest first (the frame's order): a few each.
        by_sample: dict[int, list[tuple[int, float, str | None]]] = {}
        for sid, eid, at, label in zip(own.sample_id, own.event_id, own.undone_at, own.label,
                                       strict=True):  # fmt: skip
            by_sample.setdefault(int(sid), []).append((int(eid), float(at), label))
        out: dict[int, str | None] = {}
        for sid, eid, at in zip(undos.sample_id, undos.event_id, undos.action_at, strict=True):
            # NaN compares False: an event never undone, or an undo of unknown time, stands.
            standing = (label for e, undone_at, label in reversed(by_sample.get(int(sid), []))
                        if e < eid and not undone_at <= at)  # fmt: skip
            found = next(standing, None)
            out[int(eid)] = found if isinstance(found, str) else None
        return out

    def disputes(self) -> pd.DataFrame:
        """Assigned samples on which two or more labelers' own labels differ.

        A disagreement is settled (``adjudicated``) by a decision no undo took back (an
        adjudication event or a redo of one) that came after ``last_own_event``. A labeler who
        changes their label afterwards makes a new disagreement, open again; their undo (or
        redo) back to the labels the reviewer decided on settles it again, without the
        reviewer: the newest standing decision made when every labeler's own label was what it
        is now settles it, as long as the sample holds that decision's label (were it to
        hold a labeler's label instead, say after they relabeled it with the class they had,
        the disagreement goes back to the reviewer rather than show a label they overruled).
        A reviewer's undo of their decision reopens the disagreement, their redo settles it
        again.

        Returns:
            Columns key, sample_id, n_labels (labelers with a label), last_own_event (the
            newest event of an assigned labeler on it, undos included), adjudicated_label and
            adjudicated: one row per disagreement, settled or not, in sample order.
        """
        return _disputes(self._events())

    def hidden_keys(self) -> set[str]:
        """Samples that must not count as labeled now.

        While blind double labeling is on, the disagreements no reviewer has adjudicated yet;
        empty otherwise.
        """
        setting = self.active()
        if setting is None or not setting.blind:
            return set()
        d = self.disputes()
        return set(d.key[~d.adjudicated])


def _as_of(events: pd.DataFrame, event_id: int, action_at: float) -> pd.DataFrame:
    """The events before event ``event_id``, undone only by an undo before its action.

    ``action_at`` is that event's action's rowid (NaN when unknown: no undo counts).
    """
    before = events[events.event_id < event_id]
    undone = (before.undone_at < action_at).astype(int)  # NaN compares False: not undone
    return before.assign(undone=undone)


def _own_labels(events: pd.DataFrame) -> pd.DataFrame:
    own = events[(events.assigned == 1) & ~events.origin.isin(_REVIEWER_SOURCES)]
    setting = own[own.source.isin(OWN_SOURCES) & (own.undone == 0)]
    last = setting.groupby(["sample_id", "user"], sort=False).event_id.idxmax()
    out = setting.loc[last.to_numpy()]
    out = out[out.label.notna()].sort_values(["sample_id", "user"])
    return out[["key", "user", "label", "event_id"]].reset_index(drop=True)


def _disputes(events: pd.DataFrame) -> pd.DataFrame:
    cols = ["key", "sample_id", "n_labels", "last_own_event", "adjudicated_label", "adjudicated"]
    own = _own_labels(events)
    if own.empty:
        return pd.DataFrame(columns=cols)
    per = own.groupby("key", sort=False).label.agg(["nunique", "size"])
    keys = per.index[(per["size"] >= 2) & (per["nunique"] >= 2)]
    if keys.empty:
        return pd.DataFrame(columns=cols)
    ev = events[events.key.isin(keys)]
    mine = ev[(ev.assigned == 1) & ~ev.origin.isin(_REVIEWER_SOURCES)]
    latest = mine.groupby("key").event_id.max()
    # A decision stands while no undo took it back: the adjudication's or a redo's event.
    decided = ev[(ev.origin == "adjudication") & (ev.source != "undo") & (ev.undone == 0)]
    adj = decided.drop_duplicates("key", keep="last").set_index("key")
    out = pd.DataFrame({"key": keys})
    out["sample_id"] = out.key.map(ev.groupby("key").sample_id.first()).astype(int)
    out["n_labels"] = out.key.map(per["size"]).astype(int)
    out["last_own_event"] = out.key.map(latest).astype(int)
    adj_id = out.key.map(adj.event_id) if len(adj) else pd.Series(float("nan"), index=out.index)
    out["adjudicated"] = (adj_id > out.last_own_event).to_numpy()
    out["adjudicated_label"] = out.key.map(adj.label).where(out.adjudicated) if len(adj) else None
    if len(adj):
        # Labeled since the newest decision: a decision on the labels as they are now (an
        # undo back to them) still settles it.
        again = _decided_before(ev, decided, own, set(out.key[~out.adjudicated]))
        if again:
            settled = out.key.isin(list(again))
            out["adjudicated"] = out.adjudicated | settled.to_numpy()
            out["adjudicated_label"] = out.adjudicated_label.where(~settled, out.key.map(again))
    return out.sort_values("sample_id")[cols].reset_index(drop=True)


def _decided_before(
    events: pd.DataFrame, decided: pd.DataFrame, own: pd.DataFrame, keys: set[str]
) -> dict[str, str]:
    """Of ``keys``, those a standing decision settles though a labeler labeled since.

    By key, the label of the newest decision in ``decided`` (standing decisions, oldest
    first) made when every labeler's own label was what ``own`` says it is now, where the
    sample's last event holds that label: the label the sample shows is the decision's.
    A Python loop over those of ``keys`` with a decision (disputed samples labeled since
    their decision: a few), each over its own events.
    """
    out: dict[str, str] = {}
    now = {k: _by_user(g) for k, g in own[own.key.isin(keys)].groupby("key", sort=False)}
    on_key = dict(tuple(events[events.key.isin(keys)].groupby("key", sort=False)))
    for key, decisions in decided[decided.key.isin(keys)].groupby("key", sort=False):
        on = on_key[key]
        shown = on.label.iloc[-1]  # the events are in id order: the sample's label now
        for _, d in decisions.iloc[::-1].iterrows():  # the newest decision first
            then = _own_labels(_as_of(on, int(d.event_id), float(d.action_at)))
            if _by_user(then) == now.get(key):
                if d.label == shown:
                    out[str(key)] = str(d.label)
                break  # a newer word on the same labels overrides an older one
    return out


def _by_user(own: pd.DataFrame) -> dict[str, str]:
    return dict(zip(own.user, own.label, strict=True))

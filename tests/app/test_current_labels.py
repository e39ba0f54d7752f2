"""The current labels a page holds (bps_app/current_labels.py) and their reads (issue 20)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bps_app import cache
from bps_app.current_labels import LABEL_COLUMNS, CurrentLabels, LabelChanges, applied


def _check(got: CurrentLabels, p) -> None:  # type: ignore[no-untyped-def]
    want = p.current_labels()
    pd.testing.assert_frame_equal(got.frame, want, check_dtype=not want.empty)
    ids = dict(zip(p.samples().key, p.samples().sample_id, strict=True))
    assert got.sample_ids is not None
    assert got.sample_ids.tolist() == [ids[k] for k in want.key]
    assert got.label_of == dict(zip(want.key, want.label, strict=True))
    assert got.keys == frozenset(want.key)


class TestCurrentLabels:
    def test_read_labels__key_presses_update_the_lookups_and_leave_the_frame_unmade(
        self, tiny_project
    ) -> None:  # type: ignore[no-untyped-def]
        """A noted queue label changes the lookups made before without making the frame; the
        frame made later (after more key presses than are held unapplied, with relabels,
        clears and a sample written twice in one action) equals a fresh read."""
        p = tiny_project
        keys = p.samples().key.tolist()
        rng = np.random.default_rng(0)
        p.add_labels(keys[:8], "track", user="ann", source="lasso")
        labels = cache.read_labels(p, p.current_labels_token())
        assert len(labels.label_of) == 8
        for i in range(80):  # more than _MAX_PENDING
            k = keys[int(rng.integers(len(keys)))]
            if i % 17 == 5:
                pairs = [(k, "debris"), (keys[i % len(keys)], None), (k, None)]
            else:
                pairs = [(k, ("track", "debris", None)[i % 3])]
            action = p.add_label_events(pairs, user="ann", source="queue")
            cache.note_label_write(p, action.written)
            labels = cache.read_labels(p, p.current_labels_token())
            assert "frame" not in labels.__dict__  # the key press never made it
            want = p.current_labels()
            assert labels.label_of == dict(zip(want.key, want.label, strict=True))
            assert labels.keys == frozenset(want.key)
        _check(labels, p)

    def test_read_labels__a_frame_made_midway_and_other_writers_equal_a_fresh_read(
        self, tiny_project
    ) -> None:  # type: ignore[no-untyped-def]
        """Reads that make the frame, then key presses, a second session's labels (read from
        the log), an undo: each read equals ``current_labels``."""
        from bps_core.project import Project

        p = tiny_project
        other = Project.open(p.folder)
        keys = p.samples().key.tolist()
        p.add_labels(keys[:10], "track", user="ann", source="lasso")
        _check(cache.read_labels(p, p.current_labels_token()), p)
        for i in range(12):
            action = p.add_labels([keys[i + 5]], "debris", user="ann", source="queue")
            cache.note_label_write(p, action.written)
            if i == 6:
                other.add_labels(keys[:3], None, user="bob", source="lasso")
            if i == 9:
                result = p.undo("ann")
                assert result is not None
                cache.note_label_write(p, result.written)
            labels = cache.read_labels(p, p.current_labels_token())
            if i % 4 == 0:
                _check(labels, p)
        _check(labels, p)
        other.close()

    def test_read_labels__a_reviewers_noted_verdicts_equal_a_fresh_read_without_the_log(
        self, tiny_project, monkeypatch: pytest.MonkeyPatch
    ) -> None:  # type: ignore[no-untyped-def]
        """The review, label-issue and prediction walks hand their writes (a fix, a reject, a
        prediction accepted on an unlabeled sample, an undo) to the next read, which then
        does not read the label log, and equals ``current_labels``."""
        from bps_core.project.reviews import Verdict
        from bps_core.verbs.reviews import ReviewSettings, review

        p = tiny_project
        keys = p.samples().key.tolist()
        p.add_labels(keys[:6], "track", user="ann", source="lasso")
        p.ensure_class("debris")
        cache.read_labels(p, p.current_labels_token())
        log_reads: list[int] = []
        changes = p.label_changes
        monkeypatch.setattr(p, "label_changes",
                            lambda after=0: log_reads.append(after) or changes(after))  # fmt: skip
        writes = [
            lambda: review(p, ReviewSettings((Verdict(keys[0], "fix", "debris"),)), user="rita"),
            lambda: review(p, ReviewSettings((Verdict(keys[1], "reject"),)), user="rita"),
            lambda: p.reviews.label_unlabeled([(keys[9], "debris")], user="rita"),
            lambda: p.undo("rita"),
        ]
        for write in writes:
            done = write()
            assert done is not None
            assert done.written is not None
            cache.note_label_write(p, done.written)
            labels = cache.read_labels(p, p.current_labels_token())
            _check(labels, p)
        assert log_reads == []

    def test_changed__labels_without_sample_ids_take_no_changes(self) -> None:
        labels = CurrentLabels(pd.DataFrame([], columns=LABEL_COLUMNS))
        changes = LabelChanges.from_frame(_changes([1], ["a"]))
        with pytest.raises(ValueError, match="sample ids"):
            CurrentLabels.changed(labels, changes)


def _changes(ids: list[int], labels: list[str | None]) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame({
        "key": [f"in:{i}" for i in ids], "label": labels, "user": ["u"] * n,
        "created_at": ["t"] * n, "source": ["queue"] * n, "sample_id": ids,
        "event_id": list(range(100, 100 + n)),
    })  # fmt: skip


def test_applied__several_changes_at_once_equal_them_one_by_one() -> None:
    """Changes applied together keep each sample's last one, as applying them in turn."""
    base = _changes([1, 2, 3, 5], ["a", "b", "a", "b"])[LABEL_COLUMNS]
    ids = np.array([1, 2, 3, 5], dtype=np.int64)
    steps = [
        _changes([2, 4], ["a", "a"]),
        _changes([1, 4, 6], [None, "b", "a"]),
        _changes([1, 3], ["b", None]),
        _changes([6], [None]),
    ]
    changes = [LabelChanges.from_frame(c) for c in steps]
    frame, got_ids = applied(base, ids, changes)
    one_by_one, one_ids = base, ids
    for c in changes:
        one_by_one, one_ids = applied(one_by_one, one_ids, [c])
    pd.testing.assert_frame_equal(frame, one_by_one)
    assert got_ids.tolist() == one_ids.tolist() == [1, 2, 4, 5]
    assert frame.label.tolist() == ["b", "a", "b", "b"]


@pytest.mark.parametrize("seed", range(6))
def test_applied__equals_a_per_sample_replay_whether_rows_are_kept_replaced_or_interleaved(
    seed: int,
) -> None:
    """Random frames and changes (every row replaced in order, changes after the last row,
    interleaved, clears): the result equals replaying each change per sample, in id order,
    whichever shortcut (no take when all rows are kept or already in order) it took."""
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(40, int(rng.integers(0, 20)), replace=False)).astype(np.int64)
    base = _changes(ids.tolist(), [str(rng.choice(["a", "b"])) for _ in ids])[LABEL_COLUMNS]
    kinds = [ids, np.arange(40, 45), rng.choice(50, 12, replace=False)]
    changes = []
    for k in range(int(rng.integers(1, 4))):
        chosen = np.sort(kinds[(seed + k) % 3]).astype(np.int64)
        labels = [None if rng.random() < 0.2 else str(rng.choice(["a", "c"])) for _ in chosen]
        changes.append(LabelChanges.from_frame(_changes(chosen.tolist(), labels)))
    want = dict(zip(ids.tolist(), base.label.tolist(), strict=True))
    for c in changes:
        for i, lab in zip(c.sample_ids.tolist(), c.frame.label.tolist(), strict=True):
            if lab is None or lab != lab:
                want.pop(i, None)
            else:
                want[i] = lab
    frame, got_ids = applied(base, ids, changes)
    assert got_ids.tolist() == sorted(want)
    assert frame.label.tolist() == [want[i] for i in sorted(want)]
    assert frame.index.tolist() == list(range(len(frame)))
    assert frame.columns.tolist() == LABEL_COLUMNS

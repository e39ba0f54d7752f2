"""Reviewer verdicts: accept, fix and reject as events, stale screens refused, the reviewed set."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from bps_core.errors import UnknownSampleError
from bps_core.project import Project
from bps_core.project.reviews import ReviewError, StaleReviewError, Verdict


def _labeled(project: Project, n: int = 4) -> list[str]:
    keys = project.samples().key.head(n).tolist()
    project.add_labels(keys[: n // 2], "track", user="ann", source="queue")
    project.add_labels(keys[n // 2 :], "debris", user="bob", source="lasso")
    return keys


def _reviewer_sets_debris(project: Project, key: str, source: str) -> None:
    """Rita gives ``key`` "debris" by a review fix or by an adjudication (``source``)."""
    if source == "review":
        project.reviews.record([Verdict(key, "fix", label="debris")], user="rita")
    else:
        project.add_labels([key], "debris", user="rita", source="adjudication")


def _event(project: Project, key: str) -> int:
    cur = project.reviews.current()
    return int(cur.set_index("key").event_id[key])


def test_record__accept_adds_a_review_row_and_no_label_event(tiny_project: Project) -> None:
    keys = _labeled(tiny_project)
    n_events = len(tiny_project.label_events())
    done = tiny_project.reviews.record([Verdict(keys[0], "accept")], user="rita")
    assert done.counts == {"accept": 1, "fix": 0, "reject": 0}
    assert done.action_id is None  # nothing to undo: no label event
    assert len(tiny_project.label_events()) == n_events
    cur = tiny_project.reviews.current().set_index("key")
    assert cur.review[keys[0]] == "accepted"
    assert cur.reviewer[keys[0]] == "rita"
    assert cur.user[keys[0]] == "ann"  # who labeled stays the labeler
    assert (cur.review.drop(keys[0]) == "unreviewed").all()
    assert tiny_project.reviews.reviewed_keys() == {keys[0]}


def test_record__fix_appends_a_review_label_event_and_counts_as_reviewed(
    tiny_project: Project,
) -> None:
    keys = _labeled(tiny_project)
    tiny_project.reviews.record([Verdict(keys[0], "fix", label="debris")], user="rita")
    cur = tiny_project.current_labels().set_index("key")
    assert cur.label[keys[0]] == "debris"
    assert cur.source[keys[0]] == "review"
    assert cur.user[keys[0]] == "rita"
    state = tiny_project.reviews.current().set_index("key")
    assert state.review[keys[0]] == "fixed"
    assert tiny_project.reviews.reviewed_keys() == {keys[0]}
    hist = tiny_project.reviews.history(keys[0])
    assert hist[["verdict", "label", "labeled_by", "result", "reviewer"]].values.tolist() == [
        ["fix", "track", "ann", "debris", "rita"]
    ]


def test_record__reject_clears_the_label_so_the_sample_is_unlabeled(
    tiny_project: Project,
) -> None:
    keys = _labeled(tiny_project)
    tiny_project.reviews.record([Verdict(keys[3], "reject")], user="rita")
    assert keys[3] not in set(tiny_project.current_labels().key)
    last = tiny_project.label_events(keys[3]).iloc[-1]
    assert pd.isna(last.label)
    assert last.source == "review"
    assert keys[3] not in tiny_project.reviews.reviewed_keys()
    assert tiny_project.reviews.history(keys[3]).verdict.tolist() == ["reject"]
    with pytest.raises(ReviewError, match="not labeled"):
        tiny_project.reviews.record([Verdict(keys[3], "accept")], user="rita")


def test_record__fix_to_the_class_it_has_is_an_accept(tiny_project: Project) -> None:
    keys = _labeled(tiny_project)
    done = tiny_project.reviews.record([Verdict(keys[0], "fix", label="track")], user="rita")
    assert done.counts["accept"] == 1
    assert done.counts["fix"] == 0
    assert tiny_project.current_labels().set_index("key").source[keys[0]] == "queue"


def test_record__a_verdict_on_a_label_changed_since_it_was_seen_is_refused(
    tiny_project: Project,
) -> None:
    keys = _labeled(tiny_project)
    seen = _event(tiny_project, keys[0])
    tiny_project.add_labels([keys[0]], "debris", user="carl", source="queue")
    n_events = len(tiny_project.label_events())
    with pytest.raises(StaleReviewError, match="relabeled by carl .*since you opened it; reload"):
        tiny_project.reviews.record(
            [Verdict(keys[1], "accept"), Verdict(keys[0], "reject", seen_event_id=seen)],
            user="rita",
        )
    # all or nothing: the other verdict was not written either
    assert tiny_project.reviews.reviewed_keys() == set()
    assert len(tiny_project.label_events()) == n_events
    fresh = _event(tiny_project, keys[0])
    tiny_project.reviews.record([Verdict(keys[0], "accept", seen_event_id=fresh)], user="rita")
    assert tiny_project.reviews.reviewed_keys() == {keys[0]}


def test_record__a_relabel_makes_an_accepted_label_unreviewed_again(
    tiny_project: Project,
) -> None:
    keys = _labeled(tiny_project)
    tiny_project.reviews.record([Verdict(keys[0], "accept")], user="rita")
    tiny_project.add_labels([keys[0]], "track", user="ann", source="queue")  # same class again
    assert tiny_project.reviews.reviewed_keys() == set()
    assert keys[0] in tiny_project.reviews.queue()


def test_record__undo_of_a_fix_restores_the_unreviewed_label(tiny_project: Project) -> None:
    keys = _labeled(tiny_project)
    tiny_project.reviews.record([Verdict(keys[0], "fix", label="debris")], user="rita")
    assert tiny_project.undo("rita") is not None
    cur = tiny_project.reviews.current().set_index("key")
    assert cur.label[keys[0]] == "track"
    assert cur.review[keys[0]] == "unreviewed"


class TestRedo:
    """A reviewer's redo of their fix or adjudication re-applies a reviewer's label: reviewed
    again (``reversals.put_back_events``); a labeler's redo stays unreviewed."""

    @pytest.mark.parametrize(("source", "state"), [("review", "fixed"),
                                                   ("adjudication", "adjudicated")])  # fmt: skip
    def test_redo__a_reviewers_redone_label_is_reviewed_again(
        self, tiny_project: Project, source: str, state: str
    ) -> None:
        keys = _labeled(tiny_project)
        _reviewer_sets_debris(tiny_project, keys[0], source)
        for _ in range(2):  # a redo of a redo (after its undo) is still the reviewer's
            assert tiny_project.undo("rita") is not None
            assert keys[0] not in tiny_project.reviews.reviewed_keys()
            assert tiny_project.redo("rita") is not None
            cur = tiny_project.reviews.current().set_index("key")
            assert (cur.label[keys[0]], cur.source[keys[0]]) == ("debris", "redo")
            assert (cur.review[keys[0]], cur.reviewer[keys[0]]) == (state, "rita")
            assert tiny_project.reviews.reviewed_keys() == {keys[0]}
            assert keys[0] not in tiny_project.reviews.queue()
            assert tiny_project.reviews.counts().n_reviewed == 1

    def test_redo__a_labelers_redone_label_stays_unreviewed_until_accepted(
        self, tiny_project: Project
    ) -> None:
        keys = _labeled(tiny_project)
        tiny_project.add_labels([keys[0]], "debris", user="ann", source="queue")
        tiny_project.undo("ann")
        tiny_project.redo("ann")
        cur = tiny_project.reviews.current().set_index("key")
        assert (cur.source[keys[0]], cur.review[keys[0]]) == ("redo", "unreviewed")
        assert tiny_project.reviews.reviewed_keys() == set()
        tiny_project.reviews.record([Verdict(keys[0], "accept")], user="rita")
        assert tiny_project.reviews.reviewed_keys() == {keys[0]}
        assert tiny_project.reviews.current().set_index("key").review[keys[0]] == "accepted"


class TestUndoRestoresTheReviewState:
    """An undo puts back the label before the action it takes back, and that label's review
    state with it (as a redo re-applies a reviewer's label as reviewed): a labeler's undo of
    their relabel returns the reviewer's fix, decision or accepted label, reviewed still."""

    @pytest.mark.parametrize(("source", "state"), [("review", "fixed"),
                                                   ("adjudication", "adjudicated")])  # fmt: skip
    def test_undo__a_labelers_undo_back_to_a_reviewers_label_is_reviewed(
        self, tiny_project: Project, source: str, state: str
    ) -> None:
        keys = _labeled(tiny_project)
        _reviewer_sets_debris(tiny_project, keys[0], source)
        tiny_project.add_labels([keys[0]], "track", user="ann", source="queue")
        assert keys[0] in tiny_project.reviews.queue()
        assert tiny_project.undo("ann") is not None
        cur = tiny_project.reviews.current().set_index("key")
        assert (cur.label[keys[0]], cur.source[keys[0]], cur.user[keys[0]]) == (
            "debris", "undo", "ann"
        )  # fmt: skip
        # the reviewer's label, as they set it: reviewed by them, not by the labeler's undo
        assert (cur.review[keys[0]], cur.reviewer[keys[0]]) == (state, "rita")
        assert tiny_project.reviews.reviewed_keys() == {keys[0]}
        assert keys[0] not in tiny_project.reviews.queue()
        assert tiny_project.reviews.counts().n_reviewed == 1
        assert tiny_project.redo("ann") is not None  # her relabel again: not reviewed
        assert tiny_project.reviews.current().set_index("key").review[keys[0]] == "unreviewed"
        assert tiny_project.reviews.reviewed_keys() == set()

    def test_undo_and_redo__an_accepted_label_put_back_is_accepted(
        self, tiny_project: Project
    ) -> None:
        keys = _labeled(tiny_project)
        tiny_project.reviews.record([Verdict(keys[0], "accept")], user="rita")
        tiny_project.add_labels([keys[0]], "debris", user="ann", source="queue")
        tiny_project.reviews.record([Verdict(keys[0], "accept")], user="vera")
        assert tiny_project.undo("ann") is not None  # back to her accepted 'track'
        cur = tiny_project.reviews.current().set_index("key")
        assert (cur.label[keys[0]], cur.review[keys[0]], cur.reviewer[keys[0]]) == (
            "track", "accepted", "rita"
        )  # fmt: skip
        assert tiny_project.redo("ann") is not None  # her 'debris', which vera accepted
        cur = tiny_project.reviews.current().set_index("key")
        assert (cur.label[keys[0]], cur.review[keys[0]], cur.reviewer[keys[0]]) == (
            "debris", "accepted", "vera"
        )  # fmt: skip
        assert tiny_project.reviews.reviewed_keys() == {keys[0]}

    def test_undo__of_the_first_label_of_a_reviewed_sample_stays_unreviewed(
        self, tiny_project: Project
    ) -> None:
        keys = _labeled(tiny_project)
        tiny_project.reviews.record([Verdict(keys[0], "fix", label="debris")], user="rita")
        assert tiny_project.undo("rita") is not None  # back to ann's unreviewed 'track'
        tiny_project.add_labels([keys[0]], "debris", user="ann", source="queue")
        assert tiny_project.undo("ann") is not None  # back to the undo's 'track'
        cur = tiny_project.reviews.current().set_index("key")
        assert (cur.label[keys[0]], cur.review[keys[0]]) == ("track", "unreviewed")
        assert tiny_project.reviews.reviewed_keys() == set()


@pytest.mark.parametrize(
    ("verdicts", "error", "match"),
    [
        ([Verdict("nope", "accept")], UnknownSampleError, "unknown sample"),
        ([Verdict("K", "maybe")], ReviewError, "choose one of accept, fix, reject"),
        ([Verdict("K", "fix")], ReviewError, "needs the class"),
        ([Verdict("K", "accept"), Verdict("K", "reject")], ReviewError, "more than once"),
    ],
)
def test_record__bad_verdicts_are_refused_with_one_clear_line(
    tiny_project: Project, verdicts: list[Verdict], error: type[Exception], match: str
) -> None:
    key = _labeled(tiny_project)[0]
    fixed = [Verdict(key if v.key == "K" else v.key, v.verdict, v.label) for v in verdicts]
    with pytest.raises(error, match=match):
        tiny_project.reviews.record(fixed, user="rita")
    assert tiny_project.reviews.version() == 0


def test_record__unlabeled_sample_is_refused(tiny_project: Project) -> None:
    key = tiny_project.samples().key.iloc[-1]
    with pytest.raises(ReviewError, match="1 sample\\(s\\) not labeled"):
        tiny_project.reviews.record([Verdict(key, "accept")], user="rita")


def test_queue__unreviewed_labels_optionally_of_one_class_or_others_only(
    tiny_project: Project,
) -> None:
    keys = _labeled(tiny_project)
    tiny_project.reviews.record([Verdict(keys[0], "accept")], user="rita")
    reviews = tiny_project.reviews
    assert reviews.queue() == keys[1:]
    assert reviews.queue(label="debris") == keys[2:]
    assert reviews.queue(exclude_user="bob") == [keys[1]]


def test_counts__per_verdict_and_per_reviewer(tiny_project: Project) -> None:
    keys = _labeled(tiny_project)
    tiny_project.reviews.record([Verdict(keys[0], "accept"), Verdict(keys[1], "reject")],
                                user="rita")  # fmt: skip
    tiny_project.reviews.record([Verdict(keys[2], "fix", label="track")], user="sam")
    counts = tiny_project.reviews.counts()
    assert counts.n_labeled == 3
    assert counts.n_reviewed == 2
    assert counts.by_verdict == {"accept": 1, "fix": 1, "reject": 1}
    assert counts.by_reviewer == {"rita": 2, "sam": 1}


def test_label_reviews__the_table_is_append_only(tiny_project: Project) -> None:
    keys = _labeled(tiny_project)
    tiny_project.reviews.record([Verdict(keys[0], "accept")], user="rita")
    for sql in ("UPDATE label_reviews SET verdict = 'reject'", "DELETE FROM label_reviews"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            tiny_project._conn.execute(sql)  # the project's own connection: either engine


def test_record__a_fix_to_a_class_the_project_lacks_is_refused(tiny_project: Project) -> None:
    keys = _labeled(tiny_project)
    with pytest.raises(ReviewError, match="no class 'trak' to fix to"):
        tiny_project.reviews.record([Verdict(keys[0], "fix", label="trak")], user="rita")
    assert [c.name for c in tiny_project.classes()] == ["track", "debris"]


def test_label_unlabeled__labels_as_review_in_one_undoable_action(tiny_project: Project) -> None:
    keys = _labeled(tiny_project)
    free = [k for k in tiny_project.samples().key if k not in keys][:2]
    tiny_project.add_labels([free[1]], "track", user="ann", source="queue")
    tiny_project.add_labels([free[1]], None, user="ann", source="queue")  # cleared: unlabeled
    action = tiny_project.reviews.label_unlabeled([(free[0], "track"), (free[1], "debris")],
                                                  user="rita")  # fmt: skip
    cur = tiny_project.reviews.current().set_index("key")
    assert cur.label[free[0]] == "track"
    assert cur.label[free[1]] == "debris"
    assert set(cur.source[free]) == {"review"}
    assert set(cur.review[free]) == {"fixed"}  # a reviewer's label counts as reviewed
    undone = tiny_project.undo("rita")
    assert undone is not None
    assert undone.target_action_id == action.action_id
    assert not set(free) & set(tiny_project.current_labels().key)


def test_label_unlabeled__a_sample_labeled_since_is_refused_and_nothing_written(
    tiny_project: Project,
) -> None:
    keys = _labeled(tiny_project)
    free = [k for k in tiny_project.samples().key if k not in keys][:1]
    n_events = len(tiny_project.label_events())
    with pytest.raises(StaleReviewError, match="labeled by ann") as caught:
        tiny_project.reviews.label_unlabeled([(free[0], "track"), (keys[0], "debris")],
                                             user="rita")  # fmt: skip
    assert caught.value.keys == [keys[0]]
    with pytest.raises(ReviewError, match="no class 'nucleus'"):
        tiny_project.reviews.label_unlabeled([(free[0], "nucleus")], user="rita")
    with pytest.raises(UnknownSampleError):
        tiny_project.reviews.label_unlabeled([("input:nope.tif", "track")], user="rita")
    assert len(tiny_project.label_events()) == n_events


def test_record_and_label_unlabeled__what_they_wrote_equals_the_log_read_again(
    tiny_project: Project,
) -> None:
    """Issue 20: the fixes and rejects ``record`` wrote, and the labels ``label_unlabeled``
    wrote, come back as ``written``: the events the log holds after them, read again; an
    accept writes no event and hands back none."""
    p = tiny_project
    keys = _labeled(p)
    free = [k for k in p.samples().key if k not in keys][:2]
    accepted = p.reviews.record([Verdict(keys[0], "accept")], user="rita")
    assert accepted.written is None
    before = p.labels_version()
    done = p.reviews.record([Verdict(keys[3], "fix", label="track"), Verdict(keys[1], "reject"),
                             Verdict(keys[2], "accept")], user="rita")  # fmt: skip
    if p.config.database_url:  # PostgreSQL: its readers read the log whole, nothing handed back
        assert done.written is None
        assert p.reviews.label_unlabeled([(free[0], "track")], user="rita").written is None
        return
    assert done.written is not None
    assert done.written.after_event == before
    assert done.written.last_event == p.labels_version()
    want = p.label_changes(before).drop(columns="key")
    pd.testing.assert_frame_equal(done.written.changes(), want)
    assert want.label.isna().tolist() == [True, False]  # keys[1] rejected, keys[3] fixed
    assert want.label.iloc[1] == "track"
    before = p.labels_version()
    action = p.reviews.label_unlabeled([(free[1], "debris"), (free[0], "track")], user="rita")
    assert action.n_events == 2
    assert action.written is not None
    pd.testing.assert_frame_equal(action.written.changes(),
                                  p.label_changes(before).drop(columns="key"))  # fmt: skip

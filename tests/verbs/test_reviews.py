"""Verbs of the reviewer step: review, review_queue, review_summary, and the verdict CSV."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bps_core import verbs
from bps_core.project import Project


def _labeled(project: Project) -> list[str]:
    keys = project.samples().key.head(6).tolist()
    project.add_labels(keys[:3], "track", user="ann", source="queue")
    project.add_labels(keys[3:], "debris", user="bob", source="queue")
    return keys


def _rel(key: str) -> str:
    return key.split(":", 1)[1]


def test_review__records_accept_fix_and_reject_and_reports_counts(
    tiny_project: Project,
) -> None:
    keys = _labeled(tiny_project)
    seen: list[float] = []
    settings = verbs.ReviewSettings((
        verbs.Verdict(keys[0], "accept"),
        verbs.Verdict(keys[1], "fix", label="debris"),
        verbs.Verdict(keys[2], "reject"),
    ))  # fmt: skip
    record = verbs.review(tiny_project, settings, seen.append, user="rita")
    assert (record.n_accepted, record.n_fixed, record.n_rejected) == (1, 1, 1)
    assert seen == [1.0]
    summary = verbs.review_summary(tiny_project)
    assert summary.counts.n_labeled == 5
    assert summary.counts.n_reviewed == 2
    assert dict(zip(summary.table.filename, summary.table.review, strict=True)) == {
        _rel(keys[0]): "accepted", _rel(keys[1]): "fixed", _rel(keys[3]): "unreviewed",
        _rel(keys[4]): "unreviewed", _rel(keys[5]): "unreviewed",
    }  # fmt: skip


def test_review__a_stale_verdict_is_refused_and_nothing_written(tiny_project: Project) -> None:
    keys = _labeled(tiny_project)
    seen = int(verbs.review_summary(tiny_project).table.set_index("key").event_id[keys[0]])
    tiny_project.add_labels([keys[0]], "debris", user="carl", source="queue")
    settings = verbs.ReviewSettings((verbs.Verdict(keys[0], "accept", seen_event_id=seen),))
    with pytest.raises(verbs.StaleReviewError, match="relabeled by carl"):
        verbs.review(tiny_project, settings, user="rita")
    assert verbs.review_summary(tiny_project).counts.n_reviewed == 0


@pytest.mark.parametrize(
    ("verdicts", "field"),
    [
        ((), "verdicts"),
        ((verbs.Verdict("k", "maybe"),), "verdicts\\[0\\].verdict"),
        ((verbs.Verdict("k", "fix"),), "verdicts\\[0\\].label"),
        ((verbs.Verdict("k", "accept", label="track"),), "verdicts\\[0\\].label"),
    ],
)
def test_review_settings__a_bad_verdict_is_refused_naming_the_field(
    verdicts: tuple[verbs.Verdict, ...], field: str
) -> None:
    with pytest.raises(verbs.SettingsError, match=field):
        verbs.ReviewSettings(verdicts)


def test_review_settings__round_trip_through_params() -> None:
    settings = verbs.ReviewSettings((verbs.Verdict("k", "fix", "track", 3),))
    assert verbs.ReviewSettings.from_params(settings.to_params()) == settings


def test_review_queue__unreviewed_labels_of_others_in_a_seeded_order(
    tiny_project: Project,
) -> None:
    keys = _labeled(tiny_project)
    verbs.review(tiny_project, verbs.ReviewSettings((verbs.Verdict(keys[0], "accept"),)),
                 user="ann")  # fmt: skip
    q = verbs.review_queue(tiny_project, verbs.ReviewQueueSettings(), user="ann")
    assert sorted(q.keys) == sorted(keys[1:])
    assert (q.n_labeled, q.n_reviewed) == (6, 1)
    again = verbs.review_queue(tiny_project, verbs.ReviewQueueSettings(), user="ann")
    assert again.keys == q.keys  # the same seed, the same order
    others = verbs.review_queue(tiny_project, verbs.ReviewQueueSettings(others_only=True),
                                user="ann")  # fmt: skip
    assert sorted(others.keys) == sorted(keys[3:])
    track = verbs.review_queue(tiny_project, verbs.ReviewQueueSettings(label="track",
                                                                       order="oldest"),
                               user="ann")  # fmt: skip
    assert track.keys == tuple(keys[1:3])


def test_review_queue_settings__bad_values_name_the_field() -> None:
    with pytest.raises(verbs.SettingsError, match="order"):
        verbs.ReviewQueueSettings(order="newest")
    with pytest.raises(verbs.SettingsError, match="label"):
        verbs.ReviewQueueSettings(label=" ")


def test_import_verdicts_csv__records_good_rows_and_reports_bad_ones_by_line(
    tiny_project: Project,
) -> None:
    keys = _labeled(tiny_project)
    events = verbs.review_summary(tiny_project).table.set_index("key").event_id
    tiny_project.add_labels([keys[4]], "track", user="carl", source="queue")  # after export
    rows = [
        "filename,verdict,label,event_id",
        f"{_rel(keys[0])},accept,track,{events[keys[0]]}",  # line 2: label ignored on accept
        f"{_rel(keys[1])},Fix,debris,",  # 3
        f"{_rel(keys[2])},,,",  # 4: no verdict yet
        f"{_rel(keys[3])},maybe,,",  # 5
        f"{_rel(keys[4])},accept,,{events[keys[4]]}",  # 6: relabeled since
        f"{_rel(keys[5])},fix,,",  # 7: a fix without a class
        f"{_rel(keys[5])},fix,trak,",  # 8: no such class
        "nope.tif,accept,,",  # 9
        f"{_rel(keys[0])},reject,,",  # 10: twice
        f"{_rel(tiny_project.samples().key.iloc[-1])},accept,,",  # 11: unlabeled
    ]
    data = ("\n".join(rows) + "\n").encode()
    report = verbs.import_verdicts_csv(tiny_project, data, "v.csv", user="rita")
    assert report.counts == {"accept": 1, "fix": 1, "reject": 0}
    assert report.no_verdict == 1
    assert report.unknown_files == ["nope.tif"]
    lines = dict(report.bad_rows)
    assert sorted(lines) == [5, 6, 7, 8, 10, 11]
    assert "no class 'trak'" in lines[8]
    assert "relabeled by carl" in lines[6]
    assert "not labeled" in lines[11]
    state = verbs.review_summary(tiny_project).table.set_index("key")
    assert state.review[keys[0]] == "accepted"
    assert state.label[keys[1]] == "debris"


def test_review_summary__csv_takes_verdicts_and_imports_back(
    tiny_project: Project, tmp_path: Path
) -> None:
    _labeled(tiny_project)
    out = tmp_path / "reviews.csv"
    verbs.review_summary(tiny_project).write_csv(out)
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns[:4]) == ["filename", "label", "verdict", "review"]
    table["verdict"] = "accept"
    report = verbs.import_verdicts_csv(tiny_project, table.to_csv(index=False).encode(), "r.csv",
                                       user="rita")  # fmt: skip
    assert report.counts["accept"] == 6
    assert report.bad_rows == []
    assert verbs.review_summary(tiny_project).counts.n_reviewed == 6


def test_read_verdicts_csv__without_a_verdict_column_is_one_clear_error(
    tiny_project: Project,
) -> None:
    with pytest.raises(verbs.MetadataError, match="no 'verdict' column"):
        verbs.import_verdicts_csv(tiny_project, b"filename,label\na.tif,x\n", "v.csv", user="r")


def test_review_queue__leaves_out_open_blind_disagreements(tiny_project: Project) -> None:
    settings = verbs.DoubleLabelingSettings(labelers=("alice", "bob"), share=0.5)
    verbs.set_double_labeling(tiny_project, settings)
    shared = tiny_project.assignments.keys("alice")[:2]
    tiny_project.add_labels(shared, "track", user="alice", source="queue")
    tiny_project.add_labels(shared[:1], "debris", user="bob", source="queue")  # disagrees
    tiny_project.add_labels(shared[1:], "track", user="bob", source="queue")  # agrees
    q = verbs.review_queue(tiny_project, verbs.ReviewQueueSettings(), user="rita")
    assert q.keys == (shared[1],)  # the disagreement waits for adjudication

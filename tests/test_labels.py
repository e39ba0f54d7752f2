"""Label CSV import and selection ids."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bps_cli.main import main
from bps_core.errors import MetadataError
from bps_core.labels import (
    import_labels_csv,
    read_labels_csv,
    selected_ids,
)
from bps_core.project import Project


def test_import_labels_csv__matches_names_and_reports_the_rest(tiny_project: Project) -> None:
    rel = tiny_project.samples().relpath.tolist()
    csv = f"filename,label\n{rel[0]},track\n{rel[1]},no_track\nmissing.tif,track\n{rel[2]},\n"
    report = import_labels_csv(tiny_project, csv.encode(), "labels.csv", user="ann")
    assert report.n_labeled == 2
    assert report.unknown_files == ["missing.tif"]
    assert report.empty_labels == [rel[2]]
    cur = tiny_project.current_labels()
    assert set(cur.label) == {"track", "no_track"}
    assert set(cur.source) == {"import"}
    assert cur.user.eq("ann").all()
    assert tiny_project.label_events().action_id.nunique() == 1


def test_read_labels_csv__needs_a_label_column() -> None:
    with pytest.raises(MetadataError, match="filename,label"):
        read_labels_csv(b"filename,class\na.tif,x\n", "l.csv")


def test_read_labels_csv__missing_label_column_names_the_columns_found_as_written() -> None:
    with pytest.raises(MetadataError) as err:
        read_labels_csv(b"name,class\na.tif,x\n", "l.csv")
    message = str(err.value)
    assert "line 1 has the columns name, class" in message
    assert "expected a header 'filename,label'" in message
    assert "found filename" not in message


def test_read_labels_csv__malformed_line_is_named_by_number_not_pandas() -> None:
    data = b"filename,label\na.tif,x\nb.tif,y,extra\nc.tif,z\n"
    with pytest.raises(MetadataError, match=r"^l\.csv: line 3 has 3 fields but the header has 2"):
        read_labels_csv(data, "l.csv")
    with pytest.raises(MetadataError) as err:
        read_labels_csv(data, "l.csv")
    assert "tokenizing" not in str(err.value)


@pytest.mark.parametrize("value", ["nan", "NaN", "NA", "null", "None", "1", "0.5", "#N/A"])
def test_read_labels_csv__every_class_stays_text(value: str) -> None:
    df = read_labels_csv(f"filename,label\na.tif,{value}\n".encode(), "l.csv")
    assert df.label.tolist() == [value]


def test_import_labels_csv__nan_classes_are_imported_not_skipped(tiny_project: Project) -> None:
    rel = tiny_project.samples().relpath.tolist()
    csv = f"filename,label\n{rel[0]},nan\n{rel[1]},None\n{rel[2]},1\n"
    report = import_labels_csv(tiny_project, csv.encode(), "l.csv", user="ann")
    assert report.n_labeled == 3
    assert report.empty_labels == []
    cur = tiny_project.current_labels().set_index("key")
    keys = tiny_project.samples().set_index("relpath").key
    assert [cur.label[keys[r]] for r in rel[:3]] == ["nan", "None", "1"]


def test_import_labels_csv__classes_apart_only_in_case_are_bad_rows_the_rest_imported(
    tiny_project: Project,
) -> None:
    """'Track' next to an existing 'track', or 'NaN' after 'nan' in the same file: reported
    by line (one class would be counted as two), every other row imported."""
    rel = tiny_project.samples().relpath.tolist()
    tiny_project.ensure_class("track")
    csv = (f"filename,label\n{rel[0]},nan\n{rel[1]},NaN\n{rel[2]},Track\n{rel[3]},track\n"
           f"{rel[4]},debris\n")  # fmt: skip
    report = import_labels_csv(tiny_project, csv.encode(), "l.csv", user="ann")
    assert report.n_labeled == 3
    assert [line for line, _ in report.bad_rows] == [3, 4]
    assert report.bad_rows[0][1] == "write class 'nan': 'NaN' differs from it only in case"
    assert report.bad_rows[1][1].startswith("write class 'track': 'Track' differs")
    assert sorted(tiny_project.current_labels().label) == ["debris", "nan", "track"]


def test_import_labels_csv__bad_classes_reported_by_line_and_the_rest_imported(
    tiny_project: Project,
) -> None:
    rel = tiny_project.samples().relpath.tolist()
    long = "x" * 5000
    csv = (
        f"filename,label\n{rel[0]},track\n{rel[1]},{long}\n{rel[2]},a\u200bb\n"
        f"{rel[3]},\u202eevil\n{rel[4]},no_track\n{rel[5]},\ufefflead\n"
    )
    report = import_labels_csv(tiny_project, csv.encode(), "l.csv", user="ann")
    assert report.n_labeled == 2
    assert [line for line, _ in report.bad_rows] == [3, 4, 5, 7]
    assert all(len(reason) <= 80 for _, reason in report.bad_rows)
    assert "1-64 characters" in report.bad_rows[0][1]
    assert "U+200B" in report.bad_rows[1][1]
    assert "U+202E" in report.bad_rows[2][1]
    assert set(tiny_project.current_labels().label) == {"track", "no_track"}


def test_cli_label__bad_rows_by_number_one_short_line_each(
    tiny_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rel = tiny_project.samples().relpath.tolist()
    path = tmp_path / "l.csv"
    path.write_text(f"filename,label\n{rel[0]},{'y' * 5000}\n{rel[1]},ok\n")
    assert main(["label", str(tiny_project.folder), "--csv", str(path), "--user", "ann"]) == 0
    out = capsys.readouterr().out
    assert "labeled 1 samples" in out
    assert "(lines 2)" in out
    assert "y" * 100 not in out
    assert max(len(line) for line in out.splitlines()) < 240


def test_selected_ids__reads_customdata_in_order_without_repeats() -> None:
    points = [
        {"customdata": 7, "point_index": 0},
        {"customdata": [3, "Fe"], "point_index": 7},
        {"customdata": 7.0},
        {"point_index": 3},  # no customdata: ignored, never mapped by position
        {"customdata": "input:a.tif"},  # not an id
    ]
    assert selected_ids(points) == [7, 3]


class TestUndoRedo:
    def test_undo__restores_the_previous_labels_of_a_whole_lasso(
        self, tiny_project: Project
    ) -> None:
        keys = tiny_project.samples().key.head(40).tolist()
        tiny_project.add_labels(keys[:10], "track", user="ann", source="queue")
        tiny_project.add_labels(keys, "debris", user="ann", source="lasso")  # one action
        result = tiny_project.undo("ann")
        assert result is not None
        assert (result.n_changed, result.n_skipped) == (40, 0)
        cur = tiny_project.current_labels()
        assert sorted(cur.key) == sorted(keys[:10])
        assert set(cur.label) == {"track"}
        assert tiny_project.undo("ann").n_changed == 10  # then the first action
        assert tiny_project.current_labels().empty
        assert tiny_project.undo("ann") is None

    def test_redo__reapplies_in_reverse_order_until_a_new_label(
        self, tiny_project: Project
    ) -> None:
        keys = tiny_project.samples().key.head(6).tolist()
        tiny_project.add_labels(keys[:3], "a", user="ann", source="lasso")
        tiny_project.add_labels(keys[3:], "b", user="ann", source="lasso")
        tiny_project.undo("ann")
        tiny_project.undo("ann")
        assert tiny_project.redo("ann").n_changed == 3
        assert set(tiny_project.current_labels().label) == {"a"}
        assert tiny_project.redo("ann").n_changed == 3
        assert set(tiny_project.current_labels().label) == {"a", "b"}
        assert tiny_project.redo("ann") is None
        tiny_project.undo("ann")  # undoes the redo of "b"
        assert set(tiny_project.current_labels().label) == {"a"}
        tiny_project.add_labels(keys[5:], "c", user="ann", source="queue")
        assert tiny_project.redo("ann") is None  # a new action clears the redo stack

    def test_undo__never_overwrites_another_users_newer_label(self, tiny_project: Project) -> None:
        keys = tiny_project.samples().key.head(4).tolist()
        tiny_project.add_labels(keys, "ann-class", user="ann", source="lasso")
        tiny_project.add_labels(keys[:1], "bob-class", user="bob", source="queue")
        result = tiny_project.undo("ann")
        assert (result.n_changed, result.n_skipped) == (3, 1)
        cur = tiny_project.current_labels().set_index("key")
        assert cur.label.to_dict() == {keys[0]: "bob-class"}
        assert tiny_project.undo("bob").n_changed == 1  # bob's own undo is separate
        assert tiny_project.current_labels().label.tolist() == ["ann-class"]

    def test_undo__events_stay_append_only(self, tiny_project: Project) -> None:
        keys = tiny_project.samples().key.head(2).tolist()
        tiny_project.add_labels(keys, "x", user="ann", source="lasso")
        tiny_project.undo("ann")
        events = tiny_project.label_events()
        assert events.source.tolist() == ["lasso", "lasso", "undo", "undo"]
        assert events.label.isna().tolist() == [False, False, True, True]


def test_label_changes__last_event_per_sample_since_an_event(tiny_project: Project) -> None:
    keys = tiny_project.samples().key.tolist()
    tiny_project.add_labels(keys[:4], "track", user="ann", source="lasso")
    before = tiny_project.labels_version()
    tiny_project.add_labels(keys[2:6], "debris", user="bob", source="lasso")
    tiny_project.add_labels(keys[5:6], None, user="bob", source="lasso")
    every = tiny_project.label_changes()
    labeled = every[every.label.notna()].drop(columns=["sample_id", "event_id"])
    pd.testing.assert_frame_equal(labeled.reset_index(drop=True), tiny_project.current_labels())
    since = tiny_project.label_changes(before)
    assert since.key.tolist() == keys[2:6]  # in sample order, once each
    assert since.label.tolist()[:3] == ["debris"] * 3
    assert since.label.isna().tolist() == [False, False, False, True]  # cleared
    assert (since.event_id > before).all()

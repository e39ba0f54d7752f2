"""``review`` and ``reviews``: export review states, fill in verdicts, import them back."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bps_cli.main import main
from bps_core.synthetic import SynthResult


@pytest.fixture
def labeled_dir(tiny_dataset: SynthResult, tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    assert main(["init", str(folder), "--source", str(tiny_dataset.root)]) == 0
    truth = pd.read_csv(tiny_dataset.truth_csv).head(6)
    labels = pd.DataFrame({"filename": truth.filename, "label": ["track"] * 3 + ["debris"] * 3})
    labels.to_csv(tmp_path / "labels.csv", index=False)
    assert main(["label", str(folder), "--csv", str(tmp_path / "labels.csv"), "--user", "ann"]) == 0
    return folder


def test_reviews_then_review__exported_states_take_verdicts_and_import_back(
    labeled_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reviews.csv"
    capsys.readouterr()
    assert main(["reviews", str(labeled_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "0 of 6 current labels are reviewed" in printed
    assert "unreviewed: 6" in printed
    table = pd.read_csv(out, keep_default_na=False)
    assert (table.review == "unreviewed").all()
    table["verdict"] = ["accept", "fix", "reject", "accept", "", "maybe"]
    table.loc[1, "label"] = "debris"
    verdicts = tmp_path / "verdicts.csv"
    table.to_csv(verdicts, index=False)
    assert main(["review", str(labeled_dir), "--verdicts", str(verdicts), "--user", "rita"]) == 0
    printed = capsys.readouterr().out
    assert "recorded 4 verdicts" in printed
    assert "2 accepted, 1 fixed, 1 rejected" in printed
    assert "left 1 rows without a verdict" in printed
    assert "skipped 1 rows that cannot be recorded (lines 7); line 7: verdict 'maybe'" in printed
    assert "3 of 5 current labels are reviewed" in printed
    assert main(["info", str(labeled_dir)]) == 0
    assert "reviewed: 3" in capsys.readouterr().out.splitlines()
    assert main(["reviews", str(labeled_dir), "--out", str(out)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert main(["reviews", str(labeled_dir), "--out", str(out), "--overwrite"]) == 0
    printed = capsys.readouterr().out
    assert "verdicts given: 2 accept, 1 fix, 1 reject" in printed
    assert "rita: 4" in printed
    after = pd.read_csv(out, keep_default_na=False).set_index("filename")
    assert after.review[table.filename[0]] == "accepted"
    assert after.review[table.filename[1]] == "fixed"
    assert table.filename[2] not in after.index  # rejected: unlabeled again


def test_review__a_label_changed_since_the_export_is_skipped_by_line(
    labeled_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reviews.csv"
    assert main(["reviews", str(labeled_dir), "--out", str(out)]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    relabel = tmp_path / "relabel.csv"
    changed = pd.DataFrame({"filename": [table.filename[0]], "label": ["debris"]})
    changed.to_csv(relabel, index=False)
    assert main(["label", str(labeled_dir), "--csv", str(relabel), "--user", "carl"]) == 0
    table["verdict"] = "accept"
    table.to_csv(out, index=False)
    capsys.readouterr()
    assert main(["review", str(labeled_dir), "--verdicts", str(out), "--user", "rita"]) == 0
    printed = capsys.readouterr().out
    assert "recorded 5 verdicts" in printed
    assert "line 2:" in printed
    assert "relabeled by carl since the file was written" in printed


def test_review__a_file_without_a_verdict_column_is_one_error_line(
    labeled_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("filename,label\na.tif,track\n")
    assert main(["review", str(labeled_dir), "--verdicts", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "no 'verdict' column" in err
    assert len(err.strip().splitlines()) == 1

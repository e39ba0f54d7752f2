"""``bps-labeler flags``: the CSV of flagged samples, threshold options, one-line errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from bps_cli.main import main
from bps_core.synthetic import SynthResult

COPY_NAME = "P242_73665006707-Z9_099_099_proj.tif"


@pytest.fixture
def project_dir(tiny_dataset: SynthResult, tmp_path: Path) -> Path:
    """An embedded project over the tiny set plus one image copied under another well."""
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset.root, data)
    train = next(p.parent for p in data.rglob("*_proj.tif"))
    shutil.copy(sorted(train.glob("*_proj.tif"))[0], train / COPY_NAME)
    folder = tmp_path / "project"
    assert main(["init", str(folder), "--source", str(data)]) == 0
    assert main(["embed", str(folder), "--method", "pixels", "--image-size", "32"]) == 0
    return folder


def test_flags__writes_flagged_files_with_partner_and_leak(
    project_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "flags.csv"
    assert main(["flags", str(project_dir), "--out", str(out)]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns[:9]) == ["filename", "flags", "outlier_score", "nn_distance",
                                       "near_partner", "duplicate_group", "duplicate_of",
                                       "group", "leak"]  # fmt: skip
    copy = table.set_index("filename").loc[COPY_NAME]
    assert "duplicate" in copy["flags"].split(",")
    assert copy.duplicate_of.endswith("_proj.tif")
    assert copy.group == "Z9"
    assert bool(copy.leak)
    printed = capsys.readouterr().out
    assert "duplicate: 2" in printed
    assert "1 span two groups (well)" in printed
    assert "found by: same pixels 1" in printed
    assert "computed the shift-tolerant descriptor of" in printed
    assert "near_by" in table.columns


def test_flags__a_threshold_option_changes_the_counts(
    project_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "flags.csv"
    assert main(["flags", str(project_dir), "--out", str(out), "--outlier-percentile", "50"]) == 0
    n_outliers = int(pd.read_csv(out, keep_default_na=False)["flags"].str.contains("outlier").sum())
    assert n_outliers > 0.4 * 171  # half the samples, give or take ties and pixel flags
    assert "outlier: " in capsys.readouterr().out


def test_flags__refuses_an_existing_file_and_a_missing_folder_in_one_line(
    project_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "flags.csv"
    out.write_text("keep me")
    assert main(["flags", str(project_dir), "--out", str(out)]) == 2
    assert main(["flags", str(project_dir), "--out", str(tmp_path / "no" / "f.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-2] == f"error: {out} already exists; pass --overwrite to replace it"
    assert err[-1].startswith("error: --out: folder")
    assert "does not exist" in err[-1]
    assert out.read_text() == "keep me"


def test_flags__bad_threshold_and_group_column_are_one_line_errors(
    project_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "flags.csv"
    with pytest.raises(SystemExit):
        main(["flags", str(project_dir), "--out", str(out), "--dim-ratio", "3"])
    assert "--dim-ratio: '3' is not a number from 0 to 1" in capsys.readouterr().err
    assert main(["flags", str(project_dir), "--out", str(out), "--group-by", "nope"]) == 2
    assert capsys.readouterr().err.strip().endswith("error: no metadata column 'nope' to group by")

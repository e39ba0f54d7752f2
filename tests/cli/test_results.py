"""``report``: init, embed, label from the generator's truth, train, report, as a user would."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bps_cli.main import main
from bps_core.results import RESULT_COLUMNS
from bps_core.synthetic import SynthResult


@pytest.fixture
def project_dir(tiny_dataset: SynthResult, tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    assert main(["init", str(folder), "--source", str(tiny_dataset.root)]) == 0
    assert main(["embed", str(folder), "--method", "pixels", "--image-size", "32"]) == 0
    return folder


def _label_half_from_truth(project_dir: Path, truth_csv: Path, tmp_path: Path) -> None:
    truth = pd.read_csv(truth_csv).iloc[::2]
    labels = pd.DataFrame(
        {"filename": truth.filename, "label": (truth.n_foci >= 3).map({True: "many", False: "few"})}
    )
    path = tmp_path / "labels.csv"
    labels.to_csv(path, index=False)
    assert main(["label", str(project_dir), "--csv", str(path)]) == 0


def test_report__end_to_end_writes_one_row_per_condition(
    project_dir: Path, tiny_dataset: SynthResult, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _label_half_from_truth(project_dir, tiny_dataset.truth_csv, tmp_path)
    assert main(["train", str(project_dir)]) == 0
    out = tmp_path / "results.csv"
    by = "particle_type,dose_Gy,hr_post_exposure"
    capsys.readouterr()
    assert main(["report", str(project_dir), "--class", "many", "--by", by,
                 "--out", str(out)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "'many' per particle_type, dose_Gy, hr_post_exposure: 17 groups" in printed
    assert f"wrote {out}" in printed
    table = pd.read_csv(out)
    assert list(table.columns) == [*by.split(","), *RESULT_COLUMNS]
    assert len(table) == 17  # every condition of the tiny preset
    assert table.n_images.sum() == 170
    assert table.n_labeled.sum() == 85
    truth = pd.read_csv(tiny_dataset.truth_csv)
    share = (truth.n_foci >= 3).groupby([truth[c] for c in by.split(",")]).mean()
    merged = table.set_index(by.split(",")).join(share.rename("truth"))
    covered = ((merged.ci_low <= merged.truth) & (merged.truth <= merged.ci_high)).mean()
    assert covered >= 0.7  # 10 images per condition, 5 labeled: a smoke check, not the study
    # An existing --out is kept unless --overwrite
    assert main(["report", str(project_dir), "--class", "many", "--by", "dose_Gy",
                 "--out", str(out)]) == 2  # fmt: skip
    assert "pass --overwrite" in capsys.readouterr().err
    assert (
        main(
            [
                "report",
                str(project_dir),
                "--class",
                "many",
                "--by",
                "dose_Gy",
                "--cluster",
                "mouse",
                "--n-boot",
                "200",
                "--out",
                str(out),
                "--overwrite",
            ]
        )
        == 0
    )
    assert len(pd.read_csv(out)) == 5  # 0, 0.1, 0.3, 0.82 and 1 Gy


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--class", "nope", "--by", "dose_Gy"], "class 'nope' is not one model"),
        (["--class", "many", "--by", "dose_Gy,nope"], "no metadata column 'nope'"),
        (["--class", "many", "--by", ","], "--by: give one or more metadata columns"),
    ],
)
def test_report__bad_class_or_column_is_one_line_and_exit_2(
    project_dir: Path, tiny_dataset: SynthResult, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], args: list[str], message: str,
) -> None:  # fmt: skip
    _label_half_from_truth(project_dir, tiny_dataset.truth_csv, tmp_path)
    assert main(["train", str(project_dir)]) == 0
    capsys.readouterr()
    out = tmp_path / "r.csv"
    assert main(["report", str(project_dir), *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert message in err
    assert err.count("\n") == 1
    assert not out.exists()


def test_report__before_a_model_is_one_line_and_exit_2(
    project_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    args = ["report", str(project_dir), "--class", "many", "--by", "dose_Gy",
            "--out", str(tmp_path / "r.csv")]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert (
        err == "error: no model on the current embeddings yet: label some samples and "
        "train one first (bps-labeler train)\n"
    )


def test_report__reviewed_only_says_how_many_labels_were_reviewed(
    project_dir: Path, tiny_dataset: SynthResult, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _label_half_from_truth(project_dir, tiny_dataset.truth_csv, tmp_path)
    assert main(["train", str(project_dir)]) == 0
    states = tmp_path / "reviews.csv"
    assert main(["reviews", str(project_dir), "--out", str(states)]) == 0
    table = pd.read_csv(states, keep_default_na=False)
    table["verdict"] = ["accept" if i % 2 == 0 else "" for i in range(len(table))]
    table.to_csv(states, index=False)
    assert main(["review", str(project_dir), "--verdicts", str(states), "--user", "rita"]) == 0
    out = tmp_path / "results.csv"
    capsys.readouterr()
    assert main(["report", str(project_dir), "--class", "many", "--by", "particle_type",
                 "--out", str(out), "--reviewed-only"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "43 of 85 labels reviewed (only they count as labeled)" in printed
    assert pd.read_csv(out).n_labeled.sum() == 43

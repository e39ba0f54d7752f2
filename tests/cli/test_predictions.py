"""``predictions`` and ``model-disagreements``: list a class's predictions by confidence,
accept them above a threshold, and export the labels the model disagrees with."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bps_cli.main import main
from bps_core.project import Project
from tests.helpers import train_with_flips


def test_predictions__lists_a_class_by_confidence_and_accepts_above_a_threshold(
    tiny_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train_with_flips(tiny_project)
    folder = str(tiny_project.folder)
    out = tmp_path / "fe.csv"
    assert main(["predictions", folder, "--class", "Fe", "--out", str(out)]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == ["filename", "predicted", "confidence", "label", "event_id"]
    assert (table.predicted == "Fe").all()
    assert list(table.confidence) == sorted(table.confidence, reverse=True)
    assert f"predicts 'Fe' for {len(table):,} unlabeled samples" in capsys.readouterr().out
    threshold = float(table.confidence.iloc[1])  # the two most confident (ties aside)
    n_sure = int((table.confidence >= threshold).sum())
    argv = ["predictions", folder, "--class", "Fe", "--accept-above", str(threshold),
            "--user", "rita"]  # fmt: skip
    assert main(argv) == 0
    assert f"{n_sure} labeled" in capsys.readouterr().out
    current = tiny_project.reviews.current()
    accepted = current[(current.user == "rita") & (current.source == "review")]
    assert len(accepted) == n_sure
    assert (accepted.label == "Fe").all()
    assert main(["predictions", folder, "--class", "Fe", "--out", str(out)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    # without --out: the first rows on the screen, most confident first
    assert main(["predictions", folder, "--class", "X-ray"]) == 0
    lines = capsys.readouterr().out.splitlines()
    shown = [line.split() for line in lines[1:] if line.startswith("  ") and "%" in line]
    assert 0 < len(shown) <= 10
    assert [float(s[0].rstrip("%")) for s in shown] == sorted(
        (float(s[0].rstrip("%")) for s in shown), reverse=True)  # fmt: skip
    assert all(s[1].endswith(".tif") for s in shown)
    assert main(["predictions", folder, "--class", "debris"]) == 2
    assert "knows no class 'debris'" in capsys.readouterr().err


def test_model_disagreements__writes_the_disagreements_most_confident_first(
    tiny_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train_with_flips(tiny_project)
    out = tmp_path / "dis.csv"
    assert main(["model-disagreements", str(tiny_project.folder), "--out", str(out)]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert len(table) > 0
    assert (table.label != table.predicted).all()
    assert list(table.confidence) == sorted(table.confidence, reverse=True)
    assert f"{len(table):,} labels its out-of-fold prediction" in capsys.readouterr().out


def test_model_disagreements__without_a_model_says_to_train_one(
    tiny_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["model-disagreements", str(tiny_project.folder)]) == 2
    assert "train one first" in capsys.readouterr().err

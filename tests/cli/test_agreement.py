"""``double-label``, ``agreement`` and ``adjudicate`` from the shell, as a user would."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bps_cli.main import main
from bps_core.project import Project
from bps_core.synthetic import SynthResult


@pytest.fixture
def project_dir(tiny_dataset: SynthResult, tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    assert main(["init", str(folder), "--source", str(tiny_dataset.root)]) == 0
    return folder


def _csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    pd.DataFrame(rows, columns=["filename", "label"]).to_csv(path, index=False)
    return path


def test_double_label__assign_label_report_adjudicate_and_turn_off(
    project_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["double-label", str(project_dir), "--labelers", "alice,bob",
                 "--share", "0.1", "--seed", "4"]) == 0  # fmt: skip
    assert "17 samples (10%) assigned to each of alice, bob" in capsys.readouterr().out
    with Project.open(project_dir) as p:
        rel = p.samples().set_index("key").relpath
        files = [rel[k] for k in p.assignments.keys("alice")]
    alice = _csv(tmp_path / "a.csv", [(f, "track" if i % 2 else "debris")
                                      for i, f in enumerate(files)])  # fmt: skip
    bob = _csv(tmp_path / "b.csv", [(f, "track" if i % 2 or i == 0 else "debris")
                                    for i, f in enumerate(files)])  # fmt: skip
    assert main(["label", str(project_dir), "--csv", str(alice), "--user", "alice"]) == 0
    assert main(["label", str(project_dir), "--csv", str(bob), "--user", "bob"]) == 0
    out, dis = tmp_path / "agreement.csv", tmp_path / "disagreements.csv"
    capsys.readouterr()
    assert main(["agreement", str(project_dir), "--out", str(out),
                 "--disagreements", str(dis)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "1 disagreements open, 0 adjudicated" in printed
    assert "alice: 17 of 17 labeled" in printed
    assert "Cohen's kappa alice / bob: 0.883 on 17 samples" in printed
    figures = pd.read_csv(out)
    assert set(figures.scope) == {"pair", "class"}
    table = pd.read_csv(dis)
    assert table.filename.tolist() == [files[0]]
    assert (table.alice[0], table.bob[0]) == ("debris", "track")
    # an existing CSV is kept unless --overwrite
    assert main(["agreement", str(project_dir), "--out", str(out)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    decisions = tmp_path / "decisions.csv"
    decisions.write_text(f"filename,label\n{files[0]},track\nnope.tif,track\n{files[1]},\n")
    assert main(["adjudicate", str(project_dir), "--labels", str(decisions),
                 "--user", "rita"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "adjudicated 1 samples" in printed
    assert "skipped 1 unknown file names, e.g. nope.tif" in printed
    assert "skipped 1 rows with an empty label" in printed
    with Project.open(project_dir) as p:
        labels = p.current_labels().set_index("key")
        key = p.samples().set_index("relpath").key[files[0]]
        assert (labels.label[key], labels.source[key]) == ("track", "adjudication")
    assert main(["agreement", str(project_dir), "--overwrite", "--out", str(out)]) == 0
    assert "0 disagreements open, 1 adjudicated" in capsys.readouterr().out
    assert main(["double-label", str(project_dir), "--off"]) == 0
    assert "double labeling is off" in capsys.readouterr().out


def test_double_label__bad_values_are_one_line_errors(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["double-label", str(project_dir), "--labelers", "alice"]) == 2
    assert capsys.readouterr().err.startswith("error: labelers: give two or more")
    assert main(["double-label", str(project_dir)]) == 2
    assert "--labelers" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["double-label", str(project_dir), "--labelers", "a,b", "--share", "1.5"])
    assert "a share above 0 and at most 1" in capsys.readouterr().err
    assert main(["double-label", str(project_dir), "--off"]) == 0
    assert "never set" in capsys.readouterr().out

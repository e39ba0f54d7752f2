"""``tag`` and ``tags``: tag the samples a file names, write every sample's tags as CSV."""

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


def _relpaths(folder: Path, n: int) -> list[str]:
    with Project.open(folder) as p:
        return p.samples().relpath.head(n).tolist()


def test_tag_then_tags__a_keys_file_tags_and_the_csv_names_relative_paths(
    project_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rel = _relpaths(project_dir, 3)
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("\n".join([*rel, "nope/missing.tif", ""]) + "\n")
    args = ["tag", str(project_dir), "--tag", " ask  an expert ", "--keys-file", str(keys_file)]
    assert main([*args, "--user", "ann"]) == 0
    printed = capsys.readouterr().out
    assert "added tag 'ask an expert' on 3 samples as 'ann'" in printed
    assert "skipped 1 unknown file names, e.g. nope/missing.tif" in printed
    csv_in = tmp_path / "in.csv"
    pd.DataFrame({"filename": rel[:1], "other": ["x"]}).to_csv(csv_in, index=False)
    assert main(["tag", str(project_dir), "--tag", "unsure", "--csv", str(csv_in)]) == 0
    out = tmp_path / "tags.csv"
    assert main(["tags", str(project_dir), "--out", str(out)]) == 0
    assert "ask an expert: 3" in capsys.readouterr().out
    table = pd.read_csv(out)
    assert table.columns.tolist() == ["filename", "tags"]
    assert table.values.tolist() == [
        [rel[0], "ask an expert, unsure"], [rel[1], "ask an expert"], [rel[2], "ask an expert"]
    ]  # fmt: skip


def test_tag__remove_takes_the_tag_off(
    project_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rel = _relpaths(project_dir, 2)
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("\n".join(rel))
    assert main(["tag", str(project_dir), "--tag", "unsure", "--keys-file", str(keys_file)]) == 0
    keys_file.write_text(rel[0])
    args = ["tag", str(project_dir), "--tag", "unsure", "--remove", "--keys-file", str(keys_file)]
    assert main(args) == 0
    assert "removed tag 'unsure' on 1 samples" in capsys.readouterr().out
    with Project.open(project_dir) as p:
        assert p.tags.counts() == {"unsure": 1}
        assert len(p.tags.history()) == 3


@pytest.mark.parametrize(
    ("tag", "message"),
    [("a\x1bb", "invisible or control character"), ("", "1-48 characters"), ("a,b", "comma")],
)
def test_tag__a_bad_tag_is_one_line_and_writes_nothing(
    project_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], tag: str, message: str
) -> None:
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text(_relpaths(project_dir, 1)[0])
    assert main(["tag", str(project_dir), "--tag", tag, "--keys-file", str(keys_file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: tag:")
    assert message in err
    assert len(err.strip().splitlines()) == 1
    with Project.open(project_dir) as p:
        assert p.tags.version() == 0


def test_tag__a_file_naming_no_sample_or_a_csv_without_filename_is_refused(
    project_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("nothing/here.tif\n")
    assert main(["tag", str(project_dir), "--tag", "x", "--keys-file", str(keys_file)]) == 2
    assert "names no sample of this project" in capsys.readouterr().err
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("name\na.tif\n")
    assert main(["tag", str(project_dir), "--tag", "x", "--csv", str(bad_csv)]) == 2
    assert "no 'filename' column" in capsys.readouterr().err


def test_tags__an_existing_out_needs_overwrite(
    project_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tags.csv"
    out.write_text("keep")
    assert main(["tags", str(project_dir), "--out", str(out)]) == 2
    assert out.read_text() == "keep"
    assert main(["tags", str(project_dir), "--out", str(out), "--overwrite"]) == 0
    assert pd.read_csv(out).columns.tolist() == ["filename", "tags"]

"""The command line: synth, init, label, info, demo, app; errors exit with status 2."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from bps_cli.data import ensure_demo
from bps_cli.main import build_parser, main
from bps_core.project import Project
from bps_core.projection import MapConfig, load_map
from bps_core.synthetic import SynthConfig
from tests.helpers import free_port, wait_for_http


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_synth__twice_with_the_same_seed_gives_identical_files(tmp_path: Path) -> None:
    for out in ("a", "b"):
        assert (
            main(
                ["synth", str(tmp_path / out), "--preset", "tiny", "--seed", "1", "--workers", "1"]
            )
            == 0
        )
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert a == b
    assert len(a) == 170 + 2 * 187 + 2 + 3


def test_synth__existing_output_is_an_error_with_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["synth", str(tmp_path), "--n-per-cell", "1", "--workers", "1"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "pass --overwrite" in captured.err
    assert "overwrite=True" not in captured.err  # the flag, not the Python argument
    assert captured.err.startswith("error: ")  # no progress bar before the error
    assert main([*args, "--overwrite"]) == 0


def test_init_label_info__end_to_end(
    tiny_dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project_dir = tmp_path / "proj"
    assert main(["init", str(project_dir), "--source", str(tiny_dataset.root)]) == 0
    assert "170 samples" in capsys.readouterr().out
    with Project.open(project_dir) as p:
        rel = p.samples().relpath.head(3).tolist()
    labels = tmp_path / "labels.csv"
    labels.write_text("filename,label\n" + "".join(f"{r},track\n" for r in rel) + "ghost.tif,x\n")
    assert main(["label", str(project_dir), "--csv", str(labels), "--user", "ann"]) == 0
    out = capsys.readouterr().out
    assert "labeled 3 samples" in out
    assert "1 unknown file names, e.g. ghost.tif" in out
    assert main(["info", str(project_dir)]) == 0
    assert "labeled: 3" in capsys.readouterr().out


def test_errors__print_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["info", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "not a project" in err
    assert "Traceback" not in err
    assert main(["init", str(tmp_path / "p"), "--source", str(tmp_path / "missing")]) == 2
    assert "missing: no such folder" in capsys.readouterr().err


def test_errors__an_sqlite_error_in_a_command_is_one_line_without_sqlite3_in_the_cli(
    tiny_project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    import bps_cli.main

    def malformed(*args: object, **kwargs: object) -> None:
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(Project, "summary", malformed)
    assert main(["info", str(tiny_project.folder)]) == 2
    assert capsys.readouterr().err == (
        "error: project.db is damaged (database disk image is malformed); restore it from a "
        "backup\n"
    )
    assert "sqlite3" not in vars(bps_cli.main)


def test_python_dash_m__runs_the_same_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bps_cli", "--help"], capture_output=True, text=True, check=True
    )
    assert "synth" in out.stdout
    assert "init" in out.stdout


def test_build_parser__lists_the_commands_in_the_same_order_as_before() -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert list(sub.choices) == [
        "synth", "init", "ingest", "datasource", "writeback", "copy", "label", "classes",
        "info", "migrate", "double-label", "agreement", "adjudicate", "embed", "embeddings", "map",
        "export", "select", "train", "simulate", "report", "flags", "review", "reviews",
        "label-issues", "predictions", "model-disagreements", "tag", "tags", "demo", "app",
    ]  # fmt: skip


def test_demo_and_app__serve_the_demo_project(tmp_path: Path) -> None:
    small = SynthConfig(n_per_cell=2)  # the demo's layout, fewer images
    project_dir = ensure_demo(tmp_path / "demo", small)
    with Project.open(project_dir) as p:
        p.add_labels(p.samples().key.head(1), "kept", user="u", source="api")
    assert ensure_demo(tmp_path / "demo", small) == project_dir  # idempotent, labels kept
    with Project.open(project_dir) as p:
        assert p.summary()["labeled"] == 1
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bps_cli", "app", str(project_dir), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ},
    )  # fmt: skip
    try:
        health = f"http://127.0.0.1:{port}/_stcore/health"
        if not wait_for_http(health, proc, timeout=120, interval=0.5, expect=b"ok"):
            out = proc.stdout.read().decode() if proc.poll() is not None and proc.stdout else ""
            raise AssertionError(f"app did not start within 120 s\n{out}")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert b"<title>" in r.read()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_embed_map_export__pixels_pca_and_a_lightly_csv(
    tiny_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lightly.utils import io as lightly_io

    folder = str(tiny_project.folder)
    assert main(["embed", folder, "--method", "pixels", "--image-size", "32"]) == 0
    out = capsys.readouterr().out
    assert "170 samples" in out
    assert "has_track" in out
    assert "balanced accuracy" in out
    assert main(["map", folder, "--method", "pca"]) == 0
    assert "170 points" in capsys.readouterr().out
    assert main(["map", folder, "--epochs", "20", "--pca-dims", "4"]) == 0
    with Project.open(folder) as p:
        assert load_map(p, MapConfig(n_epochs=20, pca_dims=4)) is not None
    assert main(["map", folder, "--pca-dims", "1"]) == 2
    assert "pca_dims must be 0 (off) or at least 2" in capsys.readouterr().err
    dest = tmp_path / "emb.csv"
    assert main(["export", folder, "--format", "embeddings-csv", "--dest", str(dest)]) == 0
    lightly_io.check_embeddings(str(dest))
    _, _, names = lightly_io.load_embeddings(str(dest))
    assert len(names) == 170
    assert all(n.endswith("_proj.tif") and ":" not in n for n in names)
    assert main(["embed", folder, "--method", "csv", "--csv", str(dest)]) == 0
    assert "note:" not in capsys.readouterr().out  # it covers every sample
    half = tmp_path / "half.csv"
    half.write_text("\n".join(dest.read_text().splitlines()[:101]) + "\n")  # 100 of 170 rows
    assert main(["embed", folder, "--method", "csv", "--csv", str(half)]) == 0
    assert "note: 70 readable samples of the project have no row in the CSV" in (
        capsys.readouterr().out
    )


def test_demo__trains_embeddings_and_map_once(tmp_path: Path) -> None:
    from bps_core.embeddings import load_embedding_set

    small = SynthConfig(n_per_cell=2)
    project_dir = ensure_demo(tmp_path / "demo", small, train_seconds=2)
    with Project.open(project_dir) as p:
        emb = load_embedding_set(p)
        assert emb is not None
        assert emb.method == "simclr"
        assert len(emb.keys) == 34
        assert load_map(p, MapConfig()) is not None
    ensure_demo(tmp_path / "demo", small, train_seconds=2)
    with Project.open(project_dir) as p:
        assert load_embedding_set(p).version == emb.version  # not retrained


def test_export__without_embeddings_is_a_clear_error(
    tiny_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = str(tmp_path / "x.csv")
    assert main(["export", str(tiny_project.folder), "--format", "embeddings-csv",
                 "--dest", dest]) == 2  # fmt: skip
    assert "no embeddings yet" in capsys.readouterr().err


def test_select_train__rounds_from_the_command_line(
    tiny_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    folder = str(tiny_project.folder)
    assert main(["select", folder, "--n", "5"]) == 2
    assert "no embeddings" in capsys.readouterr().err
    assert main(["embed", folder, "--method", "pixels", "--image-size", "32"]) == 0
    assert main(["select", folder, "--n", "6", "--seed", "1", "--show", "2"]) == 0
    out = capsys.readouterr().out
    assert "round 1: 6 samples selected with random" in out  # default: no labels yet
    assert "and 4 more" in out
    assert main(["train", folder]) == 2
    assert "at least two classes" in capsys.readouterr().err
    s = tiny_project.samples()
    for particle in ("Fe", "X-ray"):
        keys = s[s.particle_type == particle].key.head(10)
        tiny_project.add_labels(keys, particle, user="ann", source="api")
    assert main(["train", folder, "--model", "knn"]) == 0
    out = capsys.readouterr().out
    assert "on 20 labels" in out
    assert "grouped by well" in out
    assert "Fe: F1" in out
    config = tmp_path / "selection.json"
    config.write_text(json.dumps({
        "n_samples": 4,
        "strategies": [{"input": {"type": "SCORES", "task": "t", "score": "uncertainty_margin"},
                        "strategy": {"type": "WEIGHTS"}}],
    }))  # fmt: skip
    assert main(["select", folder, "--config", str(config)]) == 0
    assert "round 2: 4 samples selected with lightly-config" in capsys.readouterr().out
    assert main(["select", folder, "--strategy", "uncertainty", "--n", "3"]) == 0
    config.write_text('{"n_samples": 4, "strategies": [{"input": {"type": "X"}}]}')
    assert main(["select", folder, "--config", str(config)]) == 2
    assert "strategies[0]" in capsys.readouterr().err


def test_select__balance_by_with_a_config_exits_2_instead_of_being_ignored(
    tiny_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(tiny_project.folder)
    assert main(["embed", folder, "--method", "pixels", "--image-size", "32"]) == 0
    config = tmp_path / "selection.json"
    config.write_text('{"n_samples": 4, "strategies": [{"input": {"type": "EMBEDDINGS"}, '
                      '"strategy": {"type": "DIVERSITY"}}]}')  # fmt: skip
    capsys.readouterr()
    assert main(["select", folder, "--config", str(config), "--balance-by", "particle_type"]) == 2
    assert capsys.readouterr().err == (
        "error: balance, threshold and similarity apply to a named strategy; with a Lightly "
        "config, add BALANCE, THRESHOLD or SIMILARITY entries to it\n"
    )
    assert main(["select", folder, "--config", str(config), "--strategy", "diversity"]) == 2
    assert "would not be used" in capsys.readouterr().err
    from bps_core.selection.rounds import list_rounds

    assert list_rounds(tiny_project) == []  # nothing recorded


def test_select__consecutive_rounds_share_nothing_and_seeds_are_fresh(
    tiny_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    from bps_core.selection.rounds import list_rounds

    folder = str(tiny_project.folder)
    assert main(["embed", folder, "--method", "pixels", "--image-size", "32"]) == 0
    for _ in range(3):
        assert main(["select", folder, "--n", "50", "--show", "0"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"round 1: 50 samples selected with random, seed \d+ \(drawn", out)
    assert "50 samples picked by earlier rounds were left out" in out
    rounds = list_rounds(tiny_project)
    picked = [set(r.keys) for r in rounds]
    assert not picked[0] & picked[1]
    assert not (picked[0] | picked[1]) & picked[2]
    assert len({r.seed for r in rounds}) == 3
    assert main(["select", folder, "--n", "50"]) == 2  # 170 samples, 150 held back
    assert "held back: label them, or re-include them" in capsys.readouterr().err
    assert main(["select", folder, "--n", "50", "--reinclude-selected", "--seed", "4"]) == 0
    assert "seed 4\n" in capsys.readouterr().out
    # Re-included: the 20 samples no round picked yet hold both types in random proportions
    # (the seeds are drawn), so balancing over them alone could not always come out 5 / 5.
    balanced = ["--n", "10", "--balance-by", "particle_type", "--reinclude-selected"]
    assert main(["select", folder, *balanced]) == 0
    last = list_rounds(tiny_project)[-1]
    s = tiny_project.samples().set_index("key").loc[last.keys]
    assert s.particle_type.value_counts().to_dict() == {"Fe": 5, "X-ray": 5}


def test_select__a_blind_labelers_round_counts_what_is_done_for_her(
    tiny_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--user`` names who selects: a blind double labeler's round offers the samples
    assigned to her that bob labeled (hers to label still); anyone else's counts them done."""
    from bps_core.selection.rounds import list_rounds

    folder = str(tiny_project.folder)
    assert main(["embed", folder, "--method", "pixels", "--image-size", "32"]) == 0
    tiny_project.assignments.configure(["alice", "bob"], 1.0, blind=True)
    keys = tiny_project.samples().key.tolist()
    tiny_project.add_labels(keys[10:], "Fe", user="bob", source="queue")
    capsys.readouterr()
    assert main(["select", folder, "--n", "20", "--user", "carol"]) == 2
    assert "candidates are left" in capsys.readouterr().err
    assert main(["select", folder, "--n", "20", "--user", "alice", "--show", "0"]) == 0
    assert "round 1: 20 samples selected with random" in capsys.readouterr().out
    (mine,) = list_rounds(tiny_project)
    assert mine.user == "alice"
    assert set(mine.keys) & set(keys[10:])  # bob's labels are not hers
    assert main(["select", folder, "--n", "3", "--strategy", "uncertainty", "--user",
                 "alice"]) == 2  # fmt: skip
    assert "blind double labeler's round reads none" in capsys.readouterr().err


def test_train__a_class_with_one_label_warns_instead_of_a_library_error(
    tiny_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(tiny_project.folder)
    assert main(["embed", folder, "--method", "pixels", "--image-size", "32"]) == 0
    s = tiny_project.samples()
    tiny_project.add_labels(s[s.particle_type == "Fe"].key.head(10), "Fe", user="a", source="api")
    tiny_project.add_labels(s[s.particle_type == "X-ray"].key.head(1), "X-ray", user="a",
                            source="api")  # fmt: skip
    assert main(["train", folder]) == 0
    captured = capsys.readouterr()
    assert "n_splits" not in captured.err + captured.out
    assert "warning: no cross-validation: class 'X-ray' has a single label" in captured.out


def test_simulate__writes_the_curve_and_the_plot(
    tiny_project: Project, tiny_dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pandas as pd

    folder = str(tiny_project.folder)
    assert main(["embed", folder, "--method", "pixels", "--image-size", "32"]) == 0
    truth = tiny_dataset.truth_csv
    out = tmp_path / "curve.csv"
    args = ["simulate", folder, "--truth", str(truth), "--label-column", "particle_type",
            "--group-column", "well", "--strategies", "random,diversity", "--batch", "8",
            "--rounds", "2", "--seeds", "2", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    curve = pd.read_csv(out)
    assert len(curve) == 2 * 2 * 3
    assert set(curve.strategy) == {"random", "diversity"}
    assert out.with_suffix(".png").exists()
    printed = capsys.readouterr().out
    assert "after 2 rounds of 8" in printed
    assert "labels to 95% of the balanced accuracy of training on the whole pool" in printed
    assert re.search(r"  random: (\d+|not reached) \(90% interval", printed)
    assert main([*args[:4], "--label-column", "nope", "--out", str(out)]) == 2
    assert "no column 'nope'" in capsys.readouterr().err


def test_datasource_without_a_project_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasource", "check"]) == 2
    assert "datasource check needs PROJECT_DIR" in capsys.readouterr().err
    assert main(["datasource", "external-id"]) == 0
    assert len(capsys.readouterr().out.strip()) == 32


def test_init__meta_csv_by_absolute_path_relative_path_or_source_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 14, item 10: ``--meta /abs/meta.csv`` was refused as "not found under file://"."""
    from PIL import Image

    data = tmp_path / "imgs"
    data.mkdir()
    for name in ("x.png", "y.png"):
        Image.new("L", (8, 8)).save(data / name)
    (tmp_path / "meta.csv").write_text("filename,stain\nx.png,dapi\ny.png,fitc\n")
    (data / "inside.csv").write_text("filename,stain\nx.png,cy5\ny.png,cy5\n")
    monkeypatch.chdir(tmp_path)
    runs = {
        "abs": str(tmp_path / "meta.csv"),  # absolute, outside the source
        "rel": "meta.csv",  # relative to the working directory
        "src": "inside.csv",  # a name inside the source
    }
    for name, meta in runs.items():
        assert main(["init", str(tmp_path / name), "--source", str(data), "--meta", meta]) == 0
        out = capsys.readouterr().out
        with Project.open(tmp_path / name) as p:
            stain = p.samples().set_index("relpath").stain.to_dict()
            assert p.config.meta_csv == (meta if name == "src" else str(tmp_path / "meta.csv"))
        assert stain == ({"x.png": "cy5", "y.png": "cy5"} if name == "src"
                         else {"x.png": "dapi", "y.png": "fitc"})  # fmt: skip
        assert f"metadata from {p.config.meta_csv}" in out
    assert main(["init", str(tmp_path / "bad"), "--source", str(data), "--meta", "nope.csv"]) == 2
    err = capsys.readouterr().err
    assert "metadata CSV 'nope.csv' not found under file://" in err
    assert "relative to the working directory" in err


@pytest.mark.parametrize(
    "args",
    [["embed", "P", "--epochs", "0"], ["embed", "P", "--epochs", "-3"],
     ["embed", "P", "--batch-size", "0"], ["embed", "P", "--image-size", "x"],
     ["embed", "P", "--max-seconds", "0"], ["embed", "P", "--max-seconds", "nan"],
     ["map", "P", "--n-neighbors", "0"], ["map", "P", "--min-dist", "-0.1"],
     ["select", "P", "--n", "0"], ["train", "P", "--epochs", "0"],
     ["simulate", "P", "--truth", "t", "--label-column", "c", "--out", "o", "--rounds", "0"],
     ["simulate", "P", "--truth", "t", "--label-column", "c", "--out", "o",
      "--test-fraction", "1"],
     ["synth", "O", "--n-per-cell", "0"], ["app", "P", "--port", "70000"]],
)  # fmt: skip
def test_numeric_flags__out_of_range_values_are_an_argparse_error(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    flag = args[-2]
    assert f"argument {flag}: " in err
    assert "is not a" in err


def test_init__a_folder_without_images_exits_2_and_leaves_no_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    assert main(["init", str(tmp_path / "p"), "--source", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "no images found under" in err
    assert "no project was created" in err
    assert not (tmp_path / "p").exists()
    kept = tmp_path / "existing"  # a folder the user made: only what init added goes
    kept.mkdir()
    (kept / "mine.txt").write_text("keep")
    assert main(["init", str(kept), "--source", str(empty)]) == 2
    assert sorted(p.name for p in kept.iterdir()) == ["mine.txt"]


def test_progress__no_bar_before_a_failed_check_and_the_listed_counter_ends_its_line(
    tiny_dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", str(tmp_path / "p"), "--source", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")  # no empty "ingest" bar above it
    assert "ingest" not in err
    assert main(["init", str(tmp_path / "q"), "--source", str(tiny_dataset.root)]) == 0
    err = capsys.readouterr().err
    assert re.search(r"listed \d+ objects\n", err)
    assert "objectsingest" not in err


def test_export__lightly_without_a_model_gives_its_hint_once(
    tiny_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(tiny_project.folder), "--format", "lightly", "--dest",
                 str(tmp_path / "l")]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("train one") == 1
    assert "bps-labeler train" in err


def test_export__a_relative_dest_is_taken_from_the_working_folder_and_printed_in_full(
    tiny_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    tiny_project.add_labels(tiny_project.samples().key.head(2), "track", user="ann", source="api")
    monkeypatch.chdir(tmp_path)
    assert main(["export", str(tiny_project.folder), "--dest", "out/labels.csv"]) == 0
    assert (tmp_path / "out" / "labels.csv").is_file()
    assert f"to {tmp_path / 'out' / 'labels.csv'}" in capsys.readouterr().out
    (tmp_path / "afile").write_text("x")
    assert main(["export", str(tiny_project.folder), "--format", "imagefolder",
                 "--dest", "afile/sub"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "cannot create the folder" in err
    assert "Errno" not in err


@pytest.mark.parametrize(
    "command",
    [
        ["label-issues", "{project}"],
        ["flags", "{project}"],
        ["tags", "{project}"],
        ["predictions", "{project}", "--class", "track"],
        ["model-disagreements", "{project}"],
    ],
)
def test_out__a_missing_folder_or_a_folder_is_refused_before_any_work(
    command: list[str], tiny_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue-18 commands check --out alike: a mistyped folder is an error (never a new
    folder), and a folder named as the file says to name a file in it."""
    args = [a.format(project=tiny_project.folder) for a in command]
    missing = tmp_path / "nope" / "out.csv"
    assert main([*args, "--out", str(missing)]) == 2
    assert f"folder {missing.parent} does not exist" in capsys.readouterr().err
    assert not missing.parent.exists()
    assert main([*args, "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err

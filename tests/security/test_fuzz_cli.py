"""Fuzzing the CLI's inputs (issue 15): class names, file names, metadata values and column
names, config values and label CSVs, fed to ``bps_cli.main.main`` in-process.

Every run must end with status 0 or 2; an error is one ``error: ...`` line on stderr and no
traceback; nothing is written outside the test's own folders (an audit hook records every file
opened for writing, renamed, created or removed); and the project database passes SQLite's
``PRAGMA integrity_check``. Examples are bounded so the module runs in seconds.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bps_cli.main import main
from bps_core.synthetic import SynthResult

#: Examples per test; BPS_FUZZ_EXAMPLES=500 searches longer (make test keeps the default).
FUZZ = settings(
    max_examples=int(os.environ.get("BPS_FUZZ_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# ------------------------------------------------------------------ writes outside the roots

_WRITE_EVENTS = {
    "os.rename", "os.replace", "os.mkdir", "os.remove", "os.rmdir", "os.symlink", "os.link",
    "os.truncate", "shutil.copyfile", "shutil.move", "shutil.rmtree",
}  # fmt: skip
_recording: list[list[str]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _recording:
        return
    paths: list[Any] = []
    if event == "open" and len(args) >= 3:
        path, mode, flags = args[0], args[1], args[2]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        )
        if writing:
            paths.append(path)
    elif event in _WRITE_EVENTS:
        paths.extend(a for a in args[:2] if isinstance(a, str | bytes | os.PathLike))
    for p in paths:
        if isinstance(p, int):
            continue
        with contextlib.suppress(Exception):
            _recording[-1].append(os.path.abspath(os.fsdecode(p)))


sys.addaudithook(_audit)


@contextlib.contextmanager
def _recorded_writes() -> Iterator[list[str]]:
    _recording.append([])
    try:
        yield _recording[-1]
    finally:
        _recording.pop()


# ------------------------------------------------------------------ the project, made once


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tiny_dataset: SynthResult) -> dict[str, Path]:
    """A tiny project (pixels embedding, no SimCLR) and the folders runs may write into."""
    root = tmp_path_factory.mktemp("fuzz")
    data = root / "data"
    images = sorted(tiny_dataset.train_dir.rglob("*_proj.tif"))[:12]
    data.mkdir()
    for p in images:
        shutil.copy(p, data / p.name)
    project = root / "project"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["init", str(project), "--source", str(data)]) == 0
        assert main(["embed", str(project), "--method", "pixels", "--image-size", "32"]) == 0
    (root / "cwd").mkdir()
    (root / "tmp").mkdir()
    return {"root": root, "data": data, "project": project, "cwd": root / "cwd",
            "tmp": root / "tmp", "sample": images[0]}  # fmt: skip


def _run(world: dict[str, Path], argv: list[str], roots: list[Path]) -> tuple[int, str, str]:
    """Runs the CLI in ``world['cwd']`` and checks the contract; returns (status, out, err)."""
    out, err = io.StringIO(), io.StringIO()
    old, old_tmp = Path.cwd(), tempfile.tempdir
    os.chdir(world["cwd"])
    tempfile.tempdir = str(world["tmp"])  # temp files go to a folder of the test's own
    allowed = [str(r.resolve()) for r in [*roots, world["cwd"], world["tmp"]]]
    try:
        with (
            _recorded_writes() as writes,
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse refusing an argument: its usage + one error
                code = int(exc.code or 0)
    finally:
        os.chdir(old)
        tempfile.tempdir = old_tmp
    stderr = err.getvalue()
    assert code in (0, 2), (argv, code, stderr)
    assert "Traceback" not in stderr
    if code == 2 and not stderr.startswith("usage:"):
        errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, stderr
        assert stderr.rstrip("\n").endswith(errors[0]), stderr
        assert len(errors[0]) < 2000
    allowed.append(os.devnull)  # libraries silence output by writing to it
    outside = [w for w in writes if not any(w == a or w.startswith(a + os.sep) for a in allowed)]
    assert not outside, outside
    return code, out.getvalue(), stderr


def _integrity(project: Path) -> None:
    db = project / "project.db"
    if db.exists():
        with contextlib.closing(sqlite3.connect(db)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# ------------------------------------------------------------------ strategies

_ANY_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=80)
_NASTY = st.sampled_from([
    "nan", "NaN", "NA", "", " ", "=cmd|' /C calc'!A0", "+1", "-1", "@SUM(A1)", "\u202eevil",
    "a\u200bb", "\ufeffbom", "x" * 65, "x" * 5000, "a,b", '"quoted"', "line\nbreak", "tab\there",
    "../../etc/passwd", "/abs/path.tif", "C:\\win.tif", "label", "filename", "0", "1.5", "\x00",
    "![px](http://127.0.0.1:1/b.png)", "<script>", "核", "ﬁ", "İ",
])  # fmt: skip
_VALUE = st.one_of(_NASTY, _ANY_TEXT, st.integers().map(str), st.floats().map(str))


@st.composite
def _csv_text(draw: st.DrawFn, header: list[str], rows: list[list[str]]) -> str:
    if draw(st.booleans()):
        buf = io.StringIO()
        csv.writer(buf).writerows([header, *rows])
        return buf.getvalue()
    return "\n".join(",".join(r) for r in [header, *rows]) + draw(st.sampled_from(["", "\n"]))


@st.composite
def labels_csv(draw: st.DrawFn, relpaths: list[str]) -> str:
    header = draw(st.sampled_from([
        ["filename", "label"], ["name", "class"], ["label"], ["filename", "label", "extra"],
        ["label", "filename"], ["filename", "label", "label"],
    ]))  # fmt: skip
    header = header if draw(st.integers(0, 9)) else [draw(_VALUE), draw(_VALUE)]
    names = st.one_of(st.sampled_from(relpaths), _VALUE)
    rows = draw(st.lists(st.lists(st.one_of(names, _VALUE), min_size=1, max_size=4), max_size=8))
    return draw(_csv_text(header, rows))


# ------------------------------------------------------------------ the fuzz tests


def test_harness__sees_writes_outside_the_roots_and_tracebacks(world: dict[str, Path]) -> None:
    with _recorded_writes() as writes:
        (world["cwd"] / "probe.txt").write_text("x")
        os.replace(world["cwd"] / "probe.txt", world["cwd"] / "probe2.txt")
    assert str(world["cwd"] / "probe.txt") in writes
    assert str(world["cwd"] / "probe2.txt") in writes
    with pytest.raises(AssertionError, match="outside|project"):
        _run(world, ["init", str(world["root"] / "elsewhere"), "--source", str(world["data"])], [])


@FUZZ
@given(data=st.data())
def test_fuzz__label_csv_import(world: dict[str, Path], data: st.DataObject) -> None:
    relpaths = sorted(p.name for p in world["data"].iterdir())
    text = data.draw(labels_csv(relpaths))
    user = data.draw(st.one_of(st.just("ann"), _VALUE))
    with tempfile.TemporaryDirectory(dir=world["root"]) as tmp:
        path = Path(tmp) / "labels.csv"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        argv = ["label", str(world["project"]), "--csv", str(path)]
        if user and not user.startswith("-"):
            argv += ["--user", user]
        _run(world, argv, [world["project"], Path(tmp)])
    _integrity(world["project"])


_FILE_CHARS = st.characters(blacklist_categories=["Cs"], blacklist_characters="/\x00")


@FUZZ
@given(
    names=st.lists(st.text(_FILE_CHARS, min_size=1, max_size=30), min_size=1, max_size=3),
    columns=st.lists(_VALUE, min_size=1, max_size=3),
    values=st.lists(_VALUE, min_size=3, max_size=9),
    project_name=st.one_of(st.none(), _VALUE),
)
def test_fuzz__init_with_file_names_and_metadata(
    world: dict[str, Path],
    names: list[str],
    columns: list[str],
    values: list[str],
    project_name: str | None,
) -> None:
    with tempfile.TemporaryDirectory(dir=world["root"]) as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        written = []
        for name in names:
            fname = f"{name}.tif"
            with contextlib.suppress(OSError):  # a name the filesystem refuses (too long)
                shutil.copy(world["sample"], data / fname)
                written.append(fname)
        rows = [
            [n, *values[i * len(columns) : (i + 1) * len(columns)]] for i, n in enumerate(written)
        ]
        meta = io.StringIO()
        csv.writer(meta).writerows([["filename", *columns], *rows])
        (data / "meta.csv").write_bytes(meta.getvalue().encode("utf-8", "surrogatepass"))
        project = Path(tmp) / "project"
        argv = ["init", str(project), "--source", str(data), "--meta", "meta.csv"]
        if project_name is not None and not project_name.startswith("-"):
            argv += ["--name", project_name]
        code, _, _ = _run(world, argv, [Path(tmp)])
        _integrity(project)
        if code == 0:
            _run(world, ["info", str(project)], [Path(tmp)])
            out = Path(tmp) / "out.csv"
            _run(
                world, ["export", str(project), "--format", "csv", "--dest", str(out)], [Path(tmp)]
            )
            _integrity(project)


@FUZZ
@given(
    classes=st.lists(_VALUE, max_size=3),
    n=st.integers(-3, 40),
    config=st.one_of(
        st.none(),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | _VALUE,
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(
                    st.sampled_from(
                        [
                            "n_samples",
                            "strategies",
                            "input",
                            "strategy",
                            "type",
                            "proportion_samples",
                            "x",
                        ]
                    )
                    | _VALUE,
                    inner,
                    max_size=4,
                )
            ),  # fmt: skip
            max_leaves=10,
        ),
    ),
)
def test_fuzz__select_and_copy_arguments(
    world: dict[str, Path], classes: list[str], n: int, config: Any
) -> None:
    with tempfile.TemporaryDirectory(dir=world["root"]) as tmp:
        argv = ["select", str(world["project"]), "--n", str(n), "--user", "fuzz"]
        if config is not None:
            path = Path(tmp) / "config.json"
            path.write_text(json.dumps(config))
            argv += ["--config", str(path)]
        _run(world, argv, [world["project"], Path(tmp)])
        spec = ",".join(c for c in classes)
        if spec and not spec.startswith("-"):
            argv = ["copy", str(world["project"]), "--dest", str(Path(tmp) / "out"),
                    "--classes", spec]  # fmt: skip
            _run(world, argv, [world["project"], Path(tmp)])
    _integrity(world["project"])


_DISPLAY_KEYS = ["gamma", "low_percentile", "high_percentile", "x"]


@FUZZ
@given(
    display=st.dictionaries(
        st.sampled_from(_DISPLAY_KEYS),
        st.one_of(st.floats(), st.integers(), _VALUE, st.booleans()),
        max_size=3,
    ),
    kind=st.sampled_from(["local", "s3", "ftp", ""]),
    version=st.one_of(st.integers(-2, 5), _VALUE),
)
def test_fuzz__project_config_values(
    world: dict[str, Path], display: dict[str, Any], kind: str, version: Any
) -> None:
    import tomli_w

    with tempfile.TemporaryDirectory(dir=world["root"]) as tmp:
        project = Path(tmp) / "project"
        shutil.copytree(world["project"], project)
        toml = project / "project.toml"
        import tomllib

        doc = tomllib.loads(toml.read_text())
        doc["project"]["format_version"] = version
        doc["datasource"]["kind"] = kind
        doc["display"] = {k: v for k, v in display.items() if v == v}  # TOML has no NaN key
        with contextlib.suppress(Exception):
            toml.write_text(tomli_w.dumps(doc))
        _run(world, ["info", str(project)], [project, Path(tmp)])
        _integrity(project)


def test_found_by_fuzz__copy_with_an_unknown_long_class_gives_a_short_error(
    world: dict[str, Path],
) -> None:
    with tempfile.TemporaryDirectory(dir=world["root"]) as tmp:
        argv = ["copy", str(world["project"]), "--dest", str(Path(tmp) / "out"),
                "--classes", "x" * 5000 + ",y"]  # fmt: skip
        code, _, err = _run(world, argv, [world["project"], Path(tmp)])
    assert code == 2
    assert "no sample is labeled 'xxxx" in err
    assert len(err.splitlines()[-1]) < 200

"""Issue 15 item 1: an error about a file's content never quotes the content.

A wrong path typed where a CSV or config is expected (a ``.env``, ``/etc/shadow``, a key file)
must not have its lines shown back, in the exception nor on the CLI's stderr or stdout. Each
kind of user file is fed files with a planted secret in every position a parser might quote:
the first line, a header cell, a value, a label, a duplicate row, a malformed line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bps_cli.main import main
from bps_core.embeddings.lightly_csv import import_embeddings_csv
from bps_core.errors import BpsError
from bps_core.labels import read_labels_csv
from bps_core.metadata import read_metadata_csv
from bps_core.project import Project
from bps_core.selection.combine import SelectionConfig
from bps_core.selection.simulate import read_truth

SECRET = "wJalrXUtnFEMIK7MDENGbPxRfiCYSECRET"

#: Files that are not what the parser expects, each holding the secret.
PLANTED = {
    "dotenv": f"AWS_ACCESS_KEY_ID=AKIAEXAMPLE\nAWS_SECRET_ACCESS_KEY={SECRET}\n",
    "dotenv_first": f"AWS_SECRET_ACCESS_KEY={SECRET}\nOTHER=1\n",
    "shadow": f"root:{SECRET}:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n",
    "bare_secret": f"{SECRET}\n",
    "two_columns": f"{SECRET},{SECRET}\n{SECRET},{SECRET}\n",
    "header_cell": f"filenames,{SECRET},labels\na.tif,1,0\n",
    "header_cell_2": f"filename,{SECRET}\na.tif,x\n",
    "value_cell": f"filenames,embedding_0,labels\na.tif,{SECRET},0\n",
    "label_cell": f"filenames,embedding_0,labels\na.tif,0.5,{SECRET}\n",
    "bps_values": (
        "filename,dose_Gy,particle_type,hr_post_exposure\n"
        f"a.tif,{SECRET},Fe,4\nb.tif,0.3,{SECRET},4\n"
    ),
    "duplicate": f"filename,label\n{SECRET},x\n{SECRET},y\n",
    "malformed": f"filename,label\na.tif,x\n{SECRET},{SECRET},{SECRET}\n",
    "quote": f'filename,label\n"{SECRET},x\n',
    "binary": "\x00\x01" + SECRET,
    "not_utf8": None,  # written as bytes below
}


def _write(tmp_path: Path, name: str, text: str | None) -> Path:
    path = tmp_path / f"{name}.csv"
    if text is None:
        path.write_bytes(b"\xff\xfe" + SECRET.encode() + b"\n\x89PNG")
    else:
        path.write_text(text)
    return path


def _error_text(fn: object, *args: object) -> str:
    try:
        fn(*args)  # type: ignore[operator]
    except BpsError as exc:
        return str(exc)
    return ""  # parsed: nothing was shown


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_parsers__errors_never_quote_the_file(name: str, tmp_path: Path) -> None:
    path = _write(tmp_path, name, PLANTED[name])
    data = path.read_bytes()
    messages = [
        _error_text(import_embeddings_csv, path, {"a.tif": "input:a.tif"}),
        _error_text(read_metadata_csv, data, path.name),
        _error_text(read_labels_csv, data, path.name),
        _error_text(read_truth, path, "label", None),
        _error_text(SelectionConfig.from_json, data.decode("utf-8", "replace")),
    ]
    for message in messages:
        assert SECRET not in message
        assert "\n" not in message


def test_embeddings_csv__wrong_file_says_what_line_1_should_be(tmp_path: Path) -> None:
    path = _write(tmp_path, "env", PLANTED["dotenv_first"])
    with pytest.raises(BpsError, match="line 1: column 1 must be named 'filenames'") as err:
        import_embeddings_csv(path, {"a.tif": "input:a.tif"})
    assert "expected filenames,embedding_0" in str(err.value)
    with pytest.raises(BpsError, match="not a regular file"):
        import_embeddings_csv(tmp_path, {"a.tif": "input:a.tif"})


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_cli__embed_label_select_and_copy_never_print_the_file(
    name: str, tiny_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, name, PLANTED[name])
    project = str(tiny_project.folder)
    runs = [
        ["embed", project, "--method", "csv", "--csv", str(path)],
        ["label", project, "--csv", str(path), "--user", "ann"],
        ["select", project, "--config", str(path)],
        ["copy", project, "--dest", str(tmp_path / "out"), "--keys-file", str(path)],
    ]
    for argv in runs:
        code = main(argv)
        out, err = capsys.readouterr()
        assert SECRET not in err, argv[0]
        if not (argv[0] == "label" and code == 0):  # a well-formed labels CSV's import report
            assert SECRET not in out, argv[0]  # may name its unknown file names, clipped
        if code != 0:
            assert code == 2
            errors = [line for line in err.splitlines() if line.startswith("error: ")]
            assert len(errors) == 1  # (progress bars may come before it: another fix's)
            assert err.rstrip("\n").endswith(errors[0])

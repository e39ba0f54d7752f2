"""Hostile images: every file of a 45-file corpus decodes or gives the typed error naming the
file, without allocating declared sizes; ingest and embedding skip bad files, list them, and
go on; a symlink out of the data folder is never followed."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from bps_core.embeddings import EmbedConfig, compute_embeddings
from bps_core.errors import ImageDecodeError
from bps_core.images import decode_image
from bps_core.project import create_project_from_folder
from tests.hostile_corpus import write_corpus

MAX_PEAK_BYTES = 100_000_000  # a 100000 x 100000 header would need 10 GB


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("hostile") / "data"
    return folder, write_corpus(folder)


def test_corpus_has_at_least_40_files(corpus: tuple[Path, dict[str, str]]) -> None:
    _, expected = corpus
    assert len(expected) >= 40
    assert sum(v == "error" for v in expected.values()) >= 20


@pytest.mark.timeout(120)  # a hang guard, not a timing assertion
def test_each_file_decodes_or_raises_the_typed_error_naming_it(
    corpus: tuple[Path, dict[str, str]],
) -> None:
    folder, expected = corpus
    outcomes = {}
    for name, kind in sorted(expected.items()):
        if kind == "link":
            continue
        data = (folder / name).read_bytes()
        tracemalloc.start()
        try:
            img = decode_image(data, name)
            outcome = "ok"
            assert isinstance(img, np.ndarray)
            assert img.ndim in (2, 3)
            assert img.size > 0
        except ImageDecodeError as exc:
            outcome = "error"
            named = (exc.name, str(exc).split(": ", 1)[0])
            assert named == (name, name)  # noqa: PT017 (one loop over 45 files)
        finally:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert peak < MAX_PEAK_BYTES, f"{name}: peak {peak:,} bytes"
        outcomes[name] = outcome
        if kind != "any":
            assert outcome == kind, f"{name}: expected {kind}, got {outcome}"
    assert len(outcomes) >= 40


def test_ingest_and_embedding_skip_bad_files_list_them_and_go_on(
    corpus: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    folder, expected = corpus
    project, report = create_project_from_folder(tmp_path / "project", folder)
    with project:
        listed = set(project.samples().relpath)
        assert "link_outside.tif" not in listed  # the link leaving the folder is not followed
        assert listed == {n for n, k in expected.items() if k != "link"}
        emb = compute_embeddings(project, EmbedConfig(method="pixels", image_size=32))
        embedded = {k.split(":", 1)[1] for k in emb.keys}
        good = {n for n, k in expected.items() if k == "ok"}
        bad = {n for n, k in expected.items() if k == "error"}
        assert good <= embedded
        assert not bad & embedded
        samples = project.samples().set_index("relpath")
        assert (samples.loc[sorted(bad), "status"] == "bad").all()
        reasons = samples.loc[sorted(bad), "error"]
        assert reasons.str.len().gt(10).all()  # each says what is wrong
        assert set(report.bad_files) <= bad  # header checks caught some at ingest already

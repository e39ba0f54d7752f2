"""Damaged array files (issue 15, item 12): truncated, pickled objects, wrong shape, NaN
values, a missing keys file. Each is one clear error naming the file and what to do; a damaged
map is recomputed in place."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bps_cli.main import main
from bps_core.embeddings.store import load_embedding_set
from bps_core.errors import DamagedArrayError
from bps_core.project import Project
from bps_core.projection import MapConfig, get_or_compute_map, latest_map
from tests.helpers import open_app, save_random_embeddings


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:200])


def _objects(path: Path) -> None:
    arr = np.empty(3, dtype=object)
    arr[:] = [{"a": 1}, "b", None]
    np.save(path, arr, allow_pickle=True)


def _nan(path: Path) -> None:
    arr = np.load(path)
    arr[3, 1] = np.nan
    np.save(path, arr)


def _wrong_shape(path: Path) -> None:
    np.save(path, np.zeros(10, dtype=np.float32))


def _no_keys(path: Path) -> None:
    path.with_name(path.name.replace(".npy", ".keys.json")).unlink()


def _bad_keys(path: Path) -> None:
    path.with_name(path.name.replace(".npy", ".keys.json")).write_text(json.dumps(["a", "b"]))


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated": (_truncate, "is damaged"),
    "object_dtype": (_objects, "is damaged"),
    "nan_vectors": (_nan, "NaN"),
    "wrong_shape": (_wrong_shape, "has shape"),
    "missing_keys_file": (_no_keys, "is missing"),
    "keys_do_not_match": (_bad_keys, "lists 2 keys"),
}


@pytest.fixture
def with_embeddings(tiny_project: Project) -> Path:
    emb = save_random_embeddings(tiny_project)
    return tiny_project.folder / "arrays" / "embeddings" / f"{emb.version}.npy"


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_load_embedding_set__damaged_file_is_one_clear_error(
    tiny_project: Project,
    with_embeddings: Path,
    damage: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    apply, expected = DAMAGE[damage]
    apply(with_embeddings)
    with pytest.raises(DamagedArrayError, match="recompute the embeddings") as err:
        load_embedding_set(tiny_project)
    assert expected in str(err.value)
    assert with_embeddings.stem.split(".")[0] in str(err.value)
    assert main(["map", str(tiny_project.folder), "--method", "pca"]) == 2
    out = capsys.readouterr().err.strip()
    assert out.startswith("error: ")
    assert "\n" not in out
    assert expected in out


@pytest.mark.parametrize("damage", ["truncated", "nan_vectors", "wrong_shape"])
def test_map__damaged_map_file_is_reported_then_recomputed(
    tiny_project: Project, with_embeddings: Path, damage: str
) -> None:
    cfg = MapConfig(method="pca")
    first = get_or_compute_map(tiny_project, cfg)
    path = tiny_project.arrays_dir / "maps" / f"{first.id}.npy"
    DAMAGE[damage][0](path)
    with pytest.raises(DamagedArrayError, match="recompute the map"):
        latest_map(tiny_project)
    again = get_or_compute_map(tiny_project, cfg)
    np.testing.assert_allclose(again.xy, first.xy)
    assert latest_map(tiny_project) is not None


def test_app__damaged_embeddings_show_one_error_not_a_traceback(
    tiny_project: Project, with_embeddings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    get_or_compute_map(tiny_project, MapConfig(method="pca"))
    _truncate(with_embeddings)
    monkeypatch.setenv("BPS_LABELER_WARM_WORKER", "0")
    at = open_app(monkeypatch, tiny_project.folder).run()
    at.switch_page("pages/3_Explore_and_label.py").run()
    assert not at.exception
    assert any("recompute the embeddings" in e.value for e in at.error)


def test_load_array__finds_nan_in_the_last_block_of_a_blockwise_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bps_core import arrays

    monkeypatch.setattr(arrays, "FINITE_BLOCK", 8)  # 2 rows of 4 per block
    x = np.ones((7, 4), dtype=np.float32)
    x[6, 3] = np.inf
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(DamagedArrayError, match="NaN or infinite"):
        arrays.load_array(tmp_path / "x.npy", fix="redo it", ndim=2)
    x[6, 3] = 0.0
    np.save(tmp_path / "y.npy", x)
    assert arrays.all_finite(arrays.load_array(tmp_path / "y.npy", fix="redo it", ndim=2))

"""Maps: UMAP and PCA, seeded, cached per embedding version and parameters."""

from __future__ import annotations

import numpy as np
import pytest
import umap

from bps_core import projection
from bps_core.embeddings.store import save_embedding_set
from bps_core.errors import BpsError
from bps_core.project import Project
from bps_core.projection import MapConfig, compute_map, get_or_compute_map

VECS = np.random.default_rng(0).normal(size=(120, 16)).astype(np.float32)


def test_umap__seeded_and_equal_to_the_reference_call() -> None:
    cfg = MapConfig(n_epochs=50, seed=3)
    a, b = compute_map(VECS, cfg), compute_map(VECS, cfg)
    assert a.shape == (120, 2)
    assert np.array_equal(a, b)
    ref = umap.UMAP(
        n_neighbors=15,
        min_dist=0.1,
        metric="cosine",
        n_epochs=50,
        init="pca",
        random_state=3,
        n_jobs=1,
    )
    assert np.allclose(ref.fit_transform(VECS), a, atol=1e-5)


def test_pca__and_invalid_configs() -> None:
    assert compute_map(VECS, MapConfig(method="pca")).shape == (120, 2)
    with pytest.raises(ValueError, match="umap, pca"):
        compute_map(VECS, MapConfig(method="tsne"))
    with pytest.raises(BpsError, match="more than 3"):
        compute_map(VECS[:3], MapConfig())
    with pytest.raises(ValueError, match="init must be"):
        compute_map(VECS, MapConfig(init="umap"))


def test_get_or_compute_map__cached_until_embedding_or_params_change(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(BpsError, match="no embeddings"):
        get_or_compute_map(tiny_project)
    keys = tiny_project.samples().key.tolist()
    save_embedding_set(
        tiny_project, "pixels", {}, keys, np.random.default_rng(1).normal(size=(170, 8))
    )
    first = get_or_compute_map(tiny_project, MapConfig(method="pca"))
    calls = []
    monkeypatch.setattr(
        projection, "compute_map", lambda v, c: calls.append(c) or np.zeros((len(v), 2))
    )
    again = get_or_compute_map(tiny_project, MapConfig(method="pca"))
    assert calls == []
    assert again.id == first.id
    assert np.array_equal(again.xy, first.xy)
    get_or_compute_map(tiny_project, MapConfig(method="pca", seed=1))
    assert len(calls) == 1
    save_embedding_set(
        tiny_project, "pixels", {"v": 2}, keys, np.random.default_rng(2).normal(size=(170, 8))
    )
    get_or_compute_map(tiny_project, MapConfig(method="pca"))
    assert len(calls) == 2

"""Maps: UMAP and PCA, seeded, cached per embedding version and parameters."""

from __future__ import annotations

import numpy as np
import pytest
import umap
from sklearn.decomposition import PCA

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
        metric="euclidean",
        n_epochs=50,
        init="pca",
        random_state=3,
        n_jobs=1,
    )
    unit = VECS / np.linalg.norm(VECS, axis=1, keepdims=True)  # 16-d: below pca_dims, kept
    assert np.allclose(ref.fit_transform(unit), a, atol=1e-5)


def test_umap_input__unit_vectors_reduced_by_seeded_pca() -> None:
    wide = np.random.default_rng(1).normal(size=(200, 100)).astype(np.float32) * 7.0
    z = projection.umap_input(wide, MapConfig(pca_dims=8, seed=2))
    assert z.shape == (200, 8)
    assert z.dtype == np.float32
    unit = wide / np.linalg.norm(wide, axis=1, keepdims=True)
    expected = PCA(n_components=8, random_state=2).fit_transform(unit)
    assert np.allclose(z, expected, atol=1e-4)
    kept = projection.umap_input(wide, MapConfig(pca_dims=0))
    assert np.allclose(kept, unit, atol=1e-6)  # 0: no reduction, cosine order kept


def test_umap_epochs__fewer_for_big_maps_unless_given() -> None:
    auto = MapConfig()
    assert projection.umap_epochs(1_000, auto) == 300
    assert projection.umap_epochs(35_000, auto) == 100
    assert projection.umap_epochs(77_180, auto) == 45
    assert projection.umap_epochs(1_000_000, auto) == 40
    assert projection.umap_epochs(77_180, MapConfig(n_epochs=200)) == 200


def test_pca__and_invalid_configs() -> None:
    assert compute_map(VECS, MapConfig(method="pca")).shape == (120, 2)
    with pytest.raises(ValueError, match="umap, pca"):
        compute_map(VECS, MapConfig(method="tsne"))
    with pytest.raises(BpsError, match="more than 3"):
        compute_map(VECS[:3], MapConfig())
    with pytest.raises(ValueError, match="init must be"):
        compute_map(VECS, MapConfig(init="umap"))
    with pytest.raises(ValueError, match="pca_dims"):
        compute_map(VECS, MapConfig(pca_dims=1))
    with pytest.raises(ValueError, match="n_epochs"):
        compute_map(VECS, MapConfig(n_epochs=0))


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
        projection, "compute_map", lambda v, c, p=None: calls.append(c) or np.zeros((len(v), 2))
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


def test_latest_map__the_most_recent_of_the_current_embedding_and_legacy_rows(
    tiny_project: Project,
) -> None:
    assert projection.latest_map(tiny_project) is None
    keys = tiny_project.samples().key.tolist()
    save_embedding_set(
        tiny_project, "pixels", {"v": 1}, keys, np.random.default_rng(3).normal(size=(170, 8))
    )
    umap_map = get_or_compute_map(tiny_project, MapConfig(n_epochs=10))
    pca_map = get_or_compute_map(tiny_project, MapConfig(method="pca"))
    tiny_project._conn.execute(
        "UPDATE maps SET created_at = '2000-01-01T00:00:00+00:00' WHERE id = ?", (umap_map.id,)
    )
    latest = projection.latest_map(tiny_project)
    assert latest is not None
    assert latest.id == pca_map.id
    assert np.array_equal(latest.xy, pca_map.xy)
    # A row written before maps had pca_dims (they ran on the full embeddings) says so.
    tiny_project._conn.execute(
        "UPDATE maps SET params_json = ? WHERE id = ?",
        ('{"method": "umap", "n_neighbors": 15, "min_dist": 0.1, "n_epochs": 150, '
         '"init": "pca", "seed": 0}', umap_map.id),
    )  # fmt: skip
    legacy = projection.load_map_id(tiny_project, umap_map.id)
    assert legacy is not None
    assert legacy.config == MapConfig(n_epochs=150, pca_dims=0)
    assert projection.load_map_id(tiny_project, "no-such-map") is None


def _sets(project: Project) -> tuple[str, str]:
    keys = project.samples().key.tolist()
    rng = np.random.default_rng(5)
    a = save_embedding_set(project, "pixels", {"v": 1}, keys, rng.normal(size=(170, 8)))
    b = save_embedding_set(project, "pixels", {"v": 2}, keys, rng.normal(size=(170, 8)))
    return a.version, b.version


def test_current_map__follows_the_current_set_and_the_users_choice(
    tiny_project: Project,
) -> None:
    from bps_core.embeddings.store import current_version, set_current_version

    a, b = _sets(tiny_project)
    set_current_version(tiny_project, a)
    a_umap = get_or_compute_map(tiny_project, MapConfig(n_epochs=10))
    a_pca = get_or_compute_map(tiny_project, MapConfig(method="pca"))
    current = projection.current_map(tiny_project)
    assert current is not None
    assert current.id == a_pca.id  # the last computed is shown
    assert projection.use_map(tiny_project, a_umap.id[:5]).id == a_umap.id
    set_current_version(tiny_project, b)
    assert projection.current_map(tiny_project) is None  # b has no map: nothing of a's shown
    b_pca = get_or_compute_map(tiny_project, MapConfig(method="pca"))
    assert projection.current_map(tiny_project).id == b_pca.id
    set_current_version(tiny_project, a)  # back: a's chosen map again, not its latest
    assert projection.current_map(tiny_project).id == a_umap.id
    # Choosing a map of another set switches the set too, and both survive a reopen.
    projection.use_map(tiny_project, b_pca.id)
    folder = tiny_project.folder  # a second connection reads what the first one wrote
    with Project.open(folder) as again:
        assert current_version(again) == b
        assert projection.current_map(again).id == b_pca.id
        rows = {m["id"]: m for m in projection.list_maps(again)}
        assert [i for i, m in rows.items() if m["current"]] == [b_pca.id]
        assert rows[a_umap.id]["chosen"]
        assert not rows[a_pca.id]["chosen"]
        with pytest.raises(BpsError, match="no map 'nope'"):
            projection.use_map(again, "nope")


def test_fit_umap__reports_layout_progress_without_changing_the_map() -> None:
    cfg = MapConfig(n_epochs=50, seed=3)
    seen: list[float] = []
    with_progress = projection.fit_umap(VECS, cfg, progress=seen.append)
    assert np.array_equal(with_progress, projection.fit_umap(VECS, cfg))
    assert seen[0] == 0.05
    assert seen[-1] == 1.0
    assert seen == sorted(seen)
    assert any(0.25 <= f < 1.0 for f in seen)  # from the layout epochs, not only the ends


def test_fit_umap__turns_on_the_disk_cache_of_umaps_kernels() -> None:
    projection.fit_umap(VECS, MapConfig(n_epochs=5, seed=3))
    # umap-learn declares this kernel without numba's cache; a later process now loads it
    assert type(umap.umap_.smooth_knn_dist._cache).__name__ == "FunctionCache"


BIG = np.random.default_rng(5).normal(size=(150, 12)).astype(np.float32)


def test_fit_umap__above_fit_sample_fits_a_seeded_sample_and_transforms_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(projection, "TRANSFORM_CHUNK", 40)  # 90 rows to place: 3 chunks
    cfg = MapConfig(n_epochs=30, seed=4, fit_sample=60)
    rows = projection.fit_sample_rows(len(BIG), cfg)
    assert rows is not None
    assert len(rows) == 60
    assert len(set(rows.tolist())) == 60
    seen: list[float] = []
    xy = projection.fit_umap(BIG, cfg, progress=seen.append)
    assert xy.shape == (150, 2)
    assert np.isfinite(xy).all()
    assert np.array_equal(xy, projection.fit_umap(BIG, cfg))  # seeded: the same map again
    alone = projection.fit_umap(BIG[rows], MapConfig(n_epochs=30, seed=4, fit_sample=0))
    assert np.allclose(xy[rows], alone, atol=1e-5)  # the sample's map is its own full fit
    assert seen == sorted(seen)
    assert seen[-1] == 1.0
    assert sum(projection.fit_share(60, 150) < f < 1.0 for f in seen) >= 2  # over the chunks
    other = projection.fit_umap(BIG, MapConfig(n_epochs=30, seed=5, fit_sample=60))
    assert not np.array_equal(xy, other)  # the seed draws the sample


def test_fit_umap__at_or_below_fit_sample_is_the_full_fit() -> None:
    full = projection.fit_umap(VECS, MapConfig(n_epochs=50, seed=3, fit_sample=0))
    assert projection.fit_sample_rows(120, MapConfig(fit_sample=120)) is None
    at = projection.fit_umap(VECS, MapConfig(n_epochs=50, seed=3, fit_sample=120))
    assert np.array_equal(full, at)
    assert np.array_equal(full, compute_map(VECS, MapConfig(n_epochs=50, seed=3)))


def test_map_id__unchanged_by_the_default_fit_sample() -> None:
    # the id the default config had before fit_sample existed (sha256 of version + params)
    import hashlib
    import json

    old = {"method": "umap", "n_neighbors": 15, "min_dist": 0.1, "n_epochs": None,
           "init": "pca", "pca_dims": 128, "seed": 0}  # fmt: skip
    before = hashlib.sha256(json.dumps(["v1", old], sort_keys=True).encode()).hexdigest()[:12]
    assert projection.map_id("v1", MapConfig(), n_points=100_000) == before
    assert projection.map_id("v1", MapConfig(fit_sample=0), n_points=100_000) != before
    assert projection._stored_config(old) == MapConfig()  # old rows read back, same id


def test_map_id__records_the_placement_of_maps_past_fit_sample() -> None:
    import hashlib
    import json
    from dataclasses import asdict

    def old_id(cfg: MapConfig) -> str:  # map_id before the placement was part of it
        params = asdict(cfg)
        if params["fit_sample"] == projection.FIT_SAMPLE:
            del params["fit_sample"]
        return hashlib.sha256(json.dumps(["v1", params], sort_keys=True).encode()).hexdigest()[:12]

    cfg = MapConfig()
    assert projection.map_id("v1", cfg, n_points=100_000) == old_id(cfg)  # every row fitted
    assert projection.map_id("v1", cfg, n_points=100_001) != old_id(cfg)  # rows placed
    pca = MapConfig(method="pca")
    assert projection.map_id("v1", pca, n_points=1_000_000) == old_id(pca)
    assert projection.map_params(1_000_000, cfg)["placement"] == projection.PLACEMENT
    assert "placement" not in projection.map_params(100_000, cfg)


def test_get_or_compute_map__does_not_reuse_a_map_placed_by_older_code(
    tiny_project: Project,
) -> None:
    # A map of 170 points fitted on 60 that older code placed with UMAP's transform: its row
    # has the id map_id gave then (no placement) and no placement in its params.
    import hashlib
    import json
    from dataclasses import asdict

    from bps_core.project.maps import MapRecord

    keys = tiny_project.samples().key.tolist()
    emb = save_embedding_set(
        tiny_project, "pixels", {}, keys, np.random.default_rng(7).normal(size=(170, 8))
    )
    cfg = MapConfig(n_epochs=10, fit_sample=60)
    payload = json.dumps([emb.version, asdict(cfg)], sort_keys=True).encode()
    old = hashlib.sha256(payload).hexdigest()[:12]
    folder = tiny_project.arrays_dir / "maps"
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / f"{old}.npy", np.zeros((170, 2), dtype=np.float32))
    tiny_project.maps.add(
        MapRecord(old, emb.version, "umap", asdict(cfg), f"arrays/maps/{old}.npy", "2026-11-01"),
        make_chosen=True,
    )
    m = get_or_compute_map(tiny_project, cfg)
    assert m.id != old
    assert not np.array_equal(m.xy, np.zeros((170, 2)))  # computed, not the old file
    record = tiny_project.maps.get(m.id)
    assert record is not None
    assert record.params["placement"] == projection.PLACEMENT
    again = get_or_compute_map(tiny_project, cfg)
    assert again.id == m.id  # the new map is cached under its own id
    assert projection.load_map(tiny_project, cfg) is not None
    shown = projection.current_map(tiny_project)
    assert shown is not None
    assert shown.id == m.id


def test_map_config__fit_sample_zero_or_at_least_20() -> None:
    with pytest.raises(ValueError, match="fit_sample"):
        MapConfig(fit_sample=5)
    with pytest.raises(ValueError, match="fit_sample"):
        MapConfig(fit_sample=-1)


def _clusters(n: int, seed: int, dim: int = 16, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim)) * 4.0
    label = rng.integers(k, size=n)
    return (centres[label] + rng.normal(size=(n, dim))).astype(np.float32), label


def test_fitted_neighbours__places_rows_beside_their_own_cluster() -> None:
    x, label = _clusters(600, seed=1)
    fit, new = np.arange(0, 600, 3), np.setdiff1d(np.arange(600), np.arange(0, 600, 3))
    spots = np.random.default_rng(2).normal(size=(8, 2)) * 10.0  # one 2-D spot per cluster
    xy_fit = spots[label[fit]] + np.random.default_rng(3).normal(size=(len(fit), 2)) * 0.3
    placed = projection.FittedNeighbours(x[fit], xy_fit).place(x[new])
    assert placed.shape == (len(new), 2)
    assert placed.dtype == np.float32
    nearest_spot = np.argmin(((placed[:, None, :] - spots[None]) ** 2).sum(-1), axis=1)
    assert (nearest_spot == label[new]).mean() > 0.95
    guess = np.random.default_rng(4).uniform(placed.min(0), placed.max(0), size=placed.shape)
    by_chance = np.argmin(((guess[:, None, :] - spots[None]) ** 2).sum(-1), axis=1)
    assert (by_chance == label[new]).mean() < 0.5  # the check fails a random placement


def test_fitted_neighbours__inverted_lists_deterministic_and_close_to_exact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    x, _ = _clusters(3_000, seed=5)
    xy_fit = np.random.default_rng(6).normal(size=(2_000, 2)).astype(np.float32)
    exact = projection.FittedNeighbours(x[:2_000], xy_fit)
    assert exact.index.__class__.__name__ == "IndexFlatL2"
    monkeypatch.setattr(projection, "IVF_FROM", 1_000)
    a = projection.FittedNeighbours(x[:2_000], xy_fit, seed=7)
    assert a.index.__class__.__name__ == "IndexIVFFlat"
    placed = a.place(x[2_000:])
    assert np.array_equal(placed, projection.FittedNeighbours(x[:2_000], xy_fit, seed=7)
                          .place(x[2_000:]))  # fmt: skip
    assert np.array_equal(placed[:10], a.place(x[2_000:2_010]))  # rows placed independently
    assert np.isfinite(placed).all()
    _, want = exact.index.search(x[2_000:], 15)
    _, got = a.index.search(x[2_000:], 15)
    recall = np.mean([len(set(g) & set(w)) / 15 for g, w in zip(got, want, strict=True)])
    assert recall > 0.7  # 8 lists of 179 find most of the exact neighbours


def test_fit_umap__above_fit_sample_keeps_the_full_fits_trustworthiness() -> None:
    from sklearn.manifold import trustworthiness

    x, _ = _clusters(900, seed=8)
    cfg = MapConfig(n_epochs=60, seed=1, fit_sample=300)
    xy = projection.fit_umap(x, cfg)
    rows = projection.fit_sample_rows(900, cfg)
    assert rows is not None
    rest = np.setdiff1d(np.arange(900), rows)
    full = trustworthiness(x[rows], xy[rows], n_neighbors=10)
    placed = trustworthiness(x[rest], xy[rest], n_neighbors=10)
    assert placed > full - 0.03
    noise = np.random.default_rng(9).permutation(xy[rest])  # the same points, shuffled
    assert trustworthiness(x[rest], noise, n_neighbors=10) < full - 0.1


def test_estimate_map__grows_with_points_and_says_so() -> None:
    cfg = MapConfig()
    small, big = projection.estimate_map(50_000, cfg), projection.estimate_map(1_000_000, cfg)
    assert small.fitted == 50_000
    assert small.place_s == 0
    assert big.fitted == cfg.fit_sample
    assert big.total_s > small.total_s
    assert big.place_s > 0
    assert projection.estimate_map(1_000_000, MapConfig(fit_sample=0)).total_s > big.total_s
    assert "1,000,000 points on this machine" in big.text()
    assert big.text().startswith("about ")
    assert "minutes" in big.text() or "seconds" in big.text()
    assert projection.estimate_map(1_000_000, MapConfig(method="pca")).total_s < big.total_s
    share = projection.fit_share(cfg.fit_sample, 1_000_000)
    assert share == pytest.approx(big.fit_s / big.total_s)
    assert projection.fit_share(500, 500) == 1.0

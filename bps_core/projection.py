"""2-D maps of embeddings (UMAP, PCA), seeded and cached per embedding version and parameters.

- [0] McInnes, Healy & Melville, 2018, UMAP, https://arxiv.org/abs/1802.03426
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.decomposition import PCA

from bps_core.arrays import load_array
from bps_core.atomic import atomic_path
from bps_core.embeddings.store import EmbeddingSet, load_embedding_set
from bps_core.errors import BpsError, DamagedArrayError, SettingsError
from bps_core.project.maps import MapRecord
from bps_core.project.store import Project, utc_now
from bps_core.settings import Settings, check_choice, check_range

MAP_METHODS = ("umap", "pca")
FIT_SAMPLE = 100_000
"""Default ``MapConfig.fit_sample``: bigger maps fit UMAP on this many and place the rest."""
TRANSFORM_CHUNK = 50_000
"""Rows placed per chunk (``FittedNeighbours.place``): progress moves, memory stays bounded."""
PLACE_NEIGHBOURS = 15
"""Fitted rows whose map positions place each other row (``FittedNeighbours``)."""
IVF_FROM = 20_000
"""From this many fitted rows their neighbours are searched through an inverted-file index."""
IVF_PROBES = 8
"""Inverted lists searched per placed row: recall@15 about 0.86 on the bench's data, where 4,
8 and 16 lists (recall 0.82 to 0.91) gave the same trustworthiness; 8 keeps a margin."""
PLACEMENT = "fitted_neighbours"
"""How rows past ``fit_sample`` are placed (``FittedNeighbours``); part of such a map's id and
stored params, so a map placed another way (UMAP's ``transform``, before 2026-12) is never
taken for one placed this way."""
_RECOMPUTE_MAP = "recompute the map ('bps-labeler map PROJECT_DIR' or the Embeddings page)"
Progress = Callable[[float], None]


@dataclass(frozen=True)
class MapConfig(Settings):
    """Map parameters (the settings of a ``map`` job); validated when built.

    UMAP runs on the L2-normalised embeddings reduced by PCA to ``pca_dims`` (0 keeps them
    whole), with Euclidean distances there (on unit vectors, the same order as cosine).
    ``n_epochs`` None picks by size (``umap_epochs``). The defaults come from
    bench/bench_umap.py on 77k SimCLR embeddings: once PCA makes the neighbour search cheap
    (512-d cosine NN-descent about 15 s, 128-d PCA about 4 s) the layout's epochs are the time
    (about 0.27 s each at 77k, single-threaded because seeded). Against ``umap.UMAP()``
    they keep trustworthiness (k=15) at the peer's and 15-NN preservation above 0.9x of it;
    64 PCA dimensions or 40 epochs at 77k fell just below that.

    Above ``fit_sample`` points (0: never) UMAP is fitted on that many rows drawn with
    ``seed`` and the rest are placed from their nearest fitted rows (``FittedNeighbours``,
    see ``fit_umap``); maps at or below it are computed exactly as without the field.
    """

    method: str = "umap"
    n_neighbors: int = 15
    min_dist: float = 0.1
    n_epochs: int | None = None
    init: str = "pca"
    pca_dims: int = 128
    seed: int = 0
    fit_sample: int = FIT_SAMPLE

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Checks every field; raises ``SettingsError`` naming the first bad one."""
        check_choice("map method", self.method, MAP_METHODS)
        check_range("n_neighbors", self.n_neighbors, 2)
        check_range("min_dist", self.min_dist, 0.0, 1.0)
        if self.init not in ("pca", "spectral", "random"):
            raise SettingsError(f"init must be pca, spectral or random, got {self.init!r}")
        if self.pca_dims < 0 or self.pca_dims == 1:
            raise SettingsError(f"pca_dims must be 0 (off) or at least 2, got {self.pca_dims}")
        if self.fit_sample < 0 or 0 < self.fit_sample < 20:
            raise SettingsError(
                f"fit_sample must be 0 (fit on all) or at least 20, got {self.fit_sample}"
            )
        if self.n_epochs is not None and self.n_epochs < 1:
            raise SettingsError(
                f"n_epochs must be at least 1 (None: automatic), got {self.n_epochs}"
            )


def umap_epochs(n: int, cfg: MapConfig) -> int:
    """Layout epochs: ``cfg.n_epochs``, else about 3.5 million point-epochs, within [40, 300].

    Each epoch touches every edge of the k-NN graph, so big maps get fewer epochs (45 at
    77k points, 40 from 88k) and small ones more (300 up to about 12k points).
    """
    if cfg.n_epochs is not None:
        return cfg.n_epochs
    return max(40, min(300, round(3_500_000 / max(n, 1))))


def umap_input(
    vectors: NDArray[np.floating[Any]],
    cfg: MapConfig,
    fit_rows: NDArray[np.intp] | None = None,
) -> NDArray[np.float32]:
    """What UMAP sees: unit vectors, PCA-reduced to ``cfg.pca_dims`` when that is smaller.

    Args:
        vectors: one embedding per row.
        cfg: the map settings (``pca_dims``, ``seed``).
        fit_rows: fit the PCA on these rows only (then project every row); None: on all.
    """
    x = np.asarray(vectors, dtype=np.float32)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    if fit_rows is None:
        if cfg.pca_dims and cfg.pca_dims < min(x.shape):
            x = PCA(n_components=cfg.pca_dims, random_state=cfg.seed).fit_transform(x)
    elif cfg.pca_dims and cfg.pca_dims < min(len(fit_rows), x.shape[1]):
        pca = PCA(n_components=cfg.pca_dims, random_state=cfg.seed).fit(x[fit_rows])
        x = np.concatenate([pca.transform(x[i : i + TRANSFORM_CHUNK])
                            for i in range(0, len(x), TRANSFORM_CHUNK)])  # fmt: skip
    return np.ascontiguousarray(x, dtype=np.float32)


def fit_sample_rows(n: int, cfg: MapConfig) -> NDArray[np.intp] | None:
    """The rows UMAP is fitted on for ``n`` points (sorted, drawn with ``cfg.seed``).

    Returns:
        None when every row is fitted (``fit_sample`` 0, or ``n`` at most ``fit_sample``).
    """
    if not cfg.fit_sample or n <= cfg.fit_sample:
        return None
    rng = np.random.default_rng(cfg.seed)
    return np.sort(rng.choice(n, cfg.fit_sample, replace=False)).astype(np.intp)


@dataclass(frozen=True)
class Map:
    """2-D coordinates of shape (n, 2); row i belongs to ``keys[i]``."""

    id: str
    embedding_version: str
    config: MapConfig
    keys: list[str]
    xy: NDArray[np.float32]


def fit_pca(vectors: NDArray[np.floating[Any]], seed: int = 0) -> NDArray[np.float32]:
    """Projects ``vectors`` onto their first two principal components (float32, one row each)."""
    out: NDArray[np.float32] = (
        PCA(n_components=2, random_state=seed).fit_transform(vectors).astype(np.float32)
    )
    return out


class _EpochWriter:
    """A file for UMAP's tqdm bar over layout epochs, turned into progress.

    Each ``n/total`` UMAP writes becomes a progress fraction between ``lo`` and ``hi``
    (UMAP has no callback of its own).
    """

    _COUNT = re.compile(r"(\d+)/(\d+)")

    def __init__(self, progress: Progress, lo: float, hi: float) -> None:
        self.progress, self.lo, self.hi = progress, lo, hi

    def write(self, text: str) -> int:
        found = self._COUNT.findall(text)
        if found:
            done, total = (int(v) for v in found[-1])
            self.progress(self.lo + (self.hi - self.lo) * done / max(total, 1))
        return len(text)

    def flush(self) -> None:
        pass


def _reducer(n: int, cfg: MapConfig, tqdm_kwds: dict[str, Any] | None) -> Any:
    import umap  # numba compilation makes the first import slow; keep it off module import

    from bps_core.kernel_cache import cache_umap_kernels

    cache_umap_kernels()  # a later process loads the compiled kernels (bps_core.kernel_cache)

    return umap.UMAP(
        n_components=2,
        n_neighbors=min(cfg.n_neighbors, n - 1),
        min_dist=cfg.min_dist,
        metric="euclidean",
        n_epochs=umap_epochs(n, cfg),
        init=cfg.init,
        random_state=cfg.seed,
        n_jobs=1,  # a seed makes UMAP single-threaded anyway; saying so silences its warning
        tqdm_kwds=tqdm_kwds,
    )


def _epoch_bar(progress: Progress, lo: float, hi: float) -> dict[str, Any]:
    return {"disable": False, "file": _EpochWriter(progress, lo, hi), "bar_format": "{n}/{total}",
            "mininterval": 0.25, "ascii": True}  # fmt: skip


def fit_umap(
    vectors: NDArray[np.floating[Any]], cfg: MapConfig, progress: Progress | None = None
) -> NDArray[np.float32]:
    """UMAP to 2-D of ``umap_input(vectors)``, seeded by ``cfg.seed`` (so single-threaded).

    Up to ``cfg.fit_sample`` points (or with it 0) every point is fitted: ``progress`` gets
    0.05 after the PCA input, then moves from 0.25 to 1.0 over the layout epochs (the
    neighbour graph in between, and numba's first compile, report nothing).

    Above it, PCA and UMAP are fitted on ``fit_sample_rows`` (that part reports into 0 to
    ``fit_share`` as above) and every other row is placed at the weighted mean of its
    nearest fitted rows' positions (``FittedNeighbours``) in chunks of ``TRANSFORM_CHUNK``
    rows (from ``fit_share`` to 1.0, per chunk), so time grows about linearly past the
    sample instead of with a full fit.
    """
    n = len(vectors)
    if n <= 3:
        raise BpsError(f"UMAP needs more than 3 samples, got {n}; use the PCA map")
    rows = fit_sample_rows(n, cfg)
    if rows is not None:
        return _fit_and_place(vectors, cfg, rows, progress)
    x = umap_input(vectors, cfg)
    if progress is not None:
        progress(0.05)
    reducer = _reducer(n, cfg, None if progress is None else _epoch_bar(progress, 0.25, 1.0))
    out: NDArray[np.float32] = np.asarray(reducer.fit_transform(x), dtype=np.float32)
    if progress is not None:
        progress(1.0)
    return out


# The time model behind ``estimate_map``: seconds on this project's 2-core machine with
# nothing else running, taken as this process's CPU seconds in bench/bench_map1m.py at 1M
# points (docs/benchmarks.md, "UMAP map of 1M points"): the fit on 100k (40 epochs) took 11
# to 14 CPU s, placing 900k rows 25 to 27. A UMAP fit costs a neighbour graph (per fitted
# point) and layout epochs (per point-epoch, single-threaded because seeded; the split
# between the two follows bench/bench_umap.py); placing a row costs an inverted-file search
# and a weighted mean (two threads, so CPU seconds overstate its wall time on idle cores).
_FIT_S_PER_POINT = 2.5e-5
_FIT_S_PER_POINT_EPOCH = 2.5e-6
_PLACE_S_PER_POINT = 3.0e-5
_PCA_S_PER_VALUE = 2.0e-9  # per input value (rows x dims) when PCA reduces the input
_START_S = 2.0  # normalising the rows, bookkeeping


@dataclass(frozen=True)
class MapEstimate:
    """How long a map is expected to take on this machine, by stage (seconds).

    Attributes:
        points: Rows of the map.
        fitted: Rows UMAP is fitted on (all of them below ``fit_sample``).
        fit_s: The fit (input preparation, PCA, neighbour graph, layout epochs).
        place_s: Placing the other rows (0 when every row is fitted).
    """

    points: int
    fitted: int
    fit_s: float
    place_s: float

    @property
    def total_s(self) -> float:
        """The whole map."""
        return self.fit_s + self.place_s

    def text(self) -> str:
        """One line for a person, e.g. 'about 2 minutes for 1,000,000 points on this machine'."""
        total = self.total_s
        if total < 90:
            when = f"about {max(5, round(total / 5) * 5)} seconds"
        else:
            when = f"about {round(total / 60)} minutes"
        how = "" if self.fitted == self.points else f" (UMAP fitted on {self.fitted:,})"
        return f"{when} for {self.points:,} points on this machine{how}"


def estimate_map(n: int, cfg: MapConfig, dim: int = 128) -> MapEstimate:
    """Expected time of ``compute_map`` for ``n`` rows of ``dim`` dimensions with ``cfg``.

    A linear model per stage with constants measured by bench/bench_map1m.py on this
    project's 2-core machine with nothing else running (a shared machine is slower); numba's
    first compile in a new process (25-40 s) is not included. PCA maps are near instant.

    Args:
        n: Rows of the map.
        cfg: The map settings.
        dim: Dimensions of the embeddings.

    Returns:
        The ``MapEstimate``.
    """
    if cfg.method != "umap":
        return MapEstimate(n, n, _START_S + _PCA_S_PER_VALUE * n * dim, 0.0)
    rows = fit_sample_rows(n, cfg)
    m = n if rows is None else len(rows)
    pca = _PCA_S_PER_VALUE * n * dim if cfg.pca_dims and cfg.pca_dims < dim else 0.0
    fit = _START_S + pca + m * (_FIT_S_PER_POINT + _FIT_S_PER_POINT_EPOCH * umap_epochs(m, cfg))
    return MapEstimate(n, m, fit, _PLACE_S_PER_POINT * (n - m))


def fit_share(n_fit: int, n: int) -> float:
    """Progress share of the fit on ``n_fit`` of ``n`` points (the rest are placed after).

    The fit's share of the expected time (``estimate_map`` with the default settings), so
    the bar moves at about an even pace through both stages.
    """
    fit = estimate_map(n_fit, MapConfig(fit_sample=0)).fit_s
    place = _PLACE_S_PER_POINT * max(n - n_fit, 0)
    return fit / max(fit + place, 1e-12)


class FittedNeighbours:
    """Places rows on a fitted map from the map positions of their nearest fitted rows.

    A placed row goes to the weighted mean of the 2-D positions of its ``k`` nearest fitted
    rows (in the space UMAP was fitted in), weighted like UMAP's fuzzy memberships:
    ``exp(-(d - d_1) / s)``, with ``d_1`` the nearest distance and ``s`` the row's mean of
    ``d - d_1``, so the nearest neighbours count most. That is where UMAP's own ``transform``
    starts its points, without its approximate search and its optimisation epochs: on the
    bench's 1M clustered embeddings that start scored closer to a full fit than the
    optimised ``transform`` did, and the epochs changed nothing (bench/bench_map1m.py,
    docs/benchmarks.md), at a fraction of its time.

    The neighbours are exact below ``IVF_FROM`` fitted rows; from there an inverted-file
    index (faiss ``IndexIVFFlat`` [0]) whose list centres are fitted rows drawn with ``seed``
    (no k-means training, so the same seed gives the same lists) searches ``IVF_PROBES``
    lists per row. Each row's search is independent of the others, so chunking and threads
    do not change the result.

    - [0] Jegou, Douze & Schmid, 2011, https://doi.org/10.1109/TPAMI.2010.57 (inverted files)
    """

    def __init__(
        self,
        x_fit: NDArray[np.floating[Any]],
        xy_fit: NDArray[np.floating[Any]],
        *,
        k: int = PLACE_NEIGHBOURS,
        seed: int = 0,
    ) -> None:
        """Indexes the fitted rows.

        Args:
            x_fit: The fitted rows as UMAP saw them, shape (m, dim).
            xy_fit: Their map positions, shape (m, 2).
            k: Neighbours per placed row (at most ``m`` are used).
            seed: Draws the inverted lists' centres.
        """
        import faiss

        x = np.ascontiguousarray(x_fit, dtype=np.float32)
        self.xy_fit = np.asarray(xy_fit, dtype=np.float32)
        self.k = max(1, min(k, len(x)))
        self.index: Any
        if len(x) < IVF_FROM:
            self.index = faiss.IndexFlatL2(x.shape[1])
        else:
            n_lists = round(4 * np.sqrt(len(x)))
            centres = np.random.default_rng(seed).choice(len(x), n_lists, replace=False)
            quantizer = faiss.IndexFlatL2(x.shape[1])
            quantizer.add(x[np.sort(centres)])
            self.index = faiss.IndexIVFFlat(quantizer, x.shape[1], n_lists)
            self.index.is_trained = True  # the centres are given, not trained
            self.index.nprobe = IVF_PROBES
            self._quantizer = quantizer  # the IVF index does not own it
        self.index.add(x)

    def place(self, x_new: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
        """Map positions of ``x_new`` (shape (n, dim), the fitted rows' space): (n, 2) float32."""
        q = np.ascontiguousarray(x_new, dtype=np.float32)
        d2, found = self.index.search(q, self.k)
        ok = found >= 0  # an inverted-file search can find fewer than k rows
        d = np.sqrt(np.maximum(d2, 0.0, where=ok, out=np.zeros_like(d2)))
        rel = np.where(ok, d - d[:, :1], 0.0)
        scale = rel.sum(axis=1, keepdims=True) / np.maximum(ok.sum(axis=1, keepdims=True), 1)
        w = np.where(ok, np.exp(-rel / np.maximum(scale, 1e-12)), 0.0)
        w /= w.sum(axis=1, keepdims=True)
        xy = np.einsum("nk,nkc->nc", w, self.xy_fit[np.where(ok, found, 0)])
        return np.asarray(xy, dtype=np.float32)


def _fit_and_place(
    vectors: NDArray[np.floating[Any]],
    cfg: MapConfig,
    rows: NDArray[np.intp],
    progress: Progress | None,
) -> NDArray[np.float32]:
    def report(fraction: float) -> None:
        if progress is not None:
            progress(fraction)

    x = umap_input(vectors, cfg, fit_rows=rows)
    share = fit_share(len(rows), len(x))
    report(0.05 * share)
    bar = None if progress is None else _epoch_bar(report, 0.25 * share, share)
    out = np.empty((len(x), 2), dtype=np.float32)
    out[rows] = _reducer(len(rows), cfg, bar).fit_transform(x[rows])
    report(share)
    placer = FittedNeighbours(x[rows], out[rows], seed=cfg.seed)
    rest = np.setdiff1d(np.arange(len(x)), rows, assume_unique=True)
    starts = range(0, len(rest), TRANSFORM_CHUNK)
    for i, start in enumerate(starts):
        chunk = rest[start : start + TRANSFORM_CHUNK]
        out[chunk] = placer.place(x[chunk])
        report(share + (1.0 - share) * (i + 1) / len(starts))
    report(1.0)
    return out


def compute_map(
    vectors: NDArray[np.floating[Any]], cfg: MapConfig, progress: Progress | None = None
) -> NDArray[np.float32]:
    """2-D coordinates of ``vectors`` with the configured method."""
    cfg.validate()
    if cfg.method == "umap":
        return fit_umap(vectors, cfg, progress)
    xy = fit_pca(vectors, cfg.seed)
    if progress is not None:
        progress(1.0)
    return xy


def placement(n_points: int, cfg: MapConfig) -> str | None:
    """How the map of ``n_points`` rows with ``cfg`` places rows it does not fit on.

    Returns:
        ``PLACEMENT`` when UMAP is fitted on a sample (``fit_sample_rows``) and the other
        rows are placed; None when every row is fitted (PCA maps, and UMAP maps of at most
        ``fit_sample`` points).
    """
    if cfg.method != "umap" or fit_sample_rows(n_points, cfg) is None:
        return None
    return PLACEMENT


def map_params(n_points: int, cfg: MapConfig) -> dict[str, Any]:
    """The parameters a map is identified and recorded by: ``cfg``'s fields and its placement.

    ``placement`` is present only for maps that place rows (``placement``), so maps whose
    every row is fitted keep the ids they always had.
    """
    params = asdict(cfg)
    if (how := placement(n_points, cfg)) is not None:
        params["placement"] = how
    return params


def map_id(embedding_version: str, cfg: MapConfig, *, n_points: int) -> str:
    """The map's id: a short hash of its embedding version and settings, so equal maps share one.

    Args:
        embedding_version: The embedding set mapped.
        cfg: The map settings.
        n_points: Rows of the embedding set: a map past ``cfg.fit_sample`` records how it
            placed the rest (``map_params``), so a map placed differently by older code (UMAP's
            ``transform``) has another id and is not reused.
    """
    params = map_params(n_points, cfg)
    if params["fit_sample"] == FIT_SAMPLE:  # ids from before the field stay valid
        del params["fit_sample"]
    payload = json.dumps([embedding_version, params], sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()[:12]


def load_map(project: Project, cfg: MapConfig, embedding_version: str | None = None) -> Map | None:
    """The cached map for the current (or given) embedding and ``cfg``, or None."""
    emb_version = embedding_version or _current(project)
    if emb_version is None:
        return None
    record = project.embedding_sets.get(emb_version)
    if record is None:
        return None
    return load_map_id(project, map_id(emb_version, cfg, n_points=record.n_samples))


def latest_map(project: Project, embedding_version: str | None = None) -> Map | None:
    """The most recently computed map of the current (or given) embedding, or None."""
    emb_version = embedding_version or _current(project)
    if emb_version is None:
        return None
    mid = project.maps.latest_id(emb_version)
    return load_map_id(project, mid) if mid else None


def current_map(project: Project) -> Map | None:
    """The map the app shows, or None when the current embedding set has none.

    That is the map chosen for the current embedding set (``use_map``, or the last computed
    through ``get_or_compute_map``), else its most recent map.
    """
    emb_version = _current(project)
    if emb_version is None:
        return None
    chosen = project.maps.chosen_id(emb_version)
    m = load_map_id(project, chosen) if chosen else None
    if m is not None and m.embedding_version == emb_version:
        return m
    return latest_map(project, emb_version)


def list_maps(project: Project) -> list[dict[str, Any]]:
    """Every stored map, newest first, as a dict per map.

    Each has id, embedding version, method, params, created_at, and ``current`` (the one the
    app shows) and ``chosen`` (the chosen one of its embedding set).
    """
    shown = current_map(project)
    chosen: dict[str, str | None] = {}
    out = []
    for r in project.maps.all():
        if r.embedding_version not in chosen:
            chosen[r.embedding_version] = project.maps.chosen_id(r.embedding_version)
        out.append(
            {"id": r.id, "embedding_version": r.embedding_version, "method": r.method,
             "params": r.params, "created_at": r.created_at,
             "current": shown is not None and shown.id == r.id,
             "chosen": chosen[r.embedding_version] == r.id}
        )  # fmt: skip
    return out


def use_map(project: Project, map_id: str) -> Map:
    """Makes the stored map ``map_id`` (or a unique prefix) the one the app shows.

    Its embedding set becomes the current one too; both are kept in the project database.

    Raises:
        BpsError: no stored map (or more than one) matches, or its files are gone.
    """
    ids = project.maps.ids()
    found = [i for i in ids if map_id.strip() and i.startswith(map_id.strip())]
    if len(found) != 1:
        what = "no map" if not found else f"{len(found)} maps match"
        listed = ", ".join(found or ids) or "none yet"
        raise BpsError(f"{what} {map_id!r} in this project (maps: {listed})")
    m = load_map_id(project, found[0])
    if m is None:
        raise BpsError(f"map {found[0]}: its array or embedding set is missing; compute it again")
    project.maps.show(m.embedding_version, m.id)
    return m


def load_map_id(project: Project, mid: str) -> Map | None:
    """A stored map by id, or None when its row or array file is missing."""
    record = project.maps.get(mid)
    if record is None or not (project.folder / record.path).is_file():
        return None
    emb = load_embedding_set(project, record.embedding_version)
    if emb is None:
        return None
    xy = load_array(project.folder / record.path, fix=_RECOMPUTE_MAP, ndim=2,
                    rows=len(emb.keys), cols=2, mmap=False)  # fmt: skip
    return Map(mid, record.embedding_version, _stored_config(record.params), emb.keys, xy)


def _stored_config(params: dict[str, Any]) -> MapConfig:
    """The config a map row was computed with; rows from before PCA reduction have none."""
    known = {f.name for f in fields(MapConfig)}
    return MapConfig(**{"pca_dims": 0, **{k: v for k, v in params.items() if k in known}})


def _current(project: Project) -> str | None:
    from bps_core.embeddings.store import current_version

    return current_version(project)


def get_or_compute_map(
    project: Project,
    cfg: MapConfig = MapConfig(),
    embedding: EmbeddingSet | None = None,
    *,
    progress: Progress | None = None,
    make_current: bool = True,
) -> Map:
    """The map of the current (or given) embedding for ``cfg``; computed only when not cached.

    With ``make_current`` it becomes the chosen map of its embedding set (the one the app
    shows while that set is current).

    Raises:
        BpsError: the project has no embeddings yet.
    """
    emb = embedding or load_embedding_set(project)
    if emb is None:
        raise BpsError("no embeddings yet: compute them first (bps-labeler embed PROJECT_DIR)")
    try:
        cached = load_map(project, cfg, emb.version)
    except DamagedArrayError:
        cached = None  # recomputed below, replacing the damaged file
    if cached is not None:
        if make_current:
            _choose(project, cached)
        if progress is not None:
            progress(1.0)
        return cached
    xy = compute_map(emb.vectors, cfg, progress)
    mid = map_id(emb.version, cfg, n_points=len(emb.keys))
    with atomic_path(project.arrays_dir / "maps" / f"{mid}.npy", suffix=".npy") as tmp:
        np.save(tmp, xy)
    record = MapRecord(mid, emb.version, cfg.method, map_params(len(emb.keys), cfg),
                       f"arrays/maps/{mid}.npy", utc_now())  # fmt: skip
    project.maps.add(record, make_chosen=make_current)
    return Map(mid, emb.version, cfg, emb.keys, xy)


def _choose(project: Project, m: Map) -> None:
    project.maps.choose(m.embedding_version, m.id)


def warm_up_umap() -> None:
    """Compiles UMAP's numba kernels (25-40 s in a new process) on a small random set.

    4,500 points: above 4,096 UMAP switches from exact distances to NN-descent, whose kernels
    are the slowest to compile, so the warm-up must take that path too.
    """
    rng = np.random.default_rng(0)
    fit_umap(rng.normal(size=(4_500, 8)).astype(np.float32), MapConfig(n_epochs=5, pca_dims=0))

"""2-D maps of embeddings (UMAP, PCA), seeded and cached per embedding version and parameters.

- [0] McInnes, Healy & Melville, 2018, UMAP, https://arxiv.org/abs/1802.03426
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from sklearn.decomposition import PCA

from bps_core.embeddings.store import EmbeddingSet, load_embedding_set
from bps_core.errors import BpsError
from bps_core.project import db
from bps_core.project.store import Project, utc_now

if TYPE_CHECKING:
    from bps_core.jobs import JobContext

MAP_METHODS = ("umap", "pca")
Progress = Callable[[float], None]


@dataclass(frozen=True)
class MapConfig:
    """Map parameters. ``n_epochs`` None lets UMAP choose (200 above 10k points, else 500).

    The defaults (PCA initialisation, 150 epochs) come from bench/bench_umap.py: against
    UMAP's spectral initialisation and 200 epochs they halve the time on 77k embeddings with
    the same trustworthiness and 15-NN preservation.
    """

    method: str = "umap"
    n_neighbors: int = 15
    min_dist: float = 0.1
    n_epochs: int | None = 150
    init: str = "pca"
    seed: int = 0

    def validate(self) -> None:
        if self.method not in MAP_METHODS:
            raise ValueError(f"map method {self.method!r}: choose one of {', '.join(MAP_METHODS)}")
        if self.n_neighbors < 2 or not 0.0 <= self.min_dist <= 1.0:
            raise ValueError("n_neighbors must be >= 2 and min_dist in [0, 1]")
        if self.init not in ("pca", "spectral", "random"):
            raise ValueError(f"init must be pca, spectral or random, got {self.init!r}")


@dataclass(frozen=True)
class Map:
    """2-D coordinates of shape (n, 2); row i belongs to ``keys[i]``."""

    id: str
    embedding_version: str
    config: MapConfig
    keys: list[str]
    xy: NDArray[np.float32]


def fit_pca(vectors: NDArray[np.floating[Any]], seed: int = 0) -> NDArray[np.float32]:
    out: NDArray[np.float32] = (
        PCA(n_components=2, random_state=seed).fit_transform(vectors).astype(np.float32)
    )
    return out


def fit_umap(vectors: NDArray[np.floating[Any]], cfg: MapConfig) -> NDArray[np.float32]:
    """UMAP to 2-D with cosine distances, seeded by ``cfg.seed``."""
    import umap  # numba compilation makes the first import slow; keep it off module import

    n = len(vectors)
    if n <= 3:
        raise BpsError(f"UMAP needs more than 3 samples, got {n}; use the PCA map")
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=min(cfg.n_neighbors, n - 1),
        min_dist=cfg.min_dist,
        metric="cosine",
        n_epochs=cfg.n_epochs,
        init=cfg.init,
        random_state=cfg.seed,
        n_jobs=1,  # a seed makes UMAP single-threaded anyway; saying so silences its warning
    )
    out: NDArray[np.float32] = np.asarray(
        reducer.fit_transform(np.asarray(vectors, dtype=np.float32)), dtype=np.float32
    )
    return out


def compute_map(vectors: NDArray[np.floating[Any]], cfg: MapConfig) -> NDArray[np.float32]:
    """2-D coordinates of ``vectors`` with the configured method."""
    cfg.validate()
    return fit_umap(vectors, cfg) if cfg.method == "umap" else fit_pca(vectors, cfg.seed)


def map_id(embedding_version: str, cfg: MapConfig) -> str:
    payload = json.dumps([embedding_version, asdict(cfg)], sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()[:12]


def load_map(project: Project, cfg: MapConfig, embedding_version: str | None = None) -> Map | None:
    """The cached map for the current (or given) embedding and ``cfg``, or None."""
    emb_version = embedding_version or _current(project)
    if emb_version is None:
        return None
    mid = map_id(emb_version, cfg)
    row = project.conn.execute("SELECT path FROM maps WHERE id = ?", (mid,)).fetchone()
    if row is None or not (project.folder / row[0]).is_file():
        return None
    emb = load_embedding_set(project, emb_version)
    assert emb is not None
    return Map(mid, emb_version, cfg, emb.keys, np.load(project.folder / row[0]))


def _current(project: Project) -> str | None:
    from bps_core.embeddings.store import current_version

    return current_version(project)


def get_or_compute_map(
    project: Project, cfg: MapConfig = MapConfig(), embedding: EmbeddingSet | None = None
) -> Map:
    """The map of the current embedding for ``cfg``; computed only when not cached.

    Raises:
        BpsError: the project has no embeddings yet.
    """
    emb = embedding or load_embedding_set(project)
    if emb is None:
        raise BpsError("no embeddings yet: compute them first (bps-labeler embed PROJECT_DIR)")
    cached = load_map(project, cfg, emb.version)
    if cached is not None:
        return cached
    xy = compute_map(emb.vectors, cfg)
    mid = map_id(emb.version, cfg)
    folder = project.arrays_dir / "maps"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{mid}.tmp.npy"
    np.save(tmp, xy)
    tmp.replace(folder / f"{mid}.npy")

    def tx(c: sqlite3.Connection) -> None:
        c.execute(
            "INSERT OR REPLACE INTO maps (id, embedding_version, method, params_json, path, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (mid, emb.version, cfg.method, json.dumps(asdict(cfg), sort_keys=True),
             f"arrays/maps/{mid}.npy", utc_now()),
        )  # fmt: skip

    db.write(project.conn, tx)
    return Map(mid, emb.version, cfg, emb.keys, xy)


def run_map_job(project: Project, params: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Job entry point: compute (or reuse) the map for ``params``."""
    ctx.progress(0.05, "computing the map", force=True)
    m = get_or_compute_map(project, MapConfig(**params))
    return {"map_id": m.id, "embedding_version": m.embedding_version, "n": len(m.keys)}


def warm_up_umap() -> None:
    """Compiles UMAP's numba kernels (25-40 s in a new process) on a tiny random set."""
    rng = np.random.default_rng(0)
    fit_umap(rng.normal(size=(64, 8)).astype(np.float32), MapConfig(n_epochs=5))

"""Embedding sets stored in the project: vectors, their sample keys and a version record."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bps_core.arrays import load_array, load_keys
from bps_core.atomic import atomic_path, atomic_write_text
from bps_core.project import db
from bps_core.project.store import Project, utc_now

CURRENT_KEY = "current_embedding"
RECOMPUTE = "recompute the embeddings ('bps-labeler embed PROJECT_DIR' or the Embeddings page)"


@dataclass(frozen=True)
class EmbeddingSet:
    """L2-normalised vectors of shape (n, dim); row i belongs to sample ``keys[i]``."""

    version: str
    method: str
    params: dict[str, Any]
    keys: list[str]
    vectors: NDArray[np.float32]
    checkpoint_sha: str | None = None
    quality: dict[str, Any] = field(default_factory=dict)


def l2_normalise(x: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: NDArray[np.float32] = x / np.maximum(norms, 1e-12)
    return out


def embedding_version(
    method: str, params: dict[str, Any], checkpoint_sha: str | None, keys: list[str]
) -> str:
    """A short hash of what determines the vectors."""
    h = hashlib.sha256(json.dumps([method, params, checkpoint_sha], sort_keys=True).encode())
    h.update("\n".join(keys).encode())
    return h.hexdigest()[:12]


def save_embedding_set(
    project: Project,
    method: str,
    params: dict[str, Any],
    keys: list[str],
    vectors: NDArray[np.floating[Any]],
    *,
    checkpoint_sha: str | None = None,
    quality: dict[str, Any] | None = None,
    make_current: bool = True,
) -> EmbeddingSet:
    """Writes the vectors (L2-normalised) and records the version; by default makes it current."""
    if len(keys) != len(vectors):
        raise ValueError(f"{len(keys)} keys for {len(vectors)} vectors")
    vecs = l2_normalise(vectors)
    version = embedding_version(method, params, checkpoint_sha, keys)
    folder = project.arrays_dir / "embeddings"
    # Keys first: vectors without their keys file would be unreadable; keys without vectors
    # are simply rewritten next time. Each write is atomic and uniquely named (two processes
    # computing the same version never share a temp file).
    atomic_write_text(folder / f"{version}.keys.json", json.dumps(keys))
    with atomic_path(folder / f"{version}.npy", suffix=".npy") as tmp:
        np.save(tmp, vecs)
    rel = f"arrays/embeddings/{version}.npy"

    def tx(c: sqlite3.Connection) -> None:
        c.execute(
            "INSERT OR REPLACE INTO embeddings (version, method, params_json, checkpoint_sha, "
            "n_samples, dim, path, quality_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (version, method, json.dumps(params, sort_keys=True), checkpoint_sha, len(keys),
             vecs.shape[1], rel, json.dumps(quality or {}), utc_now()),
        )  # fmt: skip
        if make_current:
            c.execute(
                "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (CURRENT_KEY, version)
            )

    db.write(project.conn, tx)
    return EmbeddingSet(version, method, params, keys, vecs, checkpoint_sha, quality or {})


def current_version(project: Project) -> str | None:
    row = project.conn.execute("SELECT value FROM settings WHERE key = ?", (CURRENT_KEY,))
    found = row.fetchone()
    return str(found[0]) if found else None


def load_embedding_set(project: Project, version: str | None = None) -> EmbeddingSet | None:
    """The embedding set ``version`` (default: the current one), or None when there is none."""
    version = version or current_version(project)
    if version is None:
        return None
    row = project.conn.execute(
        "SELECT method, params_json, checkpoint_sha, path, quality_json FROM embeddings "
        "WHERE version = ?",
        (version,),
    ).fetchone()
    if row is None:
        return None
    method, params, sha, rel, quality = row
    path = project.folder / rel
    vectors = load_array(path, fix=RECOMPUTE, ndim=2)
    keys = load_keys(path.with_name(f"{version}.keys.json"), fix=RECOMPUTE, n=len(vectors))
    return EmbeddingSet(
        version, method, json.loads(params), keys, vectors, sha, json.loads(quality)
    )


def list_embedding_sets(project: Project) -> list[dict[str, Any]]:
    rows = project.conn.execute(
        "SELECT version, method, n_samples, dim, created_at, quality_json FROM embeddings "
        "ORDER BY created_at DESC"
    ).fetchall()
    current = current_version(project)
    return [
        {"version": v, "method": m, "samples": n, "dim": d, "created_at": t,
         "quality": json.loads(q), "current": v == current}
        for v, m, n, d, t, q in rows
    ]  # fmt: skip

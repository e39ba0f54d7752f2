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
from bps_core.errors import BpsError
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
    """The version of the current embedding set (the user's choice, persisted), or None."""
    row = project.conn.execute("SELECT value FROM settings WHERE key = ?", (CURRENT_KEY,))
    found = row.fetchone()
    return str(found[0]) if found else None


def resolve_version(project: Project, version: str) -> str:
    """The full version of a stored embedding set named by its version or a unique prefix.

    Raises:
        BpsError: no set, or more than one, starts with ``version``.
    """
    version = version.strip()
    stored = [str(v) for (v,) in project.conn.execute("SELECT version FROM embeddings")]
    found = sorted(v for v in stored if version and v.startswith(version))
    if len(found) == 1:
        return found[0]
    if not found:
        listed = ", ".join(sorted(stored)) or "none yet"
        raise BpsError(f"no embedding set {version!r} in this project (stored: {listed})")
    raise BpsError(f"{version!r} names {len(found)} embedding sets ({', '.join(found)}): give more")


def set_current_version(project: Project, version: str) -> str:
    """Makes the stored embedding set ``version`` (or a unique prefix) the current one.

    Maps, neighbours, selection and models then use it; the choice is kept in the project
    database, so it survives restarts. Returns the full version.
    """
    full = resolve_version(project, version)
    db.write(
        project.conn,
        lambda c: c.execute(
            "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (CURRENT_KEY, full)
        ),
    )
    return full


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
    """Every stored set, newest first, with ``current`` True for the current one."""
    rows = project.conn.execute(
        "SELECT version, method, n_samples, dim, created_at, quality_json, params_json "
        "FROM embeddings ORDER BY created_at DESC, version"
    ).fetchall()
    current = current_version(project)
    return [
        {"version": v, "method": m, "samples": n, "dim": d, "created_at": t,
         "quality": json.loads(q), "params": json.loads(p), "current": v == current}
        for v, m, n, d, t, q, p in rows
    ]  # fmt: skip

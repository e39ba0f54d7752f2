"""Embedding sets stored in the project: vectors, their sample keys and a version record."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bps_core.arrays import load_array, load_keys
from bps_core.atomic import atomic_path, atomic_write_text
from bps_core.errors import BpsError
from bps_core.project.embedding_sets import EmbeddingSetRecord
from bps_core.project.store import Project, utc_now

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
    """Returns ``x`` as float32 with every row scaled to unit length (all-zero rows stay zero)."""
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
    record = EmbeddingSetRecord(version, method, params, checkpoint_sha, len(keys),
                                int(vecs.shape[1]), rel, utc_now(), quality or {})  # fmt: skip
    project.embedding_sets.add(record, make_current=make_current)
    return EmbeddingSet(version, method, params, keys, vecs, checkpoint_sha, quality or {})


def current_version(project: Project) -> str | None:
    """The version of the current embedding set (the user's choice, persisted), or None."""
    return project.embedding_sets.current_version()


def resolve_version(project: Project, version: str) -> str:
    """The full version of a stored embedding set named by its version or a unique prefix.

    Raises:
        BpsError: no set, or more than one, starts with ``version``.
    """
    version = version.strip()
    stored = project.embedding_sets.versions()
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
    project.embedding_sets.set_current(full)
    return full


def load_embedding_set(project: Project, version: str | None = None) -> EmbeddingSet | None:
    """The embedding set ``version`` (default: the current one), or None when there is none."""
    version = version or current_version(project)
    if version is None:
        return None
    record = project.embedding_sets.get(version)
    if record is None:
        return None
    path = project.folder / record.path
    vectors = load_array(path, fix=RECOMPUTE, ndim=2)
    keys = load_keys(path.with_name(f"{version}.keys.json"), fix=RECOMPUTE, n=len(vectors))
    return EmbeddingSet(version, record.method, record.params, keys, vectors,
                        record.checkpoint_sha, record.quality)  # fmt: skip


def list_embedding_sets(project: Project) -> list[dict[str, Any]]:
    """Every stored set, newest first, with ``current`` True for the current one."""
    current = current_version(project)
    return [
        {"version": r.version, "method": r.method, "samples": r.n_samples, "dim": r.dim,
         "created_at": r.created_at, "quality": r.quality, "params": r.params,
         "current": r.version == current}
        for r in project.embedding_sets.all()
    ]  # fmt: skip

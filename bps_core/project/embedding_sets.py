"""The records of the embedding sets stored in a project (their vectors are array files)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bps_core.project import db
from bps_core.project.settings import CURRENT_EMBEDDING_KEY, get_setting, put_setting


@dataclass(frozen=True)
class EmbeddingSetRecord:
    """One stored embedding set: how it was computed and where its vectors are.

    Attributes:
        version: Hash of method, parameters, checkpoint and sample keys.
        method: Embedding method (pixels, simclr, ...).
        params: Method parameters.
        checkpoint_sha: The backbone checkpoint, for learned embeddings.
        n_samples: Number of vectors.
        dim: Vector dimension.
        path: The vectors' ``.npy`` file, relative to the project folder.
        quality: Quality figures computed with the set.
        created_at: UTC ISO timestamp.
    """

    version: str
    method: str
    params: dict[str, Any]
    checkpoint_sha: str | None
    n_samples: int
    dim: int
    path: str
    created_at: str
    quality: dict[str, Any] = field(default_factory=dict)


_COLUMNS = (
    "version, method, params_json, checkpoint_sha, n_samples, dim, path, created_at, quality_json"
)


def _record(row: tuple[Any, ...]) -> EmbeddingSetRecord:
    version, method, params, sha, n, dim, path, created, quality = row
    return EmbeddingSetRecord(str(version), str(method), json.loads(params), sha, int(n),
                              int(dim), str(path), str(created), json.loads(quality))  # fmt: skip


class EmbeddingSets:
    """The ``embeddings`` table and the current-set setting.

    Reached as ``Project.embedding_sets``.
    """

    def __init__(self, conn: db.Connection) -> None:
        self._conn = conn

    def add(self, record: EmbeddingSetRecord, *, make_current: bool) -> None:
        """Records (or replaces) an embedding set.

        With ``make_current`` it also becomes the current set, in the same transaction.
        """

        def tx(c: db.Connection) -> None:
            c.execute(
                db.upsert_sql("embeddings", _COLUMNS, "version"),
                (record.version, record.method, json.dumps(record.params, sort_keys=True),
                 record.checkpoint_sha, record.n_samples, record.dim, record.path,
                 record.created_at, json.dumps(record.quality)),
            )  # fmt: skip
            if make_current:
                put_setting(c, CURRENT_EMBEDDING_KEY, record.version)

        db.write(self._conn, tx)

    def get(self, version: str) -> EmbeddingSetRecord | None:
        """The record of set ``version`` (full version), or None."""
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM embeddings WHERE version = ?",  # noqa: S608
            (version,),
        ).fetchone()
        return _record(row) if row else None

    def all(self) -> list[EmbeddingSetRecord]:
        """Every stored set, newest first."""
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM embeddings ORDER BY created_at DESC, version"  # noqa: S608
        ).fetchall()
        return [_record(r) for r in rows]

    def versions(self) -> list[str]:
        """The versions of every stored set (in no particular order)."""
        return [str(v) for (v,) in self._conn.execute("SELECT version FROM embeddings")]

    def current_version(self) -> str | None:
        """The version of the current set (the user's choice, persisted), or None."""
        return get_setting(self._conn, CURRENT_EMBEDDING_KEY)

    def set_current(self, version: str) -> None:
        """Makes ``version`` (a full version) the current set."""
        db.write(self._conn, lambda c: put_setting(c, CURRENT_EMBEDDING_KEY, version))

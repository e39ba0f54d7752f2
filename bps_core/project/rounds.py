"""The records of trained models and selection rounds stored in a project."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bps_core.errors import SamplesTakenError, UnknownSampleError
from bps_core.project import db
from bps_core.project.keys import sample_ids


@dataclass(frozen=True)
class ModelRecord:
    """A model trained on the labels; its probabilities are an array file.

    Attributes:
        id: Random hex id.
        kind: Model kind (logreg, knn, finetune).
        embedding_version: The embedding set it was trained and predicts on.
        classes: Class names, the columns of its probabilities.
        n_labeled: Labels it was trained on.
        metrics: Cross-validated figures.
        created_at: UTC ISO timestamp.
    """

    id: str
    kind: str
    embedding_version: str
    classes: list[str]
    n_labeled: int
    metrics: dict[str, Any]
    created_at: str


@dataclass(frozen=True)
class Round:
    """A recorded selection round.

    Attributes:
        id: Round number (1, 2, ...).
        strategy: Strategy name, or ``lightly-config``.
        config: The configuration it ran with.
        seed: Its random seed.
        keys: The selected samples, in rank order.
        user: Who recorded it.
        created_at: UTC ISO timestamp.
        model_before: The model whose predictions it used.
        model_after: The first model trained once its samples were labeled.
    """

    id: int
    strategy: str
    config: dict[str, Any]
    seed: int | None
    keys: list[str]
    user: str
    created_at: str
    model_before: str | None
    model_after: str | None


class Models:
    """The ``models`` table; reached as ``Project.models``."""

    def __init__(self, conn: db.Connection) -> None:
        self._conn = conn

    def add(self, record: ModelRecord, *, params: dict[str, Any], path: str, user: str) -> None:
        """Records a trained model, ``path`` relative to the project folder.

        In the same transaction it becomes the ``model_after`` of every round still waiting for
        one whose good samples are all labeled now.
        """

        def tx(c: db.Connection) -> None:
            c.execute(
                "INSERT INTO models (id, kind, params_json, embedding_version, classes_json, "
                "n_labeled, metrics_json, path, user, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (record.id, record.kind, json.dumps(params), record.embedding_version,
                 json.dumps(record.classes), record.n_labeled, json.dumps(record.metrics), path,
                 user, record.created_at),
            )  # fmt: skip
            # A round's "after" model is the first one trained once all its samples (the good
            # ones) are labeled: a model trained before then says nothing about its labels.
            c.execute(
                "UPDATE rounds SET model_after = ? WHERE model_after IS NULL AND NOT EXISTS ("
                "SELECT 1 FROM round_samples rs JOIN samples s ON s.id = rs.sample_id "
                "WHERE rs.round_id = rounds.id AND s.status = 'ok' AND rs.sample_id NOT IN "
                "(SELECT sample_id FROM current_labels))",
                (record.id,),
            )

        db.write(self._conn, tx)

    def all(self) -> list[ModelRecord]:
        """Every model, oldest first."""
        rows = self._conn.execute(
            "SELECT id, kind, embedding_version, classes_json, n_labeled, metrics_json, "
            "created_at FROM models ORDER BY created_at, rowid"
        ).fetchall()
        return [
            ModelRecord(r[0], r[1], r[2], json.loads(r[3]), r[4], json.loads(r[5]), r[6])
            for r in rows
        ]

    def path(self, model_id: str) -> str | None:
        """The probabilities file of ``model_id``, relative to the project folder, or None."""
        row = self._conn.execute("SELECT path FROM models WHERE id = ?", (model_id,)).fetchone()
        return str(row[0]) if row else None


class Rounds:
    """The ``rounds`` and ``round_samples`` tables; reached as ``Project.rounds``."""

    def __init__(self, conn: db.Connection) -> None:
        self._conn = conn

    def add(
        self,
        *,
        strategy: str,
        config: dict[str, Any],
        seed: int | None,
        keys: Sequence[str],
        embedding_version: str,
        model_before: str | None,
        user: str,
        created_at: str,
        fresh_only: bool = False,
    ) -> int:
        """Records a round and its samples in rank order, in one transaction; returns its id.

        ``fresh_only``: refuse samples any recorded round holds, checked inside the write
        transaction (two sessions accepting previews made at the same time picked the same
        samples; the second round repeated the first).

        Raises:
            UnknownSampleError: a key is no longer in the project; nothing is written.
            SamplesTakenError: with ``fresh_only``, an earlier round holds some of the samples;
                nothing is written.
        """

        def tx(c: db.Connection) -> int:
            ids = sample_ids(c, keys)
            missing = [k for k in keys if k not in ids]
            if missing:
                raise UnknownSampleError(missing)
            if fresh_only:
                held = dict(c.execute(
                    "SELECT sample_id, MIN(round_id) FROM round_samples GROUP BY sample_id"
                ).fetchall())  # fmt: skip
                taken = [k for k in keys if ids[k] in held]  # in the round's order
                if taken:
                    raise SamplesTakenError(taken, sorted({int(held[ids[k]]) for k in taken}))
            cur = c.execute(
                "INSERT INTO rounds (strategy, config_json, seed, n_selected, embedding_version, "
                "model_before, user, created_at) VALUES (?,?,?,?,?,?,?,?) RETURNING id",
                (strategy, json.dumps(config), seed, len(keys), embedding_version, model_before,
                 user, created_at),
            )  # fmt: skip
            round_id = int(cur.fetchone()[0])
            c.executemany(
                "INSERT INTO round_samples (round_id, sample_id, rank) VALUES (?, ?, ?)",
                [(round_id, ids[k], rank) for rank, k in enumerate(keys)],
            )
            return round_id

        return db.write(self._conn, tx)

    def all(self) -> list[Round]:
        """Every round with its samples, oldest first."""
        rows = self._conn.execute(
            "SELECT id, strategy, config_json, seed, user, created_at, model_before, model_after "
            "FROM rounds ORDER BY id"
        ).fetchall()
        return [Round(r[0], r[1], json.loads(r[2]), r[3], self.keys(r[0]), r[4], r[5], r[6], r[7])
                for r in rows]  # fmt: skip

    def ids(self) -> list[int]:
        """The ids of every round, in order."""
        return [int(i) for (i,) in self._conn.execute("SELECT id FROM rounds ORDER BY id")]

    def count(self) -> int:
        """How many rounds were recorded."""
        return int(self._conn.execute("SELECT COUNT(*) FROM rounds").fetchone()[0])

    def keys(self, round_id: int) -> list[str]:
        """The samples round ``round_id`` selected, in rank order (empty: no such round)."""
        rows = self._conn.execute(
            "SELECT s.key FROM round_samples rs JOIN samples s ON s.id = rs.sample_id "
            "WHERE rs.round_id = ? ORDER BY rs.rank",
            (round_id,),
        ).fetchall()
        return [str(k) for (k,) in rows]

    def selected_keys(self) -> set[str]:
        """Every sample that any round selected."""
        rows = self._conn.execute(
            "SELECT DISTINCT s.key FROM round_samples rs JOIN samples s ON s.id = rs.sample_id"
        ).fetchall()
        return {str(k) for (k,) in rows}

    def latest_round_of(self) -> dict[str, int]:
        """Per selected sample, the latest round that selected it."""
        rows = self._conn.execute(
            "SELECT s.key, MAX(rs.round_id) FROM round_samples rs JOIN samples s "
            "ON s.id = rs.sample_id GROUP BY s.key"
        ).fetchall()
        return {str(k): int(r) for k, r in rows}

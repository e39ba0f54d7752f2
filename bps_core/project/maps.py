"""The records of the 2-D maps stored in a project (their coordinates are array files)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bps_core.project import db
from bps_core.project.settings import (
    CURRENT_EMBEDDING_KEY,
    CURRENT_MAP_PREFIX,
    get_setting,
    put_setting,
)


@dataclass(frozen=True)
class MapRecord:
    """One stored map.

    Attributes:
        id: Hash of embedding version, method and parameters.
        embedding_version: The embedding set it maps.
        method: ``umap`` or ``pca``.
        params: The map parameters as stored (older rows lack newer fields).
        path: The coordinates' ``.npy`` file, relative to the project folder.
        created_at: UTC ISO timestamp.
    """

    id: str
    embedding_version: str
    method: str
    params: dict[str, Any]
    path: str
    created_at: str


_COLUMNS = "id, embedding_version, method, params_json, path, created_at"


def _record(row: tuple[Any, ...]) -> MapRecord:
    mid, version, method, params, path, created = row
    return MapRecord(str(mid), str(version), str(method), json.loads(params), str(path),
                     str(created))  # fmt: skip


class Maps:
    """The ``maps`` table and each embedding set's chosen map; reached as ``Project.maps``."""

    def __init__(self, conn: db.Connection) -> None:
        self._conn = conn

    def add(self, record: MapRecord, *, make_chosen: bool) -> None:
        """Records (or replaces) a map.

        With ``make_chosen`` it also becomes the chosen map of its embedding set, in the same
        transaction.
        """

        def tx(c: db.Connection) -> None:
            c.execute(
                db.upsert_sql("maps", _COLUMNS, "id"),
                (record.id, record.embedding_version, record.method,
                 json.dumps(record.params, sort_keys=True), record.path, record.created_at),
            )  # fmt: skip
            if make_chosen:
                put_setting(c, CURRENT_MAP_PREFIX + record.embedding_version, record.id)

        db.write(self._conn, tx)

    def get(self, map_id: str) -> MapRecord | None:
        """The record of map ``map_id`` (full id), or None."""
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM maps WHERE id = ?",  # noqa: S608
            (map_id,),
        ).fetchone()
        return _record(row) if row else None

    def all(self) -> list[MapRecord]:
        """Every stored map, newest first."""
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM maps ORDER BY created_at DESC, id"  # noqa: S608
        ).fetchall()
        return [_record(r) for r in rows]

    def ids(self) -> list[str]:
        """The ids of every stored map, sorted."""
        return [str(i) for (i,) in self._conn.execute("SELECT id FROM maps ORDER BY id")]

    def latest_id(self, embedding_version: str) -> str | None:
        """The id of the most recently computed map of ``embedding_version``, or None."""
        row = self._conn.execute(
            "SELECT id FROM maps WHERE embedding_version = ? ORDER BY created_at DESC, id LIMIT 1",
            (embedding_version,),
        ).fetchone()
        return str(row[0]) if row else None

    def chosen_id(self, embedding_version: str) -> str | None:
        """The id of the chosen map of ``embedding_version`` (it may since be gone), or None."""
        return get_setting(self._conn, CURRENT_MAP_PREFIX + embedding_version)

    def choose(self, embedding_version: str, map_id: str) -> None:
        """Makes ``map_id`` the chosen map of ``embedding_version``."""
        db.write(self._conn, lambda c: put_setting(c, CURRENT_MAP_PREFIX + embedding_version,
                                                   map_id))  # fmt: skip

    def show(self, embedding_version: str, map_id: str) -> None:
        """Makes ``map_id`` of ``embedding_version`` the map the app shows.

        In one transaction, ``embedding_version`` becomes the current embedding set and
        ``map_id`` its chosen map.
        """

        def tx(c: db.Connection) -> None:
            put_setting(c, CURRENT_EMBEDDING_KEY, embedding_version)
            put_setting(c, CURRENT_MAP_PREFIX + embedding_version, map_id)

        db.write(self._conn, tx)

"""Moving a project's database from SQLite to PostgreSQL (``bps-labeler migrate --to``).

Every table is copied with its ids (the label log, its history, undo records, rounds, jobs),
in one PostgreSQL transaction, then checked: the same number of rows and the same SHA-256 of
every table's rows, read back from the server. Only then does ``project.toml`` name the
server, and ``project.db`` is renamed so nothing writes to it by mistake.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bps_core.errors import ProjectError
from bps_core.project import db
from bps_core.project.store import DB_NAME, Project, _refuse_used_database

#: Tables in the order their rows are copied (referenced tables first), with the columns that
#: order their rows. ``schema_version``, ``samples_version``, ``sample_changes`` and
#: ``samples_frame_stamps`` belong to each database (its own history of sample changes).
TABLES: tuple[tuple[str, str], ...] = (
    ("datasources", "id"),
    ("samples", "id"),
    ("label_classes", "id"),
    ("label_events", "id"),
    ("ingest_problems", "id"),
    ("jobs", "id"),
    ("embeddings", "version"),
    ("maps", "id"),
    ("settings", "key"),
    ("label_actions", "rowid"),
    ("models", "rowid"),
    ("rounds", "id"),
    ("round_samples", "round_id, sample_id"),
    ("label_assignments", "sample_id, user"),
    ("label_reviews", "id"),
    ("tag_events", "id"),
    ("image_stats", "sample_id"),
)
#: Tables whose implicit SQLite rowid is an explicit ``rowid`` column on PostgreSQL.
_ROWID_TABLES = ("label_actions", "models")
#: Tables with an identity ``id`` column (its sequence continues after the copied ids).
_ID_TABLES = ("samples", "label_classes", "label_events", "ingest_problems", "rounds",
              "label_reviews", "tag_events")  # fmt: skip
#: Name of ``project.db`` once its rows live on the server.
MOVED_SUFFIX = ".moved-to-postgresql"
_BATCH = 5_000


@dataclass(frozen=True)
class MoveReport:
    """What ``move_to_postgresql`` copied and checked.

    Attributes:
        url: The database the project now uses.
        rows: Rows per table, equal on both sides.
        checksums: SHA-256 of each table's rows, equal on both sides.
        old_database: Where ``project.db`` was moved to.
    """

    url: str
    rows: dict[str, int]
    checksums: dict[str, str]
    old_database: Path


def _columns(conn: db.Connection, table: str) -> list[str]:
    cols = [str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")]
    return (["rowid"] if table in _ROWID_TABLES else []) + cols


def _rows(conn: db.Connection, table: str, columns: list[str], order: str) -> list[tuple[Any, ...]]:
    cols = ", ".join(columns)
    return [tuple(r) for r in conn.execute(f"SELECT {cols} FROM {table} ORDER BY {order}")]  # noqa: S608


def _digest(rows: list[tuple[Any, ...]]) -> str:
    h = hashlib.sha256()
    for row in rows:
        h.update(repr(tuple(float(v) if isinstance(v, float) else v for v in row)).encode())
        h.update(b"\n")
    return h.hexdigest()


def move_to_postgresql(
    project_dir: str | Path,
    url: str,
    progress: Callable[[float], None] | None = None,
) -> MoveReport:
    """Copies an SQLite project's database to an empty PostgreSQL database and switches to it.

    Stop the app servers and jobs of the project first: a label written to ``project.db``
    during the copy would stay behind. The project's folder (config, arrays) stays where it is.

    Args:
        project_dir: The project folder (its database must be SQLite's ``project.db``).
        url: ``postgresql://USER@HOST:PORT/DBNAME`` of an empty database, no password in it.
        progress: Called with the fraction done.

    Returns:
        The tables' row counts and checksums, equal on both sides.

    Raises:
        ProjectError: the project is on PostgreSQL already or has active jobs, the URL holds a
            password, the server cannot be reached or its database holds a project, or the
            copy differs (then ``project.toml`` is left unchanged).
    """
    report = progress or (lambda _f: None)
    with Project.open(project_dir) as project:
        if project.config.database_url:
            raise ProjectError(
                f"{project.folder} already keeps its database on PostgreSQL "
                f"({project.config.database_url})"
            )
        if project.read_only:
            raise db.read_only_error()
        src = project._conn
        active = src.execute("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')")
        if int(active.fetchone()[0]):
            raise ProjectError(
                "the project has queued or running jobs: wait for them (or cancel them), stop "
                "the app servers, then migrate"
            )
        dst = db.connect_url(url)
        try:
            _refuse_used_database(dst, url)
            db.migrate(dst)
            src.execute("BEGIN IMMEDIATE")  # no writer changes project.db while it is copied
            try:
                rows, checksums = _copy(src, dst, report)
            finally:
                src.execute("ROLLBACK")
        finally:
            dst.close()
        config = replace(project.config, database_url=url)
        folder = project.folder
    config.save(folder)  # the server holds every row, checked: the project now uses it
    old = folder / DB_NAME
    moved = old.with_name(DB_NAME + MOVED_SUFFIX)
    os.replace(old, moved)
    for extra in ("-wal", "-shm"):
        Path(str(old) + extra).unlink(missing_ok=True)
    report(1.0)
    return MoveReport(url, rows, checksums, moved)


def _copy(
    src: db.Connection, dst: db.Connection, report: Callable[[float], None]
) -> tuple[dict[str, int], dict[str, str]]:
    """Copies every table in one transaction on ``dst``, then compares counts and checksums."""
    plan = [(t, order, _columns(src, t)) for t, order in TABLES]
    data = {t: _rows(src, t, cols, order) for t, order, cols in plan}
    total = max(1, sum(len(r) for r in data.values()))
    done = 0

    def tx(c: db.Connection) -> None:
        nonlocal done
        for table, _order, cols in plan:
            marks = ", ".join("?" * len(cols))
            sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})"  # noqa: S608
            rows = data[table]
            for i in range(0, len(rows), _BATCH):
                c.executemany(sql, rows[i : i + _BATCH])
                done += len(rows[i : i + _BATCH])
                report(0.9 * done / total)
            if table in _ID_TABLES or table in _ROWID_TABLES:
                col = "rowid" if table in _ROWID_TABLES else "id"
                c.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{col}'), "  # noqa: S608
                    f"COALESCE((SELECT MAX({col}) FROM {table}), 0) + 1, false)"
                )

    db.write(dst, tx)
    report(0.95)
    counts: dict[str, int] = {}
    sums: dict[str, str] = {}
    for table, order, cols in plan:
        back = _rows(dst, table, cols, order)
        mine, theirs = _digest(data[table]), _digest(back)
        if len(back) != len(data[table]) or mine != theirs:
            raise ProjectError(
                f"the copy of table {table} differs ({len(data[table])} rows here, {len(back)} "
                "on the server): project.toml is unchanged and the project still uses project.db; "
                "drop and recreate the PostgreSQL database, then retry"
            )
        counts[table], sums[table] = len(back), theirs
    return counts, sums

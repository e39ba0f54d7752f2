"""The job table: every SQL statement about background jobs (``bps_core.jobs`` runs them).

At most one job of a kind is active (queued or running) at a time: a unique partial index
enforces it, so two submissions racing for the same kind cannot both be recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bps_core.project import db
from bps_core.project.store import Project, utc_now

#: The states of a job that is not finished.
ACTIVE = ("queued", "running")

_COLUMNS = (
    "id, kind, params_json, state, progress, message, metrics_json, result_json, error, user, "
    "pid, created_at, started_at, finished_at"
)


@dataclass(frozen=True)
class JobRecord:
    """One row of the job table.

    Attributes:
        id: The job id (12 hex digits).
        kind: The job kind (``embed``, ``map``, ...).
        params: Its settings as stored (the settings' ``to_params``).
        state: ``queued``, ``running``, ``succeeded``, ``failed`` or ``cancelled``.
        progress: Fraction done, 0..1.
        message: What it is doing now.
        metrics: What it reports along the way (e.g. the loss curve).
        result: What it returned, once succeeded.
        error: Why it failed, as one line.
        user: Who submitted it.
        pid: The process running it, once handed to one.
        created_at, started_at, finished_at: UTC ISO timestamps.
    """

    id: str
    kind: str
    params: dict[str, Any]
    state: str
    progress: float
    message: str
    metrics: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    user: str
    pid: int | None
    created_at: str
    started_at: str | None
    finished_at: str | None

    @property
    def active(self) -> bool:
        """True while queued or running."""
        return self.state in ACTIVE


@dataclass(frozen=True)
class ActiveJob:
    """What the liveness check needs of an active job."""

    id: str
    pid: int | None
    state: str
    created_at: str


def _record(row: tuple[Any, ...]) -> JobRecord:
    (jid, kind, params, state, progress, message, metrics, result, error, user, pid,
     created, started, finished) = row  # fmt: skip
    return JobRecord(
        jid, kind, json.loads(params), state, float(progress), message, json.loads(metrics),
        json.loads(result) if result else None, error, user, pid, created, started, finished,
    )  # fmt: skip


def insert_job(
    project: Project, job_id: str, kind: str, params: dict[str, Any], *, user: str
) -> bool:
    """Records a queued job; False (nothing written) when a job of ``kind`` is active."""

    def tx(c: db.Connection) -> None:
        c.execute(
            "INSERT INTO jobs (id, kind, params_json, state, user, created_at) "
            "VALUES (?, ?, ?, 'queued', ?, ?)",
            (job_id, kind, json.dumps(params, sort_keys=True), user, utc_now()),
        )

    try:
        db.write(project._conn, tx)
    except db.IntegrityError:
        return False
    return True


def find_job(project: Project, job_id: str) -> JobRecord | None:
    """The job ``job_id``, or None when the project has none of that id."""
    row = project._conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return None if row is None else _record(row)


def job_rows(project: Project, kind: str | None = None, limit: int = 50) -> list[JobRecord]:
    """The newest ``limit`` jobs (of ``kind``, if given), newest first."""
    q = f"SELECT {_COLUMNS} FROM jobs"
    args: tuple[Any, ...] = ()
    if kind:
        q += " WHERE kind = ?"
        args = (kind,)
    q += " ORDER BY created_at DESC LIMIT ?"
    return [_record(r) for r in project._conn.execute(q, (*args, limit)).fetchall()]


def active_jobs(project: Project) -> list[ActiveJob]:
    """Every queued or running job, whatever its kind."""
    rows = project._conn.execute(
        "SELECT id, pid, state, created_at FROM jobs WHERE state IN ('queued', 'running')"
    ).fetchall()
    return [ActiveJob(jid, None if pid is None else int(pid), state, created)
            for jid, pid, state, created in rows]  # fmt: skip


def set_pid(project: Project, job_id: str, pid: int) -> None:
    """Records the process a job was handed to (unless the job already recorded its own)."""
    db.write(
        project._conn,
        lambda c: c.execute("UPDATE jobs SET pid = ? WHERE id = ? AND pid IS NULL", (pid, job_id)),
    )


def mark_running(project: Project, job_id: str, pid: int) -> None:
    """Marks a job as started by process ``pid``."""
    now = utc_now()
    db.write(
        project._conn,
        lambda c: c.execute(
            "UPDATE jobs SET state = 'running', pid = ?, started_at = ?, heartbeat_at = ? "
            "WHERE id = ?",
            (pid, now, now, job_id),
        ),
    )


def record_progress(
    project: Project, job_id: str, fraction: float, message: str, metrics: dict[str, Any]
) -> bool:
    """Stores a job's progress, message and metrics; returns whether cancellation was asked."""
    metrics_json = json.dumps(metrics)

    def tx(c: db.Connection) -> int:
        c.execute(
            "UPDATE jobs SET progress = ?, message = ?, metrics_json = ?, heartbeat_at = ? "
            "WHERE id = ?",
            (min(max(fraction, 0.0), 1.0), message, metrics_json, utc_now(), job_id),
        )
        row = c.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return int(row[0]) if row else 0

    return bool(db.write(project._conn, tx))


def finish_job(
    project: Project,
    job_id: str,
    state: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Ends an active job as ``state`` (a finished job is left as it is)."""
    db.write(
        project._conn,
        lambda c: c.execute(
            "UPDATE jobs SET state = ?, result_json = ?, error = ?, finished_at = ?, "
            "progress = CASE WHEN ? = 'succeeded' THEN 1.0 ELSE progress END "
            "WHERE id = ? AND state IN ('queued', 'running')",
            (state, json.dumps(result) if result is not None else None, error, utc_now(),
             state, job_id),
        ),
    )  # fmt: skip


def request_cancel(project: Project, job_id: str) -> None:
    """Flags an active job for cancellation (it stops at its next progress report)."""
    db.write(
        project._conn,
        lambda c: c.execute(
            "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state IN ('queued', 'running')",
            (job_id,),
        ),
    )

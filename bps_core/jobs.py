"""Background jobs: recorded in the project database, run by a detached worker process.

A job survives page changes, reruns and closed browser tabs because it runs in its own process
session (``python -m bps_core.jobs PROJECT_DIR JOB_ID``). It reports progress, a message and
metrics (e.g. the loss curve) to the database, checks for cancellation, and ends as succeeded,
failed (with its error) or cancelled. A job whose process died is marked failed when jobs are
next listed, never left running. At most one job of a kind is active at a time.
"""

from __future__ import annotations

import importlib
import json
import os
import sqlite3
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bps_core.errors import BpsError
from bps_core.project import db
from bps_core.project.store import Project, utc_now

#: Job kinds and the function that runs each: ``fn(project, params, context) -> result dict``.
JOB_KINDS: dict[str, str] = {
    "embed": "bps_core.embeddings.jobs:run_embed_job",
    "map": "bps_core.projection:run_map_job",
    "copy": "bps_core.transfers:run_copy_job",
    "writeback": "bps_core.writeback:run_writeback_job",
    "ingest": "bps_core.project.ingest:run_ingest_job",
}
ACTIVE = ("queued", "running")
_PROGRESS_INTERVAL_S = 0.5
_QUEUED_GRACE_S = 120.0


class JobAlreadyRunning(BpsError):
    """A job of this kind is already queued or running."""


class JobCancelled(BpsError):
    """Raised inside a job when cancellation was requested."""


@dataclass(frozen=True)
class JobRecord:
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
        return self.state in ACTIVE


_COLUMNS = (
    "id, kind, params_json, state, progress, message, metrics_json, result_json, error, user, "
    "pid, created_at, started_at, finished_at"
)


def _record(row: tuple[Any, ...]) -> JobRecord:
    (jid, kind, params, state, progress, message, metrics, result, error, user, pid,
     created, started, finished) = row  # fmt: skip
    return JobRecord(
        jid, kind, json.loads(params), state, float(progress), message, json.loads(metrics),
        json.loads(result) if result else None, error, user, pid, created, started, finished,
    )  # fmt: skip


def get_job(project: Project, job_id: str) -> JobRecord:
    row = project.conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        raise BpsError(f"no job {job_id!r} in this project")
    return _record(row)


def list_jobs(project: Project, kind: str | None = None, limit: int = 50) -> list[JobRecord]:
    """Newest first; jobs whose worker died are marked failed first."""
    reap_dead_jobs(project)
    q = f"SELECT {_COLUMNS} FROM jobs"
    args: tuple[Any, ...] = ()
    if kind:
        q += " WHERE kind = ?"
        args = (kind,)
    q += " ORDER BY created_at DESC LIMIT ?"
    return [_record(r) for r in project.conn.execute(q, (*args, limit)).fetchall()]


def active_job(project: Project, kind: str) -> JobRecord | None:
    jobs = [j for j in list_jobs(project, kind, limit=5) if j.active]
    return jobs[0] if jobs else None


def _process_alive(pid: int, job_id: str) -> bool:
    """True when ``pid`` is a live (not zombie) worker of ``job_id``."""
    proc = Path(f"/proc/{pid}")
    if proc.exists():
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return False
        return state != "Z" and job_id in cmdline
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return sys.platform != "linux"


def reap_dead_jobs(project: Project) -> int:
    """Marks active jobs whose worker process is gone as failed; returns how many."""
    rows = project.conn.execute(
        "SELECT id, pid, state, created_at FROM jobs WHERE state IN ('queued', 'running')"
    ).fetchall()
    dead = []
    now = time.time()
    for jid, pid, state, created in rows:
        if pid is not None:
            if not _process_alive(int(pid), jid):
                dead.append(jid)
        elif (
            state == "queued"
            and now - datetime.fromisoformat(created).timestamp() > _QUEUED_GRACE_S
        ):
            dead.append(jid)
    for jid in dead:
        _finish(project, jid, "failed", error="the worker process exited unexpectedly")
    return len(dead)


def _finish(
    project: Project,
    job_id: str,
    state: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    db.write(
        project.conn,
        lambda c: c.execute(
            "UPDATE jobs SET state = ?, result_json = ?, error = ?, finished_at = ?, "
            "progress = CASE WHEN ? = 'succeeded' THEN 1.0 ELSE progress END "
            "WHERE id = ? AND state IN ('queued', 'running')",
            (state, json.dumps(result) if result is not None else None, error, utc_now(),
             state, job_id),
        ),
    )  # fmt: skip


def submit_job(
    project: Project, kind: str, params: dict[str, Any], *, user: str, spawn: bool = True
) -> str:
    """Records a queued job and starts its detached worker; returns the job id.

    Raises:
        JobAlreadyRunning: a job of this kind is already queued or running.
        ValueError: unknown kind.
    """
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r}; choose one of {', '.join(JOB_KINDS)}")
    reap_dead_jobs(project)
    job_id = uuid.uuid4().hex[:12]

    def tx(c: sqlite3.Connection) -> None:
        c.execute(
            "INSERT INTO jobs (id, kind, params_json, state, user, created_at) "
            "VALUES (?, ?, ?, 'queued', ?, ?)",
            (job_id, kind, json.dumps(params, sort_keys=True), user, utc_now()),
        )

    try:
        db.write(project.conn, tx)
    except sqlite3.IntegrityError:
        running = active_job(project, kind)
        who = f" (started by {running.user}, job {running.id})" if running else ""
        raise JobAlreadyRunning(
            f"a {kind} job is already running{who}; wait or cancel it"
        ) from None
    if spawn:
        log_dir = project.folder / "logs"
        log_dir.mkdir(exist_ok=True)
        with (log_dir / f"job-{job_id}.log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bps_core.jobs", str(project.folder), job_id],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=project.folder,
            )  # fmt: skip
        db.write(
            project.conn,
            lambda c: c.execute(
                "UPDATE jobs SET pid = ? WHERE id = ? AND pid IS NULL", (proc.pid, job_id)
            ),
        )
    return job_id


def cancel_job(project: Project, job_id: str) -> None:
    """Asks a job to stop; it ends as cancelled at its next progress report."""
    db.write(
        project.conn,
        lambda c: c.execute(
            "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state IN ('queued', 'running')",
            (job_id,),
        ),
    )


class JobContext:
    """Handed to a running job: report progress, read cancellation."""

    def __init__(self, project: Project, job_id: str) -> None:
        self.project = project
        self.job_id = job_id
        self._last = 0.0
        self.metrics: dict[str, Any] = {}

    def progress(self, fraction: float, message: str = "", *, force: bool = False) -> None:
        """Records progress (throttled) and raises ``JobCancelled`` if cancellation was asked."""
        now = time.monotonic()
        if not force and now - self._last < _PROGRESS_INTERVAL_S and fraction < 1.0:
            return
        self._last = now
        metrics = json.dumps(self.metrics)

        def tx(c: sqlite3.Connection) -> int:
            c.execute(
                "UPDATE jobs SET progress = ?, message = ?, metrics_json = ?, heartbeat_at = ? "
                "WHERE id = ?",
                (min(max(fraction, 0.0), 1.0), message, metrics, utc_now(), self.job_id),
            )
            row = c.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (self.job_id,))
            return int(row.fetchone()[0])

        if db.write(self.project.conn, tx):
            raise JobCancelled("cancelled by a user")

    def callback(self, message: str = "") -> Callable[[float], None]:
        """A plain ``progress(fraction)`` callback for core functions."""
        return lambda f: self.progress(f, message)


def _resolve(kind: str) -> Callable[[Project, dict[str, Any], JobContext], dict[str, Any]]:
    module, func = JOB_KINDS[kind].split(":")
    fn: Callable[[Project, dict[str, Any], JobContext], dict[str, Any]] = getattr(
        importlib.import_module(module), func
    )
    return fn


def run_job(project_dir: str | Path, job_id: str) -> int:
    """Runs one queued job to its end in this process; returns a process exit code."""
    with Project.open(project_dir) as project:
        job = get_job(project, job_id)
        if job.state != "queued":
            return 0
        db.write(
            project.conn,
            lambda c: c.execute(
                "UPDATE jobs SET state = 'running', pid = ?, started_at = ?, heartbeat_at = ? "
                "WHERE id = ?",
                (os.getpid(), utc_now(), utc_now(), job_id),
            ),
        )
        ctx = JobContext(project, job_id)
        try:
            result = _resolve(job.kind)(project, job.params, ctx)
        except JobCancelled:
            _finish(project, job_id, "cancelled", error="cancelled by a user")
            return 0
        except BaseException as exc:  # the job failed: record why, whatever it was
            traceback.print_exc()
            _finish(project, job_id, "failed", error=f"{type(exc).__name__}: {exc}")
            return 1
        ctx.progress(1.0, "done", force=True)
        _finish(project, job_id, "succeeded", result=result)
        return 0


if __name__ == "__main__":
    sys.exit(run_job(sys.argv[1], sys.argv[2]))

"""Background jobs: recorded in the project database, run by a detached worker process.

A job survives page changes, reruns and closed browser tabs because it runs in its own process
session (``python -m bps_core.jobs PROJECT_DIR JOB_ID``). It reports progress, a message and
metrics (e.g. the loss curve) to the database, checks for cancellation, and ends as succeeded,
failed (with its error) or cancelled. A job whose process died is marked failed when jobs are
next listed, never left running. At most one job of a kind is active at a time.

The app server keeps one **warm worker** (``start_warm_worker``): a job process started ahead
of time that has imported torch and lightly and compiled UMAP's numba kernels, which costs
25-50 s in every new process. Jobs are handed to it one at a time through its stdin; while it
is busy, or if it died, a job gets a fresh process as before (and a dead worker is replaced).
It runs jobs exactly as a fresh process would (same ``run_job``, its output to the job's log).
It exits when the server does (its stdin closes), once its warm-up or current job is done.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import sqlite3
import subprocess
import sys
import threading
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
    "simulate": "bps_core.selection.simulate:run_simulate_job",
}
#: Kinds whose params are checked before queuing: ``fn(project, params)`` raises ValueError.
JOB_CHECKS: dict[str, str] = {"simulate": "bps_core.selection.simulate:check_simulate_job"}
ACTIVE = ("queued", "running")
_PROGRESS_INTERVAL_S = 0.5
_QUEUED_GRACE_S = 120.0
#: Set to 0 to start no warm worker (tests do, so each test controls its own processes).
WARM_WORKER_ENV = "BPS_LABELER_WARM_WORKER"
_WARM_WORKER_FLAG = "--warm-worker"


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
    row = project._conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
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
    return [_record(r) for r in project._conn.execute(q, (*args, limit)).fetchall()]


def active_job(project: Project, kind: str) -> JobRecord | None:
    jobs = [j for j in list_jobs(project, kind, limit=5) if j.active]
    return jobs[0] if jobs else None


def _process_alive(pid: int, job_id: str, *, proc_root: Path = Path("/proc")) -> bool:
    """True when ``pid`` is a live (not zombie) worker of ``job_id``.

    A process just started may still be inside ``exec``: its command line reads empty for a
    moment after ``Popen`` has returned (seen on a loaded machine). That is a live process we
    cannot identify yet, so it counts as alive; only kernel threads (children of kthreadd,
    pid 2) have an empty command line for good.
    """
    proc = proc_root / str(pid)
    if proc.exists():
        try:
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return False
        state, ppid = stat[0], int(stat[1])
        if state == "Z":
            return False
        if not cmdline:
            return ppid != 2 and pid != 2
        return job_id in cmdline or _WARM_WORKER_FLAG in cmdline
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return sys.platform != "linux"


def reap_dead_jobs(project: Project) -> int:
    """Marks active jobs whose worker process is gone as failed; returns how many."""
    rows = project._conn.execute(
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
        project._conn,
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
        ValueError: unknown kind, or params its check refuses (``JOB_CHECKS``).
    """
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r}; choose one of {', '.join(JOB_KINDS)}")
    if kind in JOB_CHECKS:
        module, func = JOB_CHECKS[kind].split(":")
        getattr(importlib.import_module(module), func)(project, params)
    reap_dead_jobs(project)
    job_id = uuid.uuid4().hex[:12]

    def tx(c: sqlite3.Connection) -> None:
        c.execute(
            "INSERT INTO jobs (id, kind, params_json, state, user, created_at) "
            "VALUES (?, ?, ?, 'queued', ?, ?)",
            (job_id, kind, json.dumps(params, sort_keys=True), user, utc_now()),
        )

    try:
        db.write(project._conn, tx)
    except sqlite3.IntegrityError:
        running = active_job(project, kind)
        who = f" (started by {running.user}, job {running.id})" if running else ""
        raise JobAlreadyRunning(
            f"a {kind} job is already running{who}; wait or cancel it"
        ) from None
    if spawn:
        pid = _hand_to_warm_worker(project.folder, job_id)
        if pid is None:
            pid = _spawn_worker(project.folder, job_id)
        db.write(
            project._conn,
            lambda c: c.execute(
                "UPDATE jobs SET pid = ? WHERE id = ? AND pid IS NULL", (pid, job_id)
            ),
        )
    return job_id


def _job_log(folder: Path, job_id: str) -> Path:
    log_dir = folder / "logs"
    log_dir.mkdir(exist_ok=True)
    return log_dir / f"job-{job_id}.log"


def _spawn_worker(folder: Path, job_id: str) -> int:
    """Starts a fresh detached process for one job; returns its pid."""
    with _job_log(folder, job_id).open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bps_core.jobs", str(folder), job_id],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=folder,
        )  # fmt: skip
    return proc.pid


class WarmWorker:
    """Handle on one warm worker process (see the module docstring).

    Protocol on its pipes: the server writes ``FOLDER<TAB>JOB_ID`` lines; the worker answers
    ``warm`` once its warm-up is done and ``idle`` after each job.
    """

    def __init__(self, *, warm_up: bool = True) -> None:
        flags = [_WARM_WORKER_FLAG] if warm_up else [_WARM_WORKER_FLAG, "--no-warm-up"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bps_core.jobs", *flags],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        self.warm = False
        self._handed = 0
        self._finished = 0
        self._buffer = b""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _drain(self) -> None:
        """Reads the worker's pending messages (raw reads: a buffered reader could hold back
        a line that ``select`` no longer reports)."""
        out = self.proc.stdout
        assert out is not None
        fd = out.fileno()
        while select.select([fd], [], [], 0)[0]:
            chunk = os.read(fd, 4096)
            if not chunk:  # end of file: the worker exited
                break
            self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if line == b"warm":
                self.warm = True
            elif line == b"idle":
                self._finished += 1

    def idle(self) -> bool:
        """True when alive and not running a job."""
        self._drain()
        return self.alive() and self._finished >= self._handed

    def wait_warm(self, timeout_s: float) -> bool:
        """Blocks until the warm-up is done (or the timeout); returns whether it is."""
        deadline = time.monotonic() + timeout_s
        out = self.proc.stdout
        assert out is not None
        while not self.warm and self.alive() and time.monotonic() < deadline:
            select.select([out.fileno()], [], [], min(0.5, max(deadline - time.monotonic(), 0)))
            self._drain()
        return self.warm

    def hand(self, folder: Path, job_id: str) -> bool:
        """Gives the worker a job; False if it could not take it (then it is stopped)."""
        if not self.idle():
            return False
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(f"{folder}\t{job_id}\n".encode())
            self.proc.stdin.flush()
        except OSError:
            self.stop()
            return False
        self._handed += 1
        return True

    def stop(self) -> None:
        """Closes its stdin: it exits after the job it is running, if any."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()


_warm_lock = threading.Lock()
_warm_worker: WarmWorker | None = None
_warm_wanted = False
_warm_up_on_start = True


def warm_worker_enabled() -> bool:
    return os.environ.get(WARM_WORKER_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def start_warm_worker(*, warm_up: bool = True) -> WarmWorker | None:
    """Starts this process's warm worker (the app server calls it once); None if disabled.

    Returns the running one if there is one. Later jobs replace it if it dies. ``warm_up``
    False skips the warm-up (tests of the handing protocol).
    """
    global _warm_worker, _warm_wanted, _warm_up_on_start
    if not warm_worker_enabled():
        return None
    with _warm_lock:
        _warm_wanted, _warm_up_on_start = True, warm_up
        if _warm_worker is None or not _warm_worker.alive():
            _warm_worker = WarmWorker(warm_up=warm_up)
        return _warm_worker


def stop_warm_worker() -> None:
    """Stops this process's warm worker, if any (it finishes a running job first)."""
    global _warm_worker, _warm_wanted
    with _warm_lock:
        _warm_wanted = False
        if _warm_worker is not None:
            _warm_worker.stop()
            _warm_worker = None


def _hand_to_warm_worker(folder: Path, job_id: str) -> int | None:
    """The warm worker's pid if it took the job, else None (busy, dead or none wanted)."""
    global _warm_worker
    with _warm_lock:
        if not _warm_wanted:
            return None
        if _warm_worker is None or not _warm_worker.alive():
            # Replace a dead one for later jobs; this job gets a fresh process now.
            _warm_worker = WarmWorker(warm_up=_warm_up_on_start)
            return None
        return _warm_worker.pid if _warm_worker.hand(folder, job_id) else None


def _warm_up() -> None:
    """What a fresh job process would pay on first use: heavy imports, UMAP's kernels."""
    try:
        import lightly  # noqa: F401
        import torch  # noqa: F401

        from bps_core.projection import warm_up_umap

        warm_up_umap()
    except Exception:  # a failed warm-up only costs speed: jobs compile on first use
        traceback.print_exc()


def _warm_worker_main(warm_up: bool = True) -> int:
    """The warm worker: warm up, then run the jobs handed through stdin until it closes."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    if warm_up:
        _warm_up()
    protocol.write("warm\n")
    for line in sys.stdin:
        folder, _, job_id = line.rstrip("\n").partition("\t")
        with _job_log(Path(folder), job_id).open("ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
        os.chdir(folder)
        print(f"job {job_id}: run by the warm worker (pid {os.getpid()})", flush=True)
        try:
            run_job(folder, job_id)
        except Exception:  # run_job records job failures; this is the worker's own error
            traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        protocol.write("idle\n")
    return 0


def cancel_job(project: Project, job_id: str) -> None:
    """Asks a job to stop; it ends as cancelled at its next progress report."""
    db.write(
        project._conn,
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

        if db.write(self.project._conn, tx):
            raise JobCancelled("cancelled by a user")

    def callback(self, message: str = "") -> Callable[[float], None]:
        """A plain ``progress(fraction)`` callback for core functions."""
        return lambda f: self.progress(f, message)


def failure_message(exc: BaseException) -> str:
    """What a failed job records: our own errors (``BpsError``, bad parameters) as their one
    line, anything else with its type so the unexpected stays recognisable."""
    if isinstance(exc, BpsError | ValueError | FileNotFoundError) and str(exc):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


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
            project._conn,
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
            _finish(project, job_id, "failed", error=failure_message(exc))
            return 1
        ctx.progress(1.0, "done", force=True)
        _finish(project, job_id, "succeeded", result=result)
        return 0


if __name__ == "__main__":
    if sys.argv[1:2] == [_WARM_WORKER_FLAG]:
        sys.exit(_warm_worker_main(warm_up="--no-warm-up" not in sys.argv))
    sys.exit(run_job(sys.argv[1], sys.argv[2]))

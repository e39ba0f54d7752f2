"""Running one job to its end in this process: rebuild its settings, call its kind's verb."""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bps_core.errors import BpsError
from bps_core.jobs.errors import JobCancelled
from bps_core.jobs.kinds import JOB_KINDS
from bps_core.project import jobs as table
from bps_core.project.store import Project

_PROGRESS_INTERVAL_S = 0.5


class RecordingContext:
    """The ``JobContext`` of a running job: records progress to the job table, throttled."""

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
        if table.record_progress(self.project, self.job_id, fraction, message, self.metrics):
            raise JobCancelled("cancelled by a user")

    def callback(self, message: str = "") -> Callable[[float], None]:
        """A plain ``progress(fraction)`` callback for verbs."""
        return lambda f: self.progress(f, message)


def failure_message(exc: BaseException) -> str:
    """The one line a failed job records as its error.

    Our own errors (``BpsError``, bad parameters) are recorded as their one line, anything
    else with its type so the unexpected stays recognisable.
    """
    if isinstance(exc, BpsError | ValueError | FileNotFoundError) and str(exc):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def run_job(project_dir: str | Path, job_id: str) -> int:
    """Runs one queued job to its end in this process; returns a process exit code.

    Raises:
        BpsError: the project has no job ``job_id``.
    """
    with Project.open(project_dir) as project:
        job = table.find_job(project, job_id)
        if job is None:
            raise BpsError(f"no job {job_id!r} in this project")
        if job.state != "queued":
            return 0
        table.mark_running(project, job_id, os.getpid())
        ctx = RecordingContext(project, job_id)
        try:
            kind = JOB_KINDS[job.kind]
            result = kind.run(project, kind.settings.from_params(job.params), ctx)
        except JobCancelled:
            table.finish_job(project, job_id, "cancelled", error="cancelled by a user")
            return 0
        except BaseException as exc:  # the job failed: record why, whatever it was
            traceback.print_exc()
            table.finish_job(project, job_id, "failed", error=failure_message(exc))
            return 1
        ctx.progress(1.0, "done", force=True)
        table.finish_job(project, job_id, "succeeded", result=result)
        return 0

"""Submitting, reading and cancelling jobs."""

from __future__ import annotations

import uuid

from bps_core.errors import BpsError
from bps_core.jobs.errors import JobAlreadyRunning
from bps_core.jobs.kinds import JOB_KINDS, kind_of
from bps_core.jobs.liveness import reap_dead_jobs
from bps_core.jobs.spawn import spawn_worker
from bps_core.jobs.warm import hand_to_warm_worker
from bps_core.project import jobs as table
from bps_core.project.jobs import JobRecord
from bps_core.project.store import Project
from bps_core.settings import Settings


def submit(project: Project, settings: Settings, *, user: str, spawn: bool = True) -> str:
    """Records a queued job for ``settings`` and starts its detached worker; returns its id.

    The kind follows from the settings' type (``JOB_KINDS``). The settings were validated
    when built; settings that also check the project (``check(project)``, e.g. that a truth
    column exists) are checked here, so a job that cannot run is never recorded.

    Args:
        project: The project, opened writable.
        settings: The job's settings (``EmbedConfig``, ``MapConfig``, ``CopySettings``, ...).
        user: Who submits it.
        spawn: Start a worker (False leaves it queued: tests).

    Returns:
        The job id.

    Raises:
        JobAlreadyRunning: a job of this kind is already queued or running.
        ValueError: settings no job kind takes, or that the project refuses.
    """
    kind = kind_of(settings)
    check = getattr(settings, "check", None)
    if callable(check):
        check(project)
    params = settings.to_params()
    JOB_KINDS[kind].settings.from_params(params)  # what the worker will rebuild, checked now
    reap_dead_jobs(project)
    job_id = uuid.uuid4().hex[:12]
    if not table.insert_job(project, job_id, kind, params, user=user):
        running = active_job(project, kind)
        who = f" (started by {running.user}, job {running.id})" if running else ""
        raise JobAlreadyRunning(f"a {kind} job is already running{who}; wait or cancel it")
    if spawn:
        pid = hand_to_warm_worker(project.folder, job_id)
        if pid is None:
            pid = spawn_worker(project.folder, job_id)
        table.set_pid(project, job_id, pid)
    return job_id


def get_job(project: Project, job_id: str) -> JobRecord:
    """The job ``job_id``.

    Raises:
        BpsError: the project has no such job.
    """
    job = table.find_job(project, job_id)
    if job is None:
        raise BpsError(f"no job {job_id!r} in this project")
    return job


def list_jobs(project: Project, kind: str | None = None, limit: int = 50) -> list[JobRecord]:
    """Newest first; jobs whose worker died are marked failed first."""
    reap_dead_jobs(project)
    return table.job_rows(project, kind, limit)


def active_job(project: Project, kind: str) -> JobRecord | None:
    """The queued or running job of ``kind``, if any."""
    jobs = [j for j in list_jobs(project, kind, limit=5) if j.active]
    return jobs[0] if jobs else None


def cancel_job(project: Project, job_id: str) -> None:
    """Asks a job to stop; it ends as cancelled at its next progress report."""
    table.request_cancel(project, job_id)

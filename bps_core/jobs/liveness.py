"""Is a job's worker still alive? ``/proc`` checks, and reaping the jobs of dead workers."""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime
from pathlib import Path

from bps_core.jobs.spawn import WARM_WORKER_FLAG
from bps_core.project import jobs as table
from bps_core.project.store import Project

#: A queued job no process took within this long is reaped (its submitter died).
QUEUED_GRACE_S = 120.0


def process_alive(pid: int, job_id: str, *, proc_root: Path = Path("/proc")) -> bool:
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
        return job_id in cmdline or WARM_WORKER_FLAG in cmdline
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return sys.platform != "linux"


def reap_dead_jobs(project: Project) -> int:
    """Marks active jobs whose worker process is gone as failed; returns how many."""
    dead = []
    now = time.time()
    for job in table.active_jobs(project):
        if job.pid is not None:
            if not process_alive(job.pid, job.id):
                dead.append(job.id)
        elif (
            job.state == "queued"
            and now - datetime.fromisoformat(job.created_at).timestamp() > QUEUED_GRACE_S
        ):
            dead.append(job.id)
    for jid in dead:
        table.finish_job(project, jid, "failed", error="the worker process exited unexpectedly")
    return len(dead)

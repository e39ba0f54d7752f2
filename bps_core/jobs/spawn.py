"""Starting job processes: a fresh detached one per job, its log file, the worker's flag."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

#: The command-line flag of the warm worker (``python -m bps_core.jobs --warm-worker``).
WARM_WORKER_FLAG = "--warm-worker"


def job_log(folder: Path, job_id: str) -> Path:
    """The log file of a job (its process's stdout and stderr), under the project's logs/."""
    log_dir = folder / "logs"
    log_dir.mkdir(exist_ok=True)
    return log_dir / f"job-{job_id}.log"


def spawn_worker(folder: Path, job_id: str) -> int:
    """Starts a fresh detached process for one job; returns its pid."""
    with job_log(folder, job_id).open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bps_core.jobs", str(folder), job_id],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=folder,
        )  # fmt: skip
    return proc.pid

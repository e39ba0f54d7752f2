"""Background jobs: recorded in the project database, run by a detached worker process.

A job survives page changes, reruns and closed browser tabs because it runs in its own process
session (``python -m bps_core.jobs PROJECT_DIR JOB_ID``). It is submitted with typed settings
(``submit(project, MapConfig(method="pca"), user=...)``), validated before anything is
recorded; the worker rebuilds them from the job row and calls the kind's verb
(``JOB_KINDS``). It reports progress, a message and metrics (e.g. the loss curve) to the
database, checks for cancellation, and ends as succeeded, failed (with its error) or
cancelled. A job whose process died is marked failed when jobs are next listed, never left
running. At most one job of a kind is active at a time.

The modules: ``context`` (the ``JobContext`` protocol a job reports through, a leaf),
``kinds`` (settings and verb of each kind), ``submission`` (submit, read, cancel),
``liveness`` (``/proc`` checks, reaping), ``spawn`` (fresh worker processes), ``warm`` (the
server's warm worker), ``worker`` (the warm worker's own loop) and ``runner`` (one job to its
end). The job table's SQL lives in ``bps_core.project.jobs``.
"""

from bps_core.jobs.context import JobContext
from bps_core.jobs.errors import JobAlreadyRunning, JobCancelled
from bps_core.jobs.kinds import JOB_KINDS, JobKind, kind_of
from bps_core.jobs.liveness import process_alive, reap_dead_jobs
from bps_core.jobs.runner import RecordingContext, failure_message, run_job
from bps_core.jobs.submission import active_job, cancel_job, get_job, list_jobs, submit
from bps_core.jobs.warm import (
    WARM_WORKER_ENV,
    WarmWorker,
    start_warm_worker,
    stop_warm_worker,
    warm_worker_enabled,
)
from bps_core.project.jobs import ACTIVE, JobRecord

__all__ = [
    "ACTIVE", "JOB_KINDS", "WARM_WORKER_ENV", "JobAlreadyRunning", "JobCancelled", "JobContext",
    "JobKind", "JobRecord", "RecordingContext", "WarmWorker", "active_job", "cancel_job",
    "failure_message", "get_job", "kind_of", "list_jobs", "process_alive", "reap_dead_jobs",
    "run_job", "start_warm_worker", "stop_warm_worker", "submit", "warm_worker_enabled",
]  # fmt: skip

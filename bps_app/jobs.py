"""The app's one door to the background jobs: what runs, what ran, submit and cancel.

Pages import the verbs and ``bps_app`` only. The jobs sit above the verbs (a job runs a verb),
so ``bps_core.verbs`` cannot hand them out without an import cycle: pages reach them here.
Submitting from a page goes through ``widgets.submit_job`` (it shows a refused setting on the
page); following a job through ``widgets.job_monitor`` and ``widgets.job_outcome``.
"""

from __future__ import annotations

from bps_core.jobs import (
    JobAlreadyRunning,
    JobRecord,
    active_job,
    cancel_job,
    get_job,
    list_jobs,
    reap_dead_jobs,
    start_warm_worker,
    submit,
)

__all__ = [
    "JobAlreadyRunning", "JobRecord", "active_job", "cancel_job", "get_job", "list_jobs",
    "reap_dead_jobs", "start_warm_worker", "submit",
]  # fmt: skip

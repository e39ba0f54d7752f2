"""The warm worker's own side: warm up, then run the jobs handed through stdin."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

from bps_core.jobs.runner import run_job
from bps_core.jobs.spawn import job_log


def warm_up() -> None:
    """What a fresh job process would pay on first use: heavy imports, UMAP's kernels."""
    try:
        import lightly  # noqa: F401
        import torch  # noqa: F401

        from bps_core.projection import warm_up_umap

        warm_up_umap()
    except Exception:  # a failed warm-up only costs speed: jobs compile on first use
        traceback.print_exc()


def warm_worker_main(warm_up_first: bool = True) -> int:
    """The warm worker: warm up, then run the jobs handed through stdin until it closes."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    if warm_up_first:
        warm_up()
    protocol.write("warm\n")
    for line in sys.stdin:
        folder, _, job_id = line.rstrip("\n").partition("\t")
        with job_log(Path(folder), job_id).open("ab") as log:
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

"""The job worker's command line: ``python -m bps_core.jobs PROJECT_DIR JOB_ID``.

It runs one job; ``--warm-worker`` runs the warm worker (``[--no-warm-up]``), which takes
jobs on its stdin.
"""

from __future__ import annotations

import sys

from bps_core.jobs.runner import run_job
from bps_core.jobs.spawn import WARM_WORKER_FLAG
from bps_core.jobs.worker import warm_worker_main

if __name__ == "__main__":
    if sys.argv[1:2] == [WARM_WORKER_FLAG]:
        sys.exit(warm_worker_main(warm_up_first="--no-warm-up" not in sys.argv))
    sys.exit(run_job(sys.argv[1], sys.argv[2]))

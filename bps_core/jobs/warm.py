"""The server's side of the warm worker: a job process started ahead of time.

It has imported torch and lightly and compiled UMAP's numba kernels, which costs 25-50 s in
every new process. Jobs are handed to it one at a time through its stdin; while it is busy,
or if it died, a job gets a fresh process as before (and a dead worker is replaced). It exits
when the server does (its stdin closes), once its warm-up or current job is done. The
worker's own side is ``bps_core.jobs.worker``.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

from bps_core.jobs.spawn import WARM_WORKER_FLAG

#: Set to 0 to start no warm worker (tests do, so each test controls its own processes).
WARM_WORKER_ENV = "BPS_LABELER_WARM_WORKER"


class WarmWorker:
    """Handle on one warm worker process.

    Protocol on its pipes: the server writes ``FOLDER<TAB>JOB_ID`` lines; the worker answers
    ``warm`` once its warm-up is done and ``idle`` after each job.
    """

    def __init__(self, *, warm_up: bool = True) -> None:
        flags = [WARM_WORKER_FLAG] if warm_up else [WARM_WORKER_FLAG, "--no-warm-up"]
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
        """The worker's process id."""
        return self.proc.pid

    def alive(self) -> bool:
        """True while the worker process runs."""
        return self.proc.poll() is None

    def _drain(self) -> None:
        """Reads the worker's pending messages.

        Raw reads: a buffered reader could hold back a line that ``select`` no longer reports.
        """
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
    """False when ``BPS_LABELER_WARM_WORKER`` switches the warm worker off (0, false, no, off)."""
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


def hand_to_warm_worker(folder: Path, job_id: str) -> int | None:
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

"""What a running job is handed: the ``JobContext`` protocol (a leaf: it imports no bps_core).

A job kind's runner reports through it; the worker's implementation records to the job table
(``bps_core.jobs.runner.RecordingContext``), a test can pass any object of this shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class JobContext(Protocol):
    """Handed to a running job: report progress and metrics, notice cancellation.

    Attributes:
        job_id: The running job's id (names its output, e.g. a simulation's folder).
        metrics: What the job reports along the way (e.g. ``{"loss": [...]}``); stored with
            each progress report.
    """

    job_id: str
    metrics: dict[str, Any]

    def progress(self, fraction: float, message: str = "", *, force: bool = False) -> None:
        """Reports the fraction done and what is happening (throttled unless ``force``).

        Raises:
            JobCancelled: a user asked the job to stop.
        """

    def callback(self, message: str = "") -> Callable[[float], None]:
        """A plain ``progress(fraction)`` callback for a verb, reporting ``message``."""

"""Errors of submitting and running jobs."""

from __future__ import annotations

from bps_core.errors import BpsError


class JobAlreadyRunning(BpsError):
    """A job of this kind is already queued or running."""


class JobCancelled(BpsError):
    """Raised inside a job when cancellation was requested."""

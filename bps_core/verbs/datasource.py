"""Verb: (re-)ingest the project's input datasource."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bps_core.errors import SettingsError
from bps_core.project.ingest import IngestReport, reingest
from bps_core.project.store import Project
from bps_core.settings import Settings


@dataclass(frozen=True)
class IngestSettings(Settings):
    """Settings of an ingest (an ``ingest`` job).

    Attributes:
        all_channels: Ingest every BPS channel, not only the projection (``proj``) images.
        check_headers: Decode each file's header while listing; None: on for local folders
            only (a remote source would be read twice).
    """

    all_channels: bool = False
    check_headers: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.all_channels, bool):
            raise SettingsError(f"all_channels must be true or false, got {self.all_channels!r}")
        if self.check_headers is not None and not isinstance(self.check_headers, bool):
            raise SettingsError(
                f"check_headers must be true, false or None, got {self.check_headers!r}"
            )


def ingest(
    project: Project,
    settings: IngestSettings | None = None,
    progress: Callable[[float], None] | None = None,
    *,
    on_listed: Callable[[int], None] | None = None,
) -> IngestReport:
    """Re-lists the input datasource and adds or updates its samples (idempotent).

    Args:
        project: The project, opened writable.
        settings: What to ingest; the defaults when None.
        progress: Called with the fraction done.
        on_listed: Called with the number of objects listed, before reading them.

    Returns:
        The ingest report (samples, bad files, files without metadata and the reverse).
    """
    settings = settings or IngestSettings()
    return reingest(project, all_channels=settings.all_channels,
                    check_headers=settings.check_headers, progress=progress,
                    on_listed=on_listed)  # fmt: skip

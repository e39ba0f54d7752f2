"""Verb: (re-)ingest the project's input datasource."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

from bps_core.errors import DatasourceError, SettingsError
from bps_core.project.ingest import IngestReport, reingest
from bps_core.project.store import Project
from bps_core.settings import Settings
from bps_core.storage import DatasourceConfig


@dataclass(frozen=True)
class IngestSettings(Settings):
    """Settings of an ingest (an ``ingest`` job).

    Attributes:
        all_channels: Ingest every BPS channel, not only the projection (``proj``) images.
        check_headers: Decode each file's header while listing; None: on for local folders
            only (a remote source would be read twice).
        datasource: A new input to list (same id as the project's); the project switches to
            it only once its images are ingested (None: re-list the current input).
    """

    all_channels: bool = False
    check_headers: bool | None = None
    datasource: DatasourceConfig | None = None

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Self:
        """As ``Settings.from_params``; the datasource comes back from its dict."""
        doc = dict(params)
        if isinstance(doc.get("datasource"), dict):
            try:
                doc["datasource"] = DatasourceConfig.from_dict(doc["datasource"])
            except DatasourceError as exc:
                raise SettingsError(f"datasource: {exc}") from None
        return super().from_params(doc)

    def __post_init__(self) -> None:
        if not isinstance(self.all_channels, bool):
            raise SettingsError(f"all_channels must be true or false, got {self.all_channels!r}")
        if self.check_headers is not None and not isinstance(self.check_headers, bool):
            raise SettingsError(
                f"check_headers must be true, false or None, got {self.check_headers!r}"
            )
        if self.datasource is not None and not isinstance(self.datasource, DatasourceConfig):
            raise SettingsError(f"datasource must be a datasource config, got {self.datasource!r}")


def ingest(
    project: Project,
    settings: IngestSettings | None = None,
    progress: Callable[[float], None] | None = None,
    *,
    on_listed: Callable[[int], None] | None = None,
) -> IngestReport:
    """Re-lists the input datasource and adds or updates its samples (idempotent).

    With ``settings.datasource``, lists that one instead and switches to it once its images
    are in.

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
                    on_listed=on_listed, datasource=settings.datasource)  # fmt: skip

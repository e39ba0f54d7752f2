"""Verb: flag poor images, exact and near-duplicates, split leaks and outliers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from bps_core.errors import BpsError, SettingsError
from bps_core.project.store import Project
from bps_core.quality.duplicates import EXACT_BELOW
from bps_core.quality.flags import (
    FlagsResult,
    FlagThresholds,
    fill_missing_descriptors,
    fill_missing_stats,
    missing_descriptors,
    project_flags,
)
from bps_core.settings import Settings, check_range


@dataclass(frozen=True)
class FlagSettings(Settings):
    """How to flag a project's samples.

    Attributes:
        thresholds: Where each flag starts (``FlagThresholds``).
        fill_missing: Decode and measure the samples without pixel statistics first (those
            embedded before statistics were kept, or on Ray), and compute the shift-tolerant
            descriptors of those without one (each sample once: they are stored); False
            reads only what is stored.
        group_by: The metadata column of the grouped train/test split the leak check uses;
            empty for the default (BPS: ``well``).
        exact_below: Exact neighbour search below this many samples, HNSW above.

    Raises:
        SettingsError: a value out of range (the message names the field).
    """

    thresholds: FlagThresholds = field(default_factory=FlagThresholds)
    fill_missing: bool = True
    group_by: str = ""
    exact_below: int = EXACT_BELOW

    def __post_init__(self) -> None:
        if not isinstance(self.thresholds, FlagThresholds):
            raise SettingsError(
                f"thresholds must be a FlagThresholds, got {type(self.thresholds).__name__}"
            )
        check_range("exact_below", self.exact_below, 0)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Self:
        """Rebuilds settings stored by ``to_params`` (the thresholds are nested).

        Raises:
            SettingsError: an unknown key, or a value its validation refuses.
        """
        nested = params.get("thresholds")
        rest = {k: v for k, v in params.items() if k != "thresholds"}
        settings = super().from_params(rest)
        if nested is None:
            return settings
        try:
            thresholds = FlagThresholds(**nested)
        except TypeError as exc:
            raise SettingsError(f"thresholds: {exc}") from None
        return cls(**{**rest, "thresholds": thresholds})


@dataclass(frozen=True)
class FlagsReport:
    """What ``flags`` found.

    Attributes:
        result: The flags of every sample, the duplicate pairs, leaks and resolved cutoffs.
        measured: Samples decoded and measured by this run (``fill_missing``).
        missing_stats: Good samples still without pixel statistics (no pixel flags for them).
        described: Samples whose shift-tolerant descriptor this run computed.
        missing_descriptors: Good samples still without one (their shifted copies are found
            only by embedding).
    """

    result: FlagsResult
    measured: int
    missing_stats: int
    described: int = 0
    missing_descriptors: int = 0


def missing_descriptor_count(project: Project) -> int:
    """How many good samples have no shift-tolerant descriptor yet (``flags`` computes them).

    Args:
        project: The project.
    """
    return len(missing_descriptors(project))


def flags(
    project: Project,
    settings: FlagSettings | None = None,
    progress: Callable[[float], None] | None = None,
) -> FlagsReport:
    """Flags every good sample: pixel quality, exact and near-duplicates, leaks, outliers.

    Args:
        project: The project (opened writable when ``fill_missing`` has work to do).
        settings: Thresholds and options; the defaults when None.
        progress: Called with the fraction done (decoding takes most of it).

    Returns:
        The ``FlagsReport``.

    Raises:
        BpsError: the project has neither pixel statistics nor embeddings to flag from.
        SelectionError: ``group_by`` names no metadata column.
    """
    settings = settings or FlagSettings()
    measured = described = 0
    if settings.fill_missing and project.image_stats.missing():
        measured = fill_missing_stats(project, (lambda f: progress(0.45 * f)) if progress else None)
    if settings.fill_missing:
        described = fill_missing_descriptors(
            project, (lambda f: progress(0.45 + 0.45 * f)) if progress else None
        )
    result = project_flags(
        project,
        settings.thresholds,
        group_by=settings.group_by or None,
        exact_below=settings.exact_below,
    )
    if result is None:
        raise BpsError(
            "nothing to flag from: the project has no pixel statistics and no embeddings; "
            "run bps-labeler embed first"
        )
    if progress:
        progress(1.0)
    return FlagsReport(result, measured, len(project.image_stats.missing()), described,
                       len(missing_descriptors(project)))  # fmt: skip

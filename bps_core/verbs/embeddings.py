"""Verbs: compute an embedding set, compute (or reuse) a map of it, say how long a map takes.

``csv_coverage_note`` says what an imported CSV set left out.
"""

from __future__ import annotations

from collections.abc import Callable

from bps_core.embeddings.compute import EmbedConfig
from bps_core.embeddings.compute import compute_embeddings as _compute_embeddings
from bps_core.embeddings.lightly_csv import coverage_note as csv_coverage_note  # noqa: F401
from bps_core.embeddings.store import EmbeddingSet
from bps_core.project.store import Project
from bps_core.projection import Map, MapConfig, MapEstimate, estimate_map, get_or_compute_map


def compute_embeddings(
    project: Project,
    settings: EmbedConfig,
    progress: Callable[[float], None] | None = None,
    *,
    on_epoch: Callable[[int, float], None] | None = None,
) -> EmbeddingSet:
    """Embeds every good sample and stores the set as the current one.

    Args:
        project: The project, opened writable.
        settings: How to embed (method, epochs, image size, ...).
        progress: Called with the fraction done.
        on_epoch: Called with (epoch, loss) after each SimCLR epoch.

    Returns:
        The new embedding set (version, keys, vectors, quality).
    """
    return _compute_embeddings(project, settings, progress=progress, on_epoch=on_epoch)


def compute_map(
    project: Project,
    settings: MapConfig | None = None,
    progress: Callable[[float], None] | None = None,
) -> Map:
    """The 2-D map of the current embedding set for ``settings`` (cached or computed), shown.

    Args:
        project: The project, opened writable.
        settings: The map's method and parameters; the defaults (UMAP) when None.
        progress: Called with the fraction done.

    Returns:
        The map, now the one shown for its embedding set.

    Raises:
        BpsError: the project has no embeddings yet.
    """
    return get_or_compute_map(project, settings or MapConfig(), progress=progress)


def map_estimate(project: Project, settings: MapConfig | None = None) -> MapEstimate | None:
    """How long computing a map of the current embedding set takes on this machine.

    Read from the set's record (size and dimensions), without loading its vectors; see
    ``bps_core.projection.estimate_map`` for the model behind it.

    Args:
        project: The open project.
        settings: The map's method and parameters; the defaults (UMAP) when None.

    Returns:
        The estimate, or None when the project has no current embedding set.
    """
    version = project.embedding_sets.current_version()
    record = project.embedding_sets.get(version) if version else None
    if record is None:
        return None
    return estimate_map(record.n_samples, settings or MapConfig(), record.dim)

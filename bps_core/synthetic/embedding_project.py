"""Projects of any size built from synthetic embeddings (scale tests, benchmarks).

A million microscope crops take hours to render and decode; the map, selection, labeling and
data-loading paths need only sample rows, vectors and map coordinates. This module makes
those: samples with BPS-like metadata (particle type, dose, hours after exposure, one of the
condition cells each), seeded clustered L2-normalised embeddings, a PCA map, and for each
sample a hard link to one of a few rendered crops of its condition, so the pages that show
images behave as on a real project.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bps_core.embeddings.store import save_embedding_set
from bps_core.project.ingest import add_samples_without_files
from bps_core.project.store import Project
from bps_core.projection import MapConfig, get_or_compute_map
from bps_core.storage import DatasourceConfig
from bps_core.synthetic.config import load_priors

Progress = Callable[[float], None]
LATENT_DIMS = 16


def clustered_embeddings(
    n: int, dim: int, *, seed: int = 0, clusters: int = 1000
) -> NDArray[np.float32]:
    """Seeded clustered vectors, L2-normalised like a stored embedding set.

    Each row is one of ``clusters`` random centres, moved along a shared 16-dimensional
    latent variation (scale 0.5/4 per latent dimension) plus isotropic noise (0.02 per
    dimension): low-dimensional structure like a trained model's embeddings.

    Args:
        n: Number of rows.
        dim: Dimensions per row.
        seed: Seed of the generator (same seed, same rows).
        clusters: Number of cluster centres.

    Returns:
        A float32 array of shape (n, dim) with unit rows.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim), dtype=np.float32)
    latent = rng.standard_normal((LATENT_DIMS, dim), dtype=np.float32) * np.float32(0.5 / 4)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        x = centres[rng.integers(clusters, size=m)]
        x += rng.standard_normal((m, LATENT_DIMS), dtype=np.float32) @ latent
        x += rng.standard_normal((m, dim), dtype=np.float32) * np.float32(0.02)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[start : start + m] = x
    return out


def synthetic_metadata(n: int, seed: int = 0) -> tuple[list[str], list[dict[str, Any]]]:
    """Relative paths and BPS-like metadata for ``n`` samples spread over the 17 conditions."""
    conditions = sorted(
        load_priors(), key=lambda c: (c.particle_type, c.dose_Gy, c.hr_post_exposure)
    )
    rng = np.random.default_rng(seed)
    which = rng.integers(len(conditions), size=n)
    relpaths, metadata = [], []
    for i, c in enumerate(which.tolist()):
        cond = conditions[c]
        folder = f"{cond.particle_type}_{cond.dose_Gy:g}Gy_{cond.hr_post_exposure}h"
        relpaths.append(f"synthetic/{folder}/{i:07d}.tif")
        metadata.append(
            {"particle_type": cond.particle_type, "dose_Gy": cond.dose_Gy,
             "hr_post_exposure": cond.hr_post_exposure}
        )  # fmt: skip
    return relpaths, metadata


def link_images(
    sources: Path,
    root: Path,
    relpaths: list[str],
    metadata: list[dict[str, Any]],
    seed: int = 0,
) -> None:
    """Renders two crops per condition cell into ``sources`` and links each relpath to one.

    Args:
        sources: A new folder for the rendered crops (outside ``root``).
        root: The datasource folder the relpaths are under.
        relpaths: One path per sample.
        metadata: Its particle_type, dose_Gy and hr_post_exposure.
        seed: Seed of the rendering.
    """
    import csv
    import os
    import shutil

    from bps_core.bps import TRAIN_PREFIX
    from bps_core.synthetic.config import preset_config
    from bps_core.synthetic.generator import generate_dataset

    generate_dataset(sources, preset_config("tiny", seed, n_per_cell=2), overwrite=True)
    train = sources / TRAIN_PREFIX
    by_condition: dict[tuple[str, float, int], list[Path]] = {}
    with open(train / "meta.csv", newline="") as f:
        for row in csv.DictReader(f):
            cond = (row["particle_type"], float(row["dose_Gy"]), int(row["hr_post_exposure"]))
            by_condition.setdefault(cond, []).append(train / row["filename"])
    made: set[Path] = set()
    for i, (rel, md) in enumerate(zip(relpaths, metadata, strict=True)):
        cond = (md["particle_type"], float(md["dose_Gy"]), int(md["hr_post_exposure"]))
        options = by_condition.get(cond) or _nearest_condition(by_condition, cond)
        target = root / rel
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        source = options[i % len(options)]
        try:
            os.link(source, target)
        except FileExistsError:
            continue
        except OSError:  # too many links to one file, or no hard links here: a copy
            shutil.copyfile(source, target)


def _nearest_condition(
    by_condition: dict[tuple[str, float, int], list[Path]], cond: tuple[str, float, int]
) -> list[Path]:
    """The crops of the same particle and dose at another hour, else of the same particle.

    For a condition cell the generator does not render.
    """
    same_dose = [p for c, ps in sorted(by_condition.items()) if c[:2] == cond[:2] for p in ps]
    same_particle = [p for c, ps in sorted(by_condition.items()) if c[0] == cond[0] for p in ps]
    return same_dose or same_particle or [p for ps in by_condition.values() for p in ps]


def create_embedding_project(
    folder: str | Path,
    n: int,
    *,
    dim: int = 128,
    seed: int = 0,
    classes: tuple[str, ...] = ("track", "foci", "none"),
    images: bool = True,
    progress: Progress | None = None,
) -> Project:
    """Creates a project of ``n`` samples with synthetic embeddings and a PCA map.

    The datasource is an ``images`` folder inside the project folder. With ``images``, each
    sample's file is a hard link to one of 34 rendered crops of its own condition (two per
    condition cell, in ``image_sources/``), so thumbnails, the queue and the sample dialog
    show a real 16-bit crop at the cost of a directory entry (about 10 s per million).
    Without, the folder stays empty and every thumbnail reports (and marks) a missing file.

    Args:
        folder: A new project folder.
        n: Number of samples.
        dim: Embedding dimensions.
        seed: Seed for metadata and vectors.
        classes: Label classes to define.
        images: Whether to give every sample a (hard-linked) image file.
        progress: Called with the fraction done.

    Returns:
        The open project (close it when done).
    """
    folder = Path(folder)
    root = folder / "images"
    root.mkdir(parents=True, exist_ok=True)
    config = DatasourceConfig(id="input", kind="local", path=str(root.resolve()), purpose="input")
    project = Project.create(folder, config, name=f"synthetic {n:,} samples")
    try:
        relpaths, metadata = synthetic_metadata(n, seed)
        if images:
            link_images(folder / "image_sources", root, relpaths, metadata, seed)
        add_samples_without_files(project, relpaths, metadata)
        if progress is not None:
            progress(0.3)
        for name in classes:
            project.ensure_class(name)
        keys = project.samples()["key"].tolist()
        vectors = clustered_embeddings(n, dim, seed=seed)
        emb = save_embedding_set(project, "synthetic", {"dim": dim, "seed": seed}, keys, vectors)
        if progress is not None:
            progress(0.7)
        get_or_compute_map(project, MapConfig(method="pca", seed=seed), emb)
        if progress is not None:
            progress(1.0)
    except BaseException:
        project.close()
        raise
    return project

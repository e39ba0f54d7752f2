"""The instant baseline: downsampled, normalised pixels reduced by PCA.

Two steps, so that the per-image part can run anywhere (in this process or on Ray workers) and
only the small block means travel: ``pixel_features`` per image, ``reduce_pixel_features`` over
the whole set.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from sklearn.decomposition import PCA


def pixel_features(images: NDArray[np.uint16], *, grid: int = 16) -> NDArray[np.float32]:
    """Block means of each image on a grid x grid raster, scaled to 0..1.

    Args:
        images: Cached square crops of shape (n, s, s) with s divisible by ``grid``.
        grid: Blocks per side.

    Returns:
        Array of shape (n, grid * grid).

    Raises:
        ValueError: The image side is not divisible by ``grid``.
    """
    n, s, _ = images.shape
    if s % grid:
        raise ValueError(f"image side {s} is not divisible by the grid {grid}")
    f = s // grid
    small = np.asarray(images, dtype=np.float32).reshape(n, grid, f, grid, f).mean(axis=(2, 4))
    out: NDArray[np.float32] = small.reshape(n, -1) / 65535.0
    return out


def reduce_pixel_features(
    features: NDArray[np.float32], *, dim: int = 64, random_state: int = 0
) -> NDArray[np.float32]:
    """Standardises the block means of the whole set, then PCA to ``dim``.

    Args:
        features: ``pixel_features`` of every image, shape (n, grid * grid).
        dim: Number of PCA components kept (capped by the sample and feature counts).
        random_state: Seed of the PCA solver.

    Returns:
        Array of shape (n, min(dim, n, grid * grid)).
    """
    x = np.asarray(features, dtype=np.float32)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    k = min(dim, len(x), x.shape[1])
    out: NDArray[np.float32] = PCA(n_components=k, random_state=random_state).fit_transform(x)
    return out.astype(np.float32)


def pixel_embeddings(
    images: NDArray[np.uint16], *, grid: int = 16, dim: int = 64, random_state: int = 0
) -> NDArray[np.float32]:
    """Block-mean downsampled pixels (grid x grid), standardised, then PCA to ``dim``.

    Args:
        images: Cached square crops of shape (n, s, s) with s divisible by ``grid``.
        grid: Blocks per side; each image becomes grid x grid block means.
        dim: Number of PCA components kept (capped by the sample and feature counts).
        random_state: Seed of the PCA solver.

    Returns:
        Array of shape (n, min(dim, n, grid * grid)).

    Raises:
        ValueError: The image side is not divisible by ``grid``.
    """
    return reduce_pixel_features(
        pixel_features(images, grid=grid), dim=dim, random_state=random_state
    )

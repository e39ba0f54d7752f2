"""Pixel statistics of one decoded image, measured once when it is decoded for embedding.

Everything a quality flag or the exact-duplicate check needs is kept (``ImageStats``); the
thresholds are applied later, when reading (``bps_core.quality.flags``), so moving one never
needs another pass over the images.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bps_core.project.image_stats import ImageStats

#: Foreground: pixels more than this many background noise widths above the background level.
_FOREGROUND_SIGMAS = 4.0


def pixel_sha(img: NDArray[Any]) -> str:
    """SHA-256 of the decoded pixels: their type, shape and values (not the file's bytes).

    Two files holding the same pixels (a copy, a lossless re-encode, another TIFF compression)
    get the same hash.
    """
    arr = np.ascontiguousarray(img)
    h = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def _range(img: NDArray[Any], gray: NDArray[np.float32]) -> tuple[int, float]:
    """(bit depth, top of the range) the [0, 1] statistics are measured against."""
    if np.issubdtype(img.dtype, np.integer):
        bits = int(img.dtype.itemsize * 8)
        return bits, float(np.iinfo(img.dtype).max)
    top = float(gray.max()) if gray.size else 1.0
    return 32, max(top, 1.0)


def _gray(img: NDArray[Any]) -> NDArray[np.float32]:
    if img.ndim == 3:
        img = img[..., :3].mean(axis=-1)
    out = np.asarray(img, dtype=np.float32)
    if not np.isfinite(out).all():
        out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
    return out


def _foreground(
    gray: NDArray[Any], values: NDArray[np.float64], counts: NDArray[np.float64]
) -> float:
    """Share of pixels clearly above the background, from the image's histogram.

    A crop is centred on its object, so its one-pixel border is background (and some object
    edge where the object fills the crop): the background level is the border's median, its
    noise width 1.4826 x the border's median absolute deviation (robust to that edge).

    Args:
        gray: The image, shape (h, w).
        values: Sorted distinct pixel values.
        counts: How many pixels hold each value (same shape).
    """
    h, w = gray.shape
    if h < 3 or w < 3:
        return 0.0
    ring = np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]]).astype(np.float64)
    level = float(np.median(ring))
    sigma = 1.4826 * float(np.median(np.abs(ring - level)))
    floor = 1.0 if np.issubdtype(gray.dtype, np.integer) else 1e-6
    above = values > level + _FOREGROUND_SIGMAS * max(sigma, floor)
    return float(counts[above].sum() / counts.sum())


def _sharpness(gray: NDArray[Any], lo: float, hi: float) -> float:
    """Variance of the 4-neighbour Laplacian of the image scaled to [0, 1] by p01..p99."""
    if gray.shape[0] < 3 or gray.shape[1] < 3 or hi <= lo:
        return 0.0
    g = (np.asarray(gray, dtype=np.float32) - np.float32(lo)) * np.float32(1.0 / (hi - lo))
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4.0 * g[1:-1, 1:-1]
    return float(lap.var())


def measure(img: NDArray[Any]) -> ImageStats:
    """Measures one decoded image (about 0.1 ms for a 16-bit 120 x 120 crop).

    Args:
        img: The decoded pixels, shape (h, w) or (h, w, channels); RGB(A) is averaged.

    Returns:
        The image's ``ImageStats`` (mean and percentiles in [0, 1] of the stored type's range;
        ``saturated`` is the share of pixels equal to the maximum, 0 for a flat image).
    """
    gray = img if img.ndim == 2 and img.dtype in (np.uint8, np.uint16) else _gray(img)
    h, w = gray.shape[:2]
    bits, top = _range(img, gray)
    sha = pixel_sha(img)
    if gray.size == 0:
        return ImageStats(int(w), int(h), bits, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, sha)
    if gray.dtype in (np.uint8, np.uint16):  # a histogram: about 5x faster than sorting
        dense = np.bincount(gray.ravel())
        present = np.flatnonzero(dense)
        values = present.astype(np.float64)
        counts = dense[present].astype(np.float64)
    else:
        uniq, cnt = np.unique(gray, return_counts=True)
        values, counts = uniq.astype(np.float64), cnt.astype(np.float64)
    cdf = np.cumsum(counts)
    n = float(cdf[-1])
    p01 = float(values[min(int(np.searchsorted(cdf, n * 0.01)), len(values) - 1)])
    p99 = float(values[min(int(np.searchsorted(cdf, n * 0.99)), len(values) - 1)])
    mean = float(np.dot(values, counts) / n)
    saturated = float(counts[-1] / n) if len(values) > 1 else 0.0
    return ImageStats(
        width=int(w),
        height=int(h),
        bit_depth=bits,
        mean=mean / top,
        p01=p01 / top,
        p99=p99 / top,
        saturated=saturated,
        foreground=_foreground(gray, values, counts),
        sharpness=_sharpness(gray, p01, p99),
        pixel_sha=sha,
    )

"""A pixel descriptor that a crop shifted by a few pixels shares with its source.

Embeddings (SimCLR or plain pixels) do not find a crop whose window moved by 2 px: the
benchmark found 0-7% of such copies (bench/bench_duplicates.py). This descriptor registers
each crop on its object first, so a shifted copy lands on the same frame:

1. The background level (20th percentile) is subtracted; pixels above 10% of the way from it
   to the 99.5th percentile weigh the object's centre.
2. The centre is found by mean shift from the crop's centre (a Gaussian window of 30 px, 5
   steps), so an object cut at the border or a neighbour there does not drag it.
3. A 96 x 96 px window around that centre, blurred (Gaussian, sigma 3 px), is sampled on a
   16 x 16 grid (6 px apart, sub-pixel by bilinear interpolation), tapered towards its edges,
   and centred and scaled to unit length, so another exposure or display window
   (intensities x a + b) or an 8-bit JPEG re-encode barely moves it.

Near-duplicates by descriptor use the same neighbour search and relative cutoff as those by
embedding (``bps_core.quality.flags``). Descriptors are stored beside the other arrays, keyed
by sample key (``save_descriptors``), and computed once per sample when the ``flags`` verb
first needs them.

On the benchmark's 1,520 crops (bench/results/duplicates.md) a ratio of 0.25 finds 98% of the
copies shifted by 2 px and every exact, re-encoded and re-windowed one, with no pair of two
distinct crops; the nearest two distinct crops lie at 0.59 x the distance scale, planted
copies at most at 0.26 x.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from bps_core.atomic import atomic_path, atomic_write_text

#: Changes whenever the descriptor's recipe does: stored descriptors of another version are
#: recomputed.
DESCRIPTOR_VERSION = 1
#: Window side (px), grid side, blur (px), mean-shift radius (px) and steps, taper width.
_WINDOW, _GRID, _SIGMA, _RADIUS, _STEPS, _TAPER = 96, 16, 3.0, 30.0, 5, 0.6
#: Background percentile, top percentile, and the object weight's start between them.
_BG_PCT, _TOP_PCT, _OBJECT_START = 20.0, 99.5, 0.1
#: Length of one descriptor.
DESCRIPTOR_DIM = _GRID * _GRID

_STEP = _WINDOW / _GRID
_OFFSETS = (np.arange(_GRID) - (_GRID - 1) / 2) * _STEP
_TAPER_1D = np.exp(-((_OFFSETS / (_TAPER * _WINDOW / 2)) ** 2) / 2)
_TAPER_2D = (_TAPER_1D[:, None] * _TAPER_1D[None, :]).astype(np.float32)


def _gray(img: NDArray[Any]) -> NDArray[np.float32]:
    if img.ndim == 3:
        img = img[..., :3].mean(axis=-1)
    out = np.asarray(img, dtype=np.float32)
    if not np.isfinite(out).all():
        out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
    return out


def _percentiles(img: NDArray[Any], gray: NDArray[np.float32]) -> tuple[float, float]:
    if img.ndim == 2 and img.dtype in (np.uint8, np.uint16):  # a histogram: faster than a sort
        cdf = np.cumsum(np.bincount(img.ravel()))
        n = float(cdf[-1])
        lo = int(np.searchsorted(cdf, n * _BG_PCT / 100.0))
        hi = int(np.searchsorted(cdf, n * _TOP_PCT / 100.0))
        return float(lo), float(hi)
    lo_f, hi_f = np.percentile(gray, [_BG_PCT, _TOP_PCT])
    return float(lo_f), float(hi_f)


def shift_descriptor(img: NDArray[Any]) -> NDArray[np.float32]:
    """The shift-tolerant descriptor of one decoded image (about 0.5 ms for a 120 px crop).

    Args:
        img: The decoded pixels, shape (h, w) or (h, w, channels); RGB(A) is averaged.

    Returns:
        Shape (``DESCRIPTOR_DIM``,), float32, unit length (all zeros for a flat image).
    """
    gray = _gray(img)
    if gray.size == 0:
        return np.zeros(DESCRIPTOR_DIM, dtype=np.float32)
    bg, top = _percentiles(img, gray)
    sub = np.clip(gray - np.float32(bg), 0.0, None)
    weight = np.clip(sub - np.float32(_OBJECT_START * (top - bg)), 0.0, None)
    if not weight.any():
        weight = sub
    h, w = gray.shape
    ys, xs = np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    for _ in range(_STEPS):  # mean shift: the weighted centre within a Gaussian window
        ky = np.exp(-((ys - cy) ** 2) / (2 * _RADIUS**2))
        kx = np.exp(-((xs - cx) ** 2) / (2 * _RADIUS**2))
        rows, cols = weight @ kx, weight.T @ ky  # row and column sums, windowed the other way
        total = float(ky @ rows)
        if total <= 0:
            break
        cy, cx = float((ky * ys) @ rows) / total, float((kx * xs) @ cols) / total
    blurred = ndimage.gaussian_filter(sub, _SIGMA, mode="nearest")
    gy, gx = np.meshgrid(cy + _OFFSETS, cx + _OFFSETS, indexing="ij")
    v = ndimage.map_coordinates(blurred, [gy, gx], order=1, mode="constant", cval=0.0)
    v = v.astype(np.float32) * _TAPER_2D
    v -= v.mean()
    norm = float(np.linalg.norm(v))
    if norm <= 1e-12:
        return np.zeros(DESCRIPTOR_DIM, dtype=np.float32)
    out: NDArray[np.float32] = (v / norm).ravel().astype(np.float32)
    return out


@dataclass(frozen=True)
class Descriptors:
    """Stored descriptors: row i of ``vectors`` belongs to ``keys[i]``.

    Attributes:
        keys: Sample keys.
        vectors: Shape (len(keys), ``DESCRIPTOR_DIM``), float32.
    """

    keys: list[str]
    vectors: NDArray[np.float32]

    def subset(self, keys: Sequence[str]) -> Descriptors:
        """The rows of ``keys`` that are stored, in the order of ``keys``."""
        row = {k: i for i, k in enumerate(self.keys)}
        kept = [k for k in keys if k in row]
        return Descriptors(kept, self.vectors[[row[k] for k in kept]])


def _paths(arrays_dir: Path) -> tuple[Path, Path]:
    folder = arrays_dir / "quality"
    return folder / "shift_descriptors.npy", folder / "shift_descriptors.json"


def load_descriptors(arrays_dir: Path) -> Descriptors:
    """The descriptors stored in a project's ``arrays/`` folder (none: an empty set).

    A missing, damaged or older-version store reads as empty, so its samples are recomputed.
    """
    npy, meta = _paths(arrays_dir)
    empty = Descriptors([], np.zeros((0, DESCRIPTOR_DIM), dtype=np.float32))
    try:
        info = json.loads(meta.read_text())
        if info.get("version") != DESCRIPTOR_VERSION:
            return empty
        keys = [str(k) for k in info["keys"]]
        vectors = np.load(npy)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return empty
    if vectors.shape != (len(keys), DESCRIPTOR_DIM):
        return empty
    return Descriptors(keys, vectors.astype(np.float32, copy=False))


def descriptors_token(arrays_dir: Path) -> tuple[int, int]:
    """A cheap token that changes whenever the stored descriptors do; cache on it.

    It is the key file's modification time and size; (0, 0) when none are stored.
    """
    try:
        st = _paths(arrays_dir)[1].stat()
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


def save_descriptors(arrays_dir: Path, descriptors: Descriptors) -> None:
    """Stores descriptors (replacing the stored ones), each file written atomically.

    The key list is written last and names the row count, so a reader that finds the two
    files out of step (a kill between the writes) reads an empty set and recomputes.

    Raises:
        StorageWriteError: the folder cannot be written.
    """
    npy, meta = _paths(arrays_dir)
    with atomic_path(npy, ".npy") as tmp:
        np.save(tmp, np.ascontiguousarray(descriptors.vectors, dtype=np.float32))
    atomic_write_text(meta, json.dumps({"version": DESCRIPTOR_VERSION,
                                        "keys": list(descriptors.keys)}))  # fmt: skip


__all__ = [
    "DESCRIPTOR_DIM", "DESCRIPTOR_VERSION", "Descriptors", "descriptors_token", "load_descriptors",
    "save_descriptors", "shift_descriptor",
]  # fmt: skip

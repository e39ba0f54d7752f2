"""Decode each image once into a cache of normalised, square, fixed-size uint16 arrays.

The cache is a ``.npy`` file opened as a memory map, next to a JSON list of the sample keys it
holds, in the project's ``arrays/cache/`` folder. Later epochs and re-embeddings read it and
never decode again.

Normalisation: each image is mapped from its own p1-p99.5 percentiles to 0-65535, then
centre-padded to a square (never stretched: crops vary in aspect ratio) and resized.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from bps_core import bps
from bps_core.atomic import temp_path, write_error
from bps_core.errors import BpsError, DatasourceError, ImageDecodeError
from bps_core.images import decode_image
from bps_core.project.image_stats import ImageStats
from bps_core.quality.image_stats import measure
from bps_core.storage import DataSource, DatasourceConfig, LocalFolderSource
from bps_core.storage.fetch import DEFAULT_WORKERS

Progress = Callable[[float], None]
LOW_PCT, HIGH_PCT = 1.0, 99.5


@dataclass(frozen=True)
class CacheSpec:
    """What a cache holds: image side in pixels, and whether neighbours were masked out."""

    size: int = 64
    mask_neighbours: bool = False

    @property
    def name(self) -> str:
        """File stem of this cache, e.g. ``img64`` or ``img64_masked``."""
        return f"img{self.size}{'_masked' if self.mask_neighbours else ''}"


@dataclass
class ImageCache:
    """Cached images of shape (n, size, size), uint16, row i belonging to ``keys[i]``.

    ``stats`` holds the pixel statistics measured while decoding (key -> ``ImageStats``) when
    the cache was built by this call; a reused cache decodes nothing and brings none.
    """

    images: NDArray[np.uint16]
    keys: list[str]
    bad: dict[str, str]
    spec: CacheSpec
    stats: dict[str, ImageStats] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.keys)


def to_gray(img: NDArray[Any]) -> NDArray[np.float32]:
    """One float channel: RGB(A) images are averaged; NaN and Inf become 0."""
    if img.ndim == 3:
        img = img[..., :3].mean(axis=-1)
    out = np.asarray(img, dtype=np.float32)
    if not np.isfinite(out).all():
        out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
    return out


def percentiles(img: NDArray[Any], low: float, high: float) -> tuple[float, float]:
    """The ``low`` and ``high`` percentiles (inverted-CDF definition).

    8- and 16-bit grayscale images use a histogram (about 5x faster than sorting).
    """
    if img.ndim == 2 and img.dtype in (np.uint8, np.uint16):
        cdf = np.cumsum(np.bincount(img.ravel()))
        n = cdf[-1]
        lo = np.searchsorted(cdf, n * low / 100.0, side="left")
        hi = np.searchsorted(cdf, n * high / 100.0, side="left")
        return float(lo), float(hi)
    gray = to_gray(img)
    lo_f, hi_f = np.percentile(gray, [low, high], method="inverted_cdf")
    return float(lo_f), float(hi_f)


def normalise_square(img: NDArray[Any], size: int) -> NDArray[np.uint16]:
    """Percentile-normalised, centre-padded to square, resized to (size, size), as uint16."""
    lo, hi = percentiles(img, LOW_PCT, HIGH_PCT)
    gray = to_gray(img)
    scaled = np.clip((gray - lo) / max(float(hi - lo), 1e-6), 0.0, 1.0)
    h, w = scaled.shape
    side = max(h, w)
    square = np.zeros((side, side), dtype=np.float32)
    y0, x0 = (side - h) // 2, (side - w) // 2
    square[y0 : y0 + h, x0 : x0 + w] = scaled
    resized = np.asarray(
        Image.fromarray(square, mode="F").resize((size, size), Image.Resampling.BILINEAR)
    )
    return np.clip(resized * 65535.0 + 0.5, 0, 65535).astype(np.uint16)


def mask_partner_source(config: DatasourceConfig) -> DataSource | None:
    """The BPS ``DAPI_MASK_images`` folder beside a local ``Microscopy/train`` source."""
    if config.kind != "local":
        return None
    root = Path(config.path)
    partner = root.parent / bps.DAPI_MASK_FOLDER
    return LocalFolderSource(partner) if partner.is_dir() else None


def mask_out_neighbours(img: NDArray[Any], mask: NDArray[Any], target: int) -> NDArray[np.float32]:
    """Replaces pixels of other labelled objects (neighbours, debris) by the background level."""
    gray = to_gray(img)
    if mask.shape != gray.shape:
        raise ValueError(f"mask shape {mask.shape} differs from image shape {gray.shape}")
    others = (mask != 0) & (mask != target)
    if others.any():
        background = gray[mask == 0]
        gray = gray.copy()
        gray[others] = float(np.median(background)) if background.size else 0.0
    return gray


def decode_normalised(
    source: DataSource,
    partners: DataSource | None,
    relpath: str,
    spec: CacheSpec,
) -> NDArray[np.uint16]:
    """One cache row: the image at ``relpath`` decoded, masked if asked, normalised and resized.

    ``decode_measured`` does the same and also measures the image's pixel statistics.
    """
    return decode_measured(source, partners, relpath, spec)[0]


def decode_measured(
    source: DataSource,
    partners: DataSource | None,
    relpath: str,
    spec: CacheSpec,
) -> tuple[NDArray[np.uint16], ImageStats]:
    """One cache row and the pixel statistics of the image as stored (before any masking).

    Measuring here, while the pixels are decoded anyway, costs about 0.1 ms per crop and saves
    the quality flags a second pass over the images (``bps_core.quality.image_stats``).

    Args:
        source: Where the image is read.
        partners: The MASK partner folder (``mask_partner_source``), or None.
        relpath: The image's key in ``source``.
        spec: The cache's size and masking.

    Returns:
        Array of shape (spec.size, spec.size), uint16, and the image's ``ImageStats``.

    Raises:
        ImageDecodeError, DatasourceError, ValueError: an unreadable or unusable file.
    """
    img: NDArray[Any] = decode_image(source.read_bytes(relpath), relpath)
    stats = measure(img)
    if spec.mask_neighbours and partners is not None:
        name = bps.parse_filename(relpath)
        if name is not None:
            mask_key = name.filename("MASK")
            if partners.exists(mask_key):
                mask = decode_image(partners.read_bytes(mask_key), mask_key)
                img = mask_out_neighbours(img, mask, name.object)
    return normalise_square(img, spec.size), stats


_CHUNK = 256
_REMOTE_CHUNK = 16


def _fill_chunk(
    task: tuple[Path, int, list[str], DataSource, DataSource | None, CacheSpec],
) -> tuple[list[tuple[int, str]], list[tuple[int, ImageStats]]]:
    """Decodes one chunk of rows straight into the memory-mapped cache file.

    Returns the (row, reason) of each bad file and the (row, stats) of each good one.
    """
    path, start, relpaths, source, partners, spec = task
    out = np.load(path, mmap_mode="r+")
    errors: list[tuple[int, str]] = []
    stats: list[tuple[int, ImageStats]] = []
    for j, rel in enumerate(relpaths):
        try:
            out[start + j], row_stats = decode_measured(source, partners, rel, spec)
        except (ImageDecodeError, DatasourceError, ValueError) as exc:
            errors.append((start + j, str(exc)))
        else:
            stats.append((start + j, row_stats))
    out.flush()
    return errors, stats


def _paths(arrays_dir: Path, spec: CacheSpec) -> tuple[Path, Path]:
    folder = arrays_dir / "cache"
    return folder / f"{spec.name}.npy", folder / f"{spec.name}.json"


def load_cache(arrays_dir: Path, spec: CacheSpec, keys: Sequence[str]) -> ImageCache | None:
    """Loads the cache built for exactly ``keys`` (same order), or returns None.

    None means absent, stale (built for other keys) or damaged (a process killed mid-write, a
    truncated file): the caller then rebuilds it.
    """
    npy, meta = _paths(arrays_dir, spec)
    if not (npy.exists() and meta.exists()):
        return None
    try:
        info = json.loads(meta.read_text())
        if info.get("requested") != list(keys):
            return None
        images = np.load(npy, mmap_mode="r")
        kept, bad = list(info["keys"]), dict(info["bad"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if images.shape != (len(kept), spec.size, spec.size):
        return None
    return ImageCache(images, kept, bad, spec)


def build_cache(
    arrays_dir: Path,
    source: DataSource,
    relpaths: Sequence[str],
    keys: Sequence[str],
    spec: CacheSpec,
    *,
    partners: DataSource | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> ImageCache:
    """Decodes every image once into the cache (a memory-mapped ``.npy``) and returns it.

    Bad files are skipped and reported in ``ImageCache.bad`` (key -> reason), never fatal.
    Reuses an existing cache built for the same keys.
    """
    cached = load_cache(arrays_dir, spec, keys)
    if cached is not None:
        if progress:
            progress(1.0)
        return cached
    # Temp files are unique per process and call: two embedding runs at once each build their
    # own (the last to finish wins the rename), and any failure removes them.
    with PendingCache(arrays_dir, keys, spec) as pending:
        try:
            return _build(pending, source, relpaths, spec, partners, workers, progress)
        except OSError as exc:
            raise write_error(pending.npy, exc) from None


class PendingCache:
    """A cache being written: rows filled in any order, then committed whole (or discarded).

    Used as a context manager: leaving it without ``commit`` (an error, a kill) removes the
    temporary files, and a reader never sees a half-written cache. ``build_cache`` fills one
    with local processes or threads; the Ray path fills one from its workers' results.

    Args:
        arrays_dir: The project's ``arrays/`` folder.
        keys: The requested sample keys; row i belongs to ``keys[i]``.
        spec: What the cache holds.

    Raises:
        BpsError: the cache folder cannot be written (the message names it).
    """

    def __init__(self, arrays_dir: Path, keys: Sequence[str], spec: CacheSpec) -> None:
        self.keys, self.spec = list(keys), spec
        self.npy, self.meta = _paths(arrays_dir, spec)
        try:
            self.npy.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(self.npy.parent, exc) from None
        self._temps = [temp_path(self.npy, ".npy"), temp_path(self.npy, ".npy")]
        self._temps.append(temp_path(self.meta))
        self.path = self._temps[0]
        try:
            rows = np.lib.format.open_memmap(
                self.path, mode="w+", dtype=np.uint16, shape=(len(keys), spec.size, spec.size)
            )
            rows.flush()
        except OSError as exc:
            self.discard()
            raise write_error(self.npy, exc) from None
        #: The rows, memory-mapped (n, size, size); write row i for ``keys[i]``.
        self.rows: NDArray[np.uint16] = rows

    def __enter__(self) -> PendingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()

    def discard(self) -> None:
        """Removes the temporary files (a committed cache is kept)."""
        self.__dict__.pop("rows", None)
        for t in self._temps:
            t.unlink(missing_ok=True)

    def commit(self, ok: NDArray[np.bool_], bad: dict[str, str]) -> ImageCache:
        """Drops the rows of bad files and makes the cache the project's, atomically.

        Args:
            ok: Shape (n,): True where row i was decoded.
            bad: Key -> reason for each file that could not be used.

        Returns:
            The committed cache, memory-mapped.

        Raises:
            BpsError: no image could be decoded, or the folder cannot be written.
        """
        try:
            return self._commit(ok, bad)
        except OSError as exc:
            raise write_error(self.npy, exc) from None

    def _commit(self, ok: NDArray[np.bool_], bad: dict[str, str]) -> ImageCache:
        tmp, tmp2, meta_tmp = self._temps
        spec, keys = self.spec, self.keys
        self.__dict__.pop("rows", None)
        out = np.load(tmp, mmap_mode="r+")
        good = np.flatnonzero(ok)
        if len(good) == 0:
            del out
            raise BpsError("no image could be decoded; check the datasource and the bad-file list")
        if len(good) < len(keys):  # compact: drop the rows of bad files
            final = np.lib.format.open_memmap(
                tmp2, mode="w+", dtype=np.uint16, shape=(len(good), spec.size, spec.size)
            )
            final[:] = out[good]
            final.flush()
            del out, final
            tmp.unlink()
            tmp = tmp2
        else:
            out.flush()
            del out
        kept = [keys[int(i)] for i in good]
        meta_tmp.write_text(json.dumps({"requested": keys, "keys": kept, "bad": bad}))
        # Commit order: a process killed between these steps leaves no meta file (rebuilt next
        # time), never an old meta beside new rows or a half-written one.
        self.meta.unlink(missing_ok=True)
        os.replace(tmp, self.npy)
        os.replace(meta_tmp, self.meta)
        return ImageCache(np.load(self.npy, mmap_mode="r"), kept, dict(bad), spec)


def _build(
    pending: PendingCache,
    source: DataSource,
    relpaths: Sequence[str],
    spec: CacheSpec,
    partners: DataSource | None,
    workers: int | None,
    progress: Progress | None,
) -> ImageCache:
    keys = pending.keys
    tmp = pending.path
    ok = np.ones(len(keys), dtype=bool)
    bad: dict[str, str] = {}
    local = isinstance(source, LocalFolderSource)
    # Local files decode in processes (decoding holds the GIL); remote reads wait on the network,
    # so many threads keep requests in flight, each with a small chunk.
    n_workers = workers or ((os.cpu_count() or 1) if local else DEFAULT_WORKERS)
    step = _CHUNK if local else _REMOTE_CHUNK
    chunks = [range(i, min(i + step, len(keys))) for i in range(0, len(keys), step)]
    tasks = [
        (tmp, c.start, list(relpaths[c.start : c.stop]), source, partners, spec) for c in chunks
    ]
    use_processes = n_workers > 1 and len(chunks) > 1 and local
    pool_cls = ProcessPoolExecutor if use_processes else ThreadPoolExecutor
    done = 0
    measured: dict[str, ImageStats] = {}
    with pool_cls(max_workers=n_workers) as pool:
        for errors, stats in pool.map(_fill_chunk, tasks):
            for i, err in errors:
                ok[i] = False
                bad[keys[i]] = err
            measured.update((keys[i], st) for i, st in stats)
            done += step
            if progress:
                progress(min(done, len(keys)) / len(keys))
    cache = pending.commit(ok, bad)
    cache.stats = measured
    return cache

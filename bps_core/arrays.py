"""Reading the project's array files (embeddings, maps, predictions) with one clear error.

A truncated file, a pickled object array, a wrong shape, NaN values or a missing sidecar
raise ``DamagedArrayError`` naming the file and what to do, instead of a numpy traceback
later. Values are checked for NaN once per file version (path, size, mtime), so a page that
loads the same embeddings on every rerun pays for the scan once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bps_core.errors import DamagedArrayError

_FINITE_CHECKED: set[tuple[str, int, int]] = set()


def load_array(
    path: Path,
    *,
    fix: str,
    ndim: int,
    rows: int | None = None,
    cols: int | None = None,
    mmap: bool = True,
) -> NDArray[Any]:
    """The numeric array in ``path`` (memory-mapped unless ``mmap`` is False), checked.

    Args:
        path: The ``.npy`` file.
        fix: What the user should do when it is damaged, e.g. "recompute the embeddings".
        ndim: Expected number of dimensions.
        rows: Expected first dimension (number of rows), when known.
        cols: Expected second dimension (number of columns), when known.
        mmap: Memory-map the file (read-only) rather than reading it.

    Raises:
        DamagedArrayError: missing, unreadable, wrong dtype or shape, or not finite.
    """
    try:
        arr: NDArray[Any] = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise DamagedArrayError(f"{path} is missing; {fix}") from None
    except (ValueError, OSError, EOFError):
        raise DamagedArrayError(
            f"{path} is damaged (truncated, or not a plain numeric array); {fix}"
        ) from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu":
        raise DamagedArrayError(f"{path} does not hold numbers; {fix}")
    expected = (rows, cols)[:ndim]
    if arr.ndim != ndim or any(
        want is not None and have != want for want, have in zip(expected, arr.shape, strict=False)
    ):
        want_shape = " x ".join("n" if w is None else str(w) for w in expected)
        raise DamagedArrayError(f"{path} has shape {arr.shape}, expected ({want_shape}); {fix}")
    stat = path.stat()
    token = (str(path), stat.st_size, stat.st_mtime_ns)
    if arr.dtype.kind == "f" and token not in _FINITE_CHECKED:
        if not all_finite(arr):
            raise DamagedArrayError(f"{path} holds NaN or infinite values; {fix}")
        _FINITE_CHECKED.add(token)
    return arr


#: Elements per block of `all_finite` (16 MB of float32): the check's temporary stays small.
FINITE_BLOCK = 1 << 22


def all_finite(arr: NDArray[Any]) -> bool:
    """True when every value of ``arr`` is finite, checked block by block along its rows.

    ``np.isfinite(arr).all()`` builds a boolean array as large as ``arr`` in elements: 512 MB
    for 1M x 512 embeddings. Blocks of rows keep that temporary at ``FINITE_BLOCK`` elements.

    Args:
        arr: A numeric array (a memory-mapped one is read block by block).

    Returns:
        Whether no value is NaN or infinite.
    """
    if arr.ndim == 0 or arr.size == 0:
        return bool(np.isfinite(arr).all())
    per_row = max(1, arr.size // len(arr))
    step = max(1, FINITE_BLOCK // per_row)
    return all(bool(np.isfinite(arr[i : i + step]).all()) for i in range(0, len(arr), step))


def load_keys(path: Path, *, fix: str, n: int | None = None) -> list[str]:
    """The JSON list of sample keys beside an array file, checked (length ``n`` if given).

    Raises:
        DamagedArrayError: missing, not JSON, not a list of strings, or the wrong length.
    """
    try:
        keys = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise DamagedArrayError(f"{path} (the array's sample keys) is missing; {fix}") from None
    except (OSError, ValueError):
        raise DamagedArrayError(f"{path} is damaged (not a JSON list of keys); {fix}") from None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise DamagedArrayError(f"{path} is damaged (not a JSON list of keys); {fix}")
    if n is not None and len(keys) != n:
        raise DamagedArrayError(f"{path} lists {len(keys)} keys for {n} rows; {fix}")
    return keys

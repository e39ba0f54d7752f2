"""Atomic file writes: a temp file beside the destination, then a rename.

Every file the project writes (arrays, JSON sidecars, the config, CSV exports, checkpoints)
goes through here, so a crash or a full disk never leaves a destination cut mid-row: the
destination holds the old content or the new, never part of either. Temp names are unique
per process and call, so two processes writing the same destination never share a temp file;
a failed write removes its temp file. ``OSError`` (disk full, read-only folder, permission
denied) becomes one ``StorageWriteError`` line naming the destination.
"""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bps_core.errors import StorageWriteError

_WHY = {
    errno.ENOSPC: "the disk is full; free space and retry",
    errno.EDQUOT: "the disk quota is exceeded; free space and retry",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied; the project is read-only for this user",
    errno.EPERM: "permission denied; the project is read-only for this user",
}


def os_error_reason(exc: OSError) -> str:
    """What an ``OSError`` means for the user, without the raw library text."""
    return _WHY.get(exc.errno or 0) or (exc.strerror or type(exc).__name__)


def write_error(path: str | Path, exc: OSError) -> StorageWriteError:
    """One line for a failed write of ``path``: what failed and what to do."""
    return StorageWriteError(f"could not write {path}: {os_error_reason(exc)}")


def temp_path(path: str | Path, suffix: str = "") -> Path:
    """A fresh temp file name beside ``path``, unique per process and call.

    The file is not created, so it gets the usual permissions when the caller writes it.
    ``suffix`` is appended (``.npy`` keeps numpy from adding its own).
    """
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp{suffix}")


@contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yields a unique temp path beside ``path``; on a clean exit it replaces ``path``.

    On any exception the temp file is removed and ``path`` is left as it was; an ``OSError``
    is re-raised as ``StorageWriteError`` naming ``path``.

    Example::

        with atomic_path(folder / "x.npy", suffix=".npy") as tmp:
            np.save(tmp, array)
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(path, suffix)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise write_error(path, exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically (see ``atomic_path``)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Writes ``text`` to ``path`` atomically (see ``atomic_path``)."""
    atomic_write_bytes(path, text.encode(encoding))

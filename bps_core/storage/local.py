"""A local folder as a datasource."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from bps_core.errors import DatasourceError
from bps_core.storage.base import SourceListing


def safe_relative_key(key: str) -> str:
    """Validates a '/'-separated relative key: no absolute paths, '..', backslashes or NUL."""
    if not key or "\x00" in key or "\\" in key:
        raise DatasourceError(f"invalid key {key!r}: empty, or holds a NUL or backslash")
    p = PurePosixPath(key)
    if p.is_absolute() or ".." in p.parts or (p.parts and p.parts[0].endswith(":")):
        raise DatasourceError(f"invalid key {key!r}: must be relative and stay inside the root")
    return p.as_posix()


class LocalFolderSource:
    """Files under ``root``. Symbolic links that point outside the root are never followed."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise DatasourceError(f"{self.root}: not a folder; give the folder holding the images")

    def _path(self, key: str) -> Path:
        p = (self.root / safe_relative_key(key)).resolve()
        if not p.is_relative_to(self.root):
            raise DatasourceError(f"{key}: resolves outside the datasource root {self.root}")
        return p

    def list(self, prefix: str = "") -> Iterator[SourceListing]:
        base = self._path(prefix) if prefix else self.root
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                full = Path(dirpath) / name
                try:
                    real = full.resolve()
                    if not real.is_relative_to(self.root) or not real.is_file():
                        continue  # a link leaving the root, or a dangling link
                    size = real.stat().st_size
                except OSError:
                    continue
                yield SourceListing(full.relative_to(self.root).as_posix(), size)

    def read_bytes(self, key: str, length: int | None = None) -> bytes:
        path = self._path(key)
        try:
            with path.open("rb") as fh:
                return fh.read() if length is None else fh.read(length)
        except OSError as exc:
            raise DatasourceError(f"{key}: cannot read ({exc.strerror})") from None

    def exists(self, key: str) -> bool:
        try:
            return self._path(key).is_file()
        except DatasourceError:
            return False

    def uri(self, key: str = "") -> str:
        return (self._path(key) if key else self.root).as_uri()

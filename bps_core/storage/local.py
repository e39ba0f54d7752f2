"""A local folder as a datasource."""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from bps_core.errors import DatasourceError
from bps_core.storage.base import ListProgress, SourceListing


def safe_relative_key(key: str) -> str:
    """Validates a '/'-separated relative key: no absolute paths, '..', backslashes or NUL."""
    if not key or "\x00" in key or "\\" in key:
        raise DatasourceError(f"invalid key {key!r}: empty, or holds a NUL or backslash")
    parts = key.split("/")
    if not parts[0].endswith(":") and all(p not in ("", ".", "..") for p in parts):
        return key  # already normal: what the checks below would accept and return unchanged
    p = PurePosixPath(key)
    if p.is_absolute() or ".." in p.parts or (p.parts and p.parts[0].endswith(":")):
        raise DatasourceError(f"invalid key {key!r}: must be relative and stay inside the root")
    if not p.parts or p.name in ("", ".", ".."):
        raise DatasourceError(f"invalid key {key!r}: names no file")
    return p.as_posix()


def not_a_folder(path: Path) -> str:
    """Why ``path`` (not a folder) cannot be a datasource's root, and what to give instead."""
    if not path.exists():
        return f"{path}: no such folder (a typo?); give the folder holding the images"
    return f"{path}: a file, not a folder; give the folder holding the images"


class LocalFolderSource:
    """Files under ``root``. Symbolic links that point outside the root are never followed."""

    def __init__(self, root: str | os.PathLike[str], *, create: bool = False) -> None:
        if create:
            Path(root).mkdir(parents=True, exist_ok=True)
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise DatasourceError(not_a_folder(self.root))

    def _path(self, key: str) -> Path:
        rel = safe_relative_key(key)
        try:
            plain = self._plain_path(rel)
            if plain is not None:
                return plain
            p = (self.root / rel).resolve()
        except OSError as exc:  # e.g. a name too long for the file system
            raise DatasourceError(f"invalid key {key[:80]!r}: {exc.strerror}") from None
        if not p.is_relative_to(self.root):
            raise DatasourceError(f"{key}: resolves outside the datasource root {self.root}")
        return p

    def _plain_path(self, rel: str) -> Path | None:
        """``root / rel`` when no component of ``rel`` is a symbolic link, else None.

        The root is resolved once, when the source is built, so only the key's own components
        need a look (one ``lstat`` each, where ``Path.resolve`` walks every component of the
        root again for every key: most of the cost of listing and header checks at 100k files).
        A path without links below a real root is its own resolution and stays inside it; a
        component that does not exist ends the walk (nothing below it can be a link), as in
        ``resolve``. None (a link, or an error other than a missing component) sends the caller
        to the full ``resolve`` and its containment check.
        """
        current = str(self.root)
        for part in rel.split("/"):
            current = os.path.join(current, part)
            try:
                mode = os.lstat(current).st_mode
            except FileNotFoundError:
                break
            except OSError:
                return None
            if stat.S_ISLNK(mode):
                return None
        return self.root / rel

    def list(
        self, prefix: str = "", progress: ListProgress | None = None
    ) -> Iterator[SourceListing]:
        """Every file under ``prefix``, sorted by folder then name; ``progress`` gets the count.

        Hidden files and folders (a leading dot) are skipped, and so are links that leave the
        root or point nowhere. ``progress`` is called every 1000 files and once at the end.
        """
        base = self._path(prefix) if prefix else self.root
        n = 0
        for rel, size in self._walk(base):
            n += 1
            if progress is not None and n % 1000 == 0:
                progress(n)
            yield SourceListing(rel, size)
        if progress is not None:
            progress(n)

    def _walk(self, base: Path) -> Iterator[tuple[str, int]]:
        """(key, size) of each file under ``base``, in ``os.walk`` order (top-down, sorted).

        Folders reached through a link are not entered (as ``os.walk`` without
        ``followlinks``); a linked file is resolved and kept only when it is a file inside the
        root. Plain files need one ``stat`` each, no resolving: their folder is real.
        """
        top = base.relative_to(self.root).as_posix()
        pending = [(str(base), "" if top == "." else top + "/")]
        while pending:
            folder, prefix = pending.pop()
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError:
                continue  # an unreadable folder is skipped, as os.walk does
            subfolders = []
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                try:
                    if entry.is_dir():
                        if not entry.is_symlink():
                            subfolders.append((entry.path, prefix + entry.name + "/"))
                        continue
                    if entry.is_symlink():
                        real = Path(entry.path).resolve()
                        if not real.is_relative_to(self.root) or not real.is_file():
                            continue  # a link leaving the root, or a dangling link
                        size = real.stat().st_size
                    elif entry.is_file(follow_symlinks=False):
                        size = entry.stat(follow_symlinks=False).st_size
                    else:
                        continue  # a socket, fifo or device
                except OSError:
                    continue
                yield prefix + entry.name, size
            pending.extend(reversed(subfolders))

    def read_bytes(self, key: str, length: int | None = None) -> bytes:
        """The file's bytes, or its first ``length`` bytes.

        Raises:
            DatasourceError: The key is invalid or leaves the root, or the file cannot be read.
        """
        path = self._path(key)
        try:
            with path.open("rb") as fh:
                return fh.read() if length is None else fh.read(length)
        except OSError as exc:
            raise DatasourceError(f"{key}: cannot read ({exc.strerror})") from None

    def exists(self, key: str) -> bool:
        """Whether ``key`` is a file inside the root (False for an invalid key or a folder)."""
        try:
            return self._path(key).is_file()
        except DatasourceError:
            return False

    def uri(self, key: str = "") -> str:
        """The ``file://`` URI of ``key`` (resolved), or of the root when ``key`` is empty."""
        return (self._path(key) if key else self.root).as_uri()

    def head(self, key: str) -> SourceListing | None:
        """Size of the file ``key`` (no entity tag), or None when it is not a readable file."""
        path = self._path(key)
        try:
            return (
                SourceListing(safe_relative_key(key), path.stat().st_size)
                if path.is_file()
                else None
            )
        except OSError:
            return None

    def write_bytes(self, key: str, data: bytes, content_type: str = "") -> None:
        """Writes through a temporary file and an atomic rename; readers never see half a file."""
        path = self._path(key)
        if path == self.root:
            raise DatasourceError(f"invalid key {key!r}: names the root folder, not a file")
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            tmp.replace(path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise DatasourceError(
                f"{key}: cannot write under {self.root} ({exc.strerror})"
            ) from None

    def delete(self, key: str) -> None:
        """Removes the file ``key``; a missing file is not an error.

        Raises:
            DatasourceError: The key is invalid, or the file cannot be removed.
        """
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise DatasourceError(f"{key}: cannot delete ({exc.strerror})") from None

"""A bounded local cache of fetched objects, so browsing and re-embedding do not refetch.

Objects are stored as files named by a hash of their URI. Reads touch the file's modification
time, which orders eviction: when the cache grows past ``max_bytes`` the least recently used
files are removed until it is back under 90% of the limit (the margin keeps eviction rare).
Several processes (the app server and job workers) may share one cache folder: writes are
atomic renames and eviction re-scans the folder, so each sees the others' files.

Objects are assumed immutable, as image crops in a dataset bucket are; clear the folder after
replacing objects in place.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bps_core.storage.base import DataSource, ListProgress, SourceListing

_LOW_WATER = 0.9


@dataclass
class CacheStats:
    """Counters of one ``CachedSource`` since it was opened (this process only).

    Attributes:
        hits: Full reads served from the cache folder.
        misses: Full reads fetched from the wrapped source.
        evictions: Files removed to bring the cache back under its limit.
    """

    hits: int = 0
    misses: int = 0
    evictions: int = 0


class CachedSource:
    """A datasource wrapper whose full reads go through a bounded local cache folder.

    Partial reads (header sniffing) are answered from a cached file when there is one, else
    pass straight through and never fill the cache. Objects larger than half of ``max_bytes``
    are never cached, so one huge object cannot flush the rest.

    Args:
        inner: The datasource to read from on a miss.
        folder: The cache folder (created if missing); other processes may share it.
        max_bytes: The size limit; past it, least recently used files are evicted.

    Raises:
        ValueError: ``max_bytes`` is not positive.
    """

    def __init__(self, inner: DataSource, folder: Path, *, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.inner = inner
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.stats = CacheStats()
        self._lock = threading.Lock()
        self._index: OrderedDict[str, int] = OrderedDict()
        self._total = 0
        self._rescan()

    # the DataSource protocol --------------------------------------------------------------
    def list(
        self, prefix: str = "", progress: ListProgress | None = None
    ) -> Iterator[SourceListing]:
        """The wrapped source's listing (never cached)."""
        return self.inner.list(prefix, progress)

    def contains(self, key: str) -> bool:
        """Whether ``key`` is in the local cache (no request is made)."""
        return self._path(key).exists()

    def exists(self, key: str) -> bool:
        """Whether ``key`` exists: true at once when cached, else asks the wrapped source."""
        return self._path(key).exists() or self.inner.exists(key)

    def uri(self, key: str = "") -> str:
        """The wrapped source's URI for ``key`` (the cache is invisible to users)."""
        return self.inner.uri(key)

    def read_bytes(self, key: str, length: int | None = None) -> bytes:
        """The object's bytes (or its first ``length``), from the cache when it holds them.

        A full read on a miss fetches the object and keeps it (unless it is over half the
        limit, or the disk refuses: caching is then skipped, the read still succeeds).
        """
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            pass
        else:
            os.utime(path)
            with self._lock:
                self.stats.hits += 1
                if path.name in self._index:
                    self._index.move_to_end(path.name)
            return data if length is None else data[:length]
        if length is not None:
            return self.inner.read_bytes(key, length)
        data = self.inner.read_bytes(key)
        with self._lock:
            self.stats.misses += 1
        if len(data) <= self.max_bytes // 2:  # one huge object must not flush the cache
            self._store(path, data)
        return data

    # internals ------------------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(self.inner.uri(key).encode()).hexdigest()
        return self.folder / digest[:2] / digest

    def _store(self, path: Path, data: bytes) -> None:
        """Keeps ``data`` in the cache, evicting old files when it grows past the limit.

        A full or read-only disk only skips caching (the read itself succeeded) and leaves no
        partial file.
        """
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            path.parent.mkdir(exist_ok=True)
            tmp.write_bytes(data)
            tmp.replace(path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            return
        with self._lock:
            old = self._index.pop(path.name, 0)
            self._index[path.name] = len(data)
            self._total += len(data) - old
            over = self._total > self.max_bytes
        if over:
            self._evict()

    def _rescan(self) -> None:
        """Rebuilds the index from the folder, oldest first (includes other processes' files)."""
        entries = []
        for sub in self.folder.iterdir():
            if not sub.is_dir():
                continue
            for f in sub.iterdir():
                if f.name.startswith("."):
                    continue
                try:
                    st = f.stat()
                except FileNotFoundError:
                    continue
                entries.append((st.st_mtime_ns, f.name, st.st_size))
        entries.sort()
        with self._lock:
            self._index = OrderedDict((name, size) for _, name, size in entries)
            self._total = sum(size for _, _, size in entries)

    def _evict(self) -> None:
        self._rescan()
        target = int(self.max_bytes * _LOW_WATER)
        with self._lock:
            while self._total > target and self._index:
                name, size = self._index.popitem(last=False)
                (self.folder / name[:2] / name).unlink(missing_ok=True)
                self._total -= size
                self.stats.evictions += 1

    @property
    def size_bytes(self) -> int:
        """The bytes this cache last counted in its folder (other processes' writes included)."""
        return self._total

    def __len__(self) -> int:
        return len(self._index)

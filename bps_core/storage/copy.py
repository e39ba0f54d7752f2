"""Copy objects from one datasource to another (e.g. a selection into another team's bucket).

Server-side ``CopyObject`` is used when both ends are S3 on one endpoint with one identity (the
destination's credentials must also read the source; if S3 refuses, the copy falls back to
streaming for the rest). Otherwise each object is downloaded and uploaded. An existing
destination object is never replaced unless ``overwrite``: one with the same size and ETag
counts as already copied (so a re-run resumes), one that differs is kept and reported.

Keys that name one file in a folder destination (``double//slash.tif`` and ``double/slash.tif``;
``A.tif`` and ``a.tif``, which macOS and Windows treat as one) collide: the first in sorted
order is copied, the others are not, and each is reported in ``collisions``. S3 keys are exact,
so an S3 destination has no such collisions.
"""

from __future__ import annotations

import hashlib
import threading
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from bps_core.errors import BpsError
from bps_core.storage.base import DataSource, SourceListing, WritableSource
from bps_core.storage.cache import CachedSource
from bps_core.storage.fetch import DEFAULT_WORKERS
from bps_core.storage.local import LocalFolderSource, safe_relative_key
from bps_core.storage.s3.client import same_identity
from bps_core.storage.s3.errors import S3Error
from bps_core.storage.s3.source import S3Source
from bps_core.storage.validation import check_prefix


@dataclass
class CopyReport:
    """What a copy did, key by key."""

    mode: str = "stream"
    copied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already there, identical
    conflicts: list[str] = field(default_factory=list)  # already there, different: kept
    failed: dict[str, str] = field(default_factory=dict)
    collisions: dict[str, str] = field(default_factory=dict)  # key -> the key it collides with

    def summary(self) -> str:
        """One line for the user: how many were copied, already there, kept, failed, colliding."""
        out = (
            f"copied {len(self.copied)} ({self.mode}), {len(self.skipped)} already there, "
            f"{len(self.conflicts)} kept because they differ (use overwrite to replace), "
            f"{len(self.failed)} failed"
        )
        if self.collisions:
            key, other = next(iter(self.collisions.items()))
            out += (
                f", {len(self.collisions)} not copied because they name the same file as "
                f"another key (e.g. {key!r} and {other!r})"
            )
        return out

    def as_dict(self, limit: int = 50) -> dict[str, Any]:
        """The report as JSON-ready counts plus up to ``limit`` examples of each problem.

        The copied and skipped keys are only counted, never listed.
        """
        return {
            "mode": self.mode,
            "n_copied": len(self.copied),
            "n_skipped": len(self.skipped),
            "n_conflicts": len(self.conflicts),
            "n_failed": len(self.failed),
            "conflicts": self.conflicts[:limit],
            "failed": dict(list(self.failed.items())[:limit]),
            "n_collisions": len(self.collisions),
            "collisions": dict(list(self.collisions.items())[:limit]),
        }


def _s3(source: DataSource) -> S3Source | None:
    inner = source.inner if isinstance(source, CachedSource) else source
    return inner if isinstance(inner, S3Source) else None


def file_key(key: str) -> str:
    """The file a key names in a folder, as a file system may compare it.

    ``//`` and ``./`` are collapsed, and the result Unicode-normalised and case-folded (as on
    macOS and Windows).
    """
    return unicodedata.normalize("NFC", PurePosixPath(key).as_posix()).casefold()


def folder_collisions(keys: Sequence[str]) -> dict[str, str]:
    """``{key: the key it collides with}`` for keys naming the same file as an earlier key.

    "Earlier" is in sorted order: that key is copied, the colliding ones are not. Two keys
    collide when ``file_key`` makes them equal; unsafe keys are left out (the copy refuses
    them with their own reason).
    """
    first: dict[str, str] = {}
    out: dict[str, str] = {}
    for key in sorted(keys):
        try:
            safe_relative_key(key)
        except BpsError:
            continue  # refused with its own reason when copied
        other = first.setdefault(file_key(key), key)
        if other != key:
            out[key] = other
    return out


def _plain_etag(etag: str) -> str:
    """An ETag that is the MD5 of the content ('' for multipart ETags, which are not)."""
    return etag if etag and "-" not in etag else ""


def _same(existing: SourceListing, size: int, etag: str) -> bool:
    if existing.size != size:
        return False
    a, b = _plain_etag(existing.etag), _plain_etag(etag)
    return not (a and b) or a == b


def copy_objects(
    source: DataSource,
    dest: WritableSource,
    keys: Sequence[str],
    *,
    overwrite: bool = False,
    dest_prefix: str = "",
    workers: int = DEFAULT_WORKERS,
    progress: Callable[[float], None] | None = None,
) -> CopyReport:
    """Copies ``keys`` (relative to the source root) to ``dest_prefix + key`` under ``dest``."""
    dest_prefix = check_prefix(dest_prefix)
    src_s3, dst_s3 = _s3(source), _s3(dest)
    server_side = (
        src_s3 is not None and dst_s3 is not None and same_identity(src_s3.config, dst_s3.config)
    )
    report = CopyReport(mode="server-side" if server_side else "stream")
    lock = threading.Lock()
    fallback = threading.Event()

    def one(key: str) -> str:
        """Returns 'copied', 'skipped' or 'conflict'; raises BpsError on failure."""
        target = dest_prefix + key
        existing = dest.head(target)
        data: bytes | None = None
        if src_s3 is not None:
            meta = src_s3.head(key)
            if meta is None:
                raise BpsError(f"{source.uri(key)}: not found in the source")
            size, etag = meta.size, meta.etag
        else:
            data = source.read_bytes(key)
            size, etag = len(data), hashlib.md5(data, usedforsecurity=False).hexdigest()
        if existing is not None and not overwrite:
            return "skipped" if _same(existing, size, etag) else "conflict"
        if server_side and src_s3 is not None and dst_s3 is not None and not fallback.is_set():
            try:
                dst_s3.copy_from(src_s3, key, target)
                return "copied"
            except S3Error as exc:
                if exc.code not in ("AccessDenied", "403"):
                    raise
                fallback.set()  # the destination identity cannot read the source: stream
                with lock:
                    report.mode = "stream (server-side copy was refused)"
        dest.write_bytes(target, data if data is not None else source.read_bytes(key))
        return "copied"

    unique = list(dict.fromkeys(keys))
    if dst_s3 is None:  # a folder: keys that name one file would overwrite each other
        report.collisions = folder_collisions([dest_prefix + k for k in unique])
        report.collisions = {k.removeprefix(dest_prefix): v.removeprefix(dest_prefix)
                             for k, v in report.collisions.items()}  # fmt: skip
        unique = [k for k in unique if k not in report.collisions]
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(unique) or 1))) as pool:
        futures = {pool.submit(one, k): k for k in unique}
        for n, fut in enumerate(as_completed(futures), start=1):
            key = futures[fut]
            try:
                outcome = fut.result()
            except BpsError as exc:
                report.failed[key] = str(exc)
            else:
                {"copied": report.copied, "skipped": report.skipped,
                 "conflict": report.conflicts}[outcome].append(key)  # fmt: skip
            if progress is not None:
                progress(n / len(unique))
    for bucket in (report.copied, report.skipped, report.conflicts):
        bucket.sort()
    return report


def upload_folder(
    folder: Path,
    dest: WritableSource,
    prefix: str = "",
    *,
    overwrite: bool = True,
    progress: Callable[[float], None] | None = None,
) -> CopyReport:
    """Uploads every file under a local ``folder`` to ``dest`` under ``prefix``.

    Exports built in a temporary folder go to S3 this way; keys can never leave the
    destination.
    """
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return copy_objects(LocalFolderSource(folder), dest, files, overwrite=overwrite,
                        dest_prefix=prefix, progress=progress)  # fmt: skip

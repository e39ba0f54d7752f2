"""Concurrent reads from a datasource through a thread pool.

S3 latency, not bandwidth, bounds small-object fetches, so a thread pool of in-flight requests
is what makes thumbnails and embedding fast on remote data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from bps_core.errors import BpsError
from bps_core.storage.base import DataSource

#: Requests in flight by default; boto3 clients here hold a pool of 32 connections.
DEFAULT_WORKERS = 16


@dataclass
class FetchResult:
    """Bytes per key that could be read, and the error message for each that could not."""

    data: dict[str, bytes] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def fetch_many(
    source: DataSource,
    keys: Sequence[str],
    *,
    workers: int = DEFAULT_WORKERS,
    progress: Callable[[float], None] | None = None,
) -> FetchResult:
    """Reads every key with ``workers`` requests in flight; failures are collected, not raised."""
    result = FetchResult()
    if not keys:
        return result
    unique = list(dict.fromkeys(keys))
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(unique)))) as pool:
        futures = {pool.submit(source.read_bytes, k): k for k in unique}
        for n, fut in enumerate(as_completed(futures), start=1):
            key = futures[fut]
            try:
                result.data[key] = fut.result()
            except BpsError as exc:
                result.errors[key] = str(exc)
            if progress is not None:
                progress(n / len(unique))
    return result

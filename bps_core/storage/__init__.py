"""Datasources behind one small interface: list keys, read bytes, name a key's URI.

Output datasources also write and delete. Local folders and S3 (or S3-compatible) buckets.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bps_core.errors import DatasourceError
from bps_core.storage.base import (
    AUTH_MODES,
    PURPOSES,
    DataSource,
    DatasourceConfig,
    SourceListing,
    WritableSource,
)
from bps_core.storage.local import LocalFolderSource

__all__ = [
    "AUTH_MODES",
    "PURPOSES",
    "DataSource",
    "DatasourceConfig",
    "LocalFolderSource",
    "SourceListing",
    "WritableSource",
    "open_source",
    "open_writable",
]

#: Default size limit of the local cache of fetched S3 objects, per project.
DEFAULT_CACHE_BYTES = 2 * 1024**3


def open_source(
    config: DatasourceConfig,
    *,
    cache_dir: str | Path | None = None,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    env: Mapping[str, str] | None = None,
) -> DataSource:
    """The datasource a configuration describes, opened for reading.

    Remote sources read through a bounded local cache (least recently used objects evicted)
    when ``cache_dir`` is given; a local folder is always read directly.
    """
    if config.kind == "local":
        return LocalFolderSource(config.path)
    from bps_core.storage.s3.source import S3Source

    source = S3Source(config, env)
    if cache_dir is None:
        return source
    from bps_core.storage.cache import CachedSource

    return CachedSource(source, Path(cache_dir), max_bytes=cache_bytes)


def open_writable(config: DatasourceConfig, env: Mapping[str, str] | None = None) -> WritableSource:
    """A datasource to write to; refuses an ``input``-only purpose (it may not be written)."""
    if not config.can_write:
        raise DatasourceError(
            f"datasource {config.id!r} has purpose 'input' (list and read only); "
            "use an 'output' or 'input_output' datasource to write"
        )
    if config.kind == "local":
        return LocalFolderSource(config.path, create=True)
    from bps_core.storage.s3.source import S3Source

    return S3Source(config, env)

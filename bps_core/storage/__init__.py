"""Datasources behind one small interface: list keys, read bytes, name a key's URI."""

from bps_core.storage.base import DataSource, DatasourceConfig, SourceListing
from bps_core.storage.local import LocalFolderSource

__all__ = ["DataSource", "DatasourceConfig", "LocalFolderSource", "SourceListing", "open_source"]


def open_source(config: DatasourceConfig) -> DataSource:
    """The datasource a configuration describes."""
    if config.kind == "local":
        return LocalFolderSource(config.path)
    raise NotImplementedError(f"datasource kind {config.kind!r} is not supported yet")

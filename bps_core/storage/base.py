"""The datasource Protocol and its configuration record."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bps_core.errors import DatasourceError

_ID_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
PURPOSES = ("input", "output", "input_output")


@dataclass(frozen=True)
class DatasourceConfig:
    """Where samples come from. Plain data: safe to store in a project file (never secrets).

    Attributes:
        id: Short name used in sample keys (``input:relative/path.tif``).
        kind: ``local`` (S3 arrives with the datasource issue).
        path: Root folder of a local source.
        purpose: ``input`` (list + read), ``output`` or ``input_output``, as in Lightly.
    """

    id: str = "input"
    kind: str = "local"
    path: str = ""
    purpose: str = "input"

    def validate(self) -> None:
        if not _ID_RE.match(self.id):
            raise DatasourceError(
                f"datasource id {self.id!r}: use 1-32 lower-case letters, digits, '-' or '_', "
                "starting with a letter"
            )
        if self.kind != "local":
            raise DatasourceError(f"datasource kind {self.kind!r}: only 'local' is supported yet")
        if self.purpose not in PURPOSES:
            raise DatasourceError(f"purpose {self.purpose!r}: choose one of {', '.join(PURPOSES)}")
        if not self.path:
            raise DatasourceError("datasource path is empty: give the folder that holds the images")

    @property
    def uri(self) -> str:
        return Path(self.path).resolve().as_uri()


@dataclass(frozen=True)
class SourceListing:
    """One listed object: its key relative to the source root and its size in bytes."""

    key: str
    size: int


Progress = Callable[[float], None]


class DataSource(Protocol):
    """Read access to a folder of images, local or remote. Keys are '/'-separated and relative."""

    def list(self, prefix: str = "") -> Iterator[SourceListing]:
        """Every object under ``prefix``, in a stable order."""
        ...

    def read_bytes(self, key: str, length: int | None = None) -> bytes:
        """The object's bytes, or its first ``length`` bytes."""
        ...

    def exists(self, key: str) -> bool: ...

    def uri(self, key: str = "") -> str:
        """A URI a user can recognise (``file:///...`` or ``s3://...``)."""
        ...

"""Typed errors that the core raises and the UI turns into messages."""

from __future__ import annotations


class BpsError(Exception):
    """Base class for errors a user can act on."""


class ImageDecodeError(BpsError):
    """An image file could not be decoded safely.

    The message names the file, says what is wrong and what to do.
    """

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"{name}: {reason}")


class MetadataError(BpsError):
    """A metadata file (meta.csv or a user CSV) is malformed."""


class ProjectError(BpsError):
    """A project folder is missing, malformed or of an unsupported version."""


class DatasourceError(BpsError):
    """A datasource is misconfigured or unreachable."""


class UnknownSampleError(BpsError):
    """Label or selection refers to sample keys the project does not hold."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        shown = ", ".join(repr(k) for k in keys[:5])
        more = f" and {len(keys) - 5} more" if len(keys) > 5 else ""
        super().__init__(f"{len(keys)} unknown sample key(s): {shown}{more}")


class StaleLabelError(BpsError):
    """A sample was relabeled by someone else since it was shown; nothing was written.

    Attributes:
        keys: The samples whose label changed since.
    """

    def __init__(self, message: str, keys: list[str]) -> None:
        self.keys = keys
        super().__init__(message)


class SamplesTakenError(BpsError):
    """A round to record holds samples that other rounds picked since it was previewed."""

    def __init__(self, keys: list[str], round_ids: list[int]) -> None:
        self.keys = keys
        self.round_ids = round_ids
        rounds = ", ".join(str(r) for r in round_ids)
        super().__init__(f"{len(keys)} sample(s) already picked by round(s) {rounds}")


class StorageWriteError(BpsError):
    """A file could not be written (disk full, read-only folder); nothing partial was left."""


class ReadOnlyProjectError(ProjectError):
    """A write was attempted on a project opened read-only."""


class ProjectDatabaseError(ProjectError):
    """The project database failed under a command: damaged, or its disk full.

    Raised in place of the database driver's own error (``bps_core.project.database_errors``),
    so front ends catch a ``BpsError`` and never import the driver.
    """


class DamagedArrayError(ProjectError):
    """An array file of the project (embeddings, map, predictions) is missing or damaged."""


class SettingsError(BpsError, ValueError):
    """A setting of a workflow (a job's or a verb's) is missing, unknown or out of range.

    Raised when the settings object is built, so a bad value never reaches a job's row. The
    message names the field.
    """

"""The datasource Protocols and the configuration record of one datasource."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol

from bps_core.errors import DatasourceError
from bps_core.storage import validation as v

_ID_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
PURPOSES = ("input", "output", "input_output")
KINDS = ("local", "s3")
#: How an S3 datasource authenticates (see ``DatasourceConfig``).
AUTH_MODES = ("anonymous", "default", "assume-role", "keys")


@dataclass(frozen=True)
class DatasourceConfig:
    """Where samples come from or results go.

    Plain data, safe to store in a project file: it never holds secrets (``keys`` mode reads
    them from the environment or Streamlit secrets).

    Attributes:
        id: Short name used in sample keys (``input:relative/path.tif``).
        kind: ``local`` or ``s3``.
        path: Root folder of a local source.
        purpose: ``input`` (list + read), ``output`` (list + read + write + delete; where
            thumbnails, predictions, metadata and embeddings go) or ``input_output``.
        bucket, prefix, region, endpoint_url: The S3 location; ``endpoint_url`` is for
            S3-compatible stores (MinIO, Ceph, a local test server).
        auth: ``anonymous`` (unsigned, public buckets), ``default`` (boto3's credential chain or
            ``profile``), ``assume-role`` (``role_arn`` + ``external_id``, refreshed before
            expiry) or ``keys`` (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from the environment or
            the ``[aws]`` table of Streamlit secrets).
        allow_link_local_endpoint: Permit an endpoint on a link-local/metadata address.
        allow_private_endpoint: Permit an endpoint on a loopback or private address (a store on
            this machine or the local network: MinIO on localhost, a test server). Off by
            default, so a shared server cannot be pointed at its own internal services.

    Every field is checked when the config is made (``__post_init__``, before any network
    call) and an S3 prefix is stored in its canonical ``a/b/`` form, so a config that exists
    is valid: nothing downstream (the form, the project file, the access check, the client)
    checks it again.

    Raises:
        DatasourceError: a field is invalid; the message names the field and what to type.
    """

    id: str = "input"
    kind: str = "local"
    path: str = ""
    purpose: str = "input"
    bucket: str = ""
    prefix: str = ""
    region: str = ""
    endpoint_url: str = ""
    auth: str = "default"
    profile: str = ""
    role_arn: str = ""
    external_id: str = ""
    session_name: str = "bps-labeler"
    session_duration_s: int = 3600
    allow_link_local_endpoint: bool = False
    allow_private_endpoint: bool = False

    def __post_init__(self) -> None:
        self._check()
        if self.kind == "s3":
            object.__setattr__(self, "prefix", v.check_prefix(self.prefix))

    @classmethod
    def from_dict(cls, doc: dict[str, Any], where: str = "datasource") -> DatasourceConfig:
        """Reads a stored configuration; unknown settings are refused with their names.

        Raises:
            DatasourceError: an unknown setting, or an invalid field.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise DatasourceError(f"{where}: unknown setting(s) {', '.join(unknown)}")
        return cls(**doc)

    @classmethod
    def s3(cls, uri: str, **kwargs: Any) -> DatasourceConfig:
        """An S3 datasource from ``s3://bucket/prefix`` plus settings.

        Raises:
            DatasourceError: the location or a setting is invalid.
        """
        bucket, prefix = v.split_s3_uri(uri)
        return cls(kind="s3", bucket=bucket, prefix=prefix, **kwargs)

    def _check(self) -> None:
        """Checks every field (the one place a datasource config is validated)."""
        if not isinstance(self.id, str) or not _ID_RE.fullmatch(self.id):
            raise DatasourceError(
                f"datasource id {self.id!r}: use 1-32 lower-case letters, digits, '-' or '_', "
                "starting with a letter"
            )
        if self.kind not in KINDS:
            raise DatasourceError(f"datasource kind {self.kind!r}: choose one of local, s3")
        if self.purpose not in PURPOSES:
            raise DatasourceError(f"purpose {self.purpose!r}: choose one of {', '.join(PURPOSES)}")
        if self.kind == "local":
            if not self.path:
                raise DatasourceError(
                    "datasource path is empty: give the folder that holds the images"
                )
            return
        v.check_bucket(self.bucket)
        v.check_prefix(self.prefix)
        if self.region:
            v.check_region(self.region)
        if self.endpoint_url:
            v.check_endpoint_url(
                self.endpoint_url,
                allow_link_local=self.allow_link_local_endpoint,
                allow_private=self.allow_private_endpoint,
            )
        if self.auth not in AUTH_MODES:
            raise DatasourceError(f"auth {self.auth!r}: choose one of {', '.join(AUTH_MODES)}")
        if self.profile:
            if self.auth not in ("default", "assume-role"):
                raise DatasourceError(
                    f"profile {self.profile!r} is only used with auth 'default' or 'assume-role'"
                )
            v.check_profile(self.profile)
        if self.auth == "assume-role":
            v.check_role_arn(self.role_arn)
            v.check_external_id(self.external_id)
            v.check_session_name(self.session_name)
            v.check_session_duration(self.session_duration_s)
        elif self.role_arn or self.external_id:
            raise DatasourceError("role ARN and external ID are only used with auth 'assume-role'")

    @property
    def can_write(self) -> bool:
        """True for the ``output`` and ``input_output`` purposes."""
        return self.purpose in ("output", "input_output")

    @property
    def uri(self) -> str:
        """The root as a URI: ``s3://bucket/prefix`` or the local folder's ``file://`` URI.

        A local path is resolved (made absolute, symlinks followed) first.
        """
        if self.kind == "s3":
            return f"s3://{self.bucket}/{self.prefix}"
        return Path(self.path).resolve().as_uri()

    def describe(self) -> dict[str, str]:
        """The settings a user sees (never secrets: the config holds none)."""
        out = {"id": self.id, "kind": self.kind, "location": self.uri, "purpose": self.purpose}
        if self.kind == "s3":
            out.update(region=self.region or "(default)", auth=self.auth)
            if self.endpoint_url:
                out["endpoint URL"] = self.endpoint_url
            if self.allow_private_endpoint:
                out["private endpoint"] = "allowed"
            if self.profile:
                out["profile"] = self.profile
            if self.auth == "assume-role":
                out.update(role_arn=self.role_arn, external_id=self.external_id)
        return out


def join_uri(base: str, rel: str) -> str:
    """``rel`` under the folder URI ``base``, with exactly one ``/`` between them.

    For example, ``file:///data/out`` + ``.lightly/`` is ``file:///data/out/.lightly/``.
    """
    return (base if base.endswith("/") else base + "/") + rel.lstrip("/")


@dataclass(frozen=True)
class SourceListing:
    """One listed object: its key relative to the source root, its size and its entity tag.

    ``size`` is in bytes; ``etag`` is the store's entity tag where it has one (S3's ETag; ''
    for local files).
    """

    key: str
    size: int
    etag: str = ""


Progress = Callable[[float], None]
ListProgress = Callable[[int], None]


class DataSource(Protocol):
    """Read access to a folder of images, local or remote. Keys are '/'-separated and relative."""

    def list(
        self, prefix: str = "", progress: ListProgress | None = None
    ) -> Iterator[SourceListing]:
        """Every object under ``prefix``, in a stable order; ``progress`` gets the count so far."""
        ...

    def read_bytes(self, key: str, length: int | None = None) -> bytes:
        """The object's bytes, or its first ``length`` bytes."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object ``key`` exists (a folder of a local source does not count)."""
        ...

    def uri(self, key: str = "") -> str:
        """A URI a user can recognise (``file:///...`` or ``s3://...``)."""
        ...


class WritableSource(DataSource, Protocol):
    """A datasource that can also be written: an ``output`` or ``input_output`` purpose."""

    def head(self, key: str) -> SourceListing | None:
        """Size and entity tag of ``key``, or None when it does not exist."""
        ...

    def write_bytes(self, key: str, data: bytes, content_type: str = "") -> None:
        """Creates or replaces ``key`` with ``data`` (atomically: readers never see half)."""
        ...

    def delete(self, key: str) -> None:
        """Removes ``key``; removing a missing key is not an error."""
        ...

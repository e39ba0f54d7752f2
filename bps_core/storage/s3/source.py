"""The S3 datasource: objects under ``s3://bucket/prefix`` behind the datasource protocol.

Requests go through the shared client of the configuration's identity (``client.s3_client``)
and ``client.call_with_retries``, so every failure leaves as an ``S3Error``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any, TypeVar

from bps_core.errors import DatasourceError
from bps_core.storage.base import DatasourceConfig, ListProgress, SourceListing
from bps_core.storage.local import safe_relative_key
from bps_core.storage.s3.client import call_with_retries, s3_client
from bps_core.storage.s3.errors import too_large
from bps_core.storage.validation import check_prefix

#: Largest object read whole: the image decoder's file-size cap (``images.DecodeLimits``).
MAX_OBJECT_BYTES = 256 * 1024 * 1024

T = TypeVar("T")


class S3Source:
    """Objects under ``s3://bucket/prefix``; keys are relative to the prefix.

    Listing skips folder markers and hidden segments (``.lightly/``), like a local folder.
    """

    def __init__(self, config: DatasourceConfig, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        if self.config.kind != "s3":
            raise DatasourceError(f"S3Source needs an s3 datasource, got {config.kind!r}")
        self.bucket = self.config.bucket
        self.root = self.config.prefix
        self.client = s3_client(self.config, env)

    def _key(self, key: str) -> str:
        return self.root + safe_relative_key(key)

    def _call(self, operation: str, where: str, fn: Callable[[], T]) -> T:
        return call_with_retries(self.config, operation, where, fn)

    def list(
        self, prefix: str = "", progress: ListProgress | None = None
    ) -> Iterator[SourceListing]:
        """Pages through ``ListObjectsV2`` (1,000 keys a page), in S3's lexicographic order."""
        full = self.root + check_prefix(prefix)
        where = f"s3://{self.bucket}/{full}"
        n = 0
        token = ""
        while True:  # explicit continuation tokens: a failed page is retried, never skipped
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": full}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call(
                "s3:ListBucket", where, partial(self.client.list_objects_v2, **kwargs)
            )
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(self.root) :]
                if not rel or rel.endswith("/") or any(p.startswith(".") for p in rel.split("/")):
                    continue
                n += 1
                yield SourceListing(rel, int(obj["Size"]), str(obj.get("ETag", "")).strip('"'))
            if progress is not None:
                progress(n)
            token = page.get("NextContinuationToken", "") if page.get("IsTruncated") else ""
            if not token:
                break

    def read_bytes(self, key: str, length: int | None = None) -> bytes:
        """The object's bytes, or its first ``length`` bytes (a ranged GET).

        A body whose connection drops mid-read is fetched again, like any other transient
        failure.

        A full read is capped at ``MAX_OBJECT_BYTES`` (the image decoder's file-size limit):
        an object whose Content-Length is larger is refused before its body is read, and a body
        that runs past the cap (a store that lies about the length) is cut off at the cap. So
        a 600 MB object never reaches memory or the local cache.
        """
        full = self._key(key)
        where = f"s3://{self.bucket}/{full}"
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": full}
        if length is not None:
            if length <= 0:
                return b""
            kwargs["Range"] = f"bytes=0-{length - 1}"

        def get() -> bytes:
            cap = MAX_OBJECT_BYTES if length is None else length
            resp = self.client.get_object(**kwargs)
            body = resp["Body"]
            try:
                size = int(resp.get("ContentLength") or 0)
                if size > cap:
                    raise too_large(where, size, cap)
                data: bytes = body.read(cap + 1)
                if len(data) > cap:
                    raise too_large(where, None, cap)
                return data
            finally:
                body.close()

        result: bytes = self._call("s3:GetObject", where, get)
        return result

    def head(self, key: str) -> SourceListing | None:
        """Size and entity tag of ``key`` (a ``HeadObject``), or None when it does not exist."""
        from botocore.exceptions import ClientError

        full = self._key(key)

        def head() -> Any:
            try:
                return self.client.head_object(Bucket=self.bucket, Key=full)
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code"))
                if code in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise

        resp = self._call("s3:GetObject (head)", f"s3://{self.bucket}/{full}", head)
        if resp is None:
            return None
        return SourceListing(
            safe_relative_key(key), int(resp["ContentLength"]), str(resp.get("ETag", "")).strip('"')
        )

    def exists(self, key: str) -> bool:
        """Whether ``key`` exists under the prefix."""
        return self.head(key) is not None

    def write_bytes(self, key: str, data: bytes, content_type: str = "") -> None:
        """Creates or replaces ``key`` (one ``PutObject``: readers never see half)."""
        full = self._key(key)
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": full, "Body": data}
        if content_type:
            kwargs["ContentType"] = content_type
        self._call(
            "s3:PutObject", f"s3://{self.bucket}/{full}", lambda: self.client.put_object(**kwargs)
        )

    def delete(self, key: str) -> None:
        """Removes ``key``; removing a missing key is not an error (S3 semantics)."""
        full = self._key(key)
        self._call(
            "s3:DeleteObject",
            f"s3://{self.bucket}/{full}",
            lambda: self.client.delete_object(Bucket=self.bucket, Key=full),
        )

    def copy_from(self, source: S3Source, source_key: str, key: str) -> None:
        """Copies ``source_key`` of another S3 source to ``key`` here, server-side (``CopyObject``).

        This source's credentials must be able to read the source object.
        """
        src = {"Bucket": source.bucket, "Key": source._key(source_key)}
        full = self._key(key)
        self._call(
            "s3:CopyObject",
            f"s3://{self.bucket}/{full}",
            lambda: self.client.copy_object(CopySource=src, Bucket=self.bucket, Key=full),
        )

    def uri(self, key: str = "") -> str:
        """``s3://bucket/prefix/key``, or the prefix's URI without a key."""
        return f"s3://{self.bucket}/{self._key(key) if key else self.root}"

"""S3 (and S3-compatible) datasources over boto3.

One client per configuration is built and reused (module cache; thread-safe), with botocore's
``standard`` retry mode, bounded timeouts and a connection pool sized for thread-pool fetching.
Every AWS error leaves this module as an ``S3Error`` whose message says what failed, on which
object, and what to do; raw response bodies and credentials never appear in it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import tomllib

from bps_core.errors import DatasourceError
from bps_core.storage.base import DatasourceConfig, ListProgress, SourceListing
from bps_core.storage.local import safe_relative_key
from bps_core.storage.validation import check_prefix, redact_url, resolved_address_problem

#: Attempts per request (the first plus retries) in botocore's standard retry mode.
MAX_ATTEMPTS = 10
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
POOL_CONNECTIONS = 32
#: Attempts to open a connection to an endpoint that refuses or does not answer. Unlike a reset
#: mid-request, an unreachable endpoint rarely recovers within seconds: fail in ~0.2 s, not 10.
CONNECT_ATTEMPTS = 3
#: Retries on top of botocore's for transient failures (5xx, throttling, resets): botocore
#: stops retrying when its retry quota runs dry under a sustained error rate, then these go on.
OUTER_RETRIES = 12
_TRANSIENT_CODES = frozenset({
    "InternalError", "SlowDown", "ServiceUnavailable", "500", "502", "503", "504",
    "RequestTimeout", "RequestTimeoutException", "Throttling", "ThrottlingException",
    "RequestLimitExceeded", "ConnectionClosedError", "ReadTimeout", "ResponseStreamingError",
    "IncompleteReadError",
})  # fmt: skip

#: Largest object read whole: the image decoder's file-size cap (``images.DecodeLimits``).
MAX_OBJECT_BYTES = 256 * 1024 * 1024


def _too_large(where: str, size: int | None, cap: int) -> S3Error:
    told = f"is {size:,} bytes, over" if size is not None else "is over"
    return S3Error(
        f"s3:GetObject on {where} refused: the object {told} the limit of {cap:,} bytes "
        "for one image; crop or downscale it, or leave it out of the datasource",
        code="TooLarge",
    )


_KEY_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_SECRET_TOML_KEYS = ("access_key_id", "secret_access_key", "session_token")


_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3")
_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def _redacting_factory(base: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        if _secrets and record.name.startswith(_LOGGERS):
            message = record.getMessage()
            if any(s in message for s in _secrets):
                for s in list(_secrets):
                    message = message.replace(s, "[redacted]")
                record.msg, record.args = message, None
        return record

    return factory


def remember_secrets(*values: str | None) -> None:
    """Registers secret values (secret keys, session tokens) so that log records from boto3,
    botocore and urllib3 never carry them, even at DEBUG level (botocore logs request headers,
    including X-Amz-Security-Token)."""
    with _secrets_lock:
        if not _secrets:
            logging.setLogRecordFactory(_redacting_factory(logging.getLogRecordFactory()))
        _secrets.update(v for v in values if v and len(v) >= 8)


UNREACHABLE_CODES = frozenset({"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeout"})
NO_BUCKET_CODES = frozenset({"NoSuchBucket"})
REGION_CODES = frozenset({
    "PermanentRedirect", "301", "AuthorizationHeaderMalformed",
    "IllegalLocationConstraintException", "IncorrectEndpoint",
})  # fmt: skip
DENIED_CODES = frozenset({"AccessDenied", "403", "AllAccessDisabled"})
CREDENTIAL_CODES = frozenset({
    "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
    "ExpiredTokenException", "NoCredentials", "RequestExpired", "RequestTimeTooSkewed",
})  # fmt: skip
# What went wrong, by AWS error code: the access check names the cause from this, and shows the
# IAM policy only for "denied" (a policy cannot fix an unreachable endpoint).
ERROR_KINDS: dict[str, frozenset[str]] = {
    "unreachable": UNREACHABLE_CODES,
    "no_such_bucket": NO_BUCKET_CODES,
    "wrong_region": REGION_CODES,
    "denied": DENIED_CODES,
    "credentials": CREDENTIAL_CODES,
}


def error_kind(code: str) -> str:
    """The kind of failure an AWS error code means (a key of ``ERROR_KINDS``, else "other")."""
    return next((kind for kind, codes in ERROR_KINDS.items() if code in codes), "other")


class S3Error(DatasourceError):
    """An S3 request failed. ``code`` is the AWS error code (or a network error name); ``kind``
    says what that means: unreachable, no_such_bucket, wrong_region, denied, credentials or
    other."""

    def __init__(self, message: str, *, code: str, status: int | None = None) -> None:
        self.code = code
        self.status = status
        super().__init__(message)

    @property
    def kind(self) -> str:
        return error_kind(self.code)


# ------------------------------------------------------------------ credentials and clients


def streamlit_secrets_files() -> list[Path]:
    """Where Streamlit looks for ``secrets.toml`` (global, then the working directory)."""
    return [Path.home() / ".streamlit" / "secrets.toml", Path.cwd() / ".streamlit" / "secrets.toml"]


def static_keys(
    env: Mapping[str, str] | None = None, secrets_files: list[Path] | None = None
) -> tuple[str, str, str]:
    """Access key, secret and session token for ``keys`` mode: from the environment, else from
    the ``[aws]`` table of Streamlit's secrets files. Never from project files."""
    env = os.environ if env is None else env
    if env.get(_KEY_VARS[0]) and env.get(_KEY_VARS[1]):
        return env[_KEY_VARS[0]], env[_KEY_VARS[1]], env.get(_KEY_VARS[2], "")
    for path in streamlit_secrets_files() if secrets_files is None else secrets_files:
        try:
            table = tomllib.loads(path.read_text()).get("aws", {})
        except (OSError, tomllib.TOMLDecodeError):
            continue
        if (
            isinstance(table, dict)
            and table.get("access_key_id")
            and table.get("secret_access_key")
        ):
            return tuple(str(table.get(k, "")) for k in _SECRET_TOML_KEYS)  # type: ignore[return-value]
    raise DatasourceError(
        "auth 'keys': no access key found. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in "
        "the environment, or access_key_id and secret_access_key under [aws] in "
        ".streamlit/secrets.toml"
    )


def _botocore_config(config: DatasourceConfig | None) -> Any:
    """Retries, timeouts and pool size for every client; unsigned for anonymous S3."""
    from botocore import UNSIGNED
    from botocore.config import Config

    kwargs: dict[str, Any] = {
        "retries": {"mode": "standard", "max_attempts": MAX_ATTEMPTS},
        "connect_timeout": CONNECT_TIMEOUT_S,
        "read_timeout": READ_TIMEOUT_S,
        "max_pool_connections": POOL_CONNECTIONS,
        "user_agent_extra": "bps-labeler",
    }
    if config is not None and config.auth == "anonymous":
        kwargs["signature_version"] = UNSIGNED
    if config is not None and config.endpoint_url:
        kwargs["s3"] = {"addressing_style": "path"}
    return Config(**kwargs)


def _assume_role_session(config: DatasourceConfig, base: Any) -> Any:
    """A boto3 session whose credentials come from STS AssumeRole with the external ID and are
    refreshed by botocore before they expire (long embedding or copy jobs keep working)."""
    import boto3
    from botocore.credentials import RefreshableCredentials
    from botocore.session import get_session

    sts = base.client(
        "sts",
        region_name=config.region or None,
        endpoint_url=config.endpoint_url or None,
        config=_botocore_config(None),
    )
    if config.endpoint_url:
        sts.meta.events.register("before-send.sts", partial(_check_resolved, config))

    def refresh() -> dict[str, str]:
        try:
            resp = sts.assume_role(
                RoleArn=config.role_arn,
                RoleSessionName=config.session_name,
                ExternalId=config.external_id,
                DurationSeconds=config.session_duration_s,
            )
        except Exception as exc:
            raise translate(exc, "sts:AssumeRole", config.role_arn, config) from None
        creds = resp["Credentials"]
        remember_secrets(creds["SecretAccessKey"], creds["SessionToken"])
        expiry = creds["Expiration"]
        if isinstance(expiry, datetime) and expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=timezone.utc)
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": expiry.isoformat() if isinstance(expiry, datetime) else str(expiry),
        }

    botocore_session = get_session()
    botocore_session._credentials = RefreshableCredentials.create_from_metadata(
        metadata=refresh(), refresh_using=refresh, method="sts-assume-role"
    )
    return boto3.session.Session(botocore_session=botocore_session)


def _session(config: DatasourceConfig, env: Mapping[str, str] | None) -> Any:
    import boto3
    from botocore.exceptions import ProfileNotFound

    try:
        if config.auth == "keys":
            key, secret, token = static_keys(env)
            remember_secrets(secret, token)
            return boto3.session.Session(
                aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token or None
            )
        base = boto3.session.Session(profile_name=config.profile or None)
    except ProfileNotFound:
        raise DatasourceError(
            f"profile {config.profile!r} is not in ~/.aws/config or ~/.aws/credentials; "
            "create it (aws configure --profile NAME) or pick another"
        ) from None
    if config.auth == "assume-role":
        return _assume_role_session(config, base)
    frozen = base.get_credentials() if config.auth == "default" else None
    if frozen is not None:  # default chain or profile: keep its secret out of logs too
        creds = frozen.get_frozen_credentials()
        remember_secrets(creds.secret_key, creds.token)
    return base


_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()


def _client_key(config: DatasourceConfig, env: Mapping[str, str] | None) -> tuple[Any, ...]:
    identity: tuple[Any, ...] = (
        config.auth, config.profile, config.role_arn, config.external_id, config.session_name,
        config.session_duration_s, config.region, config.endpoint_url,
        config.allow_link_local_endpoint, config.allow_private_endpoint,  # the endpoint check
    )  # fmt: skip
    if config.auth == "keys":  # a rotated key must give a new client; hash, never keep it
        digest = hashlib.sha256("\0".join(static_keys(env)).encode()).hexdigest()
        identity += (digest,)
    return identity


def s3_client(config: DatasourceConfig, env: Mapping[str, str] | None = None) -> Any:
    """The shared boto3 S3 client for this configuration's identity, created on first use."""
    config.validate()
    key = _client_key(config, env)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            session = _session(config, env)
            client = session.client(
                "s3",
                region_name=config.region or None,
                endpoint_url=config.endpoint_url or None,
                config=_botocore_config(config),
            )
            client.meta.events.register_first("needs-retry.s3", _stop_when_unreachable)
            if config.endpoint_url:
                client.meta.events.register("before-send.s3", partial(_check_resolved, config))
            _clients[key] = client
        return client


#: Seconds a host name that resolved to allowed addresses is not looked up again.
RESOLVE_TTL_S = 5.0
_resolved_ok: dict[tuple[Any, ...], float] = {}


def _check_resolved(config: DatasourceConfig, request: Any = None, **_: Any) -> None:
    """Runs before every request to a custom endpoint: the endpoint's host name is resolved
    and each address checked, so a name that points at a metadata or internal address
    (``169.254.169.254.nip.io``, a rebinding DNS server) is refused at connect time, not only
    the literal addresses that validation sees."""
    from urllib.parse import urlsplit

    parts = urlsplit(getattr(request, "url", "") or config.endpoint_url)
    if not parts.hostname:
        return
    ok_key = (parts.hostname, parts.port, config.allow_link_local_endpoint,
              config.allow_private_endpoint)  # fmt: skip
    if time.monotonic() - _resolved_ok.get(ok_key, -RESOLVE_TTL_S) < RESOLVE_TTL_S:
        return  # checked moments ago: thumbnails send hundreds of requests a second
    why = resolved_address_problem(
        parts.hostname,
        parts.port,
        allow_link_local=config.allow_link_local_endpoint,
        allow_private=config.allow_private_endpoint,
    )
    if why:
        _resolved_ok.pop(ok_key, None)
        raise S3Error(
            f"endpoint URL {redact_url(config.endpoint_url)}: {parts.hostname} {why}",
            code="EndpointRefused",
        )
    _resolved_ok[ok_key] = time.monotonic()


def _stop_when_unreachable(attempts: int, caught_exception: Any = None, **_: Any) -> None:
    """Runs before botocore's retry handler: gives up on an endpoint that cannot be reached
    after ``CONNECT_ATTEMPTS`` tries instead of backing off for all ``MAX_ATTEMPTS``."""
    from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

    if (
        isinstance(caught_exception, EndpointConnectionError | ConnectTimeoutError)
        and attempts >= CONNECT_ATTEMPTS
    ):
        raise caught_exception


def clear_clients() -> None:
    """Forgets cached clients (tests; after credentials change)."""
    with _clients_lock:
        _clients.clear()
        _resolved_ok.clear()


def same_identity(a: DatasourceConfig, b: DatasourceConfig) -> bool:
    """Whether two S3 configurations use one set of credentials on one endpoint, so one client
    may copy server-side between them."""
    return (
        a.kind == b.kind == "s3"
        and a.endpoint_url == b.endpoint_url
        and _client_key(a, None)[:6] == _client_key(b, None)[:6]
    )


# ------------------------------------------------------------------ errors

_HINTS: dict[str, str] = {
    "NoSuchBucket": "the bucket does not exist: check its name (and the account that owns it)",
    "NoSuchKey": "the object does not exist (it may have been moved or deleted)",
    "404": "the object does not exist (it may have been moved or deleted)",
    "AccessDenied": "access denied: the credentials lack this permission; apply the IAM policy "
    "that 'Check access' shows for this bucket and prefix",
    "403": "access denied: the credentials lack this permission; apply the IAM policy that "
    "'Check access' shows for this bucket and prefix",
    "AllAccessDisabled": "all access to this bucket has been disabled by its owner",
    "InvalidAccessKeyId": "the access key is not known to this endpoint: check the key, the "
    "endpoint URL and the account",
    "SignatureDoesNotMatch": "the secret key does not match the access key: re-enter it",
    "InvalidToken": "the session token is malformed or belongs to another endpoint",
    "ExpiredToken": "the credentials have expired: refresh them (new session token, "
    "'aws sso login', or re-assume the role)",
    "ExpiredTokenException": "the credentials have expired: refresh them and try again",
    "RequestExpired": "the request expired: check the machine's clock",
    "RequestTimeTooSkewed": "the machine's clock is off by more than 15 minutes: fix the clock",
    "SlowDown": "S3 kept throttling (SlowDown) after all retries: try again later or with "
    "fewer parallel requests",
    "InternalError": "S3 kept failing with an internal error after all retries: try again",
    "ServiceUnavailable": "S3 kept answering 'service unavailable' after all retries",
    "InvalidBucketName": "the bucket name is not valid",
    "InvalidObjectState": "the object is archived (Glacier): restore it before reading",
    "InvalidRange": "the object is empty",
}


def translate(exc: BaseException, operation: str, where: str, config: DatasourceConfig) -> S3Error:
    """An ``S3Error`` for any botocore failure: AWS code, HTTP status and a hint; no raw body."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ReadTimeoutError,
    )

    prefix = f"{operation} on {where}"
    if isinstance(exc, S3Error):
        return exc
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        code = str(err.get("Code") or meta.get("HTTPStatusCode") or "Unknown")
        status = meta.get("HTTPStatusCode")
        if code in REGION_CODES:
            headers = meta.get("HTTPHeaders", {}) or {}
            region = headers.get("x-amz-bucket-region") or err.get("Region") or ""
            hint = (
                f"the bucket is in region {region}: set the region to {region}"
                if region
                else "the bucket is in another region: set the datasource's region to the "
                "bucket's region"
            )
        else:
            hint = _HINTS.get(code) or _HINTS.get(str(status), "") or "see the AWS error code"
        return S3Error(f"{prefix} failed ({code}, HTTP {status}): {hint}", code=code, status=status)
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        endpoint = config.endpoint_url or "the AWS endpoint"
        return S3Error(
            f"{prefix} failed: cannot reach {endpoint}; check the endpoint URL, the network "
            "and any proxy",
            code="EndpointConnectionError",
        )
    if isinstance(exc, ReadTimeoutError):
        return S3Error(
            f"{prefix} failed: the endpoint stopped answering (read timeout after retries)",
            code="ReadTimeout",
        )
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return S3Error(
            f"{prefix} failed: no usable AWS credentials. For a public bucket choose auth "
            "'anonymous'; otherwise configure a profile, a role or keys",
            code="NoCredentials",
        )
    if isinstance(exc, BotoCoreError):
        return S3Error(f"{prefix} failed: {type(exc).__name__}", code=type(exc).__name__)
    return S3Error(f"{prefix} failed: {type(exc).__name__}", code=type(exc).__name__)


# ------------------------------------------------------------------ the datasource


class S3Source:
    """Objects under ``s3://bucket/prefix``; keys are relative to the prefix.

    Listing skips folder markers and hidden segments (``.lightly/``), like a local folder.
    """

    def __init__(self, config: DatasourceConfig, env: Mapping[str, str] | None = None) -> None:
        self.config = config.normalised()
        if self.config.kind != "s3":
            raise DatasourceError(f"S3Source needs an s3 datasource, got {config.kind!r}")
        self.bucket = self.config.bucket
        self.root = self.config.prefix
        self.client = s3_client(self.config, env)

    def _key(self, key: str) -> str:
        return self.root + safe_relative_key(key)

    def _call(self, operation: str, where: str, fn: Callable[[], Any]) -> Any:
        """Runs one request; transient failures that outlast botocore's own retries (its retry
        quota runs dry under a sustained error rate) are retried here with backoff."""
        for attempt in range(OUTER_RETRIES + 1):
            try:
                return fn()
            except Exception as exc:
                err = translate(exc, operation, where, self.config)
                if err.code not in _TRANSIENT_CODES or attempt == OUTER_RETRIES:
                    raise err from None
            time.sleep(min(2.0, 0.1 * 2**attempt) * (0.5 + random.random()))  # noqa: S311
        raise AssertionError("unreachable")

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
        """The object's bytes (a ranged GET for the first ``length``). A body whose connection
        drops mid-read is fetched again, like any other transient failure.

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
                    raise _too_large(where, size, cap)
                data: bytes = body.read(cap + 1)
                if len(data) > cap:
                    raise _too_large(where, None, cap)
                return data
            finally:
                body.close()

        result: bytes = self._call("s3:GetObject", where, get)
        return result

    def head(self, key: str) -> SourceListing | None:
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
        return self.head(key) is not None

    def write_bytes(self, key: str, data: bytes, content_type: str = "") -> None:
        full = self._key(key)
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": full, "Body": data}
        if content_type:
            kwargs["ContentType"] = content_type
        self._call(
            "s3:PutObject", f"s3://{self.bucket}/{full}", lambda: self.client.put_object(**kwargs)
        )

    def delete(self, key: str) -> None:
        full = self._key(key)
        self._call(
            "s3:DeleteObject",
            f"s3://{self.bucket}/{full}",
            lambda: self.client.delete_object(Bucket=self.bucket, Key=full),
        )

    def copy_from(self, source: S3Source, source_key: str, key: str) -> None:
        """Server-side ``CopyObject`` from another S3 source (this source's credentials must be
        able to read the source object)."""
        src = {"Bucket": source.bucket, "Key": source._key(source_key)}
        full = self._key(key)
        self._call(
            "s3:CopyObject",
            f"s3://{self.bucket}/{full}",
            lambda: self.client.copy_object(CopySource=src, Bucket=self.bucket, Key=full),
        )

    def uri(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{self._key(key) if key else self.root}"

"""The boto3 clients: one per configuration, shared process-wide, and how requests are retried.

Each client uses botocore's ``standard`` retry mode, bounded timeouts and a connection pool
sized for thread-pool fetching. An endpoint that cannot be reached fails after
``CONNECT_ATTEMPTS`` tries; other transient failures that outlast botocore's retries are
retried again by ``call_with_retries``. Requests to a custom endpoint check, before they are
sent, that its host name does not resolve to a refused (metadata or internal) address.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar

from bps_core.storage.base import DatasourceConfig
from bps_core.storage.s3.credentials import assume_role_session, base_session, static_keys
from bps_core.storage.s3.errors import TRANSIENT_CODES, S3Error, translate
from bps_core.storage.validation import redact_url, resolved_address_problem

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
#: Seconds a host name that resolved to allowed addresses is not looked up again.
RESOLVE_TTL_S = 5.0

T = TypeVar("T")

_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()
_resolved_ok: dict[tuple[Any, ...], float] = {}


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


def _session(config: DatasourceConfig, env: Mapping[str, str] | None) -> Any:
    """The boto3 session for the configuration's auth mode.

    For ``assume-role``, its STS client goes through the same endpoint check as the S3 client.
    """
    base = base_session(config, env)
    if config.auth != "assume-role":
        return base
    sts = base.client(
        "sts",
        region_name=config.region or None,
        endpoint_url=config.endpoint_url or None,
        config=_botocore_config(None),
    )
    if config.endpoint_url:
        sts.meta.events.register("before-send.sts", partial(_check_resolved, config))
    return assume_role_session(config, sts)


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
    """The shared boto3 S3 client for this configuration's identity, created on first use.

    Args:
        config: An S3 datasource (validated when it was made).
        env: The environment ``keys`` mode reads (default ``os.environ``).

    Returns:
        A boto3 S3 client.

    Raises:
        DatasourceError: the credentials cannot be found (keys, profile).
        S3Error: STS refused to assume the role.
    """
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


def _check_resolved(config: DatasourceConfig, request: Any = None, **_: Any) -> None:
    """Checks the addresses a custom endpoint's host name resolves to, before every request.

    The endpoint's host name is resolved and each address checked, so a name that points at a
    metadata or internal address (``169.254.169.254.nip.io``, a rebinding DNS server) is
    refused at connect time, not only the literal addresses that validation sees.
    """
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
    """Gives up on an unreachable endpoint after ``CONNECT_ATTEMPTS`` tries.

    It runs before botocore's retry handler, so an endpoint that cannot be reached fails fast
    instead of backing off for all ``MAX_ATTEMPTS``.
    """
    from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

    if (
        isinstance(caught_exception, EndpointConnectionError | ConnectTimeoutError)
        and attempts >= CONNECT_ATTEMPTS
    ):
        raise caught_exception


def call_with_retries(
    config: DatasourceConfig, operation: str, where: str, fn: Callable[[], T]
) -> T:
    """Runs one request, retrying with backoff the transient failures botocore gives up on.

    Transient failures that outlast botocore's own retries (its retry quota runs dry under a
    sustained error rate) are retried here with backoff.

    Args:
        config: The datasource the request goes to (for error messages).
        operation: The IAM action, e.g. ``s3:GetObject``.
        where: The object or prefix, as an ``s3://`` URI.
        fn: The request.

    Returns:
        What ``fn`` returns.

    Raises:
        S3Error: the request failed for good (see ``translate``).
    """
    for attempt in range(OUTER_RETRIES + 1):
        try:
            return fn()
        except Exception as exc:
            err = translate(exc, operation, where, config)
            if err.code not in TRANSIENT_CODES or attempt == OUTER_RETRIES:
                raise err from None
        time.sleep(min(2.0, 0.1 * 2**attempt) * (0.5 + random.random()))  # noqa: S311
    raise AssertionError("unreachable")


def clear_clients() -> None:
    """Forgets cached clients (tests; after credentials change)."""
    with _clients_lock:
        _clients.clear()
        _resolved_ok.clear()


def same_identity(a: DatasourceConfig, b: DatasourceConfig) -> bool:
    """Whether two S3 configurations use one set of credentials on one endpoint.

    When they do, one client may copy server-side between them.
    """
    return (
        a.kind == b.kind == "s3"
        and a.endpoint_url == b.endpoint_url
        and _client_key(a, None)[:6] == _client_key(b, None)[:6]
    )

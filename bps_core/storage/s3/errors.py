"""What an S3 failure means: AWS error codes sorted into kinds, and one clear message each.

Every AWS error leaves the S3 package as an ``S3Error`` whose message says what failed, on
which object, and what to do; raw response bodies and credentials never appear in it.
"""

from __future__ import annotations

from bps_core.errors import DatasourceError
from bps_core.storage.base import DatasourceConfig

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
#: What went wrong, by AWS error code: the access check names the cause from this, and shows the
#: IAM policy only for "denied" (a policy cannot fix an unreachable endpoint).
ERROR_KINDS: dict[str, frozenset[str]] = {
    "unreachable": UNREACHABLE_CODES,
    "no_such_bucket": NO_BUCKET_CODES,
    "wrong_region": REGION_CODES,
    "denied": DENIED_CODES,
    "credentials": CREDENTIAL_CODES,
}
#: Codes worth another try: 5xx, throttling, timeouts and connections dropped mid-request.
TRANSIENT_CODES = frozenset({
    "InternalError", "SlowDown", "ServiceUnavailable", "500", "502", "503", "504",
    "RequestTimeout", "RequestTimeoutException", "Throttling", "ThrottlingException",
    "RequestLimitExceeded", "ConnectionClosedError", "ReadTimeout", "ResponseStreamingError",
    "IncompleteReadError",
})  # fmt: skip


def error_kind(code: str) -> str:
    """The kind of failure an AWS error code means.

    Args:
        code: An AWS error code, an HTTP status as text, or a network error's name.

    Returns:
        A key of ``ERROR_KINDS``, else "other".
    """
    return next((kind for kind, codes in ERROR_KINDS.items() if code in codes), "other")


class S3Error(DatasourceError):
    """An S3 request failed.

    ``code`` is the AWS error code (or a network error name); ``kind`` says what that means:
    unreachable, no_such_bucket, wrong_region, denied, credentials or other.
    """

    def __init__(self, message: str, *, code: str, status: int | None = None) -> None:
        self.code = code
        self.status = status
        super().__init__(message)

    @property
    def kind(self) -> str:
        """What the failure means (see ``error_kind``)."""
        return error_kind(self.code)


def too_large(where: str, size: int | None, cap: int) -> S3Error:
    """The error for an object over the size cap of one image.

    Args:
        where: The object's ``s3://`` URI.
        size: Its Content-Length, or None when the body ran past the cap.
        cap: The limit in bytes.

    Returns:
        An ``S3Error`` with code ``TooLarge``.
    """
    told = f"is {size:,} bytes, over" if size is not None else "is over"
    return S3Error(
        f"s3:GetObject on {where} refused: the object {told} the limit of {cap:,} bytes "
        "for one image; crop or downscale it, or leave it out of the datasource",
        code="TooLarge",
    )


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
    """An ``S3Error`` for any botocore failure: AWS code, HTTP status and a hint; no raw body.

    Args:
        exc: What the request raised (an ``S3Error`` passes through unchanged).
        operation: The IAM action, e.g. ``s3:GetObject``.
        where: The object, prefix or role the request was about.
        config: The datasource (its endpoint is named when it cannot be reached).

    Returns:
        The error to raise in its place.
    """
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

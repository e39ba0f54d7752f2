"""Secrets never reach the logs: boto3, botocore and urllib3 records are scrubbed of them.

botocore logs request headers at DEBUG level, including ``X-Amz-Security-Token``; every secret
key and session token the S3 package handles is registered here first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

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
    """Registers secret values that log records must never carry.

    Records from boto3, botocore and urllib3 have them replaced, even at DEBUG level.

    Args:
        *values: Secret keys and session tokens; empty values and ones under 8 characters
            (too short to be secrets, too common to replace) are ignored.
    """
    with _secrets_lock:
        if not _secrets:
            logging.setLogRecordFactory(_redacting_factory(logging.getLogRecordFactory()))
        _secrets.update(v for v in values if v and len(v) >= 8)

"""S3 (and S3-compatible) datasources over boto3, one module per concern.

- ``credentials``: where each auth mode's credentials come from (profiles, Streamlit secrets,
  assume-role with an external ID, refreshed before expiry).
- ``client``: the process-wide client cache, retries, unreachable endpoints, endpoint checks.
- ``errors``: AWS error codes sorted into kinds; one clear message per failure.
- ``redaction``: secrets kept out of boto3, botocore and urllib3 log records.
- ``source``: ``S3Source``, the datasource itself.

The names other modules use are re-exported here.
"""

from __future__ import annotations

from bps_core.storage.s3.client import (
    CONNECT_ATTEMPTS,
    MAX_ATTEMPTS,
    OUTER_RETRIES,
    call_with_retries,
    clear_clients,
    s3_client,
    same_identity,
)
from bps_core.storage.s3.credentials import static_keys, streamlit_secrets_files
from bps_core.storage.s3.errors import ERROR_KINDS, S3Error, error_kind, translate
from bps_core.storage.s3.redaction import remember_secrets
from bps_core.storage.s3.source import MAX_OBJECT_BYTES, S3Source

__all__ = [
    "CONNECT_ATTEMPTS",
    "ERROR_KINDS",
    "MAX_ATTEMPTS",
    "MAX_OBJECT_BYTES",
    "OUTER_RETRIES",
    "S3Error",
    "S3Source",
    "call_with_retries",
    "clear_clients",
    "error_kind",
    "remember_secrets",
    "s3_client",
    "same_identity",
    "static_keys",
    "streamlit_secrets_files",
    "translate",
]

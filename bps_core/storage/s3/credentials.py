"""Where an S3 datasource's credentials come from, per auth mode.

- ``default``: boto3's credential chain, or a named profile from ``~/.aws``.
- ``keys``: an access key from the environment, else the ``[aws]`` table of Streamlit's
  ``secrets.toml`` (never from project files).
- ``assume-role``: STS ``AssumeRole`` with the external ID, on top of the default chain or a
  profile; the credentials are refreshed before they expire, so long jobs keep working.
- ``anonymous``: none (the client signs nothing).

Every secret handled here is registered for log redaction first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import tomllib

from bps_core.errors import DatasourceError
from bps_core.storage.base import DatasourceConfig
from bps_core.storage.s3.errors import translate
from bps_core.storage.s3.redaction import remember_secrets

_KEY_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_SECRET_TOML_KEYS = ("access_key_id", "secret_access_key", "session_token")
#: How assumed-role credentials name themselves to botocore (``Credentials.method``).
ASSUME_ROLE_METHOD = "sts-assume-role"


def streamlit_secrets_files() -> list[Path]:
    """Where Streamlit looks for ``secrets.toml`` (global, then the working directory)."""
    return [Path.home() / ".streamlit" / "secrets.toml", Path.cwd() / ".streamlit" / "secrets.toml"]


def static_keys(
    env: Mapping[str, str] | None = None, secrets_files: list[Path] | None = None
) -> tuple[str, str, str]:
    """Access key, secret and session token for ``keys`` mode.

    Args:
        env: The environment to read (default ``os.environ``).
        secrets_files: Streamlit secrets files to read, in order (default
            ``streamlit_secrets_files()``).

    Returns:
        ``(access_key_id, secret_access_key, session_token)``; the token may be ''.

    Raises:
        DatasourceError: neither the environment nor a secrets file holds a key pair.
    """
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


def base_session(config: DatasourceConfig, env: Mapping[str, str] | None = None) -> Any:
    """The boto3 session for ``keys``, ``default`` and ``anonymous`` auth.

    For ``assume-role`` it is the session that calls STS to get the role's credentials.

    Args:
        config: An S3 datasource.
        env: The environment ``keys`` mode reads (default ``os.environ``).

    Returns:
        A ``boto3.session.Session``.

    Raises:
        DatasourceError: no keys for ``keys`` mode, or the profile does not exist.
    """
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
    frozen = base.get_credentials() if config.auth == "default" else None
    if frozen is not None:  # default chain or profile: keep its secret out of logs too
        creds = frozen.get_frozen_credentials()
        remember_secrets(creds.secret_key, creds.token)
    return base


def assume_role_session(config: DatasourceConfig, sts: Any) -> Any:
    """A boto3 session whose credentials come from STS ``AssumeRole`` with the external ID.

    The role is assumed once now (so a wrong role or external ID fails here, with a clear
    message), then again whenever botocore finds the credentials close to expiry: its
    ``RefreshableCredentials`` refresh in the background 15 minutes before, and block for
    it 10 minutes before. They reach the session through botocore's public credential
    provider chain (a ``CredentialResolver`` holding only them).

    Args:
        config: An ``assume-role`` S3 datasource (role ARN, external ID, session name and
            duration).
        sts: The STS client to call, signed by the base credentials (``base_session``).

    Returns:
        A ``boto3.session.Session``.

    Raises:
        S3Error: STS refused the role (``sts:AssumeRole on <role ARN> failed ...``).
    """
    import boto3
    from botocore.credentials import CredentialProvider, CredentialResolver, RefreshableCredentials
    from botocore.session import get_session

    def fetch() -> dict[str, str]:
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

    refreshing = RefreshableCredentials.create_from_metadata(
        metadata=fetch(), refresh_using=fetch, method=ASSUME_ROLE_METHOD
    )

    class AssumedRole(CredentialProvider):
        METHOD = ASSUME_ROLE_METHOD
        CANONICAL_NAME = "custom-bps-assume-role"

        def load(self) -> Any:
            return refreshing

    botocore_session = get_session()
    botocore_session.register_component(
        "credential_provider", CredentialResolver(providers=[AssumedRole()])
    )
    return boto3.session.Session(botocore_session=botocore_session)

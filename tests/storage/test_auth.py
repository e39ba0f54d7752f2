"""Auth modes: profiles, assumed roles with refreshing credentials, and keys from secrets."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bps_core.errors import DatasourceError
from bps_core.storage import DatasourceConfig
from bps_core.storage.s3 import S3Source, clear_clients, static_keys
from tests.s3_server import REGION, S3Server

ROLE = "arn:aws:iam::123456789012:role/Labeler-S3"


@pytest.fixture(autouse=True)
def _fresh_clients() -> None:
    clear_clients()


def _credentials(source: S3Source):  # type: ignore[no-untyped-def]
    return source.client._request_signer._credentials


def test_profile__credentials_come_from_the_named_profile(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = tmp_path / "credentials"
    creds.write_text("[lab]\naws_access_key_id = LABKEY\naws_secret_access_key = labsecret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    bucket = s3_server.new_bucket()
    cfg = DatasourceConfig.s3(
        f"s3://{bucket}/",
        region=REGION,
        endpoint_url=s3_server.endpoint,
        allow_private_endpoint=True,
        profile="lab",
    )
    source = S3Source(cfg)
    assert list(source.list()) == []
    assert _credentials(source).access_key == "LABKEY"
    with pytest.raises(DatasourceError, match="profile 'nope' is not in"):
        S3Source(DatasourceConfig.s3(f"s3://{bucket}/", endpoint_url=s3_server.endpoint,
                                     allow_private_endpoint=True, profile="nope"))  # fmt: skip


def test_assume_role__uses_sts_with_the_external_id_and_refreshes_before_expiry(
    s3_server: S3Server,
) -> None:
    iam = s3_server.admin("iam")
    iam.create_role(RoleName="Labeler-S3", AssumeRolePolicyDocument="{}")
    bucket = s3_server.new_bucket()
    s3_server.admin().put_object(Bucket=bucket, Key="in/a.tif", Body=b"abc")
    cfg = DatasourceConfig.s3(
        f"s3://{bucket}/in", region=REGION, endpoint_url=s3_server.endpoint,
        allow_private_endpoint=True,
        auth="assume-role", role_arn=ROLE, external_id="ext-id-0123456789", session_duration_s=3600,
    )  # fmt: skip
    source = S3Source(cfg)
    creds = _credentials(source)
    first = creds.get_frozen_credentials()
    assert first.access_key != "testing"
    assert first.token
    assert source.read_bytes("a.tif") == b"abc"
    # the session is about to expire: the next request must fetch new credentials first
    creds._expiry_time = datetime.now(timezone.utc) + timedelta(seconds=30)
    assert source.read_bytes("a.tif") == b"abc"
    second = creds.get_frozen_credentials()
    assert second.access_key != first.access_key
    assert creds._expiry_time > datetime.now(timezone.utc) + timedelta(minutes=50)


def test_keys__from_the_environment_then_streamlit_secrets(tmp_path: Path) -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "envsecret"}
    assert static_keys(env, []) == ("AKIAENV", "envsecret", "")
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[aws]\naccess_key_id = "AKIAFILE"\nsecret_access_key = "filesecret"\n')
    assert static_keys({}, [tmp_path / "missing.toml", secrets]) == ("AKIAFILE", "filesecret", "")
    with pytest.raises(DatasourceError, match=r"AWS_ACCESS_KEY_ID .* \[aws\]") as err:
        static_keys({}, [tmp_path / "missing.toml"])
    assert "filesecret" not in str(err.value)


def test_keys_mode__client_signs_with_the_given_keys(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAKEYSMODE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "keys-mode-secret")
    bucket = s3_server.new_bucket()
    cfg = DatasourceConfig.s3(
        f"s3://{bucket}/",
        region=REGION,
        endpoint_url=s3_server.endpoint,
        allow_private_endpoint=True,
        auth="keys",
    )
    source = S3Source(cfg)
    assert list(source.list()) == []
    assert _credentials(source).access_key == "AKIAKEYSMODE"
    assert "keys-mode-secret" not in repr(asdict(cfg))
    assert "AKIAKEYSMODE" not in repr(asdict(cfg))

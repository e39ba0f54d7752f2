"""Auth modes: profiles, assumed roles with refreshing credentials, and keys from secrets."""

from __future__ import annotations

import socket
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.awsrequest import AWSResponse

from bps_core.errors import DatasourceError
from bps_core.storage import DatasourceConfig
from bps_core.storage.s3 import S3Error, S3Source, static_keys
from bps_core.storage.s3.credentials import assume_role_session
from tests.s3_server import REGION, S3Server

ROLE = "arn:aws:iam::123456789012:role/Labeler-S3"


#: A fresh S3 client per test (the process-wide cache is dropped first).
pytestmark = pytest.mark.usefixtures("fresh_s3_clients")


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


def _role_config(s3_server: S3Server, bucket: str = "bucket-a", **kw: Any) -> DatasourceConfig:
    return DatasourceConfig.s3(
        f"s3://{bucket}/", region=REGION, endpoint_url=s3_server.endpoint,
        allow_private_endpoint=True, auth="assume-role", role_arn=ROLE,
        external_id="ext-id-0123456789", **kw,
    )  # fmt: skip


class _Body:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def _sts_refusing(request: Any, **_: Any) -> AWSResponse:
    """STS's answer when the role's trust policy no longer lets this caller in."""
    body = (
        b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
        b"<Message>not trusted</Message></Error><RequestId>1</RequestId></ErrorResponse>"
    )
    return AWSResponse(request.url, 403, {"Content-Type": "text/xml"}, _Body(body))


def test_assume_role__credentials_reach_the_session_through_its_public_provider_chain(
    s3_server: S3Server,
) -> None:
    sts = s3_server.admin("sts")
    session = assume_role_session(_role_config(s3_server), sts)
    creds = session.get_credentials()
    assert creds.method == "sts-assume-role"
    assert creds.get_frozen_credentials().access_key != "testing"  # not the base credentials
    resolver = session._session.get_component("credential_provider")  # boto3 -> botocore
    assert [p.METHOD for p in resolver.providers] == ["sts-assume-role"]  # nothing else tried
    assert resolver.load_credentials() is creds


def test_assume_role__a_refused_refresh_says_sts_assume_role_and_denied(
    s3_server: S3Server,
) -> None:
    sts = s3_server.admin("sts")
    creds = assume_role_session(_role_config(s3_server), sts).get_credentials()
    sts.meta.events.register_first("before-send.sts", _sts_refusing)  # the role's trust changes
    creds._expiry_time = datetime.now(timezone.utc) + timedelta(seconds=30)  # refresh is due
    with pytest.raises(S3Error, match=rf"sts:AssumeRole on {ROLE} failed \(AccessDenied, HTTP 403"):
        creds.get_frozen_credentials()
    with pytest.raises(S3Error) as err:
        creds.get_frozen_credentials()
    assert err.value.kind == "denied"
    assert "not trusted" not in str(err.value)  # no raw response text


def test_assume_role__sts_call_goes_through_the_endpoint_check(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = urlsplit(s3_server.endpoint).port
    real = socket.getaddrinfo
    monkeypatch.setattr(
        socket, "getaddrinfo",
        lambda host, *a, **k: real("127.0.0.1" if host == "sts.rebind.test" else host, *a, **k),
    )  # fmt: skip
    cfg = DatasourceConfig.s3(
        "s3://bucket-a/", region=REGION, endpoint_url=f"http://sts.rebind.test:{port}",
        auth="assume-role", role_arn=ROLE, external_id="ext-id-0123456789",
    )  # fmt: skip
    with pytest.raises(S3Error, match="resolves to 127.0.0.1") as err:
        S3Source(cfg)  # the role is assumed when the source opens: STS is refused first
    assert err.value.code == "EndpointRefused"

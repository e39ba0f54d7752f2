"""Issue 15 items 15 and 16: endpoints are checked by the address they resolve to, at connect
time, and a refused endpoint never echoes its user name, password or query."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from bps_cli.main import main
from bps_core.storage import DatasourceConfig
from bps_core.storage.s3 import S3Error, S3Source, clear_clients
from tests.s3_server import REGION, S3Server

_real_getaddrinfo = socket.getaddrinfo


#: A fresh S3 client per test (the process-wide cache is dropped first).
pytestmark = pytest.mark.usefixtures("fresh_s3_clients")


def _resolve(monkeypatch: pytest.MonkeyPatch, names: dict[str, str]) -> list[str]:
    """Resolves the given names to fixed addresses (offline DNS), for our check and for the
    connection alike; returns the names looked up."""
    looked_up: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        looked_up.append(str(host))
        return _real_getaddrinfo(names.get(str(host), host), port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return looked_up


def _config(endpoint: str, bucket: str = "bucket-a", **kw: Any) -> DatasourceConfig:
    return DatasourceConfig.s3(f"s3://{bucket}/", region=REGION, endpoint_url=endpoint, **kw)


def test_connect__a_name_resolving_to_loopback_is_refused_unless_private_is_allowed(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = urlsplit(s3_server.endpoint).port
    bucket = s3_server.new_bucket("rebind")
    s3_server.seed(bucket, {"a.tif": b"abc"})
    looked_up = _resolve(monkeypatch, {"store.rebind.test": "127.0.0.1"})
    endpoint = f"http://store.rebind.test:{port}"
    with pytest.raises(S3Error, match=r"resolves to 127\.0\.0\.1.*private or loopback") as err:
        list(S3Source(_config(endpoint, bucket)).list())
    assert err.value.code == "EndpointRefused"
    assert "store.rebind.test" in looked_up
    clear_clients()
    allowed = S3Source(_config(endpoint, bucket, allow_private_endpoint=True))
    with pytest.raises(S3Error) as answered:  # moto reads the unknown Host as a bucket name,
        list(allowed.list())  # so it answers NoSuchBucket: what matters is that it answered
    assert answered.value.code == "NoSuchBucket"
    with pytest.raises(S3Error, match="resolves to 127") as again:  # no client shared with the
        list(S3Source(_config(endpoint, bucket)).list())  # opted-in config, no cached answer
    assert again.value.code == "EndpointRefused"


@pytest.mark.parametrize(
    "address", ["169.254.169.254", "100.100.100.200", "64:ff9b::a9fe:a9fe", "fd00:ec2::254"]
)
def test_connect__a_name_resolving_to_a_metadata_address_is_refused_even_when_private_allowed(
    address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _resolve(monkeypatch, {"meta.test": address})
    source = S3Source(_config("http://meta.test:80", allow_private_endpoint=True))
    with pytest.raises(S3Error, match="link-local or cloud-metadata") as err:
        source.read_bytes("a.tif")
    assert err.value.code == "EndpointRefused"


def test_connect__nip_io_style_name_is_refused_before_any_lookup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    looked_up = _resolve(monkeypatch, {})
    with pytest.raises(Exception, match="link-local or cloud-metadata"):
        _config("http://169.254.169.254.nip.io", allow_private_endpoint=True)
    assert looked_up == []


def test_cli__refused_endpoint_never_echoes_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    urls = [
        "https://admin:hunter2-SECRET@169.254.169.254",
        "ftp://u:hunter2-SECRET@h",
        "https://s3.example.org/?sig=hunter2-SECRET",
        "https://u:hunter2-SECRET@h:99999",
    ]
    for url in urls:
        code = main(["init", str(tmp_path / "p"), "--source", "s3://bucket-a/x",
                     "--endpoint-url", url])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 2
        assert err.startswith("error: endpoint URL")
        assert "hunter2" not in err
        assert "admin" not in err

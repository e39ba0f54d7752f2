"""The S3 datasource against a real S3 API over HTTP (moto's server), never in-process mocks."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bps_core.storage import DatasourceConfig, open_source, open_writable
from bps_core.storage.cache import CachedSource
from bps_core.storage.fetch import fetch_many
from bps_core.storage.s3 import CONNECT_ATTEMPTS, S3Error, S3Source
from bps_core.synthetic import SynthResult
from tests.helpers import client_error, free_port
from tests.s3_server import REGION, FaultInjector, S3Server
from tests.s3_server import inject as _inject

#: A fresh S3 client per test (the process-wide cache is dropped first).
pytestmark = pytest.mark.usefixtures("fresh_s3_clients")


def _config(server: S3Server, bucket: str, prefix: str = "", **kw: Any) -> DatasourceConfig:
    return DatasourceConfig.s3(
        f"s3://{bucket}/{prefix}",
        region=REGION,
        endpoint_url=server.endpoint,
        allow_private_endpoint=True,
        **kw,
    )


def _put_many(server: S3Server, bucket: str, keys: list[str], body: bytes = b"x") -> None:
    client = server.admin()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=body), keys))


def test_aws_cli_upload__listed_and_read_back_anonymously(
    s3_server: S3Server, bps_bucket: str, tiny_dataset: SynthResult
) -> None:
    source = open_source(_config(s3_server, bps_bucket, "Microscopy/train", auth="anonymous"))
    listed = {item.key: item for item in source.list()}
    local = sorted(
        p.relative_to(tiny_dataset.train_dir).as_posix()
        for p in tiny_dataset.train_dir.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    )
    assert sorted(listed) == local
    name = next(k for k in local if k.endswith(".tif"))
    data = source.read_bytes(name)
    assert data == (tiny_dataset.train_dir / name).read_bytes()
    assert listed[name].size == len(data)
    assert source.read_bytes(name, 8) == data[:8]  # a ranged GET for header sniffing
    assert source.exists("meta.csv")
    assert not source.exists("nope.tif")
    assert source.uri(name) == f"s3://{bps_bucket}/Microscopy/train/{name}"


BIG_KEYS = [f"img_{i:05d}.tif" for i in range(2_600)]


@pytest.fixture(scope="module")
def big_bucket(s3_server: S3Server) -> str:
    """2,600 small objects under ``data/`` (three listing pages), plus keys a listing skips."""
    bucket = s3_server.new_bucket("big")
    extra = ["data/.lightly/x.json", "data/folder/", "other/y.tif"]
    _put_many(s3_server, bucket, [*(f"data/{k}" for k in BIG_KEYS), *extra], body=b"payload")
    return bucket


def test_listing__pages_through_thousands_of_keys_in_order_with_progress(
    s3_server: S3Server, big_bucket: str
) -> None:
    counts: list[int] = []
    source = open_source(_config(s3_server, big_bucket, "data"))
    listed = [i.key for i in source.list(progress=counts.append)]
    assert listed == BIG_KEYS  # hidden and folder keys skipped
    assert len(counts) >= 3  # one report per page of 1,000
    assert counts == sorted(counts)
    assert counts[-1] == 2_600


def test_write_head_delete_round_trip(s3_server: S3Server) -> None:
    bucket = s3_server.new_bucket()
    dest = open_writable(_config(s3_server, bucket, "out", purpose="output"))
    dest.write_bytes("a/b.json", b'{"x": 1}', "application/json")
    head = dest.head("a/b.json")
    assert head is not None
    assert head.size == 8
    assert len(head.etag) == 32
    assert dest.read_bytes("a/b.json") == b'{"x": 1}'
    dest.delete("a/b.json")
    assert dest.head("a/b.json") is None
    dest.delete("a/b.json")  # deleting a missing key is fine


def test_input_purpose_is_never_writable(s3_server: S3Server) -> None:
    bucket = s3_server.new_bucket()
    with pytest.raises(Exception, match="purpose 'input'"):
        open_writable(_config(s3_server, bucket))


def test_one_client_per_configuration_is_reused(s3_server: S3Server) -> None:
    bucket = s3_server.new_bucket()
    a = S3Source(_config(s3_server, bucket, "x"))
    b = S3Source(_config(s3_server, bucket, "y"))
    c = S3Source(_config(s3_server, bucket, "x", auth="anonymous"))
    assert a.client is b.client  # same identity and endpoint: one client and connection pool
    assert a.client is not c.client
    retries = a.client.meta.config.retries
    assert retries["mode"] == "standard"
    assert retries["total_max_attempts"] >= 5
    assert a.client.meta.config.connect_timeout <= 10


# ------------------------------------------------------------------ faults and hard errors


def test_transient_faults__listing_and_reading_survive_through_retries(
    s3_server: S3Server, big_bucket: str
) -> None:
    source = S3Source(_config(s3_server, big_bucket, "data"))
    faults = FaultInjector(rate=0.3, seed=1)
    _inject(source, faults)
    assert [i.key for i in source.list()] == BIG_KEYS
    got = fetch_many(source, BIG_KEYS[:200], workers=8)
    assert not got.errors
    assert all(v == b"payload" for v in got.data.values())
    assert all(n > 0 for n in faults.injected.values()), faults.injected  # all kinds happened
    assert faults.sent > 203


def test_hard_errors_fail_at_once_with_a_clear_message(s3_server: S3Server) -> None:
    bucket = s3_server.new_bucket()
    source = S3Source(_config(s3_server, bucket))
    counter = FaultInjector(rate=0.0)
    _inject(source, counter)
    with pytest.raises(S3Error) as err:
        source.read_bytes("missing.tif")
    assert err.value.code == "NoSuchKey"
    assert counter.sent == 1
    assert "missing.tif" in str(err.value)
    assert "does not exist" in str(err.value)
    assert "<Error>" not in str(err.value)
    missing = S3Source(_config(s3_server, "no-such-bucket-" + bucket[-10:]))
    with pytest.raises(S3Error, match="bucket does not exist") as err:
        list(missing.list())
    assert err.value.code == "NoSuchBucket"


def test_unreachable_endpoint__named_in_the_message(tmp_path: Path) -> None:
    cfg = DatasourceConfig.s3(
        "s3://some-bucket/x/",
        region=REGION,
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        allow_private_endpoint=True,
    )
    source = open_source(cfg)
    counter = FaultInjector(rate=0.0)
    _inject(source, counter)
    with pytest.raises(S3Error, match="cannot reach http://127.0.0.1") as err:
        list(source.list())
    assert err.value.code == "EndpointConnectionError"
    assert counter.sent == CONNECT_ATTEMPTS  # gives up quickly; no 10-attempt backoff


# ------------------------------------------------------------------ cache and concurrency


def test_cache__second_read_served_locally_and_bounded_by_lru(
    s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = s3_server.new_bucket()
    keys = [f"k{i}.bin" for i in range(30)]
    client = s3_server.admin()
    for k in keys:
        client.put_object(Bucket=bucket, Key=k, Body=k.encode() * 100)  # ~300-400 bytes each
    source = open_source(_config(s3_server, bucket), cache_dir=tmp_path / "c", cache_bytes=4_000)
    assert isinstance(source, CachedSource)
    counter = FaultInjector(rate=0.0)
    _inject(source.inner, counter)
    assert source.read_bytes("k0.bin") == b"k0.bin" * 100
    sent = counter.sent
    assert source.read_bytes("k0.bin") == b"k0.bin" * 100
    assert counter.sent == sent
    assert source.stats.hits == 1
    for k in keys[1:]:
        source.read_bytes(k)
        source.read_bytes("k0.bin")  # keep k0 the most recently used
    assert source.size_bytes <= 4_000
    assert source.stats.evictions > 0
    sent = counter.sent
    source.read_bytes("k0.bin")
    assert counter.sent == sent  # the hot object survived eviction
    source.read_bytes("k1.bin")
    assert counter.sent == sent + 1  # a cold one was evicted and is fetched again
    # a second process sharing the folder sees the same files
    again = open_source(_config(s3_server, bucket), cache_dir=tmp_path / "c", cache_bytes=4_000)
    assert len(again) == len(source)


def test_fetch_many__collects_failures_per_key(s3_server: S3Server) -> None:
    bucket = s3_server.new_bucket()
    _put_many(s3_server, bucket, ["a.tif", "b.tif"])
    got = fetch_many(S3Source(_config(s3_server, bucket)), ["a.tif", "b.tif", "gone.tif", "a.tif"])
    assert set(got.data) == {"a.tif", "b.tif"}
    assert list(got.errors) == ["gone.tif"]
    assert "NoSuchKey" in got.errors["gone.tif"]


def test_access_denied_fails_at_once_without_retries(s3_server: S3Server) -> None:
    import json

    bucket = s3_server.new_bucket()
    deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*",
            "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}  # fmt: skip
    s3_server.admin().put_bucket_policy(Bucket=bucket, Policy=json.dumps(deny))
    dest = S3Source(_config(s3_server, bucket, "out", purpose="output", id="output"))
    counter = FaultInjector(rate=0.0)
    _inject(dest, counter)
    with pytest.raises(S3Error, match="access denied") as err:
        dest.write_bytes("a.json", b"{}")
    assert err.value.code in ("AccessDenied", "403")
    assert counter.sent == 1
    assert "s3://" in str(err.value)


@pytest.mark.parametrize(
    ("code", "status", "headers", "expected"),
    [
        ("PermanentRedirect", 301, {"x-amz-bucket-region": "eu-west-1"},
         "set the region to eu-west-1"),
        ("AuthorizationHeaderMalformed", 400, {}, "bucket's region"),
        ("ExpiredToken", 400, {}, "credentials have expired"),
        ("InvalidAccessKeyId", 403, {}, "access key is not known"),
        ("SignatureDoesNotMatch", 403, {}, "secret key does not match"),
        ("SlowDown", 503, {}, "after all retries"),
        ("NoSuchBucket", 404, {}, "bucket does not exist"),
    ],
)  # fmt: skip
def test_error_messages__say_what_to_do_and_never_echo_the_body(
    code: str, status: int, headers: dict[str, str], expected: str
) -> None:
    """Responses moto cannot produce (wrong region, expired tokens) map to the same messages."""
    from bps_core.storage.s3 import translate

    cfg = DatasourceConfig.s3("s3://bucket-a/x", region="us-east-1")
    err = translate(
        client_error(code, status, headers=headers), "s3:GetObject", "s3://bucket-a/x/k", cfg
    )
    assert expected in str(err)
    assert err.code == code
    assert "raw body" not in str(err)

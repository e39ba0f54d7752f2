"""S3 faults: with 30% of requests failing transiently (HTTP 500, 503 SlowDown, connection
reset), listing, reading and copying 1,000 objects all end successfully; permission and
not-found errors fail at once with a clear message and no raw response body."""

from __future__ import annotations

import json

import pytest

from bps_core.storage import DatasourceConfig
from bps_core.storage.copy import copy_objects
from bps_core.storage.fetch import fetch_many
from bps_core.storage.s3 import S3Error, S3Source
from tests.s3_server import REGION, FaultInjector, S3Server, inject

N = 1_000


#: A fresh S3 client per test (the process-wide cache is dropped first).
pytestmark = pytest.mark.usefixtures("fresh_s3_clients")


def _cfg(server: S3Server, bucket: str, prefix: str, **kw: object) -> DatasourceConfig:
    return DatasourceConfig.s3(f"s3://{bucket}/{prefix}", region=REGION,
                               endpoint_url=server.endpoint,
                               allow_private_endpoint=True, **kw)  # fmt: skip


def test_thirty_percent_transient_faults__list_read_copy_1000_objects(
    s3_server: S3Server,
) -> None:
    src_bucket, dst_bucket = s3_server.new_bucket("flaky-src"), s3_server.new_bucket("flaky-dst")
    objects = {f"in/img_{i:04d}.tif": f"pixels {i}".encode() * 20 for i in range(N)}
    s3_server.seed(src_bucket, objects)
    source = S3Source(_cfg(s3_server, src_bucket, "in"))
    dest = S3Source(_cfg(s3_server, dst_bucket, "out", purpose="output", id="output"))
    assert source.client is dest.client  # one identity: server-side copies through one client
    faults = FaultInjector(rate=0.3, seed=7)
    inject(source, faults)
    keys = [i.key for i in source.list()]
    assert len(keys) == N
    got = fetch_many(source, keys)
    assert not got.errors
    assert all(got.data[k] == objects[f"in/{k}"] for k in keys)
    report = copy_objects(source, dest, keys)
    assert not report.failed, list(report.failed.items())[:3]
    assert len(report.copied) == N
    assert report.mode == "server-side"
    admin = s3_server.admin()
    copied = sum(p.get("KeyCount", 0) for p in admin.get_paginator("list_objects_v2").paginate(
        Bucket=dst_bucket))  # fmt: skip
    assert copied == N
    assert sum(faults.injected.values()) > 0.2 * faults.sent  # the faults really happened
    assert all(n > 100 for n in faults.injected.values()), faults.injected


def test_permission_and_not_found__fail_at_once_with_a_clean_message(
    s3_server: S3Server,
) -> None:
    bucket = s3_server.new_bucket("strict")
    s3_server.seed(bucket, {"in/a.tif": b"abc"})
    deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*",
            "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/in/a.tif"}]}  # fmt: skip
    s3_server.admin().put_bucket_policy(Bucket=bucket, Policy=json.dumps(deny))
    source = S3Source(_cfg(s3_server, bucket, "in"))
    counter = FaultInjector(rate=0.0)
    inject(source, counter)
    for key, code in (("a.tif", ("AccessDenied", "403")), ("missing.tif", ("NoSuchKey",))):
        before = counter.sent
        with pytest.raises(S3Error) as err:
            source.read_bytes(key)
        assert counter.sent == before + 1  # no retries
        assert err.value.code in code
        message = str(err.value)
        assert f"s3://{bucket}/in/{key}" in message
        assert "<" not in message  # no XML, no raw response body

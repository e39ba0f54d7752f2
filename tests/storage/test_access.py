"""Access checks probe exactly what a purpose needs, against a real S3 API (moto's server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bps_core.storage import DatasourceConfig
from bps_core.storage.access import (
    check_access,
    generate_external_id,
    iam_policy,
    trust_policy,
)
from tests.helpers import client_error, free_port
from tests.s3_server import REGION, S3Server

#: A fresh S3 client per test (the process-wide cache is dropped first).
pytestmark = pytest.mark.usefixtures("fresh_s3_clients")


def _cfg(server: S3Server, bucket: str, prefix: str, purpose: str) -> DatasourceConfig:
    return DatasourceConfig.s3(
        f"s3://{bucket}/{prefix}", region=REGION, endpoint_url=server.endpoint,
        allow_private_endpoint=True, purpose=purpose,
        id="out" if purpose != "input" else "input",
    )  # fmt: skip


def _deny_writes(server: S3Server, bucket: str) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": ["s3:PutObject"],
                       "Resource": [f"arn:aws:s3:::{bucket}/*"]}],
    }  # fmt: skip
    server.admin().put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def test_output_with_full_access__every_probe_ok_and_nothing_left_behind(
    s3_server: S3Server,
) -> None:
    bucket = s3_server.new_bucket()
    s3_server.admin().put_object(Bucket=bucket, Key="out/a.tif", Body=b"II*\x00")
    report = check_access(_cfg(s3_server, bucket, "out", "output"))
    assert [c.permission for c in report.checks] == ["list", "read", "write", "overwrite", "delete"]
    assert report.ok, report.rows()
    keys = [o["Key"] for o in s3_server.admin().list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["out/a.tif"]  # the probe object is gone
    assert report.as_lightly() == {
        "canList": True, "canRead": True, "canWrite": True, "canOverwrite": True,
        "canDelete": True, "errors": {},
    }  # fmt: skip


def test_bucket_policy_denying_writes__write_reported_failed_with_code(
    s3_server: S3Server,
) -> None:
    bucket = s3_server.new_bucket()
    s3_server.admin().put_object(Bucket=bucket, Key="out/a.tif", Body=b"II*\x00")
    _deny_writes(s3_server, bucket)
    report = check_access(_cfg(s3_server, bucket, "out", "output"))
    assert report.check("list").ok
    assert report.check("read").ok
    write = report.check("write")
    assert write.ok is False
    assert write.code in ("AccessDenied", "403")
    assert "access denied" in write.message
    assert "IAM policy" in write.message
    assert report.check("overwrite").ok is None
    assert report.check("delete").ok is None
    assert not report.ok
    assert report.as_lightly()["canWrite"] is False
    assert "canWrite" in report.as_lightly()["errors"]


def test_input_purpose_probes_list_and_read_only(s3_server: S3Server) -> None:
    bucket = s3_server.new_bucket()
    s3_server.admin().put_object(Bucket=bucket, Key="in/x.png", Body=b"\x89PNG")
    _deny_writes(s3_server, bucket)
    report = check_access(_cfg(s3_server, bucket, "in", "input"))
    assert [c.permission for c in report.checks] == ["list", "read"]
    assert report.ok


def test_missing_bucket_and_empty_prefix_are_explained(s3_server: S3Server) -> None:
    report = check_access(_cfg(s3_server, "absent-" + "b" * 10, "in", "input"))
    assert report.check("list").code == "NoSuchBucket"
    assert report.check("read").ok is None
    assert "listing failed" in report.check("read").message
    bucket = s3_server.new_bucket()
    empty = check_access(_cfg(s3_server, bucket, "nothing-here", "input"))
    assert empty.check("list").ok
    assert empty.check("read").ok is None
    assert "no objects" in empty.check("read").message


def test_unreachable_endpoint__a_failed_check_not_an_exception() -> None:
    cfg = DatasourceConfig.s3(
        "s3://bucket-x/in/",
        region=REGION,
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        allow_private_endpoint=True,
    )
    report = check_access(cfg)
    assert report.check("list").code == "EndpointConnectionError"
    assert "cannot reach" in report.check("list").message


def test_local_output_folder_is_checked_the_same_way(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.tif").write_bytes(b"x")
    cfg = DatasourceConfig(id="out", kind="local", path=str(tmp_path / "out"), purpose="output")
    report = check_access(cfg)
    assert report.ok
    assert sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file()) == ["a.tif"]


def test_iam_policy__least_privilege_for_the_purpose_and_prefix() -> None:
    cfg = DatasourceConfig.s3("s3://my-bucket/data/in", region=REGION)
    policy = iam_policy(cfg)
    list_stmt, obj_stmt = policy["Statement"]
    assert list_stmt["Action"] == ["s3:ListBucket"]
    assert list_stmt["Resource"] == ["arn:aws:s3:::my-bucket"]
    assert list_stmt["Condition"] == {"StringLike": {"s3:prefix": ["data/in/*"]}}
    assert obj_stmt["Action"] == ["s3:GetObject"]
    assert obj_stmt["Resource"] == ["arn:aws:s3:::my-bucket/data/in/*"]
    out = iam_policy(DatasourceConfig.s3("s3://my-bucket/out/", purpose="output", id="out"))
    assert out["Statement"][1]["Action"] == ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]


def test_trust_policy_and_external_id() -> None:
    ext = generate_external_id()
    assert len(ext) == 32
    assert ext.isalnum()
    assert ext != generate_external_id()
    cfg = DatasourceConfig.s3(
        "s3://my-bucket/in/", auth="assume-role",
        role_arn="arn:aws:iam::123456789012:role/Labeler-S3", external_id=ext,
    )  # fmt: skip
    stmt = trust_policy(cfg, "arn:aws:iam::210987654321:root")["Statement"][0]
    assert stmt["Action"] == "sts:AssumeRole"
    assert stmt["Principal"] == {"AWS": "arn:aws:iam::210987654321:root"}
    assert stmt["Condition"] == {"StringEquals": {"sts:ExternalId": ext}}


class _FailingSource:
    """A source whose listing fails with a real botocore error, as AWS answers it."""

    def __init__(self, exc: BaseException, config: DatasourceConfig) -> None:
        self.exc, self.config = exc, config

    def list(self, prefix: str = "", progress=None):  # type: ignore[no-untyped-def]
        from bps_core.storage.s3 import translate

        raise translate(self.exc, "s3:ListBucket", self.config.uri, self.config)
        yield  # pragma: no cover


class TestAccessReportKind:
    """Issue 14, item 9: an unreachable endpoint, a missing bucket, a wrong region and a denied
    request are told apart; only "denied" calls for the IAM policy."""

    def test_kind__unreachable_endpoint_stops_after_listing(self) -> None:
        endpoint = f"http://127.0.0.1:{free_port()}"  # a closed loopback port
        cfg = DatasourceConfig.s3("s3://bucket-x/out/", region=REGION, purpose="output",
                                  id="out", endpoint_url=endpoint,
                                  allow_private_endpoint=True)  # fmt: skip
        report = check_access(cfg)
        assert report.kind == "unreachable"
        assert not report.usable
        assert "cannot be reached" in report.headline()
        assert "cannot reach http://127.0.0.1" in report.failure.message  # type: ignore[union-attr]
        assert [c.ok for c in report.checks] == [False, None, None, None, None]

    def test_kind__missing_bucket(self, s3_server: S3Server) -> None:
        report = check_access(_cfg(s3_server, "absent-" + "c" * 10, "in", "input"))
        assert report.kind == "no_such_bucket"
        assert "does not exist" in report.headline()

    def test_kind__denied(self, s3_server: S3Server) -> None:
        bucket = s3_server.new_bucket()
        s3_server.admin().put_object(Bucket=bucket, Key="out/a.tif", Body=b"II*\x00")
        _deny_writes(s3_server, bucket)
        report = check_access(_cfg(s3_server, bucket, "out", "output"))
        assert report.kind == "denied"
        assert "IAM policy" in report.headline()

    @pytest.mark.parametrize(
        ("code", "status", "kind"),
        [
            ("PermanentRedirect", 301, "wrong_region"),
            ("AuthorizationHeaderMalformed", 400, "wrong_region"),
            ("AccessDenied", 403, "denied"),
            ("NoSuchBucket", 404, "no_such_bucket"),
            ("InvalidAccessKeyId", 403, "credentials"),
            ("InternalError", 500, "other"),
        ],
    )  # fmt: skip
    def test_kind__from_the_aws_error_code(self, code: str, status: int, kind: str) -> None:
        cfg = DatasourceConfig.s3("s3://bucket-y/in/", region="us-east-1")
        raw = client_error(
            code, status, headers={"x-amz-bucket-region": "eu-west-1"}, operation="ListObjectsV2"
        )
        report = check_access(cfg, source=_FailingSource(raw, cfg))  # type: ignore[arg-type]
        assert report.kind == kind
        assert not report.usable
        if kind == "wrong_region":
            assert "set the region to eu-west-1" in report.failure.message  # type: ignore[union-attr]

    def test_usable__an_empty_input_prefix_lists_but_reads_nothing(
        self, s3_server: S3Server
    ) -> None:
        bucket = s3_server.new_bucket()
        report = check_access(_cfg(s3_server, bucket, "nothing-here", "input"))
        assert report.usable
        assert not report.ok
        assert report.kind == "ok"
        assert "not tried" in report.headline()

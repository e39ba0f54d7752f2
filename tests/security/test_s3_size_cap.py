"""Issue 15 item 7: an over-size S3 object is refused before (or while) it downloads, and is
never cached. The cap is patched small so the test uploads kilobytes, not 600 MB."""

from __future__ import annotations

import importlib
import io
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody

from bps_core.images import DEFAULT_LIMITS, DecodeLimits
from bps_core.project import create_project_from_folder
from bps_core.storage import DatasourceConfig
from bps_core.storage.cache import CachedSource
from bps_core.storage.fetch import fetch_many
from bps_core.storage.s3 import S3Error, S3Source, clear_clients
from bps_core.storage.s3 import source as s3_source
from bps_core.synthetic import SynthResult
from tests.s3_server import REGION, S3Server, inject

CAP = 4096
UNPATCHED_CAP = s3_source.MAX_OBJECT_BYTES


@pytest.fixture(autouse=True)
def _small_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_clients()
    monkeypatch.setattr(s3_source, "MAX_OBJECT_BYTES", CAP)


@pytest.fixture
def body_bytes_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts every byte read out of an S3 response body."""
    counted: list[int] = []
    original = StreamingBody.read

    def read(self: StreamingBody, amt: int | None = None) -> bytes:
        data: bytes = original(self, amt)
        counted.append(len(data))
        return data

    monkeypatch.setattr(StreamingBody, "read", read)
    return counted


def _source(server: S3Server, objects: dict[str, bytes]) -> S3Source:
    bucket = server.new_bucket("cap")
    server.seed(bucket, objects)
    cfg = DatasourceConfig.s3(
        f"s3://{bucket}/", region=REGION, endpoint_url=server.endpoint,
        allow_private_endpoint=True,
    )  # fmt: skip
    return S3Source(cfg)


def test_cap__is_the_image_decoders_file_size_limit() -> None:
    assert UNPATCHED_CAP == DEFAULT_LIMITS.max_bytes == 256 * 1024 * 1024


def test_read__over_size_object_refused_from_content_length_without_reading_its_body(
    s3_server: S3Server, body_bytes_read: list[int], tmp_path: Path
) -> None:
    source = _source(s3_server, {"big.tif": b"\0" * (16 * CAP), "small.tif": b"s" * 100})
    cached = CachedSource(source, tmp_path / "cache", max_bytes=10**9)
    with pytest.raises(S3Error, match=r"65,536 bytes, over the limit of 4,096") as err:
        cached.read_bytes("big.tif")
    assert err.value.code == "TooLarge"
    assert sum(body_bytes_read) == 0
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]  # nothing cached
    assert cached.read_bytes("small.tif") == b"s" * 100
    assert len([p for p in (tmp_path / "cache").rglob("*") if p.is_file()]) == 1
    result = fetch_many(cached, ["big.tif", "small.tif"])
    assert "over the limit" in result.errors["big.tif"]
    assert result.data["small.tif"] == b"s" * 100


def test_read__a_body_longer_than_its_content_length_is_cut_at_the_cap(
    s3_server: S3Server, body_bytes_read: list[int]
) -> None:
    source = _source(s3_server, {"liar.tif": b"x"})
    huge = b"\0" * (64 * CAP)

    def lying_store(request: Any, **_: Any) -> AWSResponse | None:
        if request.method != "GET":
            return None
        raw = _Raw(huge)
        return AWSResponse(request.url, 200, {"Content-Length": "10"}, raw)

    inject(source, lying_store)
    with pytest.raises(S3Error, match="is over the limit of 4,096"):
        source.read_bytes("liar.tif")
    assert sum(body_bytes_read) <= CAP + 1


def test_ingest__listed_size_over_the_cap_makes_a_bad_sample_never_read(
    tiny_dataset: SynthResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    first = next(p for p in sorted(tiny_dataset.train_dir.rglob("*.tif")))
    (data / "ok.tif").write_bytes(first.read_bytes())
    (data / "big.tif").write_bytes(b"II*\0" + b"\0" * (first.stat().st_size + 10))
    ingest_module = importlib.import_module("bps_core.project.ingest")
    monkeypatch.setattr(
        ingest_module, "DEFAULT_LIMITS", DecodeLimits(max_bytes=first.stat().st_size + 1)
    )
    project, report = create_project_from_folder(tmp_path / "p", data)
    with project:
        assert "over the limit" in report.bad_files["big.tif"]
        status = dict(zip(project.samples().relpath, project.samples().status, strict=True))
    assert status == {"ok.tif": "ok", "big.tif": "bad"}


class _Raw(io.BytesIO):
    """A raw HTTP body for a faked response (botocore reads it with ``read`` or ``stream``)."""

    def stream(self, **_: Any) -> Any:
        yield self.getvalue()

"""Projects over S3 end to end, against a real S3 API (moto's server): init, embed through the
object cache, datasource check, write-back in Lightly's layout, copy to another bucket, S3
exports. The same code paths the app uses."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from bps_cli.main import main
from bps_core import jobs
from bps_core.embeddings import EmbedConfig, compute_embeddings
from bps_core.project import Project, create_project
from bps_core.selection.rounds import train_model
from bps_core.storage import DatasourceConfig, LocalFolderSource, open_writable
from bps_core.storage.s3 import S3Source
from bps_core.transfers import CopySelection, copy_samples
from bps_core.verbs import CopySettings
from bps_core.writeback import PARTS, thumbnail_key, write_lightly
from tests.s3_server import REGION, S3Server

TRAIN = "Microscopy/train"


#: A fresh S3 client per test (the process-wide cache is dropped first).
pytestmark = pytest.mark.usefixtures("fresh_s3_clients")


def _input(server: S3Server, bucket: str) -> DatasourceConfig:
    return DatasourceConfig.s3(
        f"s3://{bucket}/{TRAIN}",
        region=REGION,
        endpoint_url=server.endpoint,
        allow_private_endpoint=True,
        auth="anonymous",
    )


def _output(server: S3Server, bucket: str, prefix: str = "out", **kw: object) -> DatasourceConfig:
    return DatasourceConfig.s3(
        f"s3://{bucket}/{prefix}", region=REGION, endpoint_url=server.endpoint,
        allow_private_endpoint=True,
        purpose="output", id="output", **kw,
    )  # fmt: skip


@pytest.fixture
def s3_project(s3_server: S3Server, bps_bucket: str, tmp_path: Path) -> Project:
    project, _ = create_project(tmp_path / "s3project", _input(s3_server, bps_bucket))
    yield project
    project.close()


def _label(project: Project, n: int = 6) -> None:
    s = project.samples()
    for particle, name in (("Fe", "Fe track"), ("X-ray", "no track")):
        project.add_labels(
            s[s.particle_type == particle].key.head(n).tolist(), name, user="ann", source="api"
        )


def test_init_over_s3__same_samples_and_metadata_as_the_local_folder(
    s3_project: Project, tiny_project: Project
) -> None:
    remote = s3_project.samples().set_index("relpath")
    local = tiny_project.samples().set_index("relpath")
    assert sorted(remote.index) == sorted(local.index)
    assert (remote.key.str.startswith("input:")).all()
    cols = ["particle_type", "dose_Gy", "hr_post_exposure", "status"]
    assert remote[cols].sort_index().equals(local[cols].sort_index())
    assert s3_project.config.meta_csv == "meta.csv"
    assert s3_project.config.datasource.uri.startswith("s3://")
    again = Project.open(s3_project.folder)  # the config round-trips through project.toml
    assert again.config.datasource == s3_project.config.datasource
    again.close()


def test_embedding_reads_s3_through_the_bounded_object_cache(s3_project: Project) -> None:
    emb = compute_embeddings(s3_project, EmbedConfig(method="pixels", image_size=32))
    assert len(emb.keys) == s3_project.n_samples()
    cached = [p for p in s3_project.object_cache_dir.rglob("*") if p.is_file()]
    assert len(cached) == s3_project.n_samples() + 1  # each image (and meta.csv) fetched once


def test_cli_init_s3_and_datasource_check(
    s3_server: S3Server, bps_bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = str(tmp_path / "p")
    common = ["--region", REGION, "--endpoint-url", s3_server.endpoint, "--allow-private-endpoint"]
    assert main(["init", proj, "--source", f"s3://{bps_bucket}/{TRAIN}", "--anonymous",
                 *common]) == 0  # fmt: skip
    assert "170 samples" in capsys.readouterr().out
    out_bucket = s3_server.new_bucket("out")
    assert main(["datasource", "set-output", proj, "--dest", f"s3://{out_bucket}/results",
                 *common]) == 0  # fmt: skip
    assert main(["datasource", "check", proj, "--policy"]) == 0
    out = capsys.readouterr().out
    assert "list      ok" in out
    assert "delete    ok" in out
    assert '"s3:PutObject"' in out
    assert f"arn:aws:s3:::{out_bucket}/results/*" in out
    deny = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{out_bucket}/*"}]}  # fmt: skip
    s3_server.admin().put_bucket_policy(Bucket=out_bucket, Policy=json.dumps(deny))
    assert main(["datasource", "check", proj]) == 1
    out = capsys.readouterr().out
    assert "write     failed [AccessDenied]" in out or "write     failed [403]" in out
    assert main(["init", str(tmp_path / "q"), "--source", "s3://Bad_Bucket/x"]) == 2
    assert "bucket 'Bad_Bucket'" in capsys.readouterr().err


def test_writeback__every_part_in_lightlys_layout_on_s3(
    s3_server: S3Server, s3_project: Project
) -> None:
    from lightly.utils import io as lightly_io

    compute_embeddings(s3_project, EmbedConfig(method="pixels", image_size=32))
    _label(s3_project)
    model = train_model(s3_project)
    bucket = s3_server.new_bucket("out")
    s3_project.set_datasources(output=_output(s3_server, bucket))
    report = write_lightly(s3_project)
    n = s3_project.n_samples()
    assert not report.failed
    assert not report.skipped
    assert report.written == {"relevant_filenames": 1, "embeddings": 1, "metadata": n + 1,
                              "predictions": n + 2, "thumbnails": n}  # fmt: skip
    out = S3Source(_output(s3_server, bucket))
    relpaths = sorted(s3_project.samples().relpath)
    rel = relpaths[0]
    stem = rel.rsplit(".", 1)[0]
    assert out.read_bytes(".lightly/relevant_filenames.txt").decode().split() == relpaths
    schema = json.loads(out.read_bytes(".lightly/metadata/schema.json"))
    types = {c["path"]: c["valueDataType"] for c in schema}
    assert types["particle_type"] == "CATEGORICAL_STRING"
    assert types["dose_Gy"] == "NUMERIC_FLOAT"
    assert types["hr_post_exposure"] == "NUMERIC_INT"
    assert all(set(c) == {"name", "path", "defaultValue", "valueDataType"} for c in schema)
    meta = json.loads(out.read_bytes(f".lightly/metadata/{stem}.json"))
    assert meta["file_name"] == rel
    assert meta["type"] == "image"
    assert meta["metadata"]["particle_type"] in ("Fe", "X-ray")
    assert json.loads(out.read_bytes(".lightly/predictions/tasks.json")) == ["bps-classification"]
    pschema = json.loads(out.read_bytes(".lightly/predictions/bps-classification/schema.json"))
    assert pschema == {
        "task_type": "classification",
        "categories": [{"id": i, "name": c} for i, c in enumerate(model.classes)],
    }
    pred = json.loads(out.read_bytes(f".lightly/predictions/bps-classification/{stem}.json"))
    assert pred["file_name"] == rel
    assert abs(sum(pred["predictions"][0]["probabilities"]) - 1) < 1e-5
    thumb = Image.open(io.BytesIO(out.read_bytes(thumbnail_key(rel))))
    assert thumb.format == "TIFF"
    assert thumb.mode == "L"
    assert max(thumb.size) == 128
    assert thumbnail_key(rel) == f".lightly/thumbnails/{stem}_thumb.tif"
    # the embeddings CSV passes lightly's own checks and reader
    csv_path = s3_project.folder / "back.csv"
    csv_path.write_bytes(out.read_bytes(".lightly/embeddings/bps_labeler.csv"))
    lightly_io.check_embeddings(str(csv_path))
    vectors, labels, names = lightly_io.load_embeddings(str(csv_path))
    assert sorted(names) == relpaths
    assert len(vectors) == n


def test_writeback__to_a_local_folder_and_skips_what_does_not_exist_yet(
    s3_project: Project, tmp_path: Path
) -> None:
    dest = tmp_path / "lightly-out"
    out = DatasourceConfig(id="output", kind="local", path=str(dest), purpose="output")
    s3_project.set_datasources(output=out)
    report = write_lightly(s3_project, parts=("metadata", "predictions", "embeddings"))
    assert report.written == {"metadata": s3_project.n_samples() + 1}
    assert set(report.skipped) == {"predictions", "embeddings"}
    assert (dest / ".lightly" / "metadata" / "schema.json").is_file()
    with pytest.raises(Exception, match="unknown part"):
        write_lightly(s3_project, parts=("everything",))
    assert set(PARTS) >= {"thumbnails", "relevant_filenames"}


# ------------------------------------------------------------------ copy


def _keys(server: S3Server, bucket: str, prefix: str = "") -> dict[str, str]:
    objs = server.admin().list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: o["ETag"] for o in objs}


def test_copy__server_side_between_buckets_skips_on_rerun_and_never_overwrites(
    s3_server: S3Server, tiny_dataset, tmp_path: Path
) -> None:
    src_bucket = s3_server.new_bucket("src")
    s3_server.upload_folder(tiny_dataset.train_dir, src_bucket, "train/")
    cfg = DatasourceConfig.s3(f"s3://{src_bucket}/train", region=REGION,
                              endpoint_url=s3_server.endpoint,
                              allow_private_endpoint=True)  # fmt: skip
    project, _ = create_project(tmp_path / "p", cfg)
    _label(project, 3)
    dest_bucket = s3_server.new_bucket("dest")
    dest = _output(s3_server, dest_bucket, "shared/fe")
    first = copy_samples(project, dest, CopySelection(kind="classes", classes=("Fe track",)))
    assert first.mode == "server-side"
    assert len(first.copied) == 3
    assert not first.failed
    copied = _keys(s3_server, dest_bucket)
    fe = project.current_labels()
    fe = fe[fe.label == "Fe track"].key.str.removeprefix("input:")
    assert sorted(copied) == sorted(f"shared/fe/{r}" for r in fe)
    src = _keys(s3_server, src_bucket)
    assert all(copied[k] == src[k.replace("shared/fe/", "train/")] for k in copied)
    # a re-run skips identical objects; a changed destination object is kept, not overwritten
    victim = sorted(copied)[0]
    s3_server.admin().put_object(Bucket=dest_bucket, Key=victim, Body=b"someone else's file")
    again = copy_samples(project, dest, CopySelection(kind="classes", classes=("Fe track",)))
    assert again.copied == []
    assert len(again.skipped) == 2
    assert again.conflicts == [victim.removeprefix("shared/fe/")]
    body = s3_server.admin().get_object(Bucket=dest_bucket, Key=victim)["Body"].read()
    assert body == b"someone else's file"
    forced = copy_samples(project, dest, CopySelection(kind="classes", classes=("Fe track",)),
                          overwrite=True)  # fmt: skip
    assert len(forced.copied) == 3
    assert _keys(s3_server, dest_bucket)[victim] == src[victim.replace("shared/fe/", "train/")]
    project.close()


def test_copy__streams_when_identities_differ_and_runs_as_a_job(
    s3_server: S3Server, s3_project: Project
) -> None:
    dest_bucket = s3_server.new_bucket("dest")
    keys = tuple(s3_project.samples().key.head(5))
    report = copy_samples(s3_project, _output(s3_server, dest_bucket),
                          CopySelection(kind="keys", keys=keys))  # fmt: skip
    assert report.mode == "stream"  # anonymous input, signed destination: download then upload
    assert len(report.copied) == 5
    settings = CopySettings(
        _output(s3_server, dest_bucket, "all"), CopySelection(kind="all"), overwrite=False
    )
    assert "secret" not in json.dumps(settings.to_params()).lower()
    job_id = jobs.submit(s3_project, settings, user="ann", spawn=False)
    assert "secret" not in json.dumps(jobs.get_job(s3_project, job_id).params).lower()
    assert jobs.run_job(s3_project.folder, job_id) == 0
    job = jobs.get_job(s3_project, job_id)
    assert job.state == "succeeded"
    assert job.result["n_copied"] == s3_project.n_samples()
    assert len(_keys(s3_server, dest_bucket, "all/")) == s3_project.n_samples()


def test_copy__a_round_to_a_local_folder(s3_project: Project, tmp_path: Path) -> None:
    from tests.helpers import create_round

    compute_embeddings(s3_project, EmbedConfig(method="pixels", image_size=32))
    rnd = create_round(s3_project, 4, strategy="random", seed=1, user="ann")
    dest = DatasourceConfig(id="copy", kind="local", path=str(tmp_path / "r"), purpose="output")
    report = copy_samples(s3_project, dest, CopySelection(kind="round", round=rnd.id))
    assert len(report.copied) == 4
    written = LocalFolderSource(tmp_path / "r")
    assert sorted(i.key for i in written.list()) == sorted(
        k.removeprefix("input:") for k in rnd.keys
    )
    with pytest.raises(Exception, match="round 99 does not exist"):
        copy_samples(s3_project, dest, CopySelection(kind="round", round=99))


def test_cli_export_to_s3__embeddings_label_studio_and_an_existing_file(
    s3_server: S3Server, tiny_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _label(tiny_project, 2)
    bucket = s3_server.new_bucket("exports")
    common = ["--region", REGION, "--endpoint-url", s3_server.endpoint, "--allow-private-endpoint"]
    folder = str(tiny_project.folder)
    assert main(["embed", folder, "--method", "pixels", "--image-size", "16"]) == 0
    capsys.readouterr()
    emb = ["export", folder, "--format", "embeddings-csv", "--dest", f"s3://{bucket}/e/emb.csv"]
    assert main([*emb, *common]) == 0
    out = capsys.readouterr().out
    assert re.match(rf"wrote {tiny_project.n_samples()} embeddings \(\d+ dims\) to "
                    rf"s3://{bucket}/e/emb.csv; upload: ", out)  # fmt: skip
    assert list(_keys(s3_server, bucket, "e/")) == ["e/emb.csv"]
    assert main([*emb, *common]) == 2
    assert capsys.readouterr().err == (
        f"error: s3://{bucket}/e/emb.csv already exists; pass --overwrite to replace it\n"
    )
    assert main([*emb, *common, "--overwrite"]) == 0
    assert main(["export", folder, "--format", "csv", "--dest", f"s3://{bucket}/", *common]) == 2
    assert "give a file name, e.g. s3://BUCKET/labels.csv" in capsys.readouterr().err
    ls = ["export", folder, "--format", "label-studio", "--dest", f"s3://{bucket}/ls", *common]
    assert main(ls) == 0
    assert capsys.readouterr().out.startswith(
        f"exported 4 items as label-studio to s3://{bucket}/ls"
    )
    body = s3_server.admin().get_object(Bucket=bucket, Key="ls/label_studio.json")["Body"]
    urls = [t["data"]["image"] for t in json.loads(body.read())]
    assert all(u.startswith(f"s3://{bucket}/ls/images/") for u in urls)
    assert main(ls) == 2
    assert "ls/label_studio.json already exists; pass --overwrite" in capsys.readouterr().err


def test_cli_export_and_copy_to_s3(
    s3_server: S3Server, s3_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _label(s3_project, 2)
    bucket = s3_server.new_bucket("exports")
    common = ["--region", REGION, "--endpoint-url", s3_server.endpoint, "--allow-private-endpoint"]
    folder = str(s3_project.folder)
    assert main(["export", folder, "--format", "csv", "--dest", f"s3://{bucket}/x/labels.csv",
                 *common]) == 0  # fmt: skip
    body = S3Source(_output(s3_server, bucket, "x")).read_bytes("labels.csv").decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 4
    assert main(["export", folder, "--format", "imagefolder", "--dest", f"s3://{bucket}/if",
                 *common]) == 0  # fmt: skip
    assert len(_keys(s3_server, bucket, "if/")) == 4
    assert main(["copy", folder, "--classes", "Fe track", "--dest", f"s3://{bucket}/c",
                 *common]) == 0  # fmt: skip
    assert "copied 2" in capsys.readouterr().out
    assert main(["copy", folder, "--classes", "Fe track", "--dest", f"s3://{bucket}/c",
                 *common]) == 0  # fmt: skip
    assert "copied 0 (stream), 2 already there" in capsys.readouterr().out
    dest = open_writable(_output(s3_server, bucket, "c"))
    assert len(list(dest.list())) == 2

"""A planted secret access key and session token appear nowhere: not in logs (even botocore's
DEBUG request logs), the rendered app, project files, the database, exports, job logs or
exception messages, across the datasource form, access checks, a failing request, an export
and a copy."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from bps_cli.main import main
from bps_core import jobs
from bps_core.project import create_project
from bps_core.storage import DatasourceConfig
from bps_core.storage.access import check_access
from bps_core.storage.s3 import S3Error, S3Source, clear_clients
from bps_core.transfers import CopySelection
from bps_core.verbs import CopySettings
from tests.helpers import open_app
from tests.s3_server import REGION, S3Server

SECRET = "PLANTEDsecretKEY/abc+123/do-not-leak"
TOKEN = "PLANTEDsessionTOKEN-0123456789-do-not-leak"


def _leaks(blob: bytes | str) -> list[str]:
    text = blob if isinstance(blob, str) else blob.decode("utf-8", "replace")
    return [s for s in (SECRET, TOKEN) if s in text]


def test_planted_secrets_never_leak(
    s3_server: S3Server, bps_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAPLANTED000000000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    clear_clients()
    caplog.set_level(logging.DEBUG)  # botocore logs request headers at DEBUG
    common = dict(
        region=REGION, endpoint_url=s3_server.endpoint, allow_private_endpoint=True, auth="keys"
    )
    messages: list[str] = []

    # a project over S3 read with the planted keys
    cfg = DatasourceConfig.s3(f"s3://{bps_bucket}/Microscopy/train", **common)
    project, _ = create_project(tmp_path / "project", cfg)
    keys = project.samples().key.head(4).tolist()
    project.add_labels(keys, "track", user="ann", source="api")

    # access checks: one passing, one with a denied write
    out = s3_server.new_bucket("out")
    out_cfg = DatasourceConfig.s3(f"s3://{out}/o", purpose="output", id="output", **common)
    assert check_access(out_cfg).ok
    denied = s3_server.new_bucket("denied")
    s3_server.admin().put_bucket_policy(Bucket=denied, Policy=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*",'
        f'"Action":"s3:PutObject","Resource":"arn:aws:s3:::{denied}/*"}}]}}'))  # fmt: skip
    bad = check_access(DatasourceConfig.s3(f"s3://{denied}/o", purpose="output", id="output",
                                           **common))  # fmt: skip
    assert not bad.ok
    messages += [c.message for c in bad.checks]
    # a failing request
    with pytest.raises(S3Error) as err:
        S3Source(cfg).read_bytes("no/such/file.tif")
    messages.append(str(err.value))

    # an export to S3 and a copy, through the CLI and as a background job
    folder = str(project.folder)
    flags = [
        "--keys",
        "--region",
        REGION,
        "--endpoint-url",
        s3_server.endpoint,
        "--allow-private-endpoint",
    ]
    assert main(["export", folder, "--format", "csv", "--dest", f"s3://{out}/e/labels.csv",
                 *flags]) == 0  # fmt: skip
    assert main(["copy", folder, "--classes", "track", "--dest", f"s3://{out}/c", *flags]) == 0
    settings = CopySettings(
        DatasourceConfig.s3(f"s3://{out}/job", purpose="output", id="output", **common),
        CopySelection(kind="all"),
    )
    job_id = jobs.submit(project, settings, user="ann")  # a real detached worker
    for _ in range(600):  # poll until the detached worker finishes
        job = jobs.get_job(project, job_id)
        if not job.active:
            break
        time.sleep(0.2)
    assert job.state == "succeeded", job.error
    project.close()

    # the app: the datasource form in keys mode with an access check
    at = open_app(monkeypatch, folder)
    at.run()
    at.switch_page("pages/1_Datasource.py").run()
    at.radio(key="ds_output_kind").set_value("s3").run()
    at.text_input(key="ds_output_location").input(f"s3://{out}/app")
    at.text_input(key="ds_output_region").input(REGION)
    at.text_input(key="ds_output_endpoint").input(s3_server.endpoint)
    at.checkbox(key="ds_output_allow_private").check()
    at.radio(key="ds_output_auth").set_value("keys").run()
    at.button(key="check_output").click().run()
    assert "All 5 permissions work" in at.success[0].value

    # now look everywhere
    captured = capsys.readouterr()
    assert "X-Amz-Security-Token" in caplog.text or "Authorization" in caplog.text  # DEBUG on
    assert not _leaks(caplog.text)
    assert not _leaks(captured.out + captured.err)
    assert not _leaks("\n".join(messages))
    assert not _leaks(repr(at._tree))
    for path in Path(folder).rglob("*"):
        if path.is_file():
            assert not _leaks(path.read_bytes()), path
    admin = s3_server.admin()
    for obj in admin.list_objects_v2(Bucket=out).get("Contents", []):
        body = admin.get_object(Bucket=out, Key=obj["Key"])["Body"].read()
        assert not _leaks(body), obj["Key"]

"""The Datasources page (AppTest) against a real S3 API (moto's server): forms, validation,
access checks with policies, switching the input to S3, copy and write-back jobs."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bps_app import state
from bps_core import jobs
from bps_core.project import Project
from bps_core.storage.s3 import clear_clients
from tests.helpers import free_port, open_app, wait_until
from tests.s3_server import REGION, S3Server

PAGE = "pages/1_Datasource.py"


@pytest.fixture
def app(app: AppTest) -> AppTest:
    """The app opened on the Datasources page, no S3 client cached from an earlier test."""
    clear_clients()
    app.run()
    app.switch_page(PAGE).run()
    assert not app.exception
    return app


def _fill_s3(app: AppTest, prefix: str, server: S3Server, location: str, auth: str = "default"):  # type: ignore[no-untyped-def]
    app.radio(key=f"ds_{prefix}_kind").set_value("s3").run()
    app.text_input(key=f"ds_{prefix}_location").input(location)
    app.text_input(key=f"ds_{prefix}_region").input(REGION)
    app.text_input(key=f"ds_{prefix}_endpoint").input(server.endpoint)
    app.checkbox(key=f"ds_{prefix}_allow_private").check()
    app.radio(key=f"ds_{prefix}_auth").set_value(auth).run()
    assert not app.exception


def _wait(project: Project, kind: str, timeout: float = 120.0) -> jobs.JobRecord:
    """The latest finished job of ``kind``, once there is one."""

    def finished() -> jobs.JobRecord | None:
        return next((j for j in jobs.list_jobs(project, kind) if not j.active), None)

    return wait_until(finished, timeout=timeout, what=f"the end of the {kind} job")


def test_output_form__validates_checks_access_shows_policy_and_saves(
    app: AppTest, s3_server: S3Server, tiny_project: Project
) -> None:
    _fill_s3(app, "output", s3_server, "s3://Bad_Bucket/out")
    # refused before any request; the message is escaped Markdown (safe_text.md)
    assert "bucket 'Bad_Bucket'" in re.sub(r"\\(.)", r"\1", app.error[0].value)
    assert app.button(key="check_output").disabled
    bucket = s3_server.new_bucket("out")
    app.text_input(key="ds_output_location").input(f"s3://{bucket}/results").run()
    assert not app.error
    app.button(key="check_output").click().run()
    assert "All 5 permissions work" in app.success[0].value
    table = app.dataframe[-1].value
    assert list(table.permission) == ["list", "read", "write", "overwrite", "delete"]
    # The IAM policy is shown only when access is denied (issue 14, item 9).
    assert not any(f"arn:aws:s3:::{bucket}/results/*" in c.value for c in app.code)
    app.button(key="save_output").click().run()
    assert not app.exception
    reopened = Project.open(tiny_project.folder)
    assert reopened.config.output is not None
    assert reopened.config.output.uri == f"s3://{bucket}/results/"
    reopened.close()


def test_presets_and_external_id_generator_fill_the_fields(app: AppTest) -> None:
    app.button(key="nasa_preset").click().run()
    assert app.text_input(key="ds_input_location").value == (
        "s3://nasa-bps-training-data/Microscopy/train/"
    )
    assert app.radio(key="ds_input_auth").value == "anonymous"
    assert app.text_input(key="ds_input_region").value == "us-west-2"
    assert not app.error
    app.radio(key="ds_output_kind").set_value("s3").run()
    app.text_input(key="ds_output_location").input("s3://bucket-b/out").run()
    app.radio(key="ds_output_auth").set_value("assume-role").run()
    app.button(key="ds_output_gen").click().run()
    ext = app.text_input(key="ds_output_external_id").value
    assert len(ext) == 32
    assert ext.isalnum()
    assert "role ARN" in app.error[0].value  # the ARN is still missing: said, not crashed


def test_switching_the_input_to_s3_relists_and_keeps_labels(
    app: AppTest, s3_server: S3Server, bps_bucket: str, tiny_project: Project
) -> None:
    keys = tiny_project.samples().key.head(3).tolist()
    tiny_project.add_labels(keys, "track", user="ann", source="api")
    _fill_s3(app, "input", s3_server, f"s3://{bps_bucket}/Microscopy/train", auth="anonymous")
    app.button(key="check_input").click().run()
    assert "All 2 permissions work" in app.success[0].value
    app.button(key="save_input").click().run()
    assert not app.exception
    job = _wait(tiny_project, "ingest")
    assert job.state == "succeeded", job.error
    assert job.result["n_samples"] == tiny_project.n_samples()
    reopened = Project.open(tiny_project.folder)
    assert reopened.config.datasource.kind == "s3"
    assert set(reopened.current_labels().key) == set(keys)  # labels survive the move
    reopened.close()


def test_copy_and_writeback_tabs_run_jobs(
    app: AppTest, s3_server: S3Server, tiny_project: Project
) -> None:
    from bps_core.storage import DatasourceConfig

    keys = tiny_project.samples().key.head(4).tolist()
    tiny_project.add_labels(keys, "debris", user="ann", source="api")
    app.run()
    dest = s3_server.new_bucket("copy")
    app.radio(key="copy_what").set_value("classes").run()
    app.multiselect(key="copy_classes").set_value(["debris"]).run()
    _fill_s3(app, "copy", s3_server, f"s3://{dest}/debris")
    app.button(key="start_copy").click().run()
    assert not app.exception
    job = _wait(tiny_project, "copy")
    assert job.state == "succeeded", job.error
    assert job.result["n_copied"] == 4
    listed = s3_server.admin().list_objects_v2(Bucket=dest)["KeyCount"]
    assert listed == 4
    out = s3_server.new_bucket("out")
    tiny_project.set_datasources(output=DatasourceConfig.s3(
        f"s3://{out}/", region=REGION, endpoint_url=s3_server.endpoint,
        allow_private_endpoint=True, purpose="output",
        id="output"))  # fmt: skip
    app.run()
    app.multiselect(key="wb_parts").set_value(["metadata", "relevant_filenames"]).run()
    app.button(key="start_wb").click().run()
    job = _wait(tiny_project, "writeback")
    assert job.state == "succeeded", job.error
    assert job.result["written"] == {"relevant_filenames": 1,
                                     "metadata": tiny_project.n_samples() + 1}  # fmt: skip


def test_keys_mode__the_secret_never_reaches_the_page(
    app: AppTest, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "planted-SECRET-do-not-show-4242"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == secret
    bucket = s3_server.new_bucket("keys")
    _fill_s3(app, "output", s3_server, f"s3://{bucket}/x", auth="keys")
    app.button(key="check_output").click().run()
    assert "All 5 permissions work" in app.success[0].value
    rendered = repr(app._tree)
    assert secret not in rendered
    assert "testing" not in [t.value for t in app.text_input]


def test_explore_page_over_s3__thumbnails_prefetched_into_the_object_cache(
    s3_server: S3Server, bps_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bps_app import cache
    from bps_core.project import create_project
    from bps_core.storage import DatasourceConfig

    clear_clients()
    cfg = DatasourceConfig.s3(f"s3://{bps_bucket}/Microscopy/train", region=REGION,
                              endpoint_url=s3_server.endpoint,
                              allow_private_endpoint=True, auth="anonymous")  # fmt: skip
    project, _ = create_project(tmp_path / "s3p", cfg)
    cache.clear_thumbnails()
    at = open_app(monkeypatch, project.folder)
    at.session_state[state.EXPLORE_TAB] = "Browse"  # Explore runs only its open tab
    at.run()
    at.switch_page("pages/3_Explore_and_label.py").run()
    assert not at.exception
    assert len(at.image) == 1  # one image list: the grid's 24 thumbnails
    assert len(at.image[0].proto.imgs) == 24
    cached = [p for p in project.object_cache_dir.rglob("*") if p.is_file()]
    assert len(cached) >= 24  # fetched concurrently, then decoded from the local cache
    project.close()


def test_export_page__writes_to_the_s3_output(
    app: AppTest, s3_server: S3Server, tiny_project: Project
) -> None:
    from bps_core.storage import DatasourceConfig

    keys = tiny_project.samples().key.head(3).tolist()
    tiny_project.add_labels(keys, "debris", user="ann", source="api")
    bucket = s3_server.new_bucket("exports")
    tiny_project.set_datasources(output=DatasourceConfig.s3(
        f"s3://{bucket}/team", region=REGION, endpoint_url=s3_server.endpoint,
        allow_private_endpoint=True, purpose="output",
        id="output"))  # fmt: skip
    app.switch_page("pages/6_Export.py").run()
    app.selectbox(key="export_out_format").set_value("csv")
    next(b for b in app.button if b.label == "Export to the output").click().run()
    assert not app.exception
    assert "Exported 3 items" in app.success[-1].value
    body = s3_server.admin().get_object(Bucket=bucket, Key="team/exports/labels.csv")["Body"]
    assert body.read().decode().count("debris") == 3
    app.selectbox(key="export_out_format").set_value("imagefolder")
    app.text_input(key="export_out_prefix").input("../escape")
    next(b for b in app.button if b.label == "Export to the output").click().run()
    assert "prefix" in app.error[-1].value
    app.text_input(key="export_out_prefix").input("exports")
    next(b for b in app.button if b.label == "Export to the output").click().run()
    listed = s3_server.admin().list_objects_v2(Bucket=bucket, Prefix="team/exports/imagefolder/")
    assert listed["KeyCount"] == 3


def test_output_form__private_endpoint_needs_the_checkbox_and_passwords_are_never_shown(
    app: AppTest,
) -> None:
    app.radio(key="ds_output_kind").set_value("s3").run()
    app.text_input(key="ds_output_location").input("s3://bucket-a/out")
    app.text_input(key="ds_output_endpoint").input("http://admin:hunter2@127.0.0.1:9000").run()
    assert "must not hold user names or passwords" in app.error[0].value
    assert "hunter2" not in app.error[0].value
    app.text_input(key="ds_output_endpoint").input("http://127.0.0.1:9000").run()
    assert "private or loopback" in app.error[0].value
    assert "Allow a private or loopback endpoint" in app.error[0].value
    assert app.button(key="check_output").disabled
    app.checkbox(key="ds_output_allow_private").check().run()
    assert not app.error
    assert not app.button(key="check_output").disabled


def test_check_access__unreachable_endpoint_names_the_cause_and_save_is_refused(
    app: AppTest, tiny_project: Project
) -> None:
    """Issue 14, item 9: without a network the page said "Some permissions are missing",
    showed an IAM policy, cut off the cause and left "Save and re-list" enabled."""
    app.radio(key="ds_input_kind").set_value("s3").run()
    app.text_input(key="ds_input_location").input("s3://some-bucket/images/")
    app.text_input(key="ds_input_endpoint").input(f"http://127.0.0.1:{free_port()}")
    app.checkbox(key="ds_input_allow_private").check()
    app.radio(key="ds_input_auth").set_value("anonymous").run()
    assert not app.button(key="check_input").disabled  # a usable config (saving it: no change)
    app.button(key="check_input").click().run()
    assert not app.exception
    error = app.error[0].value
    assert "endpoint cannot be reached" in error
    assert "Some permissions are missing" not in error
    assert "cannot reach http" in error  # the cause, in full
    assert "any proxy" in error
    assert not app.code  # no IAM policy: it cannot fix a network problem
    assert app.button(key="save_input").disabled
    table = app.dataframe[-1].value
    assert list(table.result) == ["failed", "not tried"]
    assert not any(ch in "".join(table.result) for ch in "\u2705\u274c\u2796")  # no emoji
    before = Project.open(tiny_project.folder)
    assert before.config.datasource.kind == "local"
    before.close()


def test_save__without_a_check_checks_first_and_refuses_an_unusable_source(
    app: AppTest, s3_server: S3Server, tiny_project: Project
) -> None:
    _fill_s3(app, "output", s3_server, "s3://no-such-bucket-" + "x" * 8 + "/out")
    app.button(key="save_output").click().run()  # no check yet: saving checks first
    assert not app.exception
    assert "bucket does not exist" in app.error[0].value
    assert "NoSuchBucket" in app.error[0].value
    assert any("Not saved" in e.value for e in app.error)
    assert not app.code
    reopened = Project.open(tiny_project.folder)
    assert reopened.config.output is None
    reopened.close()


def test_check_access__denied_shows_the_iam_policy(app: AppTest, s3_server: S3Server) -> None:
    import json

    bucket = s3_server.new_bucket("denied")
    s3_server.admin().put_object(Bucket=bucket, Key="in/a.tif", Body=b"II*\x00")
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": ["s3:GetObject"],
        "Resource": [f"arn:aws:s3:::{bucket}/*"]}]}  # fmt: skip
    s3_server.admin().put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    _fill_s3(app, "input", s3_server, f"s3://{bucket}/in")
    app.button(key="check_input").click().run()
    assert "Access denied" in app.error[0].value
    assert any(f"arn:aws:s3:::{bucket}/in/*" in c.value for c in app.code)
    assert app.button(key="save_input").disabled


def test_endpoint_on_a_metadata_address__says_what_to_do_in_the_form(app: AppTest) -> None:
    app.radio(key="ds_input_kind").set_value("s3").run()
    app.text_input(key="ds_input_location").input("s3://some-bucket/images/")
    app.text_input(key="ds_input_endpoint").input("http://169.254.169.254").run()
    error = app.error[0].value
    assert "leave the endpoint empty" in error
    assert "allow_link_local" not in error


def test_last_ingest_job__result_is_a_table_not_a_dict(app: AppTest, tiny_project: Project) -> None:
    from bps_app import datasource_form as dsf
    from bps_core.verbs import IngestSettings

    job_id = jobs.submit(tiny_project, IngestSettings(), user="qa", spawn=False)
    assert jobs.run_job(tiny_project.folder, job_id) == 0
    app.run()
    assert not any("{" in c.value for c in app.caption)
    frame = dsf.job_result_frame({"n_samples": 1234, "files_without_metadata": 0})
    assert frame.to_dict("list") == {"result": ["samples", "files without metadata"],
                                     "value": ["1,234", "0"]}  # fmt: skip
    assert any(list(d.value.columns) == ["result", "value"] for d in app.dataframe)


def test_form_errors__quote_user_text_as_plain_text(app: AppTest) -> None:
    """A prefix or endpoint typed into the form comes back in the error as text: Markdown in it
    (an image fetching a beacon, a link) must not render."""
    app.radio(key="ds_input_kind").set_value("s3").run()
    app.text_input(key="ds_input_location").input(
        "s3://ok-bucket/a![x](http://127.0.0.1:18999/beacon.png)/"
    ).run()
    error = app.error[0].value
    assert "![x](" not in error
    assert "\\!\\[x\\]" in error  # backslash-escaped Markdown: shown as typed
    app.text_input(key="ds_input_location").input("s3://ok-bucket/in/")
    app.text_input(key="ds_input_endpoint").input("http://169.254.169.254").run()
    assert "http://169" not in app.error[0].value  # no bare URL for Markdown to link


def test_writeback_tab__a_bad_task_name_is_refused_on_the_page_and_nothing_is_queued(
    app: AppTest, tiny_project: Project, tmp_path: Path
) -> None:
    from bps_core.storage import DatasourceConfig

    out = tmp_path / "out"
    out.mkdir()
    tiny_project.set_datasources(
        output=DatasourceConfig(id="output", path=str(out), purpose="output")
    )
    app.run()
    app.text_input(key="wb_task").input("a task")
    app.button(key="start_wb").click().run()
    assert not app.exception
    assert [e.value for e in app.error] == [
        "task name 'a task': use letters, digits and _+=,.@:- only"
    ]
    assert jobs.list_jobs(tiny_project, "writeback") == []  # refused before a row was written


def test_save_input__a_folder_without_images_fails_and_the_input_stays_as_it_was(
    app: AppTest, tiny_project: Project
) -> None:
    """A user saved an empty folder (inside the allowed exports folder) as the input: the
    project used to switch to it before the ingest failed, leaving every image missing and
    the old folder refused by the path policy. Now the job fails naming the folder, and the
    project still reads, shows and allows the folder it had."""
    old = tiny_project.config.datasource
    empty = tiny_project.folder / "exports" / "empty"
    empty.mkdir(parents=True)
    app.radio(key="ds_input_kind").set_value("local").run()
    app.text_input(key="ds_input_path").input(str(empty)).run()
    app.button(key="check_input").click().run()  # a warning, not a green tick
    assert not app.success
    assert any("It holds no files: saving it as the input would find no images" in w.value
               for w in app.warning)  # fmt: skip
    app.button(key="save_input").click().run()
    assert not app.exception
    job = _wait(tiny_project, "ingest")
    assert job.state == "failed"
    assert "holds no files: nothing was ingested and the project is unchanged" in job.error
    assert empty.as_uri() in job.error
    reopened = Project.open(tiny_project.folder)
    assert reopened.config.datasource == old
    assert not reopened.ingest_unfinished()
    reopened.close()
    app.run()
    assert not app.exception
    assert any("holds no files" in w.value for w in [*app.warning, *app.error])
    app.text_input(key="ds_input_path").input(old.path).run()  # the old folder is still allowed
    assert not any("outside the folders" in e.value for e in app.error)
    assert not app.button(key="check_input").disabled  # a usable config (saving it: no change)


def test_input_folder__a_relative_path_is_under_the_project_folder_as_on_export(
    app: AppTest, tiny_project: Project
) -> None:
    """A relative folder was taken from the server's working folder here but from the
    project folder on the Export page; now both take the project's."""
    empty = tiny_project.folder / "exports" / "empty"
    empty.mkdir(parents=True)
    app.radio(key="ds_input_kind").set_value("local").run()
    app.text_input(key="ds_input_path").input(" exports/empty ").run()
    assert not app.error
    app.button(key="check_input").click().run()
    assert any("It holds no files" in w.value for w in app.warning)  # found, under the project
    assert not any("no such folder" in e.value for e in app.error)
    said = app.text_input(key="ds_input_path").help.replace("\\", "")  # (markdown escapes)
    assert str(tiny_project.folder) in said


def test_assume_role__a_session_duration_typed_out_of_range_is_named_and_refused(
    app: AppTest,
) -> None:
    from bps_app.safe_text import md

    app.run()
    app.radio(key="ds_output_kind").set_value("s3").run()
    app.text_input(key="ds_output_location").input("s3://bucket-b/out").run()
    app.radio(key="ds_output_auth").set_value("assume-role").run()
    app.text_input(key="ds_output_role_arn").input("arn:aws:iam::123456789012:role/R").run()
    assert app.number_input(key="ds_output_duration").value == 3600
    app.number_input(key="ds_output_duration").set_value(60).run()
    assert app.number_input(key="ds_output_duration").value == 60  # kept, not put back to 3600
    assert md("Session duration (s): 60 is less than 900; enter a number from 900 to 43,200.") in [
        e.value for e in app.error
    ]
    assert app.button(key="check_output").disabled  # no config: nothing to check or save


def test_assume_role__a_session_duration_that_is_not_whole_is_refused(app: AppTest) -> None:
    from bps_app.safe_text import md

    app.run()
    app.radio(key="ds_output_kind").set_value("s3").run()
    app.text_input(key="ds_output_location").input("s3://bucket-b/out").run()
    app.radio(key="ds_output_auth").set_value("assume-role").run()
    app.text_input(key="ds_output_role_arn").input("arn:aws:iam::123456789012:role/R").run()
    app.number_input(key="ds_output_duration").set_value(1800.5).run()
    assert md("Session duration (s): 1800.5 is not a whole number; enter a whole number from "
              "900 to 43,200.") in [e.value for e in app.error]  # fmt: skip
    assert app.button(key="check_output").disabled


def test_copy_tab__a_blind_labeler_picks_and_copies_by_her_own_labels_only(
    app: AppTest, tiny_project: Project
) -> None:
    """The class picker listed every class in use to a blind labeler (bob's too), and copying
    one copied by everyone's labels: she picks, and copies, by her own labels only."""
    for name in ("track", "debris"):
        tiny_project.ensure_class(name)
    tiny_project.assignments.configure(["alice", "bob"], 1.0, blind=True)
    keys = tiny_project.samples().key.head(4).tolist()
    tiny_project.add_labels(keys[:3], "debris", user="bob", source="queue")
    tiny_project.add_labels(keys[:2], "track", user="alice", source="queue")
    tiny_project.add_labels([keys[3]], "track", user="bob", source="queue")
    options: dict[str, list[str]] = {}
    for user in ("carol", "alice"):
        app.session_state[state.USER_NAME] = user
        app.run()
        app.radio(key="copy_what").set_value("classes").run()
        options[user] = list(app.multiselect(key="copy_classes").options)
    assert options == {"carol": ["debris", "track"], "alice": ["track"]}
    app.multiselect(key="copy_classes").set_value(["track"]).run()
    app.radio(key="ds_copy_kind").set_value("local").run()
    app.text_input(key="ds_copy_path").input("exports/copied").run()  # where it may write
    app.button(key="start_copy").click().run()
    assert not app.exception
    job = _wait(tiny_project, "copy")
    assert job.state == "succeeded", job.error
    assert job.result["n_copied"] == 2  # her two, not bob's track on keys[3]
    copied = [f for f in (tiny_project.folder / "exports/copied").rglob("*") if f.is_file()]
    assert len(copied) == 2

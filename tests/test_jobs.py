"""Background jobs: run in a detached process, report, refuse duplicates, reap the dead (the
first three on both database engines)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bps_core import jobs
from bps_core.embeddings.store import load_embedding_set
from bps_core.project import Project
from bps_core.verbs import EmbedConfig, MapConfig, SimulateSettings
from tests.helpers import save_random_embeddings, wait_for_job, wait_until


def test_embed_job__runs_detached_and_records_result(engine_project: Project) -> None:
    tiny_project = engine_project  # on SQLite, then on a PostgreSQL server
    job_id = jobs.submit(tiny_project, EmbedConfig(method="pixels", image_size=32), user="ann")
    job = wait_for_job(tiny_project, job_id, reap=True)
    assert job.state == "succeeded", job.error
    assert job.progress == 1.0
    assert job.result is not None
    assert job.result["version"] == load_embedding_set(tiny_project).version
    assert job.result["map_id"]
    assert job.user == "ann"


def test_submit__a_second_active_job_of_the_kind_is_refused(engine_project: Project) -> None:
    tiny_project = engine_project  # on SQLite, then on a PostgreSQL server
    jobs.submit(tiny_project, MapConfig(method="pca"), user="ann", spawn=False)
    with pytest.raises(jobs.JobAlreadyRunning, match="started by ann"):
        jobs.submit(tiny_project, MapConfig(method="pca"), user="bob", spawn=False)
    jobs.submit(tiny_project, EmbedConfig(method="pixels"), user="bob", spawn=False)  # other kind


def test_reap__a_job_whose_process_died_is_marked_failed(engine_project: Project) -> None:
    tiny_project = engine_project  # on SQLite, then on a PostgreSQL server
    job_id = jobs.submit(tiny_project, MapConfig(), user="ann", spawn=False)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    tiny_project._conn.execute(
        "UPDATE jobs SET pid = ?, state = 'running' WHERE id = ?", (dead.pid, job_id)
    )
    assert jobs.reap_dead_jobs(tiny_project) == 1
    job = jobs.get_job(tiny_project, job_id)
    assert job.state == "failed"
    assert "exited unexpectedly" in job.error
    jobs.submit(tiny_project, MapConfig(), user="ann", spawn=False)  # the kind is free again


def test_failing_job__is_failed_with_its_error(tiny_project: Project) -> None:
    job_id = jobs.submit(tiny_project, MapConfig(method="pca"), user="ann")  # no embeddings yet
    job = wait_for_job(tiny_project, job_id, reap=True)
    assert job.state == "failed"
    assert "no embeddings yet" in job.error


def test_cancel__stops_a_running_training_job(tiny_project: Project) -> None:
    settings = EmbedConfig(method="simclr", arch="resnet10", image_size=32, epochs=500,
                           batch_size=16)  # fmt: skip
    job_id = jobs.submit(tiny_project, settings, user="ann")

    def past_decode_cache() -> bool:
        job = jobs.get_job(tiny_project, job_id)
        if job.progress > 0.15:
            return True
        assert job.active, (job.state, job.error)
        return False

    # generous: a loaded shared machine is slow, not wrong
    wait_until(past_decode_cache, timeout=600, what="training past the decode cache")
    jobs.cancel_job(tiny_project, job_id)
    job = wait_for_job(tiny_project, job_id, reap=True)
    assert job.state == "cancelled"
    assert load_embedding_set(tiny_project) is None


def _fake_proc(root: Path, pid: int, *, state: str, ppid: int, cmdline: bytes) -> None:
    entry = root / str(pid)
    entry.mkdir(parents=True)
    (entry / "stat").write_text(f"{pid} (python) {state} {ppid} {pid} {pid} 0 -1\n")
    (entry / "cmdline").write_bytes(cmdline)


@pytest.mark.parametrize(
    ("state", "ppid", "cmdline", "alive"),
    [
        ("R", 1, b"python\0-m\0bps_core.jobs\0/p\0abc123\0", True),  # our worker
        ("S", 1, b"python\0-m\0bps_core.jobs\0--warm-worker\0", True),  # the warm worker
        ("R", 1, b"", True),  # just started, still inside exec: not identifiable yet
        ("R", 1, b"python\0other.py\0", False),  # pid reused by an unrelated process
        ("Z", 1, b"", False),  # exited, not yet waited for
        ("S", 2, b"", False),  # a kernel thread
    ],
)
def test_process_alive__reads_state_and_command_line(
    tmp_path: Path, state: str, ppid: int, cmdline: bytes, alive: bool
) -> None:
    _fake_proc(tmp_path, 4242, state=state, ppid=ppid, cmdline=cmdline)
    assert jobs.process_alive(4242, "abc123", proc_root=tmp_path) is alive


def test_reap__a_job_spawned_an_instant_ago_is_not_reaped(tiny_project: Project) -> None:
    # Right after Popen returns, a loaded machine can show the child's command line empty.
    job_id = jobs.submit(tiny_project, MapConfig(method="pca"), user="ann")
    assert jobs.reap_dead_jobs(tiny_project) == 0
    job = wait_for_job(tiny_project, job_id, reap=True)
    assert "no embeddings yet" in (job.error or "")  # the job's own outcome, not the reaper's


def test_simulate_job__finishes_with_a_curve_and_the_95_table(tiny_project: Project) -> None:
    import pandas as pd

    from bps_core.embeddings import EmbedConfig, compute_embeddings

    compute_embeddings(tiny_project, EmbedConfig(method="pixels", image_size=32))
    settings = SimulateSettings(label_column="particle_type", group_column="well",
                                strategies=("random", "diversity"), batch=8, rounds=2,
                                seeds=2)  # fmt: skip
    job_id = jobs.submit(tiny_project, settings, user="ann")
    job = wait_for_job(tiny_project, job_id, reap=True)
    assert job.state == "succeeded", job.error
    assert job.result is not None
    curve = pd.read_csv(tiny_project.folder / job.result["curve"])
    assert set(curve.strategy) == {"random", "diversity"}
    assert len(curve) == 2 * 2 * 3
    reach = pd.read_csv(tiny_project.folder / job.result["labels_to_95"], index_col="strategy")
    assert set(reach.index) == {"random", "diversity"}
    assert job.result["curve"].startswith(f"simulations/{job_id}/")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"label_column": "nope", "strategies": ["random"]}, "no metadata column 'nope'"),
        ({"label_column": "particle_type", "strategies": ["magic"]}, "unknown strategies magic"),
        ({"label_column": "particle_type", "strategies": ["random"], "seeds": 0},
         "at least 1"),
        ({"label_column": "particle_type", "strategies": ["random"],
          "truth_csv": "/etc/passwd"}, "must be a file under"),
        ({"label_column": "particle_type", "strategies": ["random"],
          "truth_csv": "simulations/../project.db"}, "must be a file under"),
        ({"label_column": "particle_type", "strategies": ["random"], "path": "x"},
         "unknown setting\\(s\\) path"),
        ({"label_column": "particle_type", "strategies": ["random"], "seeds": "3"},
         "seeds must be a whole number"),
    ],
)  # fmt: skip
def test_simulate_job__params_are_checked_at_submission(
    tiny_project: Project, params: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):  # built from the params the page sends
        jobs.submit(tiny_project, SimulateSettings.from_params(params), user="ann", spawn=False)
    assert jobs.list_jobs(tiny_project, "simulate") == []  # nothing queued


def test_failure_message__our_errors_as_one_line_others_with_their_type() -> None:
    from bps_core.errors import MetadataError

    assert jobs.failure_message(MetadataError("x.csv not found: give a path")) == (
        "x.csv not found: give a path"
    )
    assert jobs.failure_message(RuntimeError("boom")) == "RuntimeError: boom"
    assert jobs.failure_message(KeyboardInterrupt()) == "KeyboardInterrupt"


def test_map_job__reports_umap_progress_and_shows_its_map(tiny_project: Project) -> None:

    from bps_core.projection import MapConfig, current_map, get_or_compute_map

    save_random_embeddings(tiny_project)
    pca = get_or_compute_map(tiny_project, MapConfig(method="pca"))
    seen: list[tuple[float, str]] = []

    class _Ctx:
        def progress(self, f: float, message: str = "", *, force: bool = False) -> None:
            seen.append((f, message))

        def callback(self, message: str = ""):  # type: ignore[no-untyped-def]
            return lambda f: self.progress(f, message)

    result = jobs.JOB_KINDS["map"].run(
        tiny_project,
        MapConfig(method="umap", n_epochs=30),
        _Ctx(),  # type: ignore[arg-type]
    )
    assert result["method"] == "umap"
    assert current_map(tiny_project).id == result["map_id"] != pca.id
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions)
    assert any(0.25 <= f < 1.0 for f in fractions)  # the layout epochs, not only start and end
    assert {m for _, m in seen} == {"computing the UMAP map"}


def test_submit__a_bad_setting_is_refused_and_no_job_row_is_written(
    tiny_project: Project,
) -> None:
    from bps_core.errors import SettingsError

    with pytest.raises(SettingsError, match="image_size"):
        jobs.submit(tiny_project, EmbedConfig(method="pixels", image_size=33), user="ann")
    spoiled = MapConfig(method="pca")
    object.__setattr__(spoiled, "n_neighbors", 1)  # past the constructor's check
    with pytest.raises(SettingsError, match="n_neighbors"):
        jobs.submit(tiny_project, spoiled, user="ann", spawn=False)
    assert jobs.list_jobs(tiny_project) == []


def test_submit__settings_no_job_kind_takes_are_refused(tiny_project: Project) -> None:
    from bps_core.verbs import TrainSettings

    with pytest.raises(ValueError, match="no background job takes TrainSettings"):
        jobs.submit(tiny_project, TrainSettings(), user="ann", spawn=False)  # type: ignore[arg-type]
    assert jobs.list_jobs(tiny_project) == []


def test_submit__the_kind_and_params_follow_from_the_settings(tiny_project: Project) -> None:
    job_id = jobs.submit(tiny_project, MapConfig(method="pca", seed=3), user="ann", spawn=False)
    job = jobs.get_job(tiny_project, job_id)
    assert job.kind == "map"
    assert MapConfig.from_params(job.params) == MapConfig(method="pca", seed=3)


def test_run_job__a_row_with_bad_params_fails_naming_the_field(tiny_project: Project) -> None:
    job_id = jobs.submit(tiny_project, MapConfig(method="pca"), user="ann", spawn=False)
    tiny_project._conn.execute(
        "UPDATE jobs SET params_json = ? WHERE id = ?", ('{"method": "pca", "colour": 1}', job_id)
    )
    assert jobs.run_job(tiny_project.folder, job_id) == 1
    job = jobs.get_job(tiny_project, job_id)
    assert job.state == "failed"
    assert job.error == "unknown setting(s) colour for MapConfig; known: " + ", ".join(
        sorted(MapConfig.__dataclass_fields__)
    )

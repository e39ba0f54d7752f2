"""The warm job worker: started ahead of time, takes jobs while idle, replaced when it dies."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator

import pytest

from bps_core import jobs
from bps_core.project import Project
from bps_core.projection import MapConfig, load_map
from tests.helpers import save_random_embeddings, wait_for_job, wait_until


@pytest.fixture
def warm_enabled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(jobs.WARM_WORKER_ENV, "1")
    yield
    jobs.stop_warm_worker()


@pytest.fixture
def embedded(tiny_project: Project) -> Project:
    save_random_embeddings(tiny_project, dim=16)
    return tiny_project


def _exits(worker: jobs.WarmWorker, timeout: float = 60.0) -> bool:
    try:
        worker.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def test_warm_worker__warms_up_then_runs_a_map_job_and_stays_for_the_next(
    warm_enabled: None, embedded: Project
) -> None:
    worker = jobs.start_warm_worker()
    assert worker is not None
    assert jobs.start_warm_worker() is worker  # one per server process
    assert worker.wait_warm(timeout_s=240), "the warm-up (imports, UMAP kernels) did not finish"
    cfg = MapConfig(method="umap", n_epochs=20)
    job = wait_for_job(embedded, jobs.submit(embedded, cfg, user="ann"), reap=True)
    assert job.state == "succeeded", job.error
    assert job.pid == worker.pid
    assert load_map(embedded, cfg) is not None
    log = (embedded.folder / "logs" / f"job-{job.id}.log").read_text()
    assert f"run by the warm worker (pid {worker.pid})" in log
    wait_until(worker.idle, timeout=60, interval=0.1, what="an idle warm worker")
    second = wait_for_job(
        embedded, jobs.submit(embedded, MapConfig(method="pca"), user="bob"), reap=True
    )
    assert second.state == "succeeded", second.error
    assert second.pid == worker.pid


def test_warm_worker__a_failing_job_is_recorded_and_the_worker_carries_on(
    warm_enabled: None, embedded: Project
) -> None:
    worker = jobs.start_warm_worker(warm_up=False)
    assert worker is not None
    # A job that fails inside the worker is recorded as failed; the worker carries on. Bad
    # settings are refused at submission now, so the row is spoiled after it was recorded.
    job_id = jobs.submit(embedded, MapConfig(method="pca"), user="ann", spawn=False)
    embedded._conn.execute(
        "UPDATE jobs SET params_json = ? WHERE id = ?", ('{"method": "tsne"}', job_id)
    )
    assert worker.hand(embedded.folder, job_id)
    bad = wait_for_job(embedded, job_id, reap=True)
    assert bad.state == "failed"
    assert "tsne" in (bad.error or "")
    assert bad.pid == worker.pid
    wait_until(worker.idle, timeout=60, interval=0.1, what="an idle warm worker")
    # A job id it cannot find (removed meanwhile) is the worker's own error: it survives.
    assert worker.hand(embedded.folder, "no-such-job")
    wait_until(worker.idle, timeout=60, interval=0.1, what="an idle warm worker")
    assert worker.alive()


def test_warm_worker__a_busy_worker_does_not_take_a_second_job(
    warm_enabled: None, embedded: Project
) -> None:
    worker = jobs.start_warm_worker(warm_up=False)
    assert worker is not None
    worker.proc.send_signal(signal.SIGSTOP)  # frozen: it cannot report idle
    try:
        assert worker.hand(embedded.folder, "placeholder")  # now it owes an idle
        job = wait_for_job(
            embedded, jobs.submit(embedded, MapConfig(method="pca"), user="ann"), reap=True
        )
        log = embedded.folder / "logs" / f"job-{job.id}.log"
        assert job.state == "succeeded", (job.error, job.pid, worker.pid, log.read_text())
        assert job.pid != worker.pid  # ran in a fresh process
    finally:
        worker.proc.send_signal(signal.SIGCONT)


def test_warm_worker__killed_mid_job_the_job_fails_and_a_new_worker_replaces_it(
    warm_enabled: None, embedded: Project
) -> None:
    worker = jobs.start_warm_worker(warm_up=False)
    assert worker is not None
    worker.proc.send_signal(signal.SIGSTOP)
    assert worker.hand(embedded.folder, "placeholder")
    os.kill(worker.pid, signal.SIGKILL)
    worker.proc.wait(30)
    # A job recorded as running in the dead worker is reaped as failed.
    job_id = jobs.submit(embedded, MapConfig(method="pca"), user="ann", spawn=False)
    embedded._conn.execute(
        "UPDATE jobs SET pid = ?, state = 'running' WHERE id = ?", (worker.pid, job_id)
    )
    assert jobs.reap_dead_jobs(embedded) == 1
    assert "exited unexpectedly" in (jobs.get_job(embedded, job_id).error or "")
    # The next job runs in a fresh process and a new warm worker is started for later ones.
    job = wait_for_job(
        embedded, jobs.submit(embedded, MapConfig(method="pca"), user="ann"), reap=True
    )
    assert job.state == "succeeded", job.error
    assert job.pid != worker.pid
    replacement = jobs.start_warm_worker(warm_up=False)
    assert replacement is not None
    assert replacement is not worker
    assert replacement.alive()


def test_warm_worker__exits_when_the_server_closes_its_pipe(warm_enabled: None) -> None:
    worker = jobs.start_warm_worker(warm_up=False)
    assert worker is not None
    assert worker.alive()
    jobs.stop_warm_worker()
    assert _exits(worker)


def test_warm_worker__disabled_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(jobs.WARM_WORKER_ENV, "0")
    assert jobs.start_warm_worker() is None

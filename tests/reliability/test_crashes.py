"""Crashes: ``kill -9`` while a round is created, while a 10,000-sample lasso label is written,
during a background job, and during a copy. Afterwards the project opens, PRAGMA
integrity_check is ok, nothing is half-written (all or nothing), a killed job shows as failed
and can be restarted, and a copy resumes without duplicates or overwrites."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from bps_core import jobs
from bps_core.embeddings import EmbedConfig, compute_embeddings
from bps_core.project import Project, create_project
from bps_core.project import db as project_db
from bps_core.project.store import utc_now
from bps_core.storage import DatasourceConfig, open_source, open_writable
from bps_core.storage.copy import copy_objects
from bps_core.storage.s3 import clear_clients
from bps_core.transfers import CopySelection
from bps_core.verbs import CopySettings
from tests.helpers import ROOT, wait_until
from tests.s3_server import REGION, S3Server


def _child(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip


def _wait_for(condition: Callable[[], bool]) -> None:
    """Polls fast: the kill must land while the child is inside the step it waits for."""
    wait_until(condition, interval=0.02)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def _healthy(folder: Path) -> Project:
    project = Project.open(folder)
    if project_db.engine(project._conn) == "sqlite":  # PostgreSQL's server was not killed
        assert project._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    return project


def test_kill_while_creating_rounds__no_half_written_round(engine_project: Project) -> None:
    tiny_project = engine_project
    compute_embeddings(tiny_project, EmbedConfig(method="pixels", image_size=32))

    def count() -> int:
        return tiny_project.rounds.count()

    for _attempt in range(3):
        before = count()
        proc = _child(f"""
            from bps_core.project import Project
            from tests.helpers import create_round
            with Project.open({str(tiny_project.folder)!r}) as p:
                for i in range(10_000):
                    create_round(p, 60, strategy="diversity", seed=i, user="crash",
                                 reinclude_selected=True)  # 170 samples: rounds may repeat
        """)
        _wait_for(lambda b=before: count() >= b + 2)
        time.sleep(0.05 * _attempt)
        _kill(proc)
    project = _healthy(tiny_project.folder)
    rows = project._conn.execute(
        "SELECT r.id, r.n_selected, COUNT(rs.sample_id) FROM rounds r "
        "LEFT JOIN round_samples rs ON rs.round_id = r.id GROUP BY r.id"
    ).fetchall()
    assert rows
    assert all(n == got for _, n, got in rows)  # every round complete, none partial
    orphans = project._conn.execute(
        "SELECT COUNT(*) FROM round_samples WHERE round_id NOT IN (SELECT id FROM rounds)"
    ).fetchone()[0]
    assert orphans == 0
    project.close()


def test_kill_while_writing_a_10000_sample_lasso_label__all_or_nothing(
    engine_project: Project,
) -> None:
    tiny_project = engine_project
    rows = [(f"input:fake/{i:05d}.tif", "input", f"fake/{i:05d}.tif", 1, "ok", None, "{}",
             utc_now()) for i in range(10_000)]  # fmt: skip
    project_db.write(
        tiny_project._conn,
        lambda c: c.executemany(
            "INSERT INTO samples (key, datasource_id, relpath, size_bytes, status, error, "
            "meta_json, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        ),
    )

    def n_actions() -> int:
        return int(tiny_project._conn.execute("SELECT COUNT(*) FROM label_actions").fetchone()[0])

    for attempt in range(3):
        before = n_actions()
        proc = _child(f"""
            from bps_core.project import Project
            with Project.open({str(tiny_project.folder)!r}) as p:
                keys = [k for k in p.samples().key if k.startswith("input:fake/")]
                for i in range(1000):
                    p.add_labels(keys, f"lasso{{i % 3}}", user="crash", source="lasso")
        """)  # noqa: E501
        _wait_for(lambda b=before: n_actions() >= b + 1)
        time.sleep(0.03 * (attempt + 1))  # land inside a later transaction
        _kill(proc)
    project = _healthy(tiny_project.folder)
    per_action = project._conn.execute(
        "SELECT a.action_id, a.n_events, COUNT(e.id) FROM label_actions a "
        "LEFT JOIN label_events e ON e.action_id = a.action_id GROUP BY a.action_id"
    ).fetchall()
    assert len(per_action) >= 3
    assert all(n == 10_000 and got == 10_000 for _, n, got in per_action)
    stray = project._conn.execute(
        "SELECT COUNT(*) FROM label_events WHERE action_id NOT IN "
        "(SELECT action_id FROM label_actions)"
    ).fetchone()[0]
    assert stray == 0
    project.close()


def test_kill_a_running_embedding_job__failed_then_restartable(engine_project: Project) -> None:
    tiny_project = engine_project
    settings = EmbedConfig(method="simclr", epochs=500, max_seconds=600, image_size=32,
                           batch_size=32, arch="resnet10")  # fmt: skip
    job_id = jobs.submit(tiny_project, settings, user="ann")
    _wait_for(lambda: jobs.get_job(tiny_project, job_id).state == "running")
    _wait_for(lambda: jobs.get_job(tiny_project, job_id).progress > 0.0)
    pid = tiny_project._conn.execute("SELECT pid FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]
    os.kill(pid, signal.SIGKILL)
    _wait_for(lambda: jobs.reap_dead_jobs(tiny_project) > 0 or not jobs.get_job(
        tiny_project, job_id).active)  # fmt: skip
    job = jobs.get_job(tiny_project, job_id)
    assert job.state == "failed"
    assert "exited unexpectedly" in (job.error or "")
    project = _healthy(tiny_project.folder)
    again = jobs.submit(project, EmbedConfig(method="pixels", image_size=32),
                        user="ann", spawn=False)  # fmt: skip
    assert jobs.run_job(project.folder, again) == 0
    assert jobs.get_job(project, again).state == "succeeded"
    project.close()


def test_kill_a_copy_job__resumes_without_duplicates_or_overwrites(
    s3_server: S3Server, tmp_path: Path
) -> None:
    clear_clients()
    src = s3_server.new_bucket("crash-src")
    s3_server.seed(src, {f"in/img_{i:04d}.tif": f"image {i}".encode() * 50 for i in range(1500)})
    cfg = DatasourceConfig.s3(
        f"s3://{src}/in",
        region=REGION,
        endpoint_url=s3_server.endpoint,
        allow_private_endpoint=True,
    )
    project, _ = create_project(tmp_path / "project", cfg, check_headers=False)
    dst = s3_server.new_bucket("crash-dst")
    dest_cfg = DatasourceConfig.s3(f"s3://{dst}/out", region=REGION, purpose="output",
                                   id="output", endpoint_url=s3_server.endpoint,
                                   allow_private_endpoint=True)  # fmt: skip
    job_id = jobs.submit(project, CopySettings(dest_cfg, CopySelection(kind="all")), user="ann")
    admin = s3_server.admin()

    def n_dest() -> int:
        return int(admin.list_objects_v2(Bucket=dst).get("KeyCount", 0))

    _wait_for(lambda: n_dest() >= 100)
    pid = project._conn.execute("SELECT pid FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]
    os.kill(pid, signal.SIGKILL)
    partial = n_dest()
    assert 0 < partial < 1500  # killed mid-way
    _wait_for(lambda: not jobs.get_job(project, job_id).active or jobs.reap_dead_jobs(project) > 0)
    assert jobs.get_job(project, job_id).state == "failed"
    # a re-run (in this process) completes the copy, skipping what is there
    report = copy_objects(open_source(cfg), open_writable(dest_cfg),
                          [f"img_{i:04d}.tif" for i in range(1500)])  # fmt: skip
    assert not report.failed
    assert not report.conflicts  # nothing differs: no half-written object survived
    assert len(report.skipped) >= partial - 16  # in-flight objects may be re-copied, not lost
    assert len(report.copied) + len(report.skipped) == 1500
    etags_src = {o["Key"].removeprefix("in/"): o["ETag"] for p in admin.get_paginator(
        "list_objects_v2").paginate(Bucket=src) for o in p.get("Contents", [])}  # fmt: skip
    etags_dst = {o["Key"].removeprefix("out/"): o["ETag"] for p in admin.get_paginator(
        "list_objects_v2").paginate(Bucket=dst) for o in p.get("Contents", [])}  # fmt: skip
    assert etags_dst == etags_src  # every object once, identical
    project.close()

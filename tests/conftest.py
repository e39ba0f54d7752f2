"""Shared fixtures: one tiny synthetic dataset per session, fresh projects per test, the app
under AppTest."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bps_core import jobs
from bps_core.jobs import WARM_WORKER_ENV
from bps_core.project import Project, create_project_from_folder
from bps_core.storage.s3 import clear_clients
from bps_core.synthetic import SynthResult, generate_dataset, preset_config
from tests.helpers import open_app
from tests.pg_server import PgServer
from tests.pg_server import start_server as start_pg_server
from tests.s3_server import S3Server, isolate_aws_environment, start_server

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

#: pytest's own ``__main__``: AppTest's script runner installs each script it runs as
#: ``__main__`` and leaves it there.
_MAIN_MODULE = sys.modules["__main__"]


@pytest.fixture(autouse=True)
def _pytest_main_module() -> Iterator[None]:
    """Puts pytest's ``__main__`` back after every test: a later test's ``spawn`` child
    prepares itself by running ``__main__``'s file, which would otherwise be the last AppTest
    script (a ``NameError`` in the child, depending on which tests ran before)."""
    yield
    sys.modules["__main__"] = _MAIN_MODULE


TINY_SEED = 1


def pytest_configure(config: pytest.Config) -> None:
    isolate_aws_environment()
    # No warm job worker in app tests or the servers browser tests start (they inherit this):
    # each test controls its own processes; tests/test_jobs_warm_worker.py starts one on purpose.
    os.environ[WARM_WORKER_ENV] = "0"


@pytest.fixture
def fresh_s3_clients() -> None:
    """Drops the process-wide S3 client cache, so no client (nor a fault hook a test registered
    on one) leaks from one test into the next; S3 test modules use it for every test
    (``pytestmark = pytest.mark.usefixtures("fresh_s3_clients")``)."""
    clear_clients()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 (and IAM/STS) API over HTTP on 127.0.0.1, shared by the session's tests;
    each test makes its own uniquely named buckets."""
    yield from start_server()


@pytest.fixture(scope="session")
def bps_bucket(s3_server: S3Server, tiny_dataset: SynthResult) -> str:
    """A public bucket holding the tiny synthetic BPS tree (``Microscopy/train/...``), uploaded
    with the AWS CLI, readable anonymously as the NASA bucket is."""
    bucket = s3_server.new_bucket("bps")
    s3_server.upload_folder(tiny_dataset.root, bucket, acl="public-read")
    s3_server.make_public(bucket)
    return bucket


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    """The ``tiny`` preset (10 images per condition cell), generated once per session."""
    return generate_dataset(tmp_path_factory.mktemp("tiny"), preset_config("tiny", seed=TINY_SEED))


@pytest.fixture
def tiny_copy(tiny_dataset: SynthResult, tmp_path: Path) -> Path:
    """A private copy of the tiny dataset that a test may modify."""
    dest = tmp_path / "data"
    shutil.copytree(tiny_dataset.root, dest)
    return dest


@pytest.fixture
def app(tiny_project: Project, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """``app.py`` under AppTest over ``tiny_project``, not yet run."""
    return open_app(monkeypatch, tiny_project.folder)


@pytest.fixture
def tiny_project(tiny_copy: Path, tmp_path: Path) -> Project:
    """A fresh project over a private copy of the tiny dataset."""
    project, _ = create_project_from_folder(tmp_path / "project", tiny_copy)
    yield project
    _stop_leftover_jobs(project)
    project.close()


#: The database engines a test taking the ``engine`` fixture runs on (``sqlite_only`` marks the
#: tests of SQLite's own machinery: PRAGMAs, the database file).
ENGINES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "engine" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("sqlite_only")
        metafunc.parametrize("engine", ENGINES[:1] if only else ENGINES)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A real PostgreSQL server (Debian's binaries, a temporary cluster on a free loopback
    port), shared by the session. In CI a server that cannot start fails the tests."""
    try:
        servers = start_pg_server()
        server = next(servers)
    except (RuntimeError, OSError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"PostgreSQL is not available ({exc}); apt-get install -y postgresql")
    yield server
    with contextlib.suppress(StopIteration):
        next(servers)


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database (dropped after the test)."""
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.new_database()
    yield url
    server.drop_database(url)


@pytest.fixture
def engine_url(engine: str, request: pytest.FixtureRequest) -> str:
    """``""`` for SQLite, else a new PostgreSQL database's URL: what ``init`` is given."""
    return "" if engine == "sqlite" else str(request.getfixturevalue("database_url"))


@pytest.fixture
def engine_project(tiny_copy: Path, tmp_path: Path, engine_url: str) -> Iterator[Project]:
    """``tiny_project`` on each engine: SQLite's ``project.db``, then a PostgreSQL database."""
    project, _ = create_project_from_folder(
        tmp_path / "project", tiny_copy, database_url=engine_url
    )
    yield project
    _stop_leftover_jobs(project)
    project.close()


def _stop_leftover_jobs(project: Project) -> None:
    """Kills job processes a failed test left running, so they do not slow every later test
    (a 500-epoch training job outlives its test by many minutes)."""
    rows = project._conn.execute(
        "SELECT id, pid FROM jobs WHERE state IN ('queued', 'running') AND pid IS NOT NULL"
    ).fetchall()
    for job_id, pid in rows:
        if jobs.process_alive(int(pid), job_id):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(pid), signal.SIGKILL)

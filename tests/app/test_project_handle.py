"""The session's project (``state.open_project``): one per browser session, held across
reruns, that still reads what other sessions write and is opened again when it must be
(issue 20)."""

from __future__ import annotations

import dataclasses
import gc
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bps_app import state
from bps_core.project import Project, create_project_from_folder


def _script() -> None:
    import streamlit as st

    from bps_app import state

    with state.open_project() as p:
        st.session_state["handle"] = id(p)
        st.session_state["labels"] = len(p.current_labels())
        st.session_state["name"] = p.config.name
        p.samples()  # kept by the project until the block ends


def _app(monkeypatch: pytest.MonkeyPatch, folder: Path) -> AppTest:
    monkeypatch.setenv("BPS_PROJECT", str(folder))
    app = AppTest.from_function(_script, default_timeout=30)
    app.run()
    assert not app.exception
    return app


def _held(app: AppTest) -> Project:
    held = app.session_state[state.PROJECT_HANDLE]
    assert isinstance(held.project, Project)
    return held.project


def _label_one(folder: Path, n: int = 0) -> None:
    """Another session (its own connection) labels sample ``n``."""
    with Project.open(folder) as other:
        other.ensure_class("track")
        key = other.samples().key.iloc[n]
        other.add_labels([key], "track", user="grace", source="queue")


class TestOpenProject:
    def test_open_project__one_per_session_sees_other_sessions_labels(
        self, monkeypatch: pytest.MonkeyPatch, engine_project: Project
    ) -> None:
        app = _app(monkeypatch, engine_project.folder)
        first = app.session_state["handle"]
        assert app.session_state["labels"] == 0
        _label_one(engine_project.folder)
        app.run()
        assert app.session_state["handle"] == first  # held, not opened again
        assert app.session_state["labels"] == 1  # yet the other session's label is read
        _label_one(engine_project.folder, 1)
        app.run()
        assert app.session_state["labels"] == 2

    def test_open_project__kept_samples_frame_dropped_after_the_block(
        self, monkeypatch: pytest.MonkeyPatch, tiny_project: Project
    ) -> None:
        app = _app(monkeypatch, tiny_project.folder)
        assert _held(app)._samples is None  # a session holds no frame between uses

    def test_open_project__closed_project_opened_again(
        self, monkeypatch: pytest.MonkeyPatch, tiny_project: Project
    ) -> None:
        app = _app(monkeypatch, tiny_project.folder)
        first = _held(app)
        first.close()
        _label_one(tiny_project.folder)
        app.run()
        assert not app.exception
        assert _held(app) is not first
        assert app.session_state["labels"] == 1

    @pytest.mark.sqlite_only
    def test_open_project__transaction_left_open_rolled_back_and_opened_again(
        self, monkeypatch: pytest.MonkeyPatch, tiny_project: Project
    ) -> None:
        app = _app(monkeypatch, tiny_project.folder)
        first = _held(app)
        first._conn.execute("BEGIN IMMEDIATE")  # a stopped run's write, never finished
        app.run()
        assert not app.exception
        assert _held(app) is not first
        assert not first.idle()  # left as it was: closed, so its lock is gone
        with Project.open(tiny_project.folder) as other:
            other._conn.execute("PRAGMA busy_timeout = 100")
            other.ensure_class("track")  # would fail as locked if the write lock were held

    def test_open_project__edited_project_toml_read_again(
        self, monkeypatch: pytest.MonkeyPatch, tiny_project: Project
    ) -> None:
        app = _app(monkeypatch, tiny_project.folder)
        first = app.session_state["handle"]
        dataclasses.replace(tiny_project.config, name="renamed").save(tiny_project.folder)
        app.run()
        assert app.session_state["name"] == "renamed"
        assert app.session_state["handle"] != first

    def test_open_project__another_project_folder_opens_that(
        self, monkeypatch: pytest.MonkeyPatch, tiny_project: Project, tmp_path: Path
    ) -> None:
        app = _app(monkeypatch, tiny_project.folder)
        other = tmp_path / "other"
        Project.create(other, tiny_project.config.datasource, name="other").close()
        monkeypatch.setenv("BPS_PROJECT", str(other))
        app.run()
        assert app.session_state["name"] == "other"
        assert _held(app).folder == other.resolve()


def _connections(server: object, url: str, expected: int) -> int:
    """How many connections the PostgreSQL database of ``url`` has, once it is ``expected``
    or after 30 s: a closed connection's server process leaves ``pg_stat_activity`` a moment
    after the client let go (later on a loaded machine)."""
    name = url.rsplit("/", 1)[-1]
    deadline = time.monotonic() + 30
    with server.admin() as conn:  # type: ignore[attr-defined]
        while True:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,))
            n = int(row.fetchone()[0])
            if n == expected or time.monotonic() > deadline:
                return n
            time.sleep(0.1)


def test_open_project__dropped_session_releases_its_connection(
    monkeypatch: pytest.MonkeyPatch,
    tiny_copy: Path,
    tmp_path: Path,
    database_url: str,
    pg_server: object,
) -> None:
    """Each open browser session holds one connection; when Streamlit drops the session (a tab
    closed, after ``server.disconnectedSessionTTL``), its state goes and so does the
    connection: PostgreSQL's ``max_connections`` counts open tabs, not tabs ever opened."""
    project, _ = create_project_from_folder(
        tmp_path / "project", tiny_copy, database_url=database_url
    )
    project.close()
    assert _connections(pg_server, database_url, 0) == 0
    apps = [_app(monkeypatch, project.folder) for _ in range(3)]
    assert _connections(pg_server, database_url, 3) == 3  # one per session, held
    for app in apps:
        app.run()
    assert _connections(pg_server, database_url, 3) == 3  # reruns reuse them
    del app, apps
    gc.collect()
    assert _connections(pg_server, database_url, 0) == 0

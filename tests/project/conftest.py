"""The project store's tests run on both engines: ``tiny_project`` is SQLite's, then
PostgreSQL's (``engine_project``); tests marked ``sqlite_only`` run on SQLite alone."""

from __future__ import annotations

import pytest

from bps_core.project import Project


@pytest.fixture
def tiny_project(engine_project: Project) -> Project:
    """The tiny project on the engine of this test's ``engine`` parameter."""
    return engine_project

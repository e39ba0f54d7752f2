"""Session-state keys and typed accessors; pages never write string keys themselves."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from bps_core.errors import ProjectError
from bps_core.project import Project

PROJECT_ENV = "BPS_PROJECT"
DEFAULT_PROJECT = "demo/project"
USER_NAME = "user_name"
DISPLAY_WINDOW = "display_window"


def project_dir() -> Path:
    """The project this server serves: ``$BPS_PROJECT``, else the demo project."""
    return Path(os.environ.get(PROJECT_ENV) or DEFAULT_PROJECT).resolve()


def open_project() -> Project:
    """Opens the project for this rerun, or stops the page with instructions.

    A connection per rerun keeps SQLite use on one thread; opening costs about a millisecond.
    """
    folder = project_dir()
    try:
        return Project.open(folder)
    except ProjectError as exc:
        st.error(str(exc))
        st.info(
            "Start the app with `make run` (demo data) or `bps-labeler app PROJECT_DIR`, "
            f"or set `{PROJECT_ENV}` to a project folder."
        )
        st.stop()
        raise  # unreachable: st.stop raises


def user_name() -> str:
    return str(st.session_state.get(USER_NAME, "")).strip()

"""Cached reads keyed by plain values, so they are callable (and testable) without the UI."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from bps_core.images import DisplayWindow, decode_image, thumbnail_png
from bps_core.project import Project
from bps_core.storage import DatasourceConfig, open_source


def samples_version(project: Project) -> str:
    """Changes whenever ingest adds or updates samples."""
    row = project.conn.execute(
        "SELECT COUNT(*), MAX(added_at), SUM(status = 'bad') FROM samples"
    ).fetchone()
    return f"{row[0]}:{row[1]}:{row[2]}"


@st.cache_data(show_spinner=False, max_entries=4)
def samples_frame(project_dir: str, version: str) -> pd.DataFrame:
    """The samples table with metadata columns; ``version`` invalidates the cache."""
    with Project.open(project_dir) as project:
        return project.samples()


def load_samples(project: Project) -> pd.DataFrame:
    return samples_frame(str(project.folder), samples_version(project))


@st.cache_data(show_spinner=False, max_entries=4096)
def thumbnail(source: DatasourceConfig, relpath: str, size: int, window: DisplayWindow) -> bytes:
    """PNG thumbnail of one sample; raises ImageDecodeError for bad files (not cached)."""
    data = open_source(source).read_bytes(relpath)
    return thumbnail_png(decode_image(data, relpath), size, window)

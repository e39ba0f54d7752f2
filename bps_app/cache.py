"""Cached reads keyed by plain values, so they are callable (and testable) without the UI."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from bps_core.images import DisplayWindow, decode_image, thumbnail_png
from bps_core.project import Project
from bps_core.projection import MapConfig, load_map
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


def map_frame(project: Project, cfg: MapConfig | None = None) -> pd.DataFrame | None:
    """The cached map of the current embedding joined to sample metadata, or None."""
    m = load_map(project, cfg or MapConfig())
    if m is None:
        return None
    return _map_frame(str(project.folder), m.id, samples_version(project))


@st.cache_data(show_spinner=False, max_entries=4)
def _map_frame(project_dir: str, map_id: str, version: str) -> pd.DataFrame:
    with Project.open(project_dir) as project:
        row = project.conn.execute(
            "SELECT embedding_version, params_json FROM maps WHERE id = ?", (map_id,)
        ).fetchone()
        m = load_map(project, MapConfig(**json.loads(row[1])), row[0])
        assert m is not None
        xy = pd.DataFrame({"key": m.keys, "x": m.xy[:, 0], "y": m.xy[:, 1]})
        return xy.merge(project.samples(), on="key", how="left")


@st.cache_data(show_spinner=False, max_entries=4096)
def thumbnail(source: DatasourceConfig, relpath: str, size: int, window: DisplayWindow) -> bytes:
    """PNG thumbnail of one sample; raises ImageDecodeError for bad files (not cached)."""
    data = open_source(source).read_bytes(relpath)
    return thumbnail_png(decode_image(data, relpath), size, window)

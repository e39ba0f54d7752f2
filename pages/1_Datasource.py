"""Datasource: what this project reads. Forms for S3 and access checks come later."""

import streamlit as st

from bps_app import state

with state.open_project() as project:
    ds = project.config.datasource
    meta_csv = project.config.meta_csv

st.title("Datasource")
st.dataframe(
    {"setting": ["id", "kind", "location", "purpose", "metadata CSV"],
     "value": [ds.id, ds.kind, ds.uri, ds.purpose, meta_csv or "(none)"]},
    hide_index=True,
)  # fmt: skip
st.info(
    "Not built yet: S3 datasources configured in forms (anonymous, profile, role with external "
    "ID), access checks and write-back in Lightly's `.lightly/` layout. Today a project reads a "
    "local folder: `bps-labeler init PROJECT_DIR --source FOLDER`."
)

"""Projects: a folder with a TOML config, array files, and a database (SQLite or PostgreSQL)."""

from bps_core.project.db import database_errors
from bps_core.project.ingest import (
    IngestReport,
    create_project,
    create_project_from_folder,
    ingest,
    reingest,
)
from bps_core.project.store import LabelAction, LabelClass, LabelWrite, Project

__all__ = [
    "IngestReport",
    "LabelAction",
    "LabelClass",
    "LabelWrite",
    "Project",
    "create_project",
    "create_project_from_folder",
    "database_errors",
    "ingest",
    "reingest",
]

"""Shared fixtures: one tiny synthetic dataset per session, fresh projects per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bps_core.project import Project, create_project_from_folder
from bps_core.synthetic import SynthResult, generate_dataset, preset_config

TINY_SEED = 1


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
def tiny_project(tiny_copy: Path, tmp_path: Path) -> Project:
    """A fresh project over a private copy of the tiny dataset."""
    project, _ = create_project_from_folder(tmp_path / "project", tiny_copy)
    yield project
    project.close()

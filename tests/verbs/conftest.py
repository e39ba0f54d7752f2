"""A tiny project with pixel embeddings, for the verbs' tests."""

from __future__ import annotations

import pytest

from bps_core import verbs
from bps_core.project import Project


@pytest.fixture
def embedded(tiny_project: Project) -> Project:
    """The tiny project with pixel embeddings (the instant method), the current set."""
    verbs.compute_embeddings(tiny_project, verbs.EmbedConfig(method="pixels", image_size=32))
    return tiny_project


def label_by_particle(project: Project, n: int) -> None:
    """Labels ``n`` samples of each of two particle types, as a user would."""
    s = project.samples()
    for particle in ("Fe", "X-ray"):
        keys = s[s.particle_type == particle].key.head(n).tolist()
        project.add_labels(keys, particle, user="ann", source="api")

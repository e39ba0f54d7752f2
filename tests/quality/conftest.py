"""A tiny project whose embeddings separate two classes, labeled with one planted flip."""

from __future__ import annotations

import numpy as np
import pytest

from bps_core import verbs
from bps_core.embeddings.store import save_embedding_set
from bps_core.project import Project

#: Labels per class in the ``planted`` project.
N_PER_CLASS = 15


@pytest.fixture
def planted(tiny_project: Project) -> tuple[Project, str]:
    """The tiny project planted by ``plant_flip``, and the flipped sample's key."""
    return tiny_project, plant_flip(tiny_project)


def plant_flip(tiny_project: Project) -> str:
    """Gives the project embeddings that encode the particle type, labels 15 samples of each
    type (the truth), one of them flipped, and trains a model; returns the flipped key."""
    return plant_flips(tiny_project, 1)[0]


def plant_flips(tiny_project: Project, n: int) -> list[str]:
    """As ``plant_flip``, with ``n`` (up to 4) flips, Fe and X-ray in turn; returns their keys."""
    s = tiny_project.samples()
    rng = np.random.default_rng(0)
    truth = (s.particle_type == "Fe").to_numpy(dtype=float)
    vectors = np.column_stack([truth, 1 - truth]) * 3 + rng.normal(size=(len(s), 2)) * 0.5
    vectors = np.column_stack([vectors, rng.normal(size=(len(s), 6)) * 0.1])
    save_embedding_set(tiny_project, "test", {"planted": 1}, s.key.tolist(), vectors)
    keys = {p: s[s.particle_type == p].key.head(N_PER_CLASS).tolist() for p in ("Fe", "X-ray")}
    flipped = [keys[("Fe", "X-ray")[i % 2]][3 + 6 * (i // 2)] for i in range(n)]
    for particle, chosen in keys.items():
        other = "X-ray" if particle == "Fe" else "Fe"
        tiny_project.add_labels([k for k in chosen if k not in flipped], particle, user="ann",
                                source="api")  # fmt: skip
        if wrong := [k for k in chosen if k in flipped]:
            tiny_project.add_labels(wrong, other, user="ann", source="api")
    verbs.train_model(tiny_project, verbs.TrainSettings(), user="ann")
    return flipped


@pytest.fixture
def embedded(tiny_project: Project) -> Project:
    """The tiny project with pixel embeddings, no labels."""
    verbs.compute_embeddings(tiny_project, verbs.EmbedConfig(method="pixels", image_size=32))
    return tiny_project

"""Verbs ``compute_embeddings`` and ``compute_map``."""

from __future__ import annotations

import pytest

from bps_core import verbs
from bps_core.embeddings.store import load_embedding_set
from bps_core.project import Project
from bps_core.projection import current_map


def test_compute_embeddings__stores_the_current_set(tiny_project: Project) -> None:
    seen: list[float] = []
    emb = verbs.compute_embeddings(
        tiny_project, verbs.EmbedConfig(method="pixels", image_size=32), seen.append
    )
    assert isinstance(emb, verbs.EmbeddingSet)
    assert len(emb.keys) == tiny_project.n_samples()
    current = load_embedding_set(tiny_project)
    assert current is not None
    assert current.version == emb.version
    assert seen
    assert max(seen) <= 1.0


def test_compute_map__computes_then_reuses_and_shows_it(embedded: Project) -> None:
    settings = verbs.MapConfig(method="pca")
    first = verbs.compute_map(embedded, settings)
    assert isinstance(first, verbs.Map)
    assert first.xy.shape == (embedded.n_samples(), 2)
    assert verbs.compute_map(embedded, settings).id == first.id  # cached
    shown = current_map(embedded)
    assert shown is not None
    assert shown.id == first.id


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"method": "magic"}, "method"),
        ({"image_size": 40}, "image_size"),
        ({"image_size": 512}, "image_size"),
        ({"epochs": -1}, "epochs"),
        ({"batch_size": 1}, "batch_size"),
        ({"method": "csv"}, "csv"),
        ({"max_seconds": -5.0}, "max_seconds"),
    ],
)
def test_embed_config__a_bad_value_is_refused_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(verbs.SettingsError, match=field):
        verbs.EmbedConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"method": "tsne"}, "method"),
        ({"n_neighbors": 1}, "n_neighbors"),
        ({"min_dist": 1.5}, "min_dist"),
        ({"init": "zeros"}, "init"),
        ({"pca_dims": 1}, "pca_dims"),
        ({"n_epochs": 0}, "n_epochs"),
    ],
)
def test_map_config__a_bad_value_is_refused_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(verbs.SettingsError, match=field):
        verbs.MapConfig(**kwargs)  # type: ignore[arg-type]


def test_embed_and_map_settings__round_trip_through_job_params() -> None:
    embed = verbs.EmbedConfig(method="simclr", epochs=3, max_seconds=60.0, seed=2)
    assert verbs.EmbedConfig.from_params(embed.to_params()) == embed
    m = verbs.MapConfig(method="umap", n_epochs=30, min_dist=0.2)
    assert verbs.MapConfig.from_params(m.to_params()) == m

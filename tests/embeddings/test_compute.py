"""Embedding a project end to end: pixels, a short SimCLR run, and CSV import."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bps_core.embeddings import EmbedConfig, compute_embeddings, load_embedding_set
from bps_core.embeddings.lightly_csv import export_embeddings_csv
from bps_core.project import Project


def test_compute__pixels_baseline_with_quality(tiny_project: Project) -> None:
    emb = compute_embeddings(tiny_project, EmbedConfig(method="pixels", image_size=32))
    assert emb.vectors.shape[0] == 170
    assert set(emb.quality) == {"has_track", "particle_type"}
    assert load_embedding_set(tiny_project).version == emb.version


def test_compute__simclr_trains_saves_checkpoint_and_reuses_it(tiny_project: Project) -> None:
    cfg = EmbedConfig(method="simclr", arch="resnet10", epochs=1, image_size=32, batch_size=32)
    losses: list[float] = []
    emb = compute_embeddings(tiny_project, cfg, on_epoch=lambda e, loss: losses.append(loss))
    assert emb.vectors.shape == (170, 512)
    assert len(losses) == 1
    assert emb.checkpoint_sha
    assert (tiny_project.arrays_dir / "checkpoints" / f"{emb.checkpoint_sha}.pt").exists()
    again = compute_embeddings(
        tiny_project, EmbedConfig(checkpoint=emb.checkpoint_sha, image_size=32)
    )
    cos = np.sum(np.asarray(again.vectors) * np.asarray(emb.vectors), axis=1)
    assert cos.min() > 0.99  # the same backbone embeds the same images (bf16 aside)


def test_compute__bad_file_is_marked_and_skipped(tiny_project: Project) -> None:
    rel = tiny_project.samples().relpath.iloc[0]
    (Path(tiny_project.config.datasource.path) / rel).write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    emb = compute_embeddings(tiny_project, EmbedConfig(method="pixels", image_size=32))
    assert len(emb.keys) == 169
    assert tiny_project.n_samples("bad") == 1


def test_compute__csv_import_roundtrip(tiny_project: Project, tmp_path: Path) -> None:
    emb = compute_embeddings(tiny_project, EmbedConfig(method="pixels", image_size=32))
    csv = tmp_path / "e.csv"
    export_embeddings_csv(csv, emb.vectors, [k.split(":", 1)[1] for k in emb.keys])
    imported = compute_embeddings(tiny_project, EmbedConfig(method="csv", csv=str(csv)))
    assert imported.keys == emb.keys
    assert np.allclose(imported.vectors, emb.vectors, atol=1e-5)

"""Embedding a project end to end: pixels, a short SimCLR run, and CSV import."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

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


def test_compute__time_budget_covers_decoding_and_embedding(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """max_seconds bounds the whole step: training gets the budget less what decoding took and
    what embedding every image will take (measured), not the whole budget."""
    from bps_core.embeddings import compute, train

    clock = {"now": 1000.0}
    monkeypatch.setattr(compute.time, "monotonic", lambda: clock["now"])
    real_cache = compute.build_cache

    def slow_decode(*args, **kwargs):  # type: ignore[no-untyped-def]
        out = real_cache(*args, **kwargs)
        clock["now"] += 20.0  # decoding "took" 20 s
        return out

    monkeypatch.setattr(compute, "build_cache", slow_decode)
    monkeypatch.setattr(compute, "_estimate_embed_seconds", lambda arch, images, **_: 30.0)
    budgets: list[float | None] = []
    real_train = train.train_simclr

    def spy(images, cfg, **kwargs):  # type: ignore[no-untyped-def]
        budgets.append(cfg.max_seconds)
        return real_train(images, replace(cfg, epochs=1, max_seconds=None), **kwargs)

    monkeypatch.setattr(train, "train_simclr", spy)
    cfg = EmbedConfig(arch="resnet10", epochs=5, image_size=32, batch_size=32, max_seconds=100)
    emb = compute_embeddings(tiny_project, cfg)
    assert emb.vectors.shape == (170, 512)
    # 100 s - 20 s decoding - 1.25 x 30 s embedding - 2 s for quality and saving
    assert budgets == [pytest.approx(100 - 20 - 37.5 - 2.0)]


def test_compute__csv_naming_a_missing_file_says_which(
    tiny_project: Project, tmp_path: Path
) -> None:
    from bps_core.errors import MetadataError

    missing = tmp_path / "nope" / "embeddings.csv"
    with pytest.raises(MetadataError, match=f"{missing} not found"):
        compute_embeddings(tiny_project, EmbedConfig(method="csv", csv=str(missing)))


def test_estimate_embed_seconds__fits_set_up_plus_per_image_cost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Building the inference copy costs as much as hundreds of images on a CPU: scaling one
    timed call by the image count overestimated a 1 s embedding as 7 s."""
    from bps_core.embeddings import compute, train

    clock = {"now": 0.0}
    monkeypatch.setattr(compute.time, "monotonic", lambda: clock["now"])

    def fake_embed(backbone, images, **kwargs):  # type: ignore[no-untyped-def]
        clock["now"] += 1.5 + 0.002 * len(images)  # 1.5 s set-up, 2 ms per image
        return np.zeros((len(images), 512), dtype=np.float32)

    monkeypatch.setattr(train, "embed_images", fake_embed)
    images = np.zeros((1020, 16, 16), dtype=np.uint16)
    assert compute._estimate_embed_seconds("resnet10", images) == pytest.approx(1.5 + 2.04)


def test_embed_config__unknown_device_is_refused_by_name() -> None:
    from bps_core.errors import SettingsError

    with pytest.raises(SettingsError, match="device 'tpu'"):
        EmbedConfig(device="tpu")
    assert EmbedConfig().device == "auto"
    assert EmbedConfig(device=" CUDA:1 ").device == " CUDA:1 "  # checked, stored as given


def test_compute__simclr_on_cpu_and_auto_keep_the_version_of_a_config_without_device(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Existing projects' versions must not move: a CPU run records no device in its params."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # auto: the CPU, anywhere
    base = EmbedConfig(method="simclr", arch="resnet10", epochs=1, image_size=32, batch_size=32)
    cpu = compute_embeddings(tiny_project, replace(base, device="cpu"))
    auto = compute_embeddings(tiny_project, replace(base, device="auto"))
    assert "device" not in cpu.params
    expected = {k for k in base.to_params() if k not in ("method", "ray_address", "device")}
    assert set(cpu.params) == expected
    assert auto.version == cpu.version
    assert auto.checkpoint_sha == cpu.checkpoint_sha
    assert cpu.vectors.dtype == np.float32


def test_compute__cuda_without_a_gpu_is_a_settings_error_before_any_work(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from bps_core.errors import SettingsError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SettingsError, match="device 'cuda': this machine has no CUDA GPU"):
        compute_embeddings(tiny_project, EmbedConfig(device="cuda", image_size=32))
    assert load_embedding_set(tiny_project) is None


def test_compute__a_gpu_run_records_its_device_in_the_params(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CUDA decisions without a GPU: the plan is faked, training and inference stubbed."""
    from bps_core.device import plan_device
    from bps_core.embeddings import compute

    def fake_plan(name: str):  # type: ignore[no-untyped-def]
        return plan_device(name, cuda_available=lambda: True, cuda_count=lambda: 1)

    seen = {}

    def fake_simclr(project, cfg, images, progress, on_epoch, deadline, plan):  # type: ignore[no-untyped-def]
        seen["plan"] = plan
        return np.ones((len(images), 4), dtype=np.float32), "cafe"

    monkeypatch.setattr(compute, "plan_device", fake_plan)
    monkeypatch.setattr(compute, "_simclr", fake_simclr)
    emb = compute_embeddings(tiny_project, EmbedConfig(device="auto", image_size=32))
    assert seen["plan"].device == "cuda:0"
    assert seen["plan"].pin_memory
    assert emb.params["device"] == "cuda"
    assert emb.params["mixed_precision"] is True

"""SimCLR training and embedding on CPU: tiny models, a few steps, real pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bps_core.device import DevicePlan, plan_device
from bps_core.embeddings.model import build_backbone
from bps_core.embeddings.train import (
    TrainConfig,
    bf16_supported,
    embed_images,
    load_checkpoint,
    save_checkpoint,
    train_simclr,
)
from bps_core.embeddings.transforms import augment


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 65535, (24, 32, 32)).astype(np.uint16)
    imgs[:12, 10:20, 10:20] = 65535  # two visibly different groups
    return imgs


def test_augment__shape_range_and_seeded() -> None:
    x = torch.rand(8, 1, 32, 32)
    a = augment(x, torch.Generator().manual_seed(1))
    b = augment(x, torch.Generator().manual_seed(1))
    c = augment(x, torch.Generator().manual_seed(2))
    assert a.shape == x.shape
    assert a.min() >= 0
    assert a.max() <= 1
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_build_backbone__one_channel_in_512_out_and_named_error() -> None:
    net = build_backbone("resnet10")
    assert net(torch.rand(2, 1, 32, 32)).shape == (2, 512)
    with pytest.raises(ValueError, match="resnet18"):
        build_backbone("vit")


def test_train_simclr__loss_is_finite_and_recorded_per_epoch(images: np.ndarray) -> None:
    epochs = []
    res = train_simclr(
        images,
        TrainConfig(arch="resnet10", epochs=2, batch_size=8),
        on_epoch=lambda e, loss: epochs.append(e),
    )
    assert res.epochs_done == 2
    assert epochs == [1, 2]
    assert all(np.isfinite(res.loss_history))


def test_train_simclr__time_budget_stops_early(images: np.ndarray) -> None:
    res = train_simclr(
        images, TrainConfig(arch="resnet10", epochs=1000, batch_size=8, max_seconds=0.5)
    )
    assert res.stopped_by_time
    assert res.epochs_done < 1000


def test_train_simclr__rejects_a_single_image(images: np.ndarray) -> None:
    with pytest.raises(ValueError, match="at least 2"):
        train_simclr(images[:1], TrainConfig())


def test_embed_images__unit_vectors_and_checkpoint_roundtrip(images: np.ndarray, tmp_path) -> None:
    res = train_simclr(images, TrainConfig(arch="resnet10", epochs=1, batch_size=8))
    emb = embed_images(res.backbone, images, batch_size=10, precision="fp32")
    assert emb.shape == (24, 512)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    sha = save_checkpoint(res.backbone, "resnet10", tmp_path, {"image_size": 32})
    loaded, meta = load_checkpoint(tmp_path, sha)
    assert meta == {"image_size": 32}
    assert np.allclose(embed_images(loaded, images, precision="fp32"), emb, atol=1e-6)


@pytest.mark.skipif(not bf16_supported(), reason="this CPU has no native bfloat16")
def test_embed_images__mixed_precision_matches_fp32(images: np.ndarray) -> None:
    res = train_simclr(images, TrainConfig(arch="resnet10", epochs=1, batch_size=8))
    fp32 = embed_images(res.backbone, images, precision="fp32")
    mixed = embed_images(res.backbone, images, precision="mixed")
    assert float(np.min(np.sum(fp32 * mixed, axis=1))) > 0.999


class _Clock:
    """A fake ``time`` module whose clock advances ``step`` seconds at every reading."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def monotonic(self) -> float:
        self.now += self.step
        return self.now


def test_train_simclr__no_step_starts_that_would_end_past_the_budget(
    images: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bps_core.embeddings import train

    monkeypatch.setattr(train, "time", _Clock(step=10.0))  # every training step "takes" 10 s
    res = train_simclr(
        images, TrainConfig(arch="resnet10", epochs=50, batch_size=24, max_seconds=25.0)
    )
    # One step per epoch: after 2 steps (20 s) a third would end at 30 s > 25 s.
    assert res.stopped_by_time
    assert res.epochs_done == 2


calls: list[str] = []


class _WatchedPlan(DevicePlan):
    """A CPU plan that counts the forward passes run under its autocast."""

    def autocast(self):  # type: ignore[no-untyped-def]
        calls.append(self.device)
        return super().autocast()


def test_train_and_embed__forward_passes_and_loaders_use_the_plan(
    images: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bps_core.embeddings import train

    loaders: list[tuple[DevicePlan, bool]] = []
    real = train.batch_loader

    def spy(imgs, rows, plan, *, pin=True):  # type: ignore[no-untyped-def]
        loaders.append((plan, pin))
        return real(imgs, rows, plan, pin=pin)

    monkeypatch.setattr(train, "batch_loader", spy)
    calls.clear()
    plan = _WatchedPlan("cpu", mixed_precision=False, pin_memory=False, non_blocking=False)
    cfg = TrainConfig(arch="resnet10", epochs=2, batch_size=8, bf16=False)
    res = train_simclr(images, cfg, plan=plan)
    assert len(calls) == 2 * 3  # 2 epochs x 3 steps of 8, each forward under the plan
    # One loader per epoch; training pins the augmented views itself, not the loaded batch.
    assert loaders == [(plan, False), (plan, False)]
    calls.clear()
    loaders.clear()
    out = embed_images(res.backbone, images, batch_size=10, plan=plan)
    assert len(calls) == 3  # 24 images in batches of 10
    assert loaders == [(plan, True)]
    assert out.dtype == np.float32
    assert out.shape == (24, 512)
    assert isinstance(out, np.ndarray)  # CPU numpy, not a tensor


def test_train_simclr__cpu_plan_trains_exactly_as_no_plan(images: np.ndarray) -> None:
    cfg = TrainConfig(arch="resnet10", epochs=1, batch_size=8, bf16=False)
    a = train_simclr(images, cfg)
    b = train_simclr(images, cfg, plan=plan_device("cpu"))
    assert a.loss_history == b.loss_history
    for x, y in zip(
        a.backbone.state_dict().values(), b.backbone.state_dict().values(), strict=True
    ):
        assert torch.equal(x, y)
    assert next(b.backbone.parameters()).device.type == "cpu"
    e1 = embed_images(a.backbone, images, precision="fp32")
    auto = plan_device("auto", cuda_available=lambda: False, cuda_count=lambda: 0)
    assert auto.device == "cpu"
    e2 = embed_images(b.backbone, images, precision="fp32", plan=auto)
    np.testing.assert_array_equal(e1, e2)

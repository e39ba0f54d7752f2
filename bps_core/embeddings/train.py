"""Self-supervised training (SimCLR with lightly's NT-Xent loss) and batch embedding.

Both run on the CPU by default, or where a ``DevicePlan`` says (``bps_core.device``): on CUDA
the model and batches live on the GPU, batches arrive pinned and asynchronously, and the
forward pass runs under mixed-precision autocast; outputs always come back float32 on the CPU.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightly.loss import NTXentLoss
from numpy.typing import NDArray
from torch import nn

from bps_core.atomic import atomic_write_bytes
from bps_core.device import DevicePlan
from bps_core.embeddings.batches import as_batch, batch_loader, cpu_plan, to_device
from bps_core.embeddings.inference import inference_model
from bps_core.embeddings.model import SimCLR, build_backbone
from bps_core.embeddings.transforms import AugmentConfig, augment

Progress = Callable[[float], None]
EpochCallback = Callable[[int, float], None]


@dataclass(frozen=True)
class TrainConfig:
    """SimCLR training parameters.

    ``max_seconds`` bounds the training wall time (None: no bound): no step starts that the
    mean step time so far says would end past it.
    """

    arch: str = "resnet18"
    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-6
    temperature: float = 0.5
    max_seconds: float | None = None
    seed: int = 0
    bf16: bool | None = None  # bfloat16 autocast; None: where the CPU supports it
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class TrainResult:
    """The outcome of ``train_simclr``.

    ``loss_history`` holds the mean loss of each completed epoch; ``stopped_by_time`` is True
    when ``max_seconds`` ended training before ``epochs`` (then ``epochs_done`` is smaller).
    """

    backbone: nn.Module
    loss_history: list[float]
    epochs_done: int
    seconds: float
    stopped_by_time: bool


_as_batch = as_batch  # the name finetune and older callers use


def configure_threads() -> None:
    """Lets torch use every CPU core of this machine (at least one thread)."""
    torch.set_num_threads(max(1, os.cpu_count() or 1))


def train_simclr(
    images: NDArray[np.uint16],
    cfg: TrainConfig,
    *,
    progress: Progress | None = None,
    on_epoch: EpochCallback | None = None,
    plan: DevicePlan | None = None,
) -> TrainResult:
    """Trains a SimCLR model from random initialisation on ``images`` (N, S, S) uint16.

    Augmentation stays on the CPU (its seeded generator makes the same views on every device);
    the two views of a batch then go to the plan's device. On CUDA the forward pass runs under
    the plan's autocast (bfloat16, or float16 with a gradient scaler); on the CPU ``cfg.bf16``
    decides, as before.

    Args:
        images: Normalised square crops (the image cache).
        cfg: Training parameters; ``seed`` fixes initialisation, shuffling and augmentation.
        progress: Called with the fraction done (steps, or time when ``max_seconds`` binds).
        on_epoch: Called with (epoch, mean loss) after each epoch.
        plan: Where to train (``bps_core.device.plan_device``); None: the CPU.

    Returns:
        The trained backbone (on the CPU) and the run's figures.

    Raises:
        ValueError: fewer than 2 images, or a batch size below 2.
    """
    n = len(images)
    if n < 2 or cfg.batch_size < 2:
        raise ValueError("SimCLR needs at least 2 images and a batch size of at least 2")
    configure_threads()
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    plan = plan or cpu_plan()
    model = SimCLR(cfg.arch).to(plan.device).to(memory_format=torch.channels_last)
    model.train()
    bf16 = not plan.is_cuda and (bf16_supported() if cfg.bf16 is None else cfg.bf16)
    scaler = _grad_scaler(plan)
    criterion = NTXentLoss(temperature=cfg.temperature)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    batch = min(cfg.batch_size, n)
    steps_per_epoch = max(1, n // batch)  # drop the last partial batch
    total = steps_per_epoch * cfg.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=max(total, 1), pct_start=0.1
    )
    history: list[float] = []
    t0 = time.monotonic()
    step = 0
    stopped = False
    for epoch in range(cfg.epochs):
        order = rng.permutation(n)
        losses = []
        rows = [order[s * batch : (s + 1) * batch] for s in range(steps_per_epoch)]
        # Not pinned by the loader: the views made from each batch on the CPU are what moves.
        for x in batch_loader(images, rows, plan, pin=False):
            views = torch.cat([augment(x, gen, cfg.augment), augment(x, gen, cfg.augment)])
            views = to_device(views, plan).contiguous(memory_format=torch.channels_last)
            with plan.autocast(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                z = model(views).float()
            loss = criterion(z[: len(x)], z[len(x) :])
            opt.zero_grad(set_to_none=True)
            if scaler is None:
                loss.backward()
                opt.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            sched.step()
            losses.append(float(loss.detach()))
            step += 1
            elapsed = time.monotonic() - t0
            if progress is not None:
                frac = step / total
                if cfg.max_seconds:
                    frac = max(frac, elapsed / cfg.max_seconds)
                progress(min(frac, 0.999))
            # Stop before a step that would end past the bound, not after it: the mean step
            # so far predicts the next one.
            if cfg.max_seconds and elapsed + elapsed / step > cfg.max_seconds:
                stopped = True
                break
        history.append(float(np.mean(losses)))
        if on_epoch is not None:
            on_epoch(epoch + 1, history[-1])
        if stopped:
            break
    model.eval()
    backbone = model.backbone.to("cpu")  # checkpoints and callers expect CPU weights
    return TrainResult(backbone, history, len(history), time.monotonic() - t0, stopped)


def _grad_scaler(plan: DevicePlan) -> Any:
    """A float16 gradient scaler where CUDA autocast runs in float16 (no bfloat16); else None."""
    if not (plan.is_cuda and plan.mixed_precision) or torch.cuda.is_bf16_supported():
        return None
    return torch.amp.GradScaler("cuda")


def bf16_supported() -> bool:
    """True when this CPU runs bfloat16 matrix work natively (AVX512-BF16 or AMX)."""
    try:
        return bool(
            torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        )
    except (AttributeError, RuntimeError):
        return False


PRECISIONS = ("auto", "mixed", "bf16", "fp32")


def resolve_precision(precision: str) -> str:
    """``auto`` becomes ``mixed`` where the CPU has native bfloat16, else ``fp32``.

    Raises:
        ValueError: an unknown precision; the message lists the valid ones.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        precision = "mixed" if bf16_supported() else "fp32"
    return precision


@torch.inference_mode()
def embed_images(
    backbone: nn.Module,
    images: NDArray[np.uint16],
    *,
    batch_size: int = 512,
    precision: str = "auto",
    progress: Progress | None = None,
    plan: DevicePlan | None = None,
) -> NDArray[np.float32]:
    """Backbone features of every image, L2-normalised: array of shape (N, 512).

    Runs in ``inference_mode`` with ``channels_last`` memory. ``precision``: ``auto`` is
    ``mixed`` where the CPU has native bfloat16 and ``fp32`` elsewhere; ``mixed`` (fp32 stem,
    bf16 residual stages) meets the fidelity gate against fp32 (cosine >= 0.999, 10-NN overlap
    >= 0.95, see bench/bench_embed.py) where full ``bf16`` narrowly misses it. The forward pass
    runs on a copy with BatchNorm folded into the convolutions (``inference.inference_model``).
    On CUDA (``plan``) the folded copy stays fp32 and the plan's autocast decides the
    precision instead; ``precision`` is then ignored.

    Args:
        backbone: The trained backbone (left untouched).
        images: Cached crops of shape (N, H, W), uint16.
        batch_size: Images per forward pass.
        precision: ``auto``, ``mixed``, ``bf16`` or ``fp32`` (CPU runs).
        progress: Called with the fraction done.
        plan: Where to run (``bps_core.device.plan_device``); None: the CPU.

    Returns:
        Float32 CPU array of shape (N, 512).
    """
    plan = plan or cpu_plan()
    precision = "fp32" if plan.is_cuda else resolve_precision(precision)
    configure_threads()
    model = inference_model(backbone, precision, image_size=images.shape[1:3]).to(plan.device)
    return embed_with_model(model, images, batch_size=batch_size, progress=progress, plan=plan)


@torch.inference_mode()
def embed_with_model(
    model: nn.Module,
    images: NDArray[np.uint16],
    *,
    batch_size: int = 512,
    device: str = "cpu",
    progress: Progress | None = None,
    plan: DevicePlan | None = None,
) -> NDArray[np.float32]:
    """Features of every image from a prepared inference model, L2-normalised.

    ``embed_images`` builds the model (``inference.inference_model``) for one call; a worker
    that embeds many batches (a Ray actor) builds it once and calls this per batch.

    Args:
        model: An inference model (fp32 input (B, 1, H, W), fp32 output (B, 512)), on
            ``device`` (or the plan's device).
        images: Cached crops of shape (N, H, W), uint16.
        batch_size: Images per forward pass.
        device: Where the model runs (``cpu``, ``cuda``, ``cuda:1``, ...) when no ``plan``
            is given: batches are copied there, nothing else changes.
        progress: Called with the fraction done.
        plan: Where and how to run: its device, DataLoader workers, pinned memory and
            autocast. Takes precedence over ``device``.

    Returns:
        Float32 CPU array of shape (N, 512).
    """
    starts = range(0, len(images), batch_size)
    rows = [np.arange(s, min(s + batch_size, len(images))) for s in starts]
    batches: Iterable[torch.Tensor]
    if plan is None:
        # A caller that manages the model and its precision itself (a Ray actor, one call per
        # small batch): batches read here, copied to ``device``, no loader workers to start.
        plan = DevicePlan(device, mixed_precision=False, pin_memory=False, non_blocking=False)
        batches = (as_batch(images, idx) for idx in rows)
    else:
        batches = batch_loader(images, rows, plan)
    out = np.empty((len(images), 512), dtype=np.float32)
    for idx, x in zip(rows, batches, strict=True):
        x = to_device(x, plan).contiguous(memory_format=torch.channels_last)
        with plan.autocast():
            feats = model(x)
        out[idx] = feats.float().cpu().numpy()
        if progress is not None:
            progress(idx[-1] / max(len(images) - 1, 1))
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    normalised: NDArray[np.float32] = out / np.maximum(norms, 1e-12)
    return normalised


def save_checkpoint(backbone: nn.Module, arch: str, folder: Path, meta: dict[str, Any]) -> str:
    """Saves the backbone under ``folder/<sha>.pt``; returns the sha256 of its weights."""
    buf = io.BytesIO()
    torch.save({"arch": arch, "state_dict": backbone.state_dict(), "meta": meta}, buf)
    data = buf.getvalue()
    sha = hashlib.sha256(data).hexdigest()[:16]
    atomic_write_bytes(folder / f"{sha}.pt", data)
    return sha


def load_checkpoint(folder: Path, sha: str) -> tuple[nn.Module, dict[str, Any]]:
    """The backbone saved as ``sha`` and the metadata saved with it."""
    path = folder / f"{sha}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {sha} not found in {folder}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    backbone = build_backbone(state["arch"])
    backbone.load_state_dict(state["state_dict"])
    backbone.eval()
    return backbone, dict(state["meta"])


def train_config_dict(cfg: TrainConfig) -> dict[str, Any]:
    """Returns ``cfg`` as a plain JSON-ready dict, its augmentation settings nested as a dict."""
    d = asdict(cfg)
    d["augment"] = asdict(cfg.augment)
    return d

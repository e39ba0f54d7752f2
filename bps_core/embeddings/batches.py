"""Batches of cached crops for torch, loaded and moved the way a ``DevicePlan`` says.

One ``DataLoader`` per pass over a list of row batches: on CUDA, worker processes read and
convert the next batches while the GPU works and hand them over in pinned memory, so the copy
to the device runs asynchronously; on the CPU the batches are read in this process (workers
would only compete with torch's own threads for the same cores), exactly as before.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import DataLoader, Dataset

from bps_core.device import DevicePlan

#: Most DataLoader workers feeding one GPU: reading uint16 crops is cheap next to a forward.
MAX_WORKERS = 4


def as_batch(images: NDArray[np.uint16], idx: NDArray[np.intp]) -> torch.Tensor:
    """Rows ``idx`` of ``images`` (read in sorted order) as float32 (B, 1, H, W) in [0, 1]."""
    batch = np.asarray(images[np.sort(idx)], dtype=np.float32) / 65535.0
    return torch.from_numpy(batch).unsqueeze(1)


def loader_kwargs(plan: DevicePlan, *, pin: bool = True) -> dict[str, Any]:
    """The DataLoader settings ``plan`` calls for.

    Args:
        plan: The resolved device plan.
        pin: Whether the loaded batches go to the device as they are (False where the caller
            transforms them on the CPU first and pins the result itself).

    Returns:
        ``num_workers`` (0 on the CPU; on CUDA up to ``MAX_WORKERS``, half the cores),
        ``pin_memory`` (the plan's, on CUDA) and ``persistent_workers`` (False: one loader per
        pass).
    """
    workers = min(MAX_WORKERS, max(1, (os.cpu_count() or 2) // 2)) if plan.is_cuda else 0
    return {
        "num_workers": workers,
        "pin_memory": plan.pin_memory and pin,
        "persistent_workers": False,
    }


class _RowBatches(Dataset[torch.Tensor]):
    """Item i is the batch of rows ``batches[i]`` (already batched: the loader adds nothing)."""

    def __init__(self, images: NDArray[np.uint16], batches: Sequence[NDArray[np.intp]]) -> None:
        self.images, self.batches = images, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> torch.Tensor:
        return as_batch(self.images, self.batches[i])


def batch_loader(
    images: NDArray[np.uint16],
    batches: Sequence[NDArray[np.intp]],
    plan: DevicePlan,
    *,
    pin: bool = True,
) -> DataLoader[torch.Tensor]:
    """A loader that yields ``as_batch(images, b)`` for each ``b`` of ``batches``, in order.

    Args:
        images: Cached crops (N, H, W) uint16 (a memory map is fine: workers fork).
        batches: Row indices of each batch.
        plan: Decides workers and pinned memory (``loader_kwargs``).
        pin: See ``loader_kwargs``.
    """
    return DataLoader(
        _RowBatches(images, batches), batch_size=None, shuffle=False, **loader_kwargs(plan, pin=pin)
    )


def to_device(x: torch.Tensor, plan: DevicePlan) -> torch.Tensor:
    """``x`` on the plan's device: pinned, then copied asynchronously on CUDA; as is on the CPU."""
    if not plan.is_cuda:
        return x
    if plan.pin_memory and not x.is_pinned():
        x = x.pin_memory()
    return x.to(plan.device, non_blocking=plan.non_blocking)


def cpu_plan() -> DevicePlan:
    """The plan of a CPU run (what callers that name no device get)."""
    return DevicePlan(device="cpu", mixed_precision=False, pin_memory=False, non_blocking=False)

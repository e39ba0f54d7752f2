"""Batches for torch as a device plan says: workers and pinned memory on CUDA, in-process on CPU.

There is no GPU here: CUDA plans come from ``plan_device`` with the probe answered by the test,
and only the loader's settings are checked for them (no batch is moved).
"""

from __future__ import annotations

import numpy as np
import torch

from bps_core.device import plan_device
from bps_core.embeddings.batches import (
    as_batch,
    batch_loader,
    cpu_plan,
    loader_kwargs,
    to_device,
)


def _cuda_plan():  # type: ignore[no-untyped-def]
    return plan_device("cuda", cuda_available=lambda: True, cuda_count=lambda: 1)


def test_loader_kwargs__cpu_reads_in_this_process_unpinned() -> None:
    kwargs = loader_kwargs(plan_device("cpu"))
    assert kwargs == {"num_workers": 0, "pin_memory": False, "persistent_workers": False}


def test_loader_kwargs__cuda_pins_and_starts_workers() -> None:
    kwargs = loader_kwargs(_cuda_plan())
    assert kwargs["pin_memory"] is True
    assert 1 <= kwargs["num_workers"] <= 4
    assert loader_kwargs(_cuda_plan(), pin=False)["pin_memory"] is False


def test_batch_loader__cuda_plan_builds_a_pinned_loader_with_workers() -> None:
    images = np.zeros((6, 8, 8), dtype=np.uint16)
    loader = batch_loader(images, [np.arange(3), np.arange(3, 6)], _cuda_plan())
    assert loader.pin_memory is True
    assert loader.num_workers >= 1
    assert loader.batch_size is None  # the row batches are the batches


def test_batch_loader__cpu_yields_each_row_batch_in_order() -> None:
    images = np.random.default_rng(0).integers(0, 65535, (10, 8, 8), dtype=np.uint16)
    rows = [np.array([4, 1, 7]), np.array([0, 9])]
    loader = batch_loader(images, rows, cpu_plan())
    assert loader.num_workers == 0
    assert loader.pin_memory is False
    got = list(loader)
    assert len(got) == 2
    for idx, x in zip(rows, got, strict=True):
        assert x.dtype == torch.float32
        assert x.shape == (len(idx), 1, 8, 8)
        assert torch.equal(x, as_batch(images, idx))


def test_to_device__cpu_plan_leaves_the_tensor_alone() -> None:
    x = torch.rand(2, 1, 4, 4)
    assert to_device(x, plan_device("cpu")) is x

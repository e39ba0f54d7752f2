"""Where torch work runs: ``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda[:N]``.

One place decides the device, mixed precision and DataLoader settings for training and
inference, so the CPU-only test suite exercises every decision except the device itself.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from bps_core.errors import SettingsError

DEVICE_CHOICES = ("auto", "cpu", "cuda")
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device(name: str) -> str:
    """Returns ``name`` stripped and lower-cased when it names a device setting.

    Raises:
        SettingsError: not ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    """
    clean = str(name).strip().lower()
    if not _DEVICE_RE.match(clean):
        raise SettingsError(
            f"device {name!r} is not one of auto, cpu, cuda or cuda:N (N a GPU number); "
            "choose auto to use a GPU when this machine has one"
        )
    return clean


@dataclass(frozen=True)
class DevicePlan:
    """How torch work runs on the resolved device.

    Attributes:
        device: A torch device string (``cpu``, ``cuda:0``, ...).
        mixed_precision: Run the forward pass under bfloat16/float16 autocast (CUDA only).
        pin_memory: Page-locked host batches for faster copies to the GPU (CUDA only).
        non_blocking: Copy batches to the device asynchronously (with pinned memory).
    """

    device: str
    mixed_precision: bool
    pin_memory: bool
    non_blocking: bool

    @property
    def is_cuda(self) -> bool:
        """Whether the work runs on a CUDA GPU."""
        return self.device.startswith("cuda")

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        """A context that runs the forward pass in mixed precision on CUDA (no-op on CPU)."""
        if not (self.is_cuda and self.mixed_precision):
            return contextlib.nullcontext()
        import torch

        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast(device_type="cuda", dtype=dtype)


def plan_device(
    name: str = "auto",
    *,
    mixed_precision: bool = True,
    cuda_available: Callable[[], bool] | None = None,
    cuda_count: Callable[[], int] | None = None,
) -> DevicePlan:
    """Resolves a device setting into a plan.

    Args:
        name: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        mixed_precision: Use autocast on CUDA (ignored on CPU, where float32 is kept).
        cuda_available: Probe for CUDA (default ``torch.cuda.is_available``); tests pass
            their own to exercise the CUDA decisions on a CPU machine.
        cuda_count: Probe for the number of GPUs (default ``torch.cuda.device_count``).

    Returns:
        The plan: ``auto`` picks ``cuda:0`` when a GPU is present, else ``cpu``.

    Raises:
        SettingsError: the name is not a device setting, or CUDA was asked for on a machine
            without it (or GPU N does not exist).
    """
    clean = check_device(name)
    if cuda_available is None or cuda_count is None:
        import torch

        cuda_available = cuda_available or torch.cuda.is_available
        cuda_count = cuda_count or torch.cuda.device_count
    has_cuda = bool(cuda_available())
    if clean == "auto":
        clean = "cuda:0" if has_cuda else "cpu"
    elif clean.startswith("cuda"):
        if not has_cuda:
            raise SettingsError(
                f"device {name!r}: this machine has no CUDA GPU visible to PyTorch; "
                "use device auto or cpu"
            )
        index = int(clean.split(":")[1]) if ":" in clean else 0
        count = int(cuda_count())
        if index >= count:
            raise SettingsError(
                f"device {name!r}: this machine has {count} GPU(s) (cuda:0 to cuda:{count - 1})"
            )
        clean = f"cuda:{index}"
    cuda = clean.startswith("cuda")
    return DevicePlan(
        device=clean, mixed_precision=cuda and mixed_precision, pin_memory=cuda, non_blocking=cuda
    )

"""Batched augmentations for single-channel microscopy crops, on tensors in [0, 1].

They respect the physics of a fluorescence crop: any rotation or flip is a valid view of a
nucleus, zooms stay near the centre so the nucleus is kept, and intensity changes are mild
(exposure, gamma, focus blur, camera noise). There is no colour jitter. All operations are
vectorised over the batch, which on a CPU is several times faster than per-image PIL
transforms (lightly's transforms work per image on PIL/RGB input, so they do not fit here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812


@dataclass(frozen=True)
class AugmentConfig:
    """Strengths of each augmentation (probabilities and ranges)."""

    max_rotation_deg: float = 15.0
    min_scale: float = 0.75  # zoom-in crop covering at least this fraction of the side
    max_shift: float = 0.06  # translation as a fraction of the side
    contrast: tuple[float, float] = (0.8, 1.25)
    brightness: float = 0.08
    gamma: tuple[float, float] = (0.8, 1.25)
    blur_prob: float = 0.3
    blur_sigma: tuple[float, float] = (0.3, 1.2)
    noise_std: float = 0.03


def _rot90_and_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    b = x.shape[0]
    k = torch.randint(0, 4, (b,), generator=gen)
    flip = torch.rand(b, generator=gen) < 0.5
    out = x.clone()
    for rot in range(4):
        sel = (k == rot).nonzero().flatten()
        if len(sel):
            out[sel] = torch.rot90(x[sel], rot, dims=(2, 3))
    out[flip] = out[flip].flip(-1)
    return out


def _affine(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Small rotation, centred zoom-in (a random resized crop that keeps the nucleus), shift."""
    b = x.shape[0]
    angle = (torch.rand(b, generator=gen) * 2 - 1) * math.radians(cfg.max_rotation_deg)
    scale = cfg.min_scale + torch.rand(b, generator=gen) * (1 - cfg.min_scale)
    shift = (torch.rand(b, 2, generator=gen) * 2 - 1) * cfg.max_shift * 2
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _blur(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    b = x.shape[0]
    apply = torch.rand(b, generator=gen) < cfg.blur_prob
    if not apply.any():
        return x
    lo, hi = cfg.blur_sigma
    sigma = lo + torch.rand(b, generator=gen) * (hi - lo)
    radius = math.ceil(3 * hi)
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k = torch.exp(-(t[None, :] ** 2) / (2 * sigma[:, None] ** 2))
    k = k / k.sum(1, keepdim=True)
    k[~apply] = 0.0
    k[~apply, radius] = 1.0  # identity kernel where no blur is applied
    # Per-image separable kernels through a grouped convolution over the batch.
    y = x.transpose(0, 1)  # (1, B, H, W)
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="reflect"), k[:, None, None, :], groups=b)
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="reflect"), k[:, None, :, None], groups=b)
    return y.transpose(0, 1)


def augment(
    x: torch.Tensor, gen: torch.Generator, cfg: AugmentConfig = AugmentConfig()
) -> torch.Tensor:
    """One random view of each image in ``x`` (shape (B, 1, H, W), values in [0, 1])."""
    b = x.shape[0]
    x = _rot90_and_flip(x, gen)
    x = _affine(x, cfg, gen)
    x = _blur(x, cfg, gen)
    lo, hi = cfg.gamma
    gamma = (lo + torch.rand(b, 1, 1, 1, generator=gen) * (hi - lo)).to(x.dtype)
    x = x.clamp(0, 1) ** gamma
    lo, hi = cfg.contrast
    contrast = (lo + torch.rand(b, 1, 1, 1, generator=gen) * (hi - lo)).to(x.dtype)
    bright = ((torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1) * cfg.brightness).to(x.dtype)
    x = x * contrast + bright
    noise = torch.randn(x.shape, generator=gen, dtype=x.dtype)
    x = x + noise * (torch.rand(b, 1, 1, 1, generator=gen) * cfg.noise_std).to(x.dtype)
    return x.clamp(0, 1)

"""Backbones and the SimCLR model: torchvision ResNets with a one-channel stem, lightly's head.

- [0] Chen et al., 2020, SimCLR, https://arxiv.org/abs/2002.05709
"""

from __future__ import annotations

import torch
from lightly.models.modules import SimCLRProjectionHead
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

from bps_core.embeddings.archs import ARCHS

NUM_FEATURES = 512


def build_backbone(arch: str = "resnet18") -> nn.Module:
    """A randomly initialised ResNet taking (B, 1, H, W) and returning (B, 512) features.

    Raises:
        ValueError: unknown ``arch``; the message lists the valid names.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown backbone {arch!r}; choose one of {', '.join(ARCHS)}")
    net = ResNet(BasicBlock, ARCHS[arch])
    net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    net.fc = nn.Identity()
    backbone: nn.Module = net
    return backbone


class SimCLR(nn.Module):
    """Backbone plus lightly's SimCLR projection head."""

    def __init__(self, arch: str = "resnet18", out_dim: int = 128) -> None:
        super().__init__()
        self.arch = arch
        self.backbone = build_backbone(arch)
        self.head = SimCLRProjectionHead(NUM_FEATURES, NUM_FEATURES, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Projects images (B, 1, H, W) to the contrastive space (B, out_dim) via backbone+head."""
        out: torch.Tensor = self.head(self.backbone(x))
        return out

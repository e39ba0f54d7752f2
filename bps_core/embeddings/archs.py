"""Backbone sizes, apart from the model code so that naming them does not import torch."""

from __future__ import annotations

#: Backbone sizes: blocks per stage of a BasicBlock ResNet. resnet18 is the default.
ARCHS: dict[str, list[int]] = {
    "resnet10": [1, 1, 1, 1],
    "resnet18": [2, 2, 2, 2],
    "resnet34": [3, 4, 6, 3],
}

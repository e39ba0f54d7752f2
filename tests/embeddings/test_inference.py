"""The inference copy of a backbone: BatchNorm folded, weights cast, same features."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.models.resnet import Bottleneck, ResNet

from bps_core.embeddings.inference import inference_model
from bps_core.embeddings.model import build_backbone


def _with_trained_statistics(net: nn.Module) -> nn.Module:
    """Gives every BatchNorm non-trivial statistics, as training would, so folding matters."""
    gen = torch.Generator().manual_seed(0)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            c = module.num_features
            module.running_mean.copy_(torch.randn(c, generator=gen) * 0.2)
            module.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
            module.weight.data.copy_(torch.rand(c, generator=gen) + 0.5)
            module.bias.data.copy_(torch.randn(c, generator=gen) * 0.1)
    return net.eval()


def _cosines(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    return torch.nn.functional.cosine_similarity(a, b, dim=1).detach().numpy()


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    return torch.rand(6, 1, 32, 32, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("arch", ["resnet10", "resnet18"])
def test_inference_model__fp32_folded_matches_the_backbone(arch: str, batch: torch.Tensor) -> None:
    backbone = _with_trained_statistics(build_backbone(arch))
    model = inference_model(backbone, "fp32")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    with torch.inference_mode():
        expected, got = backbone(batch), model(batch)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_inference_model__bottleneck_blocks_and_downsampling_fold_too(batch: torch.Tensor) -> None:
    net = ResNet(Bottleneck, [1, 1, 1, 1])
    net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    net.fc = nn.Identity()
    backbone = _with_trained_statistics(net)
    model = inference_model(backbone, "fp32")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    with torch.inference_mode():
        assert torch.allclose(model(batch), backbone(batch), rtol=1e-4, atol=1e-5)


def test_inference_model__leaves_the_backbone_untouched(batch: torch.Tensor) -> None:
    backbone = _with_trained_statistics(build_backbone("resnet10"))
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    inference_model(backbone, "mixed")
    after = backbone.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in backbone.modules()) > 0


def test_inference_model__mixed_keeps_the_stem_fp32_and_stays_close(batch: torch.Tensor) -> None:
    backbone = _with_trained_statistics(build_backbone("resnet10"))
    model = inference_model(backbone, "mixed")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs[0].weight.dtype == torch.float32  # the stem: where 16-bit detail enters
    assert {c.weight.dtype for c in convs[1:]} == {torch.bfloat16}
    with torch.inference_mode():
        out = model(batch)
        assert out.dtype == torch.float32
        assert _cosines(out, backbone(batch)).min() > 0.999


def test_inference_model__bf16_casts_everything(batch: torch.Tensor) -> None:
    backbone = _with_trained_statistics(build_backbone("resnet10"))
    model = inference_model(backbone, "bf16")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    with torch.inference_mode():
        out = model(batch)
    assert out.dtype == torch.float32
    assert _cosines(out, backbone(batch)).min() > 0.99


def test_inference_model__other_backbones_fall_back_to_autocast(batch: torch.Tensor) -> None:
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten())
    net = _with_trained_statistics(net)
    with torch.inference_mode():
        expected = net(batch)
        assert torch.allclose(inference_model(net, "fp32")(batch), expected, atol=1e-5)
        mixed = inference_model(net, "mixed")(batch)
    assert mixed.dtype == torch.float32
    assert _cosines(mixed, expected).min() > 0.99


def test_inference_model__unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="choose one of mixed, bf16, fp32"):
        inference_model(build_backbone("resnet10"), "fp16")


@pytest.mark.parametrize(("size", "dense"), [(32, 7), (64, 3), (128, 0)])
def test_inference_model__small_feature_maps_become_one_matrix_product(
    size: int, dense: int
) -> None:
    # ResNet-18 ends on a 1x1 map at 32 px (its third stage on 2x2), 2x2 at 64 px, 4x4 at
    # 128 px: a 3x3 conv is
    # replaced where the map has fewer positions than the kernel has taps.
    backbone = _with_trained_statistics(build_backbone("resnet18"))
    model = inference_model(backbone, "fp32", image_size=(size, size))
    converted = [m for m in model.modules() if type(m).__name__ == "_DenseConv"]
    assert len(converted) == dense
    x = torch.rand(3, 1, size, size, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        assert torch.allclose(model(x), backbone(x), rtol=1e-4, atol=1e-5)
        mixed = inference_model(backbone, "mixed", image_size=(size, size))(x)
        assert _cosines(mixed, backbone(x)).min() > 0.999


def test_inference_model__built_for_one_size_refuses_another() -> None:
    model = inference_model(build_backbone("resnet10"), "fp32", image_size=(64, 64))
    with pytest.raises(ValueError, match="built for 64x64 images, not 32x32"):
        model(torch.zeros(1, 1, 32, 32))

"""An inference copy of a trained backbone: BatchNorm folded into the convolutions, stages cast.

Training keeps BatchNorm as separate layers; at inference each one is an affine map that can be
folded into the convolution before it, which saves a pass over every activation. The copy's
weights are also cast once to the precision asked for, where autocast would cast them again on
every batch. Measured on the trained ResNet-18 at 64 px (bench/bench_embed.py): about 1.3x the
throughput of autocast over the unfolded model, with fidelity to fp32 as good or better.

Small inputs leave the last stage with a tiny feature map (2x2 at 64 px, 1x1 at 32 px), where a
3x3 convolution mostly multiplies padding: 9 taps per output for at most 4 real inputs. Given
the image size, such convolutions become one dense matrix product over the whole feature map
(exactly the same linear map, built by applying the convolution to a basis), which does less
than half the arithmetic as one large GEMM: another ~1.35x at 64 px.

Precisions:
- ``fp32``: folded, fp32 throughout (numerically the same as the trained model to ~1e-6);
- ``mixed``: the stem (first conv, where the 16-bit detail enters) in fp32, the residual stages
  with bfloat16 weights and activations, pooling in fp32;
- ``bf16``: everything in bfloat16.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

INFERENCE_PRECISIONS = ("mixed", "bf16", "fp32")


def _fold_block(block: nn.Module) -> None:
    """Folds each conv's BatchNorm into it, in place (BasicBlock or Bottleneck)."""
    pairs = [("conv1", "bn1"), ("conv2", "bn2")]
    if isinstance(block, Bottleneck):
        pairs.append(("conv3", "bn3"))
    for conv_name, bn_name in pairs:
        conv, bn = getattr(block, conv_name), getattr(block, bn_name)
        assert isinstance(conv, nn.Conv2d)
        assert isinstance(bn, nn.BatchNorm2d)
        setattr(block, conv_name, fuse_conv_bn_eval(conv, bn))
        setattr(block, bn_name, nn.Identity())
    down = getattr(block, "downsample", None)
    if (
        isinstance(down, nn.Sequential)
        and len(down) == 2
        and isinstance(down[0], nn.Conv2d)
        and isinstance(down[1], nn.BatchNorm2d)
    ):
        block.downsample = nn.Sequential(fuse_conv_bn_eval(down[0], down[1]))


_DENSE_MAX_ENTRIES = 1 << 24  # 32 MiB of bfloat16 per converted convolution at most


class _DenseConv(nn.Module):
    """A convolution on a fixed (C, H, W) input as one matrix product (channels-last order)."""

    def __init__(self, conv: nn.Conv2d, height: int, width: int) -> None:
        super().__init__()
        cin, k = conv.in_channels, conv.in_channels * height * width
        with torch.no_grad():
            basis = torch.eye(k).reshape(k, height, width, cin).permute(0, 3, 1, 2)
            bias = conv.bias if conv.bias is not None else torch.zeros(conv.out_channels)
            out = conv(basis) - bias.view(1, -1, 1, 1)  # (k, Cout, Ho, Wo): the linear part
        self.out_shape = (out.shape[2], out.shape[3], out.shape[1])
        self.weight = nn.Parameter(out.permute(0, 2, 3, 1).reshape(k, -1), requires_grad=False)
        self.bias = nn.Parameter(
            bias.detach().repeat(self.out_shape[0] * self.out_shape[1]), requires_grad=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
        y = torch.addmm(self.bias, flat, self.weight)
        return y.view(x.shape[0], *self.out_shape).permute(0, 3, 1, 2)


def _densify_small_convs(model: nn.Module, image_size: tuple[int, int]) -> None:
    """Replaces, in place, convolutions on tiny input maps by the equivalent ``_DenseConv``.

    A convolution qualifies when its input map has fewer positions than its kernel has taps.
    Works on the fp32 model; cast afterwards.
    """
    inputs: dict[str, torch.Size] = {}
    hooks = [
        module.register_forward_hook(
            lambda _m, args, _out, name=name: inputs.__setitem__(name, args[0].shape)
        )
        for name, module in model.named_modules()
        if isinstance(module, nn.Conv2d)
    ]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 1, *image_size))
    finally:
        for hook in hooks:
            hook.remove()
    for name, shape in inputs.items():
        conv = model.get_submodule(name)
        assert isinstance(conv, nn.Conv2d)
        _, cin, height, width = shape
        out_numel = conv.out_channels * height * width  # an upper bound (stride >= 1)
        if (
            conv.groups == 1
            and height * width < conv.kernel_size[0] * conv.kernel_size[1]
            and cin * height * width * out_numel <= _DENSE_MAX_ENTRIES
        ):
            parent_name, _, attr = name.rpartition(".")
            setattr(model.get_submodule(parent_name), attr, _DenseConv(conv, height, width))


class _FoldedResNet(nn.Module):
    def __init__(
        self, net: ResNet, precision: str, image_size: tuple[int, int] | None = None
    ) -> None:
        super().__init__()
        stem_dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        stage_dtype = torch.float32 if precision == "fp32" else torch.bfloat16
        self.stem = nn.Sequential(fuse_conv_bn_eval(net.conv1, net.bn1), net.relu, net.maxpool)
        self.stages = nn.Sequential(net.layer1, net.layer2, net.layer3, net.layer4)
        for stage in (net.layer1, net.layer2, net.layer3, net.layer4):
            for block in stage:
                _fold_block(block)
        # fp32 while the small convs are traced and converted (forward runs once there),
        # then the dtypes asked for.
        self.stem_dtype = self.stage_dtype = torch.float32
        self.image_size = image_size
        if image_size is not None:
            _densify_small_convs(self, image_size)
        self.stem.to(stem_dtype)
        self.stages.to(stage_dtype)
        self.stem_dtype, self.stage_dtype = stem_dtype, stage_dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.image_size is not None and tuple(x.shape[-2:]) != tuple(self.image_size):
            raise ValueError(
                f"this inference model was built for {self.image_size[0]}x{self.image_size[1]} "
                f"images, not {x.shape[-2]}x{x.shape[-1]}; build one for this size"
            )
        h = self.stem(x.to(self.stem_dtype))
        h = self.stages(h.to(self.stage_dtype))
        out: torch.Tensor = h.float().mean(dim=(2, 3))
        return out  # the ResNet's global average pool, in fp32


class _Autocast(nn.Module):
    """Fallback for backbones that are not torchvision ResNets: autocast, nothing folded."""

    def __init__(self, net: nn.Module, precision: str) -> None:
        super().__init__()
        self.net, self.precision = net, precision

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.precision == "fp32":
            out: torch.Tensor = self.net(x)
            return out
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self.net(x).float()  # type: ignore[no-any-return]


def inference_model(
    backbone: nn.Module, precision: str, image_size: tuple[int, int] | None = None
) -> nn.Module:
    """Builds an eval-mode, ``channels_last`` copy of ``backbone`` for ``precision``.

    The backbone itself is left untouched. Input: fp32 (B, 1, H, W); output: fp32
    (B, features).

    With ``image_size`` (H, W) the copy is specialised to inputs of that size (see the module
    docstring); it then refuses other sizes.
    """
    if precision not in INFERENCE_PRECISIONS:
        raise ValueError(
            f"precision {precision!r}: choose one of {', '.join(INFERENCE_PRECISIONS)}"
        )
    net = copy.deepcopy(backbone).eval()
    foldable = isinstance(net, ResNet) and all(
        isinstance(block, BasicBlock | Bottleneck)
        for stage in (net.layer1, net.layer2, net.layer3, net.layer4)
        for block in stage
    )
    model = _FoldedResNet(net, precision, image_size) if foldable else _Autocast(net, precision)
    return model.eval().to(memory_format=torch.channels_last)

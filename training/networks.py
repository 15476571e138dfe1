"""Transform networks (Johnson et al. 2016), mapping RGB in 0..1 to stylized RGB in about 0..1
(exactly 0..1 with output="clip").

Both presets share one design: reflection-padded convolutions, instance norm, residual blocks at
the coarsest level, and nearest-neighbour upsampling followed by a convolution (no transposed
convolutions, hence no checkerboard artefacts).
The presets ("reference" is Johnson's net, "fast" the real-time one) are in
training/architectures.py.
"""

from __future__ import annotations

import torch
from torch import nn

from training.architectures import ARCHITECTURES, DEFAULT_ARCHITECTURE, DEFAULT_OUTPUT, OUTPUTS  # noqa: F401 (re-exported)


class ConvLayer(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, norm: bool = True, relu: bool = True):
        layers: list[nn.Module] = [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(c_in, c_out, kernel, stride)]
        if norm:
            layers.append(nn.InstanceNorm2d(c_out, affine=True))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(ConvLayer(channels, channels, 3), ConvLayer(channels, channels, 3, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class UpsampleConv(nn.Sequential):
    """Nearest-neighbour x2 then a convolution: smooth upsampling without checkerboards."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3):
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), ConvLayer(c_in, c_out, kernel))


class ClipInward(torch.autograd.Function):
    """Clip to 0..1, as the runtime shows it. A clipped pixel still gets the gradients that pull it
    back into range, but none that push it further out: with a plain clip it would go dead, and
    with a pass-through gradient the losses drift whole areas far past white for free."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.clamp(0, 1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        outward = ((x > 1) & (grad < 0)) | ((x < 0) & (grad > 0))  # descent moves x by -grad
        return grad.masked_fill(outward, 0)


class TransformNet(nn.Module):
    """Encoder (one conv per level, stride 2 between levels), residual blocks, mirrored decoder.

    With `skips`, each decoder level adds the encoder's features of the same resolution
    (U-Net style): a narrow, deep bottleneck alone cannot carry the detail that keeps faces
    readable, and an addition costs next to nothing at inference.
    """

    def __init__(self, widths=(32, 64, 128), res_blocks: int = 5, edge_kernel: int = 9, stem_stride: int = 1,
                 skips: bool = False, output: str = DEFAULT_OUTPUT):
        super().__init__()
        if output not in OUTPUTS:
            raise ValueError(f"unknown output {output!r}; choose from {', '.join(OUTPUTS)}")
        widths = tuple(widths)
        self.config = {"widths": list(widths), "res_blocks": res_blocks, "edge_kernel": edge_kernel,
                       "stem_stride": stem_stride, "skips": skips, "output": output}
        self.skips = skips
        self.encoder = nn.ModuleList([ConvLayer(3, widths[0], edge_kernel, stride=stem_stride)] +
                                     [ConvLayer(a, b, 3, stride=2) for a, b in zip(widths, widths[1:])])
        self.residual = nn.Sequential(*[ResidualBlock(widths[-1]) for _ in range(res_blocks)])
        rev = widths[::-1]
        self.decoder = nn.ModuleList([UpsampleConv(a, b) for a, b in zip(rev, rev[1:])])
        self.final_upsample = nn.Upsample(scale_factor=2, mode="nearest") if stem_stride == 2 else nn.Identity()
        self.out = ConvLayer(widths[0], 3, edge_kernel, norm=False, relu=False)
        nn.init.constant_(self.out[1].bias, 0.5)  # start near mid-grey, not black: steadier early training

    @property
    def size_multiple(self) -> int:
        """Height and width must be multiples of this for the output to match the input size."""
        return 2 ** (len(self.config["widths"]) - 1) * self.config["stem_stride"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        levels = []
        for layer in self.encoder:
            x = layer(x)
            levels.append(x)
        x = self.residual(x)
        for layer, skip in zip(self.decoder, reversed(levels[:-1])):
            x = layer(x)
            if self.skips:
                x = x + skip
        x = self.out(self.final_upsample(x))
        if self.config["output"] == "linear":
            return x
        return ClipInward.apply(x) if self.training else x.clamp(0, 1)


def build_network(architecture: str = "fast", output: str = DEFAULT_OUTPUT) -> TransformNet:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; choose from {', '.join(ARCHITECTURES)}")
    return TransformNet(**ARCHITECTURES[architecture], output=output)

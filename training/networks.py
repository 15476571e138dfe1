"""Transform networks (Johnson et al. 2016), mapping RGB in 0..1 to stylized RGB in about 0..1
(exactly 0..1 with output="clip"). Height and width must be multiples of `size_multiple`.

Two families, presets in camstyle/stylize/architectures.py:
- TransformNet ("reference", Johnson's net, and "fast"): reflection-padded convolutions, instance
  norm everywhere, residual blocks at the coarsest level, nearest-neighbour upsampling + conv.
- SharpNet ("sharp", the default): built for cost per pixel, so that it can paint at 640x360 on
  a laptop CPU (see its docstring).
Every normalisation is an affine instance norm, so a style lives in the weights as a whole today
and could later live in the norm parameters alone (conditional instance norm).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from camstyle.stylize.architectures import ARCHITECTURES, DEFAULT_ARCHITECTURE, DEFAULT_OUTPUT, OUTPUTS


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
    def last_conv(self) -> nn.Conv2d:
        """The convolution that writes the RGB output (its bias sets the starting colour)."""
        return self.out[1]

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


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expand, depthwise 3x3, 1x1 project, plus the input."""

    def __init__(self, channels: int, expand: int):
        super().__init__()
        hidden = channels * expand
        self.body = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.InstanceNorm2d(hidden, affine=True), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, padding_mode="reflect"), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1), nn.InstanceNorm2d(channels, affine=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


HEAD_CHANNELS = 8


class SharpNet(nn.Module):
    """Encoder 1/2 -> 1/4 -> 1/8, inverted-residual blocks at 1/8, decoder back to 1/2 with U-Net
    skips, and a head that paints the full-resolution pixels.

    - Stem: a 4x4 stride-2 convolution. Its windows overlap (unlike a pixel unshuffle), so the
      network has no fixed 2x2 cell.
    - Decoder: a 1x1 convolution, bilinear x2 upsampling (no block edges, unlike nearest
      neighbour), the encoder's features of that level added, and a full 3x3 convolution with
      instance norm to mix them (a depthwise one there smeared faces).
    - Head: 1x1 down to HEAD_CHANNELS, bilinear x2, and a 3x3 convolution to RGB. A transposed
      or sub-pixel head is cheaper, but it lets the network build a 2-pixel pattern into every
      output, which the VGG style loss rewards and the eye reads as a grid. Few channels at full
      resolution: there the upsampling and the convolution are memory-bound.
      That head is linear after the upsampling, so it paints nothing finer than the half-resolution
      features. With `head_mix` channels its 3x3 convolution is followed by a ReLU and a 1x1 to RGB:
      one non-linearity at full resolution, for strokes at the output's own scale.
      Export writes the head in an equivalent form that runs at half resolution (HalfResolutionHead).
    Reflection padding (zero padding lets the network find the frame's border and paint bands
    along it), except in the head's last convolution, where a padding copy at full resolution
    would cost more than the convolution. So the outermost ring of pixels is painted against
    zeros; the runtime repeats its neighbour there (camstyle.stylize.stylizer.mend_border).
    """

    def __init__(self, widths=(16, 32, 64), blocks: int = 4, expand: int = 2, output: str = DEFAULT_OUTPUT,
                 head_mix: int = 0):
        super().__init__()
        if output not in OUTPUTS:
            raise ValueError(f"unknown output {output!r}; choose from {', '.join(OUTPUTS)}")
        c1, c2, c3 = widths
        self.config = {"family": "sharp", "widths": [c1, c2, c3], "blocks": blocks, "expand": expand, "output": output}
        if head_mix:
            self.config["head_mix"] = head_mix

        def conv(c_in, c_out, kernel, stride=1, groups=1):
            if kernel == 1:  # no padding, so no padding copy in the exported graph either
                return nn.Conv2d(c_in, c_out, 1, stride, groups=groups)
            return nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, groups=groups, padding_mode="reflect")

        relu = lambda: nn.ReLU(inplace=True)  # noqa: E731
        up = lambda: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)  # noqa: E731
        self.down1 = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(3, c1, 4, 2), relu())
        self.down2 = nn.Sequential(conv(c1, c2, 3, 2), nn.InstanceNorm2d(c2, affine=True), relu())
        self.down3 = nn.Sequential(conv(c2, c3, 3, 2), nn.InstanceNorm2d(c3, affine=True), relu())
        self.blocks = nn.Sequential(*[InvertedResidual(c3, expand) for _ in range(blocks)])
        self.up3 = nn.Sequential(conv(c3, c2, 1), up())
        self.mix2 = nn.Sequential(conv(c2, c2, 3), nn.InstanceNorm2d(c2, affine=True), relu())
        self.up2 = nn.Sequential(conv(c2, c1, 1), up())
        self.mix1 = nn.Sequential(conv(c1, c1, 3), nn.InstanceNorm2d(c1, affine=True), relu())
        if head_mix:  # a non-linearity at full resolution: detail finer than the half-resolution features
            self.head = nn.Sequential(conv(c1, HEAD_CHANNELS, 1), up(), nn.Conv2d(HEAD_CHANNELS, head_mix, 3, padding=1),
                                      relu(), nn.Conv2d(head_mix, 3, 1))
        else:
            self.head = nn.Sequential(conv(c1, HEAD_CHANNELS, 1), up(), nn.Conv2d(HEAD_CHANNELS, 3, 3, padding=1))
        nn.init.constant_(self.head[-1].bias, 0.5)  # start near mid-grey, not black: steadier early training

    size_multiple = 8

    @property
    def last_conv(self) -> nn.Conv2d:
        """The convolution that writes the RGB output (its bias sets the starting colour)."""
        return self.head[-1]

    def for_inference(self) -> SharpNet:
        """A copy that paints the same pictures for less (HalfResolutionHead): what export writes.
        Train this network, not the copy."""
        net = copy.deepcopy(self).eval()
        net.head = HalfResolutionHead(self.head)
        return net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = self.down1(x)
        quarter = self.down2(half)
        y = self.blocks(self.down3(quarter))
        y = self.mix2(self.up3(y) + quarter)
        y = self.mix1(self.up2(y) + half)
        y = self.head(y)
        if self.config["output"] == "linear":
            return y
        return ClipInward.apply(y) if self.training else y.clamp(0, 1)


def phase_kernels() -> torch.Tensor:
    """The linear map, [36, 9], from a 3x3 kernel that follows bilinear x2 upsampling
    (align_corners=False) to the four 3x3 kernels that give the same output pixels from the
    half-resolution input, one per phase (output row 2i + p, column 2j + q): row (p, q, dy, dx),
    column (ky, kx)."""
    taps = torch.zeros(2, 3, 3, dtype=torch.float64)  # [phase, kernel tap, input offset], per axis
    for p in (0, 1):
        for t in (-1, 0, 1):
            row = p + t  # the upsampled row the tap reads, relative to 2i
            i, odd = row // 2, row % 2  # it lies 1/4 of the way from input row i to i - 1 (even) or i + 1 (odd)
            taps[p, t + 1, i + 1] += 0.75
            taps[p, t + 1, i + (1 if odd else -1) + 1] += 0.25
    return torch.einsum("pyd,qxe->pqdeyx", taps, taps).reshape(36, 9)


class HalfResolutionHead(nn.Module):
    """SharpNet's head, rewritten to run at half resolution: the same pictures for less than half
    the head's time (docs/research/half-resolution-head.md).

    Bilinear x2 upsampling followed by a 3x3 convolution is, for each of the four output pixels
    that one half-resolution pixel becomes (its phase), a 3x3 convolution of the half-resolution
    features; a ReLU and a 1x1 convolution act per pixel, so they follow along. The head becomes
    one 3x3 convolution to all four phases' channels at half resolution, the ReLU, and a 2x2
    stride-2 transposed convolution that writes each phase's pixels with that phase's copy of
    the final 1x1 (a plain head without ReLU: the identity), so no full-resolution feature map
    is ever stored. Trained as a bilinear head, every phase's weights come from one
    convolution, so this form cannot print the 2-pixel pattern a freely trained sub-pixel head
    learns.
    Exact except for the outermost ring of pixels: there the full-resolution convolution read
    zero padding, this form reads the edge pixels (the upsampling's own edge rule), and the
    runtime replaces that ring with its neighbour in either case (camstyle.stylize.stylizer.mend_border).
    """

    def __init__(self, head: nn.Sequential):
        super().__init__()
        self.pre = copy.deepcopy(head[0])
        conv3 = head[2]
        hidden, c_in = conv3.weight.shape[:2]
        with torch.no_grad():
            phases = conv3.weight.double().reshape(hidden * c_in, 9) @ phase_kernels().T  # [hidden * c_in, (p, q, dy, dx)]
            phases = phases.reshape(hidden, c_in, 4, 3, 3).permute(2, 0, 1, 3, 4)
            self.phases = nn.Conv2d(c_in, 4 * hidden, 3)  # channel (2 * row phase + column phase) * hidden + k
            self.phases.weight.copy_(phases.reshape(4 * hidden, c_in, 3, 3))
            self.phases.bias.copy_(conv3.bias.repeat(4))
            self.relu = len(head) > 3
            if self.relu:
                project, bias = head[4].weight[:, :, 0, 0], head[4].bias
            else:
                project, bias = torch.eye(hidden), torch.zeros(hidden)
            self.write = nn.ConvTranspose2d(4 * hidden, project.shape[0], 2, stride=2)
            self.write.weight.zero_()
            for phase in range(4):
                self.write.weight[phase * hidden:(phase + 1) * hidden, :, phase // 2, phase % 2] = project.T
            self.write.bias.copy_(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.phases(F.pad(self.pre(x), (1, 1, 1, 1), mode="replicate"))
        return self.write(torch.relu(y) if self.relu else y)


def build_network(architecture: str = DEFAULT_ARCHITECTURE, output: str = DEFAULT_OUTPUT) -> nn.Module:
    """The preset's network; its `config` (plus `size_multiple`) is what export records."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; choose from {', '.join(ARCHITECTURES)}")
    preset = dict(ARCHITECTURES[architecture])
    if preset.pop("family", None) == "sharp":
        return SharpNet(**preset, output=output)
    return TransformNet(**preset, output=output)

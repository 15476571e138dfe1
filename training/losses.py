"""Perceptual, stability and temporal losses.

Every style term is divided by the squared norm of its target, so each VGG layer (and the colour
statistics) starts near 1 and none drowns the others: an unbalanced sum is what turns a
painting's colours into a grey wash. Content is normalised the same way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


def gram(features: torch.Tensor) -> torch.Tensor:
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def colour_stats(rgb: torch.Tensor) -> torch.Tensor:
    """Per-image mean and uncentred second moments of the RGB pixels: the palette, as a 12-vector."""
    b = rgb.shape[0]
    flat = rgb.reshape(b, 3, -1)
    mean = flat.mean(-1)
    second = (flat @ flat.transpose(1, 2)) / flat.shape[-1]
    return torch.cat([mean, second.reshape(b, 9)], dim=1)


def colour_covariance(rgb: torch.Tensor) -> torch.Tensor:
    """Per-image centred 3x3 covariance of the RGB pixels: the palette's contrast and spread.
    colour_stats alone is dominated by the mean colour, so a flat image of the right average
    already matches it; this is what tells a grey wash from the painting."""
    flat = rgb.reshape(rgb.shape[0], 3, -1)
    centred = flat - flat.mean(-1, keepdim=True)
    return (centred @ centred.transpose(1, 2)) / flat.shape[-1]


def relative_mse(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (value - target).pow(2).mean() / (target.pow(2).mean() + 1e-8)


def style_loss(features: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor],
               layer_weights: dict[str, float]) -> torch.Tensor:
    return sum(layer_weights[name] * relative_mse(gram(features[name]), target_grams[name].expand(features[name].shape[0], -1, -1))
               for name in layer_weights)


def content_loss(features: dict[str, torch.Tensor], content: dict[str, torch.Tensor], layer: str) -> torch.Tensor:
    return relative_mse(features[layer], content[layer])


def colour_loss(rgb: torch.Tensor, target_stats: torch.Tensor) -> torch.Tensor:
    return relative_mse(colour_stats(rgb), target_stats.expand(rgb.shape[0], -1))


def contrast_loss(rgb: torch.Tensor, target_covariance: torch.Tensor) -> torch.Tensor:
    return relative_mse(colour_covariance(rgb), target_covariance.expand(rgb.shape[0], -1, -1))


def out_of_range(rgb: torch.Tensor) -> torch.Tensor:
    """Mean squared distance of the raw output from 0..1. The camera clips it there, so without
    this the other losses score detail above white that no one sees, and more of a brightly lit
    face on a dark background comes out as a white patch. (Zero with output="clip".)"""
    return (rgb - rgb.clamp(0, 1)).pow(2).mean()


def white_patches(rgb: torch.Tensor, source: torch.Tensor, ceiling: float = 240 / 255) -> torch.Tensor:
    """Mean squared rise of the output's darkest channel above the ceiling, or above the source's
    where the source is brighter. A flat white patch is the steadiest picture of a lit face, so the
    stability terms drift towards it; pixels already white in the source may stay white."""
    limit = source.amin(1, keepdim=True).clamp(min=ceiling)
    return (rgb.amin(1, keepdim=True) - limit).clamp(min=0).pow(2).mean()


def luminance(rgb: torch.Tensor) -> torch.Tensor:
    return (0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]).unsqueeze(1)


def tone_order(rgb: torch.Tensor, source: torch.Tensor, floor: float = 0.5, kernel: int = 16,
               min_spread: float = 0.03) -> torch.Tensor:
    """How far the output's coarse light and dark fall from following the photo's: per picture, the
    correlation of the two luminance maps averaged over `kernel` px squares, its shortfall below
    `floor`, averaged over the pictures. A painting may recolour, flatten or texture a photo and
    still score 0; what it cannot do is swap light and dark, the inverted tones in which some
    networks paint lit faces dark (docs/research/tone-order.md). It keeps the order only: a face
    in front of a lighter wall may still come out dark. A picture whose coarse luminance hardly
    varies (spread below `min_spread`) has no order to keep and counts 0."""
    out = F.avg_pool2d(luminance(rgb), kernel, kernel // 2).flatten(1)
    photo = F.avg_pool2d(luminance(source), kernel, kernel // 2).flatten(1)
    keep = (photo.std(1) >= min_spread).to(rgb.dtype)
    correlation = F.cosine_similarity(out - out.mean(1, keepdim=True), photo - photo.mean(1, keepdim=True), dim=1)
    return ((floor - correlation).clamp(min=0) * keep).mean()


def total_variation(rgb: torch.Tensor) -> torch.Tensor:
    return (rgb[..., 1:, :] - rgb[..., :-1, :]).abs().mean() + (rgb[..., :, 1:] - rgb[..., :, :-1]).abs().mean()


def cell_pattern(rgb: torch.Tensor, period: int = 8) -> torch.Tensor:
    """How much the output's gradient strength depends on where a row or column lies in the
    network's stride cells (its position mod `period`): stride-2 layers let a network paint its
    texture locked to that grid, a row or column pattern that does not move with the picture.
    Mean squared deviation of the per-phase mean |gradient| from their mean, rows and columns;
    0 for any picture without such a pattern, whatever its content."""
    total = rgb.new_zeros(())
    rows = (rgb[..., 1:, :] - rgb[..., :-1, :]).abs().mean(dim=(1, 3))  # [batch, height - 1]
    columns = (rgb[..., :, 1:] - rgb[..., :, :-1]).abs().mean(dim=(1, 2))  # [batch, width - 1]
    for grad in (rows, columns):
        n = grad.shape[1] // period * period
        phases = grad[:, :n].reshape(grad.shape[0], -1, period).mean(1)  # [batch, period]
        total = total + ((phases / (phases.mean(1, keepdim=True) + 1e-6) - 1) ** 2).mean()
    return total


def sparse_noise(rgb: torch.Tensor, fraction: float = 0.003, amplitude: float = 30 / 255,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Mur.AI's noise: about `fraction` of pixels get uniform noise in +-amplitude (all channels)."""
    b, _, h, w = rgb.shape
    mask = (torch.rand(b, 1, h, w, device=rgb.device, generator=generator) < fraction).to(rgb.dtype)
    noise = (torch.rand(rgb.shape, device=rgb.device, generator=generator) * 2 - 1) * amplitude
    return (rgb + mask * noise).clamp(0, 1)


def stability_loss(stylized: torch.Tensor, stylized_noisy: torch.Tensor) -> torch.Tensor:
    """Penalise how much a sprinkle of input noise changes the output (Mur.AI)."""
    return (stylized - stylized_noisy).pow(2).mean()


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward-warp `image` with `flow` (B,2,H,W in pixels, x then y): out(p) = image(p + flow(p))."""
    b, _, h, w = image.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=image.device, dtype=image.dtype),
                            torch.arange(w, device=image.device, dtype=image.dtype), indexing="ij")
    x = (xs + flow[:, 0]) * (2 / max(w - 1, 1)) - 1
    y = (ys + flow[:, 1]) * (2 / max(h - 1, 1)) - 1
    return F.grid_sample(image, torch.stack([x, y], dim=-1), mode="bilinear", padding_mode="border", align_corners=True)


def temporal_loss(stylized_t: torch.Tensor, stylized_prev: torch.Tensor, flow_t_to_prev: torch.Tensor,
                  mask: torch.Tensor) -> torch.Tensor:
    """Huang et al. / Ruder et al.: stylized frame t should equal frame t-1 warped along the flow,
    wherever the flow is reliable (mask = 1: not occluded)."""
    warped = warp(stylized_prev, flow_t_to_prev)
    return (mask * (stylized_t - warped).pow(2)).sum() / (mask.sum() * 3 + 1e-8)

"""Starting a run from an installed style's network instead of random weights (recipe `init`).

A trained network already knows how to paint a picture and hold its strokes still; moving it to
a new painting takes a fraction of the steps a random one needs (docs/research/quick-style.md).
`init = "auto"` starts from the installed style whose pictures are nearest the new painting's
style (lowest style loss on the run's preview photos), among the stabilized styles of the
recipe's architecture.

The weights are read from the style's ONNX file: its initializers carry the training module's
names, and a sharp head exported in its half-resolution form (networks.HalfResolutionHead) is
turned back into the 3x3 kernel it was folded from.
"""

from __future__ import annotations

import torch
from torch import nn

from camstyle.errors import CamStyleError
from camstyle.stylize import styles
from camstyle.training import losses as L
from camstyle.training.networks import build_network, phase_kernels

AUTO = "auto"


def _unfold_head(weights: dict[str, torch.Tensor], head_mix: bool) -> dict[str, torch.Tensor]:
    """The trained head's weights from a half-resolution head's (the fold is linear in the 3x3
    kernel and one-to-one, so a least-squares solve recovers it exactly)."""
    phases, phase_bias = weights.pop("head.phases.weight").double(), weights.pop("head.phases.bias")
    write, write_bias = weights.pop("head.write.weight"), weights.pop("head.write.bias")
    hidden, c_in = phases.shape[0] // 4, phases.shape[1]
    folded = phases.reshape(4, hidden, c_in, 3, 3).permute(1, 2, 0, 3, 4).reshape(hidden * c_in, 36)
    kernel = torch.linalg.lstsq(phase_kernels(), folded.T).solution.T.reshape(hidden, c_in, 3, 3)
    weights["head.0.weight"], weights["head.0.bias"] = weights.pop("head.pre.weight"), weights.pop("head.pre.bias")
    weights["head.2.weight"], weights["head.2.bias"] = kernel.float(), phase_bias[:hidden].clone()
    if head_mix:
        weights["head.4.weight"] = write[:hidden, :, 0, 0].T.clone()[:, :, None, None]
        weights["head.4.bias"] = write_bias.clone()
    return weights


def _check_architecture(style: styles.StyleInfo, architecture: str) -> None:
    found = style.meta.get("architecture")
    if found != architecture:
        raise CamStyleError(f"Style '{style.name}' is a {found or 'foreign'} network; this run trains {architecture}.",
                            f"Start from a {architecture} style (see `camstyle styles`), or set init = \"{AUTO}\".")


def network_from_style(style: styles.StyleInfo, architecture: str, output: str) -> nn.Module:
    """The training network of `architecture` with `style`'s trained weights, or one clear error."""
    import onnx
    from onnx import numpy_helper

    _check_architecture(style, architecture)
    net = build_network(architecture, output)
    try:
        model = onnx.load(str(style.model_path))
    except Exception as exc:
        raise CamStyleError(f"The network of style '{style.name}' cannot be read ({exc}).",
                            "Reinstall that style, or start from another one.") from None
    expected = net.state_dict()
    weights = {init.name: torch.from_numpy(numpy_helper.to_array(init).copy()) for init in model.graph.initializer}
    if "head.phases.weight" in weights:
        weights = _unfold_head(weights, head_mix="head.4.weight" in expected)
    weights = {k: v for k, v in weights.items() if k in expected}
    if set(weights) != set(expected) or any(weights[k].shape != expected[k].shape for k in expected):
        raise CamStyleError(f"The network of style '{style.name}' does not match the {architecture} preset.",
                            "Start from a style trained by this version of CamStyle, or set init = \"\".")
    net.load_state_dict(weights)
    return net


@torch.no_grad()
def nearest_style(candidates: list[styles.StyleInfo], architecture: str, output: str, vgg: nn.Module,
                  grams: dict, layer_weights: dict, photos: torch.Tensor) -> tuple[styles.StyleInfo, dict[str, float]]:
    """The candidate whose pictures of `photos` have the lowest style loss against `grams`, with
    every candidate's loss; candidates that cannot be read are passed over."""
    scores: dict[str, float] = {}
    best = None
    for style in candidates:
        try:
            net = network_from_style(style, architecture, output).eval()
        except CamStyleError:
            continue
        feats = vgg(net(photos).clamp(0, 1))
        scores[style.name] = float(L.style_loss({k: v.float() for k, v in feats.items()}, grams, layer_weights))
        if best is None or scores[style.name] < scores[best.name]:
            best = style
    if best is None:
        raise CamStyleError(f"None of the {len(candidates)} installed {architecture} styles could be read to start from.",
                            "Reinstall them, or set init = \"\" to train from random weights.")
    return best, scores


def _candidates(init: str, architecture: str) -> list[styles.StyleInfo]:
    """The styles `init` may start from, or one clear error: the named one, or for "auto" every
    stabilized style of `architecture` (a per-frame baseline would have to learn to hold still
    from scratch)."""
    installed = styles.discover_styles()
    if init == AUTO:
        candidates = [s for s in installed if s.meta.get("architecture") == architecture and s.meta.get("stabilized", True)]
        if not candidates:
            raise CamStyleError(f"No installed style is a stabilized {architecture} network to start from.",
                                "Set init = \"\" to train from random weights.")
        return candidates
    named = [s for s in installed if s.name == init]
    if not named:
        raise CamStyleError(f"There is no installed style '{init}' to start from.",
                            f"Set init to one of {', '.join(sorted(s.name for s in installed)) or 'none installed'}, "
                            f"or to \"{AUTO}\".")
    _check_architecture(named[0], architecture)
    return named


def check_init(init: str, architecture: str) -> None:
    """Refuse an `init` that cannot work before the run reads its data (minutes, with the flows)."""
    if init:
        _candidates(init, architecture)


def starting_network(init: str, architecture: str, output: str, vgg: nn.Module, grams: dict, layer_weights: dict,
                     photos: torch.Tensor) -> tuple[nn.Module, str, dict[str, float]]:
    """(network, the style it came from, the candidates' style losses when chosen by "auto")."""
    candidates = _candidates(init, architecture)
    if init != AUTO:
        return network_from_style(candidates[0], architecture, output), candidates[0].name, {}
    style, scores = nearest_style(candidates, architecture, output, vgg, grams, layer_weights, photos)
    return network_from_style(style, architecture, output), style.name, scores

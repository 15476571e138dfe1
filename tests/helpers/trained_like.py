"""Training networks with weights like trained ones (needs torch)."""

from __future__ import annotations

import torch

from camstyle.training.networks import build_network


def random_network(architecture: str = "fast", seed: int = 0):
    """Random convolutions and instance-norm affines: far from the identity, every weight distinct
    (an exporter may merge equal initializers, as a fresh network's norms are), pictures not saturated."""
    torch.manual_seed(seed)
    net = build_network(architecture)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.InstanceNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.3, 0.3)
    return net.eval()

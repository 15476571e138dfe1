"""Export a trained network to ONNX, check it against PyTorch, and install it as a style.

The ONNX model follows the runtime's convention (camstyle.stylize.styles): input "input" and output
"output", float32 [1, 3, H, W] RGB in 0..1, dynamic H and W. It is exported with the
TorchScript exporter (dynamo=False), which needs no packages beyond torch and onnxruntime, and
is accepted only when onnxruntime reproduces PyTorch's output on real images.
"""

from __future__ import annotations

import io
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from camstyle import paths
from camstyle.stylize import styles
from camstyle.stylize.stylizer import mend_border
from camstyle.errors import ModelError
from camstyle.training.data import INFERENCE_SIZE
from camstyle.training.networks import SharpNet, TransformNet, build_network

OPSET = 17
TOLERANCE = 1e-3


@dataclass
class ExportResult:
    style: styles.StyleInfo
    max_abs_diff: float


def check_exporter() -> None:
    """PyTorch's ONNX exporter needs the onnx package; say so before training, not after."""
    import importlib.util

    if importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxruntime") is None:
        raise ModelError("Exporting to ONNX needs the onnx and onnxruntime packages.",
                         'Install the training extras: pip install "camstyle[train]" (or --no-install to train only).')


def onnx_bytes(net: TransformNet | SharpNet) -> bytes:
    """The network as ONNX, in its inference form where it has one (SharpNet.for_inference)."""
    check_exporter()
    net = net.cpu().float().eval()
    if isinstance(net, SharpNet):
        net = net.for_inference()
    buffer = io.BytesIO()
    axes = {2: "height", 3: "width"}
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation and tracer notes
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.rand(1, 3, 64, 64),), buffer, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": axes, "output": axes}, opset_version=OPSET, dynamo=False)
    return buffer.getvalue()


def onnx_session(model: bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def max_abs_diff(net: TransformNet | SharpNet, model: bytes, images: list[np.ndarray]) -> float:
    """Largest |onnxruntime - PyTorch| over RGB uint8 `images` (each a multiple of 8 in size), on
    the pictures as the runtime shows them: the outermost ring replaced by its neighbour (the
    inference form may paint that ring differently; nobody sees it)."""
    session = onnx_session(model)
    net = net.cpu().float().eval()
    worst = 0.0
    for image in images:
        blob = (image.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)
        with torch.no_grad():
            expected = net(torch.from_numpy(blob)).numpy()
        got = session.run(["output"], {"input": blob})[0]
        if got.shape != expected.shape:
            raise ModelError(f"The exported model returns shape {list(got.shape)} instead of {list(expected.shape)}.",
                             "This is a bug in the export; please report it.")
        shown = [mend_border(np.ascontiguousarray(out[0].transpose(1, 2, 0))) for out in (got, expected)]
        worst = max(worst, float(np.abs(shown[0] - shown[1]).max()))
    return worst


def check_images(images: list[np.ndarray]) -> list[np.ndarray]:
    """The check set: the given images at the inference size plus one at another size and aspect,
    which proves the height and width are really dynamic."""
    from camstyle.training.data import synthetic_photo

    w, h = INFERENCE_SIZE
    base = [cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA) if im.shape[:2] != (h, w) else im for im in images]
    if not base:
        base = [synthetic_photo(w, h, seed=1)]
    other = cv2.resize(base[0], (136, 96), interpolation=cv2.INTER_AREA)
    return base + [other]


def sample_jpeg(model: bytes, image: np.ndarray) -> bytes:
    blob = image.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    out = onnx_session(model).run(["output"], {"input": blob})[0][0]
    rgb = mend_border((np.clip(out, 0, 1).transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8))  # as the runtime shows it
    return cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def network_from_checkpoint(state: dict) -> TransformNet:
    net = build_network(state["recipe"]["architecture"], state["recipe"]["output"])
    net.load_state_dict(state["model"])
    return net.eval()


def metadata(state: dict, net: TransformNet, diff: float, overrides: dict | None = None) -> dict:
    recipe, meta = state["recipe"], state.get("meta", {})
    overrides = {k: v for k, v in (overrides or {}).items() if v not in (None, "")}
    return {
        "title": overrides.get("title", meta.get("title", "")),
        "artist": overrides.get("artist", meta.get("artist", "")),
        "year": overrides.get("year", meta.get("year")),
        "style_image": meta.get("style_image"),
        "style_image_sha256": state["style"]["sha256"],
        "architecture": recipe["architecture"],
        "architecture_config": dict(net.config, size_multiple=net.size_multiple),
        "stabilized": bool(recipe.get("stability", True)),
        "recipe": {k: (list(v) if isinstance(v, tuple) else v) for k, v in recipe.items()},
        "training_size": state.get("training_size", recipe.get("size")),
        "inference_size": list(INFERENCE_SIZE),
        "loss_network": meta.get("loss_network", ""),
        "final_losses": state.get("final_losses", {}),
        "steps": state["step"],
        "training_time_s": round(float(state.get("training_time_s", 0.0)), 1),
        "training_data": state.get("data", {}),
        "onnx": {"opset": OPSET, "input": "input", "output": "output", "layout": "NCHW RGB float32 0..1, dynamic H, W"},
        "onnx_max_abs_diff": diff,
        "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def export_checkpoint(state: dict, name: str | None = None, overrides: dict | None = None,
                      dest_dir: Path | None = None) -> ExportResult:
    """ONNX-export a checkpoint dict, check it on its fixed images and install it as style `name`."""
    name = styles.validate_name(name or state["name"])
    net = network_from_checkpoint(state)
    model = onnx_bytes(net)
    fixed = state.get("fixed_images")
    images = [im.permute(1, 2, 0).numpy() for im in fixed] if fixed is not None else []
    checks = check_images(images)
    diff = max_abs_diff(net, model, checks)
    if not diff <= TOLERANCE:
        raise ModelError(f"The ONNX export differs from PyTorch by {diff:.2e} (more than {TOLERANCE:g}); nothing was installed.",
                         "Update onnxruntime and torch, or report this with the checkpoint.")
    meta = metadata(state, net, diff, overrides)
    info = styles.write_style(dest_dir or paths.user_styles_dir(), name, model, meta, sample_jpeg(model, checks[0]))
    return ExportResult(info, diff)

"""Small ONNX style graphs for tests, built with onnx.helper (onnx is a test-only dependency).

All follow the style convention (input float32 [1, 3, H, W] RGB 0..1, dynamic H and W, output
the same shape) unless a test needs them broken.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8

# Output channel i takes input channel SWAP[i]: R and B trade places, G stays.
SWAP_RB = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=np.float32)


def _model(nodes, inputs, outputs, initializers) -> bytes:
    graph = helper.make_graph(nodes, "style", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="camstyle-tests")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _io(name: str, channels=3):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, channels, "height", "width"])


def colour_matrix_model(matrix: np.ndarray = SWAP_RB) -> bytes:
    """out = 3x3 identity conv of (matrix @ rgb): a pure colour transform that still exercises a
    spatial 3x3 convolution with padding over dynamic H, W."""
    mix = numpy_helper.from_array(np.asarray(matrix, np.float32).reshape(3, 3, 1, 1), "mix")
    ident = np.zeros((3, 3, 3, 3), np.float32)
    for c in range(3):
        ident[c, c, 1, 1] = 1.0
    spatial = numpy_helper.from_array(ident, "spatial")
    nodes = [
        helper.make_node("Conv", ["input", "mix"], ["mixed"]),
        helper.make_node("Conv", ["mixed", "spatial"], ["output"], pads=[1, 1, 1, 1]),
    ]
    return _model(nodes, [_io("input")], [_io("output")], [mix, spatial])


def zero_padded_blur_model() -> bytes:
    """A 3x3 mean per channel with zero padding, as a `sharp_fine` network's last convolution
    pads: on a flat picture its outermost ring of pixels comes out darker than the rest."""
    kernel = np.zeros((3, 3, 3, 3), np.float32)
    for c in range(3):
        kernel[c, c] = 1 / 9
    nodes = [helper.make_node("Conv", ["input", "kernel"], ["output"], pads=[1, 1, 1, 1])]
    return _model(nodes, [_io("input")], [_io("output")], [numpy_helper.from_array(kernel, "kernel")])


def constant_colour_model(rgb=(1.0, 0.0, 0.0)) -> bytes:
    """Every pixel becomes `rgb` whatever the input: makes 'is it stylized?' trivially visible."""
    zero = numpy_helper.from_array(np.zeros((3, 3, 1, 1), np.float32), "zero")
    bias = numpy_helper.from_array(np.asarray(rgb, np.float32), "bias")
    nodes = [helper.make_node("Conv", ["input", "zero", "bias"], ["output"])]
    return _model(nodes, [_io("input")], [_io("output")], [zero, bias])


def wrong_shape_model() -> bytes:
    """A valid ONNX graph that takes one grey channel: not a style network."""
    nodes = [helper.make_node("Identity", ["input"], ["output"])]
    return _model(nodes, [_io("input", channels=1)], [_io("output", channels=1)], [])


def corrupt_model_bytes() -> bytes:
    """The first half of a real model: what an interrupted download leaves behind."""
    data = colour_matrix_model()
    return data[: len(data) // 2]


def slim_johnson_model(seed: int = 0) -> bytes:
    """Johnson et al. transform net, slimmed to the runtime's fast architecture, random weights.

    conv 9x9 3->16, conv 3x3 s2 16->32, conv 3x3 s2 32->64, 3 residual blocks of two 3x3 64->64
    convs with InstanceNormalization + Relu, nearest Upsample x2 + conv 64->32, Upsample x2 +
    conv 32->16, conv 9x9 16->3 and a Sigmoid: the cost of a real style, for benchmarks.
    """
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    counter = iter(range(10_000))

    def conv(x, cin, cout, k, stride=1, norm=True, relu=True):
        i = next(counter)
        w = (rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32)
        b = np.zeros(cout, np.float32)
        inits.extend([numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")])
        pad = k // 2
        y = f"conv{i}"
        nodes.append(helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [y], kernel_shape=[k, k],
                                      strides=[stride, stride], pads=[pad] * 4))
        if norm:
            inits.extend([numpy_helper.from_array(np.ones(cout, np.float32), f"g{i}"),
                          numpy_helper.from_array(np.zeros(cout, np.float32), f"beta{i}")])
            nodes.append(helper.make_node("InstanceNormalization", [y, f"g{i}", f"beta{i}"], [f"in{i}"]))
            y = f"in{i}"
        if relu:
            nodes.append(helper.make_node("Relu", [y], [f"relu{i}"]))
            y = f"relu{i}"
        return y

    def upsample(x):
        i = next(counter)
        if not any(t.name == "up_scales" for t in inits):
            inits.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "up_scales"))
        nodes.append(helper.make_node("Resize", [x, "", "up_scales"], [f"up{i}"], mode="nearest"))
        return f"up{i}"

    y = conv("input", 3, 16, 9)
    y = conv(y, 16, 32, 3, stride=2)
    y = conv(y, 32, 64, 3, stride=2)
    for _ in range(3):
        r = conv(y, 64, 64, 3)
        r = conv(r, 64, 64, 3, relu=False)
        i = next(counter)
        nodes.append(helper.make_node("Add", [y, r], [f"res{i}"]))
        y = f"res{i}"
    y = conv(upsample(y), 64, 32, 3)
    y = conv(upsample(y), 32, 16, 3)
    y = conv(y, 16, 3, 9, norm=False, relu=False)
    nodes.append(helper.make_node("Sigmoid", [y], ["output"]))
    return _model(nodes, [_io("input")], [_io("output")], inits)


def install_style(name: str, model: bytes, folder: Path | None = None, **meta):
    """Install a style the way `camstyle export` does, into the user styles folder by default."""
    from camstyle import paths
    from camstyle.stylize.styles import write_style

    return write_style(Path(folder) if folder else paths.user_styles_dir(), name, model,
                       {"title": name.replace("_", " ").title(), "artist": "Test", **meta})

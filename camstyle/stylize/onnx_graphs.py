"""Tiny ONNX graphs built without the `onnx` package (a test-only dependency).

The runtime needs two models of its own: a one-node probe that proves an execution
provider really runs, and a network with the cost of a real style (the training presets,
random weights) so that `camstyle bench` can measure a machine before any style is installed. Both are written here directly in
ONNX's protobuf wire format, which takes a few dozen lines for the handful of messages used.
"""

from __future__ import annotations

import struct

import numpy as np

OPSET = 17
IR_VERSION = 8
FLOAT, INT64 = 1, 7  # TensorProto.DataType

# AttributeProto.AttributeType
_ATTR_FLOAT, _ATTR_INT, _ATTR_STRING, _ATTR_INTS = 1, 2, 3, 7


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 as ten-byte two's complement, as protobuf does
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint((field << 3) | wire)


def _int(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(value)


def _bytes(field: int, data: bytes) -> bytes:
    return _key(field, 2) + _varint(len(data)) + data


def _str(field: int, text: str) -> bytes:
    return _bytes(field, text.encode("utf-8"))


def _attribute(name: str, value) -> bytes:
    msg = _str(1, name)
    if isinstance(value, float):
        return msg + _key(2, 5) + struct.pack("<f", value) + _int(20, _ATTR_FLOAT)
    if isinstance(value, int):
        return msg + _int(3, value) + _int(20, _ATTR_INT)
    if isinstance(value, str):
        return msg + _str(4, value) + _int(20, _ATTR_STRING)
    return msg + b"".join(_int(8, int(v)) for v in value) + _int(20, _ATTR_INTS)


def _tensor(name: str, array: np.ndarray) -> bytes:
    data_type = INT64 if array.dtype.kind in "iu" else FLOAT
    array = np.ascontiguousarray(array, dtype="<i8" if data_type == INT64 else "<f4")
    return b"".join(_int(1, d) for d in array.shape) + _int(2, data_type) + _str(8, name) + _bytes(9, array.tobytes())


def _value_info(name: str, shape: list[int | str]) -> bytes:
    dims = b"".join(_bytes(1, _int(1, d) if isinstance(d, int) else _str(2, d)) for d in shape)
    tensor_type = _int(1, FLOAT) + _bytes(2, dims)
    return _str(1, name) + _bytes(2, _bytes(1, tensor_type))


class GraphBuilder:
    """Collects nodes and weights of a single-input, single-output float graph."""

    def __init__(self, name: str = "camstyle"):
        self.name = name
        self._nodes: list[bytes] = []
        self._initializers: list[bytes] = []
        self._count = 0

    def fresh(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}{self._count}"

    def weight(self, array: np.ndarray, prefix: str = "w") -> str:
        name = self.fresh(prefix)
        self._initializers.append(_tensor(name, array))
        return name

    def node(self, op_type: str, inputs: list[str], output: str | None = None, **attributes) -> str:
        output = output or self.fresh(op_type.lower())
        msg = b"".join(_str(1, i) for i in inputs) + _str(2, output) + _str(3, output) + _str(4, op_type)
        msg += b"".join(_bytes(5, _attribute(k, v)) for k, v in attributes.items())
        self._nodes.append(msg)
        return output

    def conv(self, x: str, cin: int, cout: int, k: int, rng: np.random.Generator, stride: int = 1, group: int = 1,
             pad: int | None = None, pad_mode: str = "reflect", norm: bool = False, relu: bool = False) -> str:
        """A padded convolution with He-initialised random weights, then optionally instance norm
        and Relu: the layer both style networks are built from. `pad` defaults to k // 2."""
        pad = k // 2 if pad is None else pad
        if pad:
            x = self.node("Pad", [x, self.weight(np.array([0, 0, pad, pad, 0, 0, pad, pad], np.int64), "pads")], mode=pad_mode)
        fan_in = cin // group * k * k
        w = self.weight((rng.standard_normal((cout, cin // group, k, k)) * np.sqrt(2.0 / fan_in)).astype(np.float32))
        y = self.node("Conv", [x, w, self.weight(np.zeros(cout, np.float32), "b")], kernel_shape=[k, k],
                      strides=[stride, stride], group=group)
        if norm:
            y = self.node("InstanceNormalization", [y, self.weight(np.ones(cout, np.float32), "g"),
                                                     self.weight(np.zeros(cout, np.float32), "beta")])
        return self.node("Relu", [y]) if relu else y

    def to_bytes(self, input_name: str, output_name: str, input_shape, output_shape) -> bytes:
        graph = b"".join(_bytes(1, n) for n in self._nodes) + _str(2, self.name)
        graph += b"".join(_bytes(5, t) for t in self._initializers)
        graph += _bytes(11, _value_info(input_name, input_shape)) + _bytes(12, _value_info(output_name, output_shape))
        opset = _str(1, "") + _int(2, OPSET)
        return _int(1, IR_VERSION) + _str(2, "camstyle") + _bytes(7, graph) + _bytes(8, opset)


def probe_model() -> bytes:
    """y = 1x1 conv(x): the smallest graph that still goes through a provider's Conv kernel."""
    g = GraphBuilder("probe")
    g.node("Conv", ["input", g.weight(np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1))], output="output")
    return g.to_bytes("input", "output", [1, 3, "height", "width"], [1, 3, "height", "width"])




def transform_net_model(widths=(16, 32, 64), res_blocks: int = 3, edge_kernel: int = 5, stem_stride: int = 2,
                        skips: bool = False, output: str = "linear", seed: int = 0) -> bytes:
    """A style network with random weights: the cost of a real style, not its look.

    Same layers as training's TransformNet: reflection-padded convs with instance norm and
    Relu, a stride-2 conv per level, residual blocks at the coarsest level, nearest x2
    upsampling + conv back up (plus the encoder's features of that level with `skips`), and a
    plain conv to RGB, clipped to 0..1 with output="clip".
    """
    rng = np.random.default_rng(seed)
    g = GraphBuilder("transform_net")

    def conv(x: str, cin: int, cout: int, k: int, stride: int = 1, norm: bool = True, relu: bool = True) -> str:
        return g.conv(x, cin, cout, k, rng, stride, norm=norm, relu=relu)

    scales = g.weight(np.array([1, 1, 2, 2], np.float32), "scales")

    def upsample(x: str) -> str:
        return g.node("Resize", [x, "", scales], mode="nearest")

    widths = tuple(widths)
    y = conv("input", 3, widths[0], edge_kernel, stride=stem_stride)
    levels = [y]
    for cin, cout in zip(widths, widths[1:]):
        y = conv(y, cin, cout, 3, stride=2)
        levels.append(y)
    for _ in range(res_blocks):
        y = g.node("Add", [y, conv(conv(y, widths[-1], widths[-1], 3), widths[-1], widths[-1], 3, relu=False)])
    rev = widths[::-1]
    for (cin, cout), skip in zip(zip(rev, rev[1:]), reversed(levels[:-1])):
        y = conv(upsample(y), cin, cout, 3)
        if skips:
            y = g.node("Add", [y, skip])
    if stem_stride == 2:
        y = upsample(y)
    y = conv(y, widths[0], 3, edge_kernel, norm=False, relu=False)
    if output == "clip":
        y = g.node("Clip", [y, g.weight(np.array(0, np.float32), "lo"), g.weight(np.array(1, np.float32), "hi")])
    g.node("Identity", [y], output="output")
    return g.to_bytes("input", "output", [1, 3, "height", "width"], [1, 3, "height", "width"])


def fast_model(seed: int = 0) -> bytes:
    """The first real-time preset's network (styles trained before the sharp ones)."""
    from camstyle.stylize.architectures import ARCHITECTURES, DEFAULT_OUTPUT  # torch-free, shared with training

    return transform_net_model(**ARCHITECTURES["fast"], output=DEFAULT_OUTPUT, seed=seed)


def sharp_model(widths=(16, 32, 64), blocks: int = 4, expand: int = 2, head_mix: int = 0, output: str = "linear",
                seed: int = 0) -> bytes:
    """A sharp-family network with random weights, in the form export writes it
    (training/networks.py: SharpNet with its HalfResolutionHead): the cost of a real style."""
    rng = np.random.default_rng(seed)
    g = GraphBuilder("sharp_net")
    head_channels = 8  # training/networks.py HEAD_CHANNELS

    def conv(x: str, cin: int, cout: int, k: int, stride: int = 1, group: int = 1, pad_mode: str = "reflect",
             norm: bool = False, relu: bool = False) -> str:
        pad = 1 if k == 4 else k // 2  # the 4x4 stem pads by one, as training's ReflectionPad2d(1)
        return g.conv(x, cin, cout, k, rng, stride, group, pad, pad_mode, norm, relu)

    scales = g.weight(np.array([1, 1, 2, 2], np.float32), "scales")

    def up(x: str) -> str:
        return g.node("Resize", [x, "", scales], mode="linear", coordinate_transformation_mode="pytorch_half_pixel")

    c1, c2, c3 = widths
    half = conv("input", 3, c1, 4, 2, relu=True)
    quarter = conv(half, c1, c2, 3, 2, norm=True, relu=True)
    y = conv(quarter, c2, c3, 3, 2, norm=True, relu=True)
    hidden = c3 * expand
    for _ in range(blocks):
        body = conv(y, c3, hidden, 1, norm=True, relu=True)
        body = g.node("Relu", [conv(body, hidden, hidden, 3, group=hidden)])
        y = g.node("Add", [y, conv(body, hidden, c3, 1, norm=True)])
    y = conv(g.node("Add", [up(conv(y, c3, c2, 1)), quarter]), c2, c2, 3, norm=True, relu=True)
    y = conv(g.node("Add", [up(conv(y, c2, c1, 1)), half]), c1, c1, 3, norm=True, relu=True)
    phases = 4 * (head_mix or 3)
    y = conv(conv(y, c1, head_channels, 1), head_channels, phases, 3, pad_mode="edge", relu=bool(head_mix))
    w = (rng.standard_normal((phases, 3, 2, 2)) * np.sqrt(1.0 / phases)).astype(np.float32)
    y = g.node("ConvTranspose", [y, g.weight(w), g.weight(np.full(3, 0.5, np.float32), "b")], kernel_shape=[2, 2],
               strides=[2, 2])
    if output == "clip":
        y = g.node("Clip", [y, g.weight(np.array(0, np.float32), "lo"), g.weight(np.array(1, np.float32), "hi")])
    g.node("Identity", [y], output="output")
    return g.to_bytes("input", "output", [1, 3, "height", "width"], [1, 3, "height", "width"])


def default_model(seed: int = 0) -> bytes:
    """The default preset's network with random weights, as `camstyle bench` measures a machine
    before any style exists."""
    from camstyle.stylize.architectures import ARCHITECTURES, DEFAULT_ARCHITECTURE, DEFAULT_OUTPUT

    preset = dict(ARCHITECTURES[DEFAULT_ARCHITECTURE])
    if preset.pop("family", None) == "sharp":
        return sharp_model(**preset, output=DEFAULT_OUTPUT, seed=seed)
    return transform_net_model(**preset, output=DEFAULT_OUTPUT, seed=seed)

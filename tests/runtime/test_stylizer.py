"""The stylizer: model validation, the per-frame maths, background style switching, providers."""

from __future__ import annotations

import os
import threading
import time

import cv2
import numpy as np
import onnx
import onnx_models
import pytest

from camstyle.config import StyleConfig
from camstyle.errors import ConfigError, DeviceError, ModelError
from camstyle.stylize import onnx_graphs, providers
from camstyle.stylize.styles import StyleInfo
from camstyle.stylize.stylizer import StyleModel, Stylizer, inference_shape, keep_colours


def plain_look(**values) -> StyleConfig:
    """The [style] section with steadying and guided upscaling off, unless a test turns them on."""
    return StyleConfig(**{"steady": 0.0, "guided_upscale": False, **values})


def style_file(tmp_path, name, data) -> StyleInfo:
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(data)
    return StyleInfo(name=name, model_path=path)


def test_inference_shape_keeps_output_aspect_in_multiples_of_8():
    assert inference_shape((320, 180), (1280, 720)) == (320, 184)
    assert inference_shape((640, 480), (1280, 720)) == (640, 360)
    assert inference_shape((320, 320), (1920, 1080)) == (320, 184)
    for requested in ((100, 100), (333, 187), (640, 360)):
        w, h = inference_shape(requested, (1280, 720))
        assert w % 8 == 0 and h % 8 == 0 and abs(w / h - 16 / 9) < 0.15
        assert inference_shape((w, h), (1280, 720)) == (w, h), "fitting twice changes nothing"
    assert inference_shape((448, 252), (640, 360)) == (448, 256)


def test_colour_swap_model_really_runs(tmp_path):
    model = StyleModel(style_file(tmp_path, "swap", onnx_models.colour_matrix_model()).model_path, "swap")
    image = np.zeros((48, 64, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 200, 100, 30  # BGR
    out = model.run(image)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - image[..., ::-1]).max() <= 1  # red and blue traded places
    assert model.provider == "cpu"


def test_the_border_ring_a_zero_padded_network_paints_is_mended(tmp_path):
    model = StyleModel(style_file(tmp_path, "blur", onnx_models.zero_padded_blur_model()).model_path, "blur")
    image = np.full((48, 64, 3), (30, 100, 200), np.uint8)
    out = model.run(image)  # unmended, the ring would be 2/3 (edges) and 4/9 (corners) as bright
    assert np.abs(out.astype(int) - image).max() <= 1


def test_corrupt_model_is_a_model_error(tmp_path):
    path = style_file(tmp_path, "broken", onnx_models.corrupt_model_bytes()).model_path
    with pytest.raises(ModelError) as err:
        StyleModel(path, "broken")
    assert "corrupt or not an ONNX model" in err.value.message and str(path) in err.value.message
    assert "export" in err.value.hint


def test_wrong_shape_model_is_a_model_error(tmp_path):
    path = style_file(tmp_path, "grey", onnx_models.wrong_shape_model()).model_path
    with pytest.raises(ModelError) as err:
        StyleModel(path, "grey")
    assert "not a style network" in err.value.message and "[1, 1," in err.value.message


def test_missing_model_file_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="missing"):
        StyleModel(tmp_path / "gone.onnx", "gone")


def test_process_resizes_blends_and_mirrors(tmp_path):
    swap = style_file(tmp_path, "swap", onnx_models.colour_matrix_model())
    stylizer = Stylizer(plain_look(), inference_size=(64, 36), output_size=(160, 90))
    stylizer.load(swap)
    frame = np.zeros((90, 160, 3), np.uint8)
    frame[..., 0], frame[..., 2] = 220, 20
    frame[:, :80, 1] = 255  # left half green, to see mirroring
    out = stylizer.process(frame)
    assert out.shape == (90, 160, 3)
    assert abs(int(out[45, 120, 0]) - 20) <= 3 and abs(int(out[45, 120, 2]) - 220) <= 3
    stylizer.strength = 0.5
    half = stylizer.process(frame)
    assert abs(int(half[45, 120, 0]) - 120) <= 3  # halfway between 220 and 20
    stylizer.strength = 0.0
    assert np.array_equal(stylizer.process(frame), frame)
    stylizer.strength = 1.0
    assert np.array_equal(stylizer.process(frame, passthrough=True), frame)
    stylizer.mirror = True
    mirrored = stylizer.process(frame, passthrough=True)
    assert mirrored[45, 150, 1] == 255 and mirrored[45, 10, 1] == 0


def test_steadying_calms_shimmer_and_forgets_across_a_pause(tmp_path):
    swap = style_file(tmp_path, "swap", onnx_models.colour_matrix_model())
    rng = np.random.default_rng(0)
    still = cv2.GaussianBlur(rng.integers(0, 256, (90, 160, 3)).astype(np.uint8), (0, 0), 2)
    frames = [np.clip(still + rng.normal(0, 6, still.shape), 0, 255).astype(np.uint8) for _ in range(10)]

    def shimmer(steady: float) -> float:
        stylizer = Stylizer(plain_look(steady=steady), inference_size=(160, 90), output_size=(160, 90))
        stylizer.load(swap)
        out = [stylizer.process(f).astype(np.float32) for f in frames]
        return float(np.mean([np.abs(b - a).mean() for a, b in zip(out[2:], out[3:])]))

    assert shimmer(0.5) < 0.8 * shimmer(0.0)
    plain = Stylizer(plain_look(steady=0.0), inference_size=(160, 90), output_size=(160, 90))
    plain.load(swap)
    stylizer = Stylizer(plain_look(steady=0.9), inference_size=(160, 90), output_size=(160, 90))
    stylizer.load(swap)
    stylizer.process(frames[0])
    assert not np.array_equal(stylizer.process(frames[1]), plain.process(frames[1]))
    stylizer.process(frames[1], passthrough=True)  # a pause: what was held is forgotten
    assert np.array_equal(stylizer.process(frames[2]), plain.process(frames[2]))


def test_preserve_colors_keeps_camera_chroma(tmp_path):
    red = style_file(tmp_path, "red", onnx_models.constant_colour_model((1.0, 0.0, 0.0)))
    stylizer = Stylizer(plain_look(preserve_colors=True), inference_size=(64, 40), output_size=(64, 40))
    stylizer.load(red)
    frame = np.full((40, 64, 3), (40, 160, 60), np.uint8)  # a green camera image
    out = stylizer.process(frame)
    out_ycc = cv2.cvtColor(out, cv2.COLOR_BGR2YCrCb).astype(int)
    cam_ycc = cv2.cvtColor(frame, cv2.COLOR_BGR2YCrCb).astype(int)
    red_y = cv2.cvtColor(np.full((1, 1, 3), (0, 0, 255), np.uint8), cv2.COLOR_BGR2YCrCb)[0, 0, 0]
    assert np.abs(out_ycc[..., 1:] - cam_ycc[..., 1:]).max() <= 6  # the camera's colour ...
    assert abs(int(np.median(out_ycc[..., 0])) - int(red_y)) <= 3  # ... with the style's brightness
    assert keep_colours(frame, frame).shape == frame.shape


def test_style_switch_loads_in_background_and_cross_fades(tmp_path):
    swap = style_file(tmp_path, "swap", onnx_models.colour_matrix_model())
    red = style_file(tmp_path, "red", onnx_models.constant_colour_model((1.0, 0.0, 0.0)))
    messages = []
    stylizer = Stylizer(plain_look(), inference_size=(64, 36), output_size=(64, 36), crossfade_s=0.3, on_message=messages.append)
    stylizer.load(swap)
    frame = np.full((36, 64, 3), (200, 100, 30), np.uint8)
    start = time.perf_counter()
    stylizer.request_style(red)
    assert time.perf_counter() - start < 0.05  # returns at once
    assert stylizer.style == "red"  # the target is reported while it loads
    assert stylizer.process(frame).shape == frame.shape  # frames keep coming meanwhile
    assert stylizer.wait_idle(10)
    assert stylizer.model.name == "red" and messages[-1] == "style red"
    model, old, _ = stylizer._active
    assert old is not None and old.name == "swap"
    stylizer._active = (model, old, time.perf_counter() - 0.15)  # halfway through the cross-fade
    mixed = stylizer.process(frame).astype(int)
    assert 215 < mixed[10, 10, 2] < 240  # red: between swap's 200 and the red style's 255
    assert 7 < mixed[10, 10, 0] < 23  # blue: between swap's 30 and the red style's 0
    time.sleep(0.32)
    settled = stylizer.process(frame)
    assert np.abs(settled.astype(int) - np.array([0, 0, 255])).max() <= 1
    assert stylizer._active[1] is None  # the old network is released


def test_failed_background_load_keeps_current_style(tmp_path):
    swap = style_file(tmp_path, "swap", onnx_models.colour_matrix_model())
    broken = style_file(tmp_path, "broken", onnx_models.corrupt_model_bytes())
    messages = []
    stylizer = Stylizer(plain_look(), inference_size=(64, 36), output_size=(64, 36), on_message=messages.append)
    stylizer.load(swap)
    stylizer.request_style(broken)
    assert stylizer.wait_idle(10)
    assert stylizer.model.name == "swap" and stylizer.style == "swap"
    assert "could not be loaded" in messages[-1] and "corrupt" in messages[-1]


def test_latest_style_request_wins(tmp_path):
    styles = {n: style_file(tmp_path, n, onnx_models.colour_matrix_model()) for n in ("a", "b", "c")}
    stylizer = Stylizer(plain_look(), inference_size=(64, 36), output_size=(64, 36))
    stylizer.load(styles["a"])
    threads = [threading.Thread(target=stylizer.request_style, args=(styles[n],)) for n in ("b", "c")]
    for t in threads:
        t.start()
        t.join()
    assert stylizer.wait_idle(10)
    assert stylizer.model.name == "c"


# --- providers and the built-in graphs ---------------------------------------------------------

def test_cpu_provider_is_probed_and_selected():
    results = providers.probe_providers()
    assert ("cpu", True) in [(name, works) for name, works, _ in results]
    assert providers.select_providers("auto")[-1] == "CPUExecutionProvider"
    assert providers.select_providers("cpu") == ["CPUExecutionProvider"]
    assert providers.default_threads() >= 1


def test_unknown_or_unusable_provider_is_a_clear_error():
    with pytest.raises(ConfigError, match="Unknown provider"):
        providers.select_providers("warp-drive")
    working = {name for name, works, _ in providers.probe_providers() if works}
    for name in ("cuda", "tensorrt", "directml", "coreml"):
        if name not in working:
            with pytest.raises(DeviceError) as err:
                providers.select_providers(name)
            assert "--provider auto" in err.value.hint


def test_native_output_is_captured_not_shown(capfd):
    with providers.captured_native_output() as out:
        os.write(2, b"native library noise\n")
        print("python noise")
    assert "native library noise" in out.getvalue() and "python noise" in out.getvalue()
    captured = capfd.readouterr()
    assert "noise" not in captured.err and "noise" not in captured.out


def _conv_weight_shapes(model) -> list[tuple[int, ...]]:
    weights = {t.name: tuple(t.dims) for t in model.graph.initializer}
    return [weights[n.input[1]] for n in model.graph.node if n.op_type == "Conv"]


def test_builtin_graphs_are_valid_onnx():
    probe = onnx.load_from_string(onnx_graphs.probe_model())
    onnx.checker.check_model(probe, full_check=True)
    fast = onnx.load_from_string(onnx_graphs.fast_model())
    onnx.checker.check_model(fast, full_check=True)
    model = StyleModel(onnx_graphs.fast_model(), "synthetic", check_size=(64, 32))
    out = model.run(np.zeros((32, 64, 3), np.uint8))
    assert out.shape == (32, 64, 3)
    # The same builder at the test suite's slim Johnson settings gives the same convolutions.
    slim = onnx.load_from_string(onnx_graphs.transform_net_model((16, 32, 64), 3, edge_kernel=9, stem_stride=1))
    assert _conv_weight_shapes(slim) == _conv_weight_shapes(onnx.load_from_string(onnx_models.slim_johnson_model()))


def test_bench_stand_in_has_the_cost_of_the_trained_fast_network():
    torch = pytest.importorskip("torch")
    from camstyle.training.networks import build_network

    net = build_network("fast")
    trained = [tuple(m.weight.shape) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    ours = onnx.load_from_string(onnx_graphs.fast_model())
    assert _conv_weight_shapes(ours) == trained
    strides = [tuple(m.stride) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    ours_strides = [tuple(a.ints) for n in ours.graph.node if n.op_type == "Conv" for a in n.attribute if a.name == "strides"]
    assert ours_strides == strides
    assert ("Clip" in {n.op_type for n in ours.graph.node}) == (net.config["output"] == "clip")


def _layers(model) -> list[tuple[str, tuple[int, ...]]]:
    """(op, weight shape) of every convolution, wherever the exporter put the weights."""
    weights = {t.name: tuple(t.dims) for t in model.graph.initializer}
    weights.update({n.output[0]: tuple(a.t.dims) for n in model.graph.node if n.op_type == "Constant"
                    for a in n.attribute if a.name == "value"})
    return [(n.op_type, weights[n.input[1]]) for n in model.graph.node if n.op_type in ("Conv", "ConvTranspose")]


def test_bench_stand_in_is_the_default_network_as_export_writes_it():
    pytest.importorskip("torch")
    from camstyle.stylize.architectures import DEFAULT_ARCHITECTURE
    from camstyle.training import export
    from camstyle.training.networks import build_network

    exported = onnx.load_from_string(export.onnx_bytes(build_network(DEFAULT_ARCHITECTURE)))
    ours = onnx.load_from_string(onnx_graphs.default_model())
    onnx.checker.check_model(ours, full_check=True)
    assert _layers(ours) == _layers(exported)
    heavy = ("Pad", "InstanceNormalization", "Resize", "Add", "Relu")  # the memory-bound layers cost the most here
    assert [n.op_type for n in ours.graph.node if n.op_type in heavy] == \
        [n.op_type for n in exported.graph.node if n.op_type in heavy]
    out = StyleModel(onnx_graphs.default_model(), "synthetic", check_size=(64, 32)).run(np.zeros((32, 64, 3), np.uint8))
    assert out.shape == (32, 64, 3)


def test_steady_auto_follows_each_style_until_the_user_sets_it(tmp_path):
    swap = onnx_models.colour_matrix_model()
    calm = StyleInfo("calm", style_file(tmp_path, "calm", swap).model_path, {"steady": 0.8})
    plain = StyleInfo("plain", style_file(tmp_path, "plain", swap).model_path, {"steady": "lots"})  # ignored
    stylizer = Stylizer(plain_look(steady="auto"), inference_size=(64, 36), output_size=(128, 72))
    stylizer.load(calm)
    assert stylizer.steady_auto and stylizer.steady == 0.8
    stylizer.request_style(plain)
    assert stylizer.wait_idle() and stylizer.steady == 0.5  # a style that names no valid value: the default
    stylizer.steady = 0.3  # the user's choice holds for every style from now on
    stylizer.request_style(calm)
    assert stylizer.wait_idle() and stylizer.model.name == "calm" and stylizer.steady == 0.3 and not stylizer.steady_auto
    stylizer.steady = "auto"
    assert stylizer.steady_auto and stylizer.steady == 0.8
    fixed = Stylizer(plain_look(steady=0.6), inference_size=(64, 36), output_size=(128, 72))
    fixed.load(calm)
    assert fixed.steady == 0.6 and not fixed.steady_auto


def test_the_inference_size_changes_between_frames_without_a_jump(tmp_path):
    swap = style_file(tmp_path, "swap", onnx_models.colour_matrix_model())
    rng = np.random.default_rng(1)
    still = cv2.GaussianBlur(rng.integers(0, 256, (180, 320, 3)).astype(np.uint8), (0, 0), 3)
    frames = [np.clip(still + rng.normal(0, 8, still.shape), 0, 255).astype(np.uint8) for _ in range(8)]
    stylizer = Stylizer(plain_look(steady=0.9, guided_upscale=True), inference_size=(160, 90), output_size=(320, 180))
    stylizer.load(swap)
    before = [stylizer.process(f) for f in frames[:4]]
    stylizer.inference_size = (80, 48)
    after = stylizer.process(frames[4])
    assert after.shape == (180, 320, 3) and after.mean() > 20, "no black or missing frame"
    fresh = Stylizer(plain_look(steady=0.9, guided_upscale=True), inference_size=(80, 48), output_size=(320, 180))
    fresh.load(swap)
    unsteadied = fresh.process(frames[4])
    jump = np.abs(after.astype(np.float32) - before[-1]).mean()
    assert jump < np.abs(unsteadied.astype(np.float32) - before[-1]).mean(), \
        "what the steadier held was carried over to the new size"
    assert stylizer.measure((160, 96), runs=2) > 0 and Stylizer(plain_look()).measure((64, 40)) == 0.0


def test_a_network_gets_sizes_in_its_own_multiple(tmp_path):
    path = style_file(tmp_path, "swap", onnx_models.colour_matrix_model()).model_path
    model = StyleModel(path, "swap", size_multiple=32)
    out = model.run(np.full((40, 72, 3), 90, np.uint8))
    assert out.shape == (40, 72, 3)
    assert StyleInfo("x", path, meta={"architecture_config": {"size_multiple": 16}}).size_multiple == 16
    assert StyleInfo("x", path, meta={"size_multiple": 32}).size_multiple == 32
    assert StyleInfo("x", path, meta={}).size_multiple == 8

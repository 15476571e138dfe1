"""The run, stylize, styles and bench commands, as users call them: exit codes and messages."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest

import onnx_models
import virtualcam_backend
from camstyle import cli
from camstyle.stylize.styles import discover_styles

BLUE = (200, 100, 30)  # BGR


@pytest.fixture
def styles():
    onnx_models.install_style("swap", onnx_models.colour_matrix_model())
    onnx_models.install_style("broken", onnx_models.corrupt_model_bytes())
    onnx_models.install_style("grey", onnx_models.wrong_shape_model())


def camstyle(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run([sys.executable, "-m", "camstyle", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def write_clip(path, frames=12, size=(96, 54)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, size)
    for i in range(frames):
        frame = np.full((size[1], size[0], 3), BLUE, np.uint8)
        cv2.circle(frame, (i * 6, 27), 8, (255, 255, 255), -1)
        writer.write(frame)
    writer.release()


def test_run_stops_after_n_frames_and_writes_stats(tmp_path, styles):
    stats = tmp_path / "out" / "stats.json"
    result = camstyle("run", "--source", "demo", "--output", "null", "--style", "swap", "--frames", "75",
                      "--stats", str(stats), "--no-dashboard")
    assert result.returncode == 0, result.stderr
    data = json.loads(stats.read_text())
    for key in ("frames_in", "frames_out", "fps_out", "latency_ms", "dropped", "provider", "style",
                "first_frame_s", "rss_mb"):
        assert key in data
    assert data["frames_out"] == 75 and data["style"] == "swap" and data["provider"] == "cpu"
    assert data["timeline"], "a point a second"
    for point in data["timeline"]:
        assert len(point["inference_size"]) == 2 and min(point["inference_size"]) > 0 and point["frames_in"] > 0
    others = data["timeline"][-1]["others_cpu_cores"]  # read twice a second while frames are stylized
    assert 0 <= others <= (os.cpu_count() or 1) + 0.5
    assert set(data["latency_ms"]) == {"p50", "p95"} and data["latency_ms"]["p95"] >= data["latency_ms"]["p50"] > 0
    assert 0 < data["first_frame_s"] < 30 and data["rss_mb"] > 10 and data["fps_out"] > 5
    assert "stopped: 75 frames out" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("args, code, words", [
    (["run", "--source", "7"], 3, ["No camera at 7", "--source demo"]),
    (["run", "--source", "demo", "--style", "broken"], 5, ["corrupt or not an ONNX model", "broken.onnx"]),
    (["run", "--source", "demo", "--style", "grey"], 5, ["not a style network"]),
    (["run", "--source", "demo", "--style", "nope"], 5, ["Unknown style 'nope'", "swap"]),
    (["run", "--source", "demo", "--record", "{blocker}/out.mp4"], 4, ["Cannot write", "out.mp4"]),
    (["run", "--source", "demo", "--inference-size", "big"], 2, ["--inference-size big is not a size"]),
    (["run", "--source", "demo", "--steady", "2"], 2, ["style.steady = 2.0 on the command line", "from 0 to 0.9"]),
    (["stylize", "{notes}", "-o", "{tmp}/out.mp4", "--steady", "-1"], 2, ["--steady -1 is out of range"]),
    (["stylize", "{notes}", "-o", "{tmp}/out.png", "--style", "swap"], 2, ["not an image CamStyle can read"]),
])
def test_bad_input_gets_one_clear_message(tmp_path, styles, args, code, words):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    args = [a.format(blocker=blocker, notes=notes, tmp=tmp_path) for a in args]
    if args[0] == "run":
        args += ["--output", "null", "--frames", "5", "--no-dashboard"]
    result = camstyle(*args)
    assert result.returncode == code, result.stderr
    for word in words:
        assert word in result.stderr
    assert "Traceback" not in result.stderr and "Unexpected error" not in result.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="v4l2loopback is Linux")
def test_missing_virtual_camera_device(styles):
    from camstyle.publish.outputs import VirtualCamOutput

    if VirtualCamOutput(64, 48)._default_device():
        pytest.skip("this machine has a v4l2loopback device")
    result = camstyle("run", "--source", "demo", "--output", "virtualcam", "--frames", "5", "--no-dashboard")
    assert result.returncode == 3
    assert "No virtual camera to publish to" in result.stderr and "modprobe v4l2loopback" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_cleanly_and_keep_the_recording(tmp_path, styles, how):
    recording, stats = tmp_path / "talk.mp4", tmp_path / "stats.json"
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    process = subprocess.Popen([sys.executable, "-m", "camstyle", "run", "--source", "demo", "--output", "null",
                                "--style", "swap", "--size", "320x180", "--record", str(recording),
                                "--stats", str(stats), "--no-dashboard"],
                               stderr=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stderr], daemon=True).start()
    seen, deadline = [], time.monotonic() + 60
    while not any(" -> " in line for line in seen) and time.monotonic() < deadline:
        try:
            seen.append(lines.get(timeout=1))
        except queue.Empty:
            pass
    time.sleep(1.0)
    process.send_signal(how)
    assert process.wait(timeout=30) == 0
    while not lines.empty():
        seen.append(lines.get())
    assert not any("Traceback" in line for line in seen)
    assert recording.is_file() and json.loads(stats.read_text())["frames_out"] > 5
    capture = cv2.VideoCapture(str(recording))
    assert capture.get(cv2.CAP_PROP_FRAME_WIDTH) == 320 and capture.get(cv2.CAP_PROP_FRAME_COUNT) >= 15
    capture.release()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".talk")] == []  # no temporary left


def test_run_from_a_video_file_into_a_virtual_camera(tmp_path, styles, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    clip = tmp_path / "clip.mp4"
    write_clip(clip)
    with virtualcam_backend.registered() as backend:
        code = cli.main(["run", "--source", str(clip), "--output", "virtualcam", "--virtualcam-backend", backend,
                         "--style", "swap", "--size", "320x180", "--fps", "30", "--frames", "30", "--no-dashboard"])
        cam = virtualcam_backend.RecordingBackend.latest
    assert code == 0 and cam.closed and len(cam.times) == 30
    assert cam.last_frame.shape == (180, 320, 3)
    corner = cam.last_frame[150:, :40].reshape(-1, 3).mean(axis=0)  # RGB of the blue background, swapped
    assert abs(corner[0] - 200) < 20 and abs(corner[2] - 30) < 20


def test_stylize_an_image(tmp_path, styles, capsys):
    source, target = tmp_path / "in.png", tmp_path / "out" / "styled.png"
    cv2.imwrite(str(source), np.full((60, 100, 3), BLUE, np.uint8))
    assert cli.main(["stylize", str(source), "-o", str(target), "--style", "swap"]) == 0
    out = cv2.imread(str(target))
    assert out.shape == (60, 100, 3) and np.abs(out.astype(int) - BLUE[::-1]).max() <= 2
    assert cli.main(["stylize", str(source), "-o", str(target), "--style", "swap", "--strength", "0"]) == 0
    assert np.abs(cv2.imread(str(target)).astype(int) - BLUE).max() <= 2
    assert "Wrote" in capsys.readouterr().err


def test_stylize_a_video(tmp_path, styles):
    source, target = tmp_path / "clip.mp4", tmp_path / "styled.mkv"
    write_clip(source, frames=12)
    assert cli.main(["stylize", str(source), "-o", str(target), "--style", "swap"]) == 0
    capture = cv2.VideoCapture(str(target))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    assert len(frames) == 12 and frames[0].shape == (54, 96, 3)
    corner = frames[5][40:, :10].reshape(-1, 3).mean(axis=0)
    assert abs(corner[0] - 30) < 20 and abs(corner[2] - 200) < 20  # red and blue swapped


def test_stylize_rejects_mismatched_output(tmp_path, styles, capsys):
    source = tmp_path / "in.png"
    cv2.imwrite(str(source), np.zeros((8, 8, 3), np.uint8))
    assert cli.main(["stylize", str(source), "-o", str(tmp_path / "out.mp4"), "--style", "swap"]) == 2
    assert "must be an image" in capsys.readouterr().err
    assert cli.main(["stylize", str(tmp_path / "missing.png"), "-o", str(tmp_path / "o.png")]) == 2
    assert not (tmp_path / "out.mp4").exists()


def test_a_broken_video_gets_one_message_and_no_ffmpeg_lines(tmp_path, styles):
    clip = tmp_path / "clip.mp4"
    write_clip(clip, frames=30)
    data = clip.read_bytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(data[: len(data) // 2])  # an interrupted download: no moov atom
    result = camstyle("run", "--source", str(broken), "--output", "null", "--style", "swap", "--frames", "5",
                      "--no-dashboard")
    assert result.returncode == 2 and "is not a video CamStyle can read" in result.stderr
    assert "moov atom" not in result.stderr and "[mov," not in result.stderr and "WARN" not in result.stderr
    result = camstyle("stylize", str(broken), "-o", str(tmp_path / "out.mp4"), "--style", "swap")
    assert result.returncode != 0 and "moov atom" not in result.stderr and "Traceback" not in result.stderr


def test_styles_lists_installed_styles(styles, capsys):
    assert cli.main(["styles", "--json"]) == 0
    listed = {s["name"]: s for s in json.loads(capsys.readouterr().out)}
    assert {"swap", "broken", "grey"} <= set(listed) and listed["swap"]["origin"] == "user"
    assert listed["swap"]["artist"] == "Test" and listed["swap"]["path"].endswith("swap.onnx")
    assert listed["swap"]["problem"] is None
    assert "does not load" in listed["broken"]["problem"] and "is not [1, 3, H, W]" in listed["grey"]["problem"]
    assert cli.main(["styles"]) == 0
    out = capsys.readouterr().out
    assert "swap" in out and "BROKEN" in out and "2 broken style(s)" in out
    assert "  broken: does not load" in out and "  grey: input shape" in out
    rows = [line for line in out.splitlines() if "swap" in line]
    assert len(rows) == 1 and "user" in rows[0] and "ok" in rows[0]  # one line a style, no path
    assert "Your styles folder:" in out and "Bundled styles:" in out


def test_bench_reports_model_and_pipeline_numbers(styles, capsys):
    assert cli.main(["bench", "--json", "--style", "swap", "--seconds", "1", "--inference-size", "64x36"]) == 0
    report = json.loads(capsys.readouterr().out)
    model = report["models"][0]
    assert model["style"] == "swap" and model["median_ms"] > 0 and model["p95_ms"] >= model["median_ms"]
    assert report["provider"] == "cpu" and report["inference_size"] == [64, 40]
    pipeline = report["pipeline"]
    for key in ("fps_out", "latency_ms", "dropped", "rss_mb", "first_frame_s"):
        assert key in pipeline
    assert pipeline["output_size"] == [1280, 720] and pipeline["fps_out"] > 10
    assert pipeline["steady"] == 0.5 and 0 < report["steadier"]["median_ms"] <= report["steadier"]["p95_ms"]
    assert pipeline["inference_size"] == [64, 40] and pipeline["size_changes"][0]["size"] == [64, 40]
    ladder = report["ladder"]
    sizes = [tuple(row["size"]) for row in ladder["rows"]]
    assert sizes[0] == (320, 184) and sizes[-1] == (1280, 720) and sizes == sorted(sizes)
    assert all(row["model_ms"] > 0 and row["stylize_ms"] > 0 for row in ladder["rows"])
    assert tuple(ladder["auto_pick"]) in sizes


def test_bench_without_styles_uses_a_stand_in_network(capsys):
    if discover_styles():
        pytest.skip("styles are installed here")
    assert cli.main(["bench", "--json", "--seconds", "1", "--inference-size", "64x36"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["synthetic"] and report["models"][0]["style"] == "synthetic"
    assert report["pipeline"]["frames_out"] > 5

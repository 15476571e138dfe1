"""Outputs: the virtual camera (through a test backend), recording, null, preview and 'auto'."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

import virtualcam_backend
from camstyle import outputs
from camstyle.errors import ConfigError, DeviceError, StorageError
from camstyle.outputs import NullOutput, PreviewOutput, RecordOutput, VirtualCamOutput, open_outputs


def bgr_frame(width=160, height=90, bgr=(200, 100, 30)) -> np.ndarray:
    return np.full((height, width, 3), bgr, np.uint8)


@pytest.fixture
def backend():
    with virtualcam_backend.registered() as name:
        yield name


def test_virtual_camera_gets_rgb_frames_of_the_configured_size(backend):
    output = VirtualCamOutput(160, 90, 30, device="CamStyle", backend=backend)
    output.open()
    output.send(bgr_frame())
    cam = virtualcam_backend.RecordingBackend.latest
    assert (cam.width, cam.height, cam.fps) == (160, 90, 30)
    assert cam.last_frame.shape == (90, 160, 3)
    assert tuple(cam.last_frame[0, 0]) == (30, 100, 200)  # RGB order
    assert output.name == "virtualcam CamStyle"
    output.close()
    assert cam.closed


def test_virtual_camera_repeats_and_new_frames_both_arrive(backend):
    """A repeated frame reuses the last conversion; a new one is converted again."""
    output = VirtualCamOutput(160, 90, 30, device="CamStyle", backend=backend)
    output.open()
    cam = virtualcam_backend.RecordingBackend.latest
    first, second = bgr_frame(), bgr_frame(bgr=(1, 2, 3))
    for frame, rgb in ((first, (30, 100, 200)), (first, (30, 100, 200)), (second, (3, 2, 1))):
        output.send(frame)
        assert tuple(cam.last_frame[0, 0]) == rgb
    output.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="v4l2loopback is Linux")
def test_missing_virtual_camera_device_says_how_to_set_it_up():
    if outputs.VirtualCamOutput(64, 48)._default_device():
        pytest.skip("this machine has a v4l2loopback device")
    with pytest.raises(DeviceError) as err:
        VirtualCamOutput(1280, 720, 30).open()
    assert err.value.message.startswith("No virtual camera to publish to")
    assert "modprobe v4l2loopback" in err.value.hint and 'card_label="CamStyle"' in err.value.hint
    with pytest.raises(DeviceError, match="/dev/video63"):
        VirtualCamOutput(1280, 720, 30, device="/dev/video63").open()


def test_unknown_backend_is_a_config_error():
    with pytest.raises(ConfigError, match="Unknown virtual camera backend"):
        VirtualCamOutput(64, 48, backend="no-such-backend").open()


def test_recording_is_atomic_and_follows_the_clock(tmp_path):
    tmp_path = tmp_path / "videos"
    target = tmp_path / "talk.mp4"
    recorder = RecordOutput(target, 64, 48, fps=10)
    recorder.open()  # creates the folder
    for t in (0.0, 0.05, 0.5, 1.0):  # a stall between 0.05 and 0.5 s is filled with repeats
        recorder.send(bgr_frame(64, 48), now=100.0 + t)
    assert not target.exists()  # only the temporary file so far, in the same folder
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".talk.mp4")]
    recorder.close(clean=True)
    assert target.is_file() and list(tmp_path.iterdir()) == [target]
    capture = cv2.VideoCapture(str(target))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 11 == recorder.frames_written  # 1 s at 10 fps
    capture.release()


def test_unclean_stop_leaves_no_recording(tmp_path):
    tmp_path = tmp_path / "videos"
    recorder = RecordOutput(tmp_path / "crash.mp4", 64, 48, fps=10)
    recorder.open()
    recorder.send(bgr_frame(64, 48))
    recorder.close(clean=False)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_or_unsupported_record_path(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder")
    with pytest.raises(StorageError) as err:
        RecordOutput(blocker / "out.mp4").open()
    assert str(blocker / "out.mp4") in err.value.message
    with pytest.raises(ConfigError, match="unsupported file type"):
        RecordOutput(tmp_path / "out.gif").open()


def test_null_output_counts():
    output = NullOutput()
    output.send(bgr_frame())
    assert output.frames == 1 and output.pump()


def test_auto_falls_back_once_with_the_setup_hint(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)

    def no_device(self):
        raise DeviceError("No virtual camera to publish to (none found).", "load v4l2loopback")

    monkeypatch.setattr(VirtualCamOutput, "open", no_device)
    opened, notices = open_outputs("auto", 160, 90, 30)
    assert [o.name for o in opened] == ["null"]
    assert len(notices) == 1 and "load v4l2loopback" in notices[0] and "no output" in notices[0]


def test_record_path_is_checked_before_the_virtual_camera(tmp_path, monkeypatch):
    monkeypatch.setattr(VirtualCamOutput, "open", lambda self: pytest.fail("virtual camera opened first"))
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(StorageError):
        open_outputs("virtualcam", record_path=str(blocker / "out.mp4"))
    with pytest.raises(ConfigError, match="needs a file"):
        open_outputs("record")


def test_preview_needs_a_display(monkeypatch):
    if sys.platform.startswith("linux"):
        monkeypatch.delenv("DISPLAY", raising=False)
        with pytest.raises(DeviceError, match="No display"):
            PreviewOutput().open()


@pytest.mark.x11
@pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")), reason="needs Xvfb and xdotool")
def test_preview_window_closes_on_q(tmp_path):
    """In a child process: OpenCV's window system cannot be torn down and restarted in one process."""
    script = tmp_path / "preview.py"
    script.write_text(
        "import subprocess, time, numpy as np\n"
        "from camstyle.outputs import PreviewOutput\n"
        "p = PreviewOutput('CamStyle preview test'); p.open()\n"
        "p.send(np.full((90, 160, 3), 128, np.uint8))\n"
        "deadline = time.time() + 20; sent = False\n"
        "while time.time() < deadline:\n"
        "    if not p.pump(): print('closed'); break\n"
        "    if not sent and time.time() > deadline - 18:\n"
        "        sent = subprocess.run(['xdotool', 'search', '--name', 'CamStyle preview test', 'windowfocus',"
        " '--sync', 'key', 'q'], capture_output=True).returncode == 0\n"
        "    time.sleep(0.02)\n"
        "p.close()\n")
    read_end, write_end = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-nolisten", "tcp", "-screen", "0", "640x480x24"],
                            pass_fds=(write_end,), stderr=subprocess.DEVNULL)
    os.close(write_end)
    try:
        display = ":" + os.read(read_end, 32).decode().strip()
        result = subprocess.run([sys.executable, str(script)], env={**os.environ, "DISPLAY": display},
                                capture_output=True, text=True, timeout=60)
    finally:
        os.close(read_end)
        xvfb.terminate()
        xvfb.wait()
    assert "closed" in result.stdout, result.stderr
    assert "QFontDatabase" not in result.stderr  # no Qt noise in the user's terminal

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

from camstyle.config import OutputConfig
from camstyle.errors import ConfigError, DeviceError, StorageError
from camstyle.publish import outputs
from camstyle.publish.outputs import NullOutput, PreviewOutput, RecordOutput, VirtualCamOutput, open_outputs


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


def _record(recorder, seconds, start=100.0, fps=None, frame=None):
    """Send `seconds` of frames at the recorder's rate on a made-up clock; returns the errors raised."""
    fps = fps or recorder.fps
    errors = []
    for i in range(int(seconds * fps)):
        try:
            recorder.send(frame if frame is not None else bgr_frame(*recorder.size), now=start + i / fps)
        except StorageError as exc:
            errors.append(exc)
    return errors


def test_a_full_disk_stops_the_recording_once_and_keeps_the_previous_file(tmp_path, monkeypatch):
    tmp_path = tmp_path / "videos"
    tmp_path.mkdir()
    target = tmp_path / "talk.mp4"
    target.write_bytes(b"the previous, good recording")
    free = {"bytes": 10 * 2**30}
    monkeypatch.setattr(outputs, "_free_bytes", lambda folder: free["bytes"])
    recorder = RecordOutput(target, 64, 48, fps=10, overwrite=True)
    recorder.open()
    assert _record(recorder, 2.0) == []
    free["bytes"] = 2**20  # the disk fills up
    errors = _record(recorder, 3.0, start=102.0)
    assert len(errors) == 1, "one message, not one per frame"
    assert "nearly full" in errors[0].message and "camera keeps running" in errors[0].hint
    assert "existing file is untouched" in errors[0].hint
    assert recorder.failed and list(tmp_path.iterdir()) == [target], "the temporary file is removed"
    recorder.close(clean=True)
    assert target.read_bytes() == b"the previous, good recording"


def test_writes_that_stop_reaching_the_file_stop_the_recording(tmp_path, monkeypatch):
    tmp_path = tmp_path / "videos"
    tmp_path.mkdir()
    monkeypatch.setattr(outputs, "_free_bytes", lambda folder: 100 * 2**20)  # above the reserve, a full-ish disk
    recorder = RecordOutput(tmp_path / "talk.mp4", 64, 48, fps=10)
    recorder.open()
    assert _record(recorder, 1.0) == []
    recorder._writer.release()
    recorder._writer = type("FailingWriter", (), {"write": lambda self, f: None, "release": lambda self: None})()
    errors = _record(recorder, 5.0, start=101.0)
    assert len(errors) == 1 and "failed (the disk may be full)" in errors[0].message
    assert list(tmp_path.iterdir()) == []


def test_an_unplayable_recording_never_replaces_the_previous_file(tmp_path):
    tmp_path = tmp_path / "videos"
    tmp_path.mkdir()
    target = tmp_path / "talk.mp4"
    target.write_bytes(b"previous")
    recorder = RecordOutput(target, 64, 48, fps=10, overwrite=True)
    recorder.open()
    _record(recorder, 1.0)
    temporary = recorder._temporary
    recorder._writer.release()
    temporary.write_bytes(temporary.read_bytes()[:200])  # what a disk that filled up leaves: no moov atom
    with pytest.raises(StorageError, match="could not be completed"):
        recorder.close(clean=True)
    assert target.read_bytes() == b"previous" and list(tmp_path.iterdir()) == [target]


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 12 MB filesystem (needs root and a kernel that lets this process mount tmpfs)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tiny filesystem needs root on Linux")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_recording_onto_a_really_full_disk(tiny_disk, monkeypatch, capfd):
    """No reserve: the disk really fills up (ENOSPC inside FFmpeg); the stalled file is noticed."""
    monkeypatch.setattr(outputs, "RECORD_RESERVE_BYTES", 0)
    target = tiny_disk / "talk.mp4"
    previous = RecordOutput(target, 64, 48, fps=10)
    previous.open()
    _record(previous, 1.0)
    previous.close(clean=True)
    good = target.read_bytes()
    recorder = RecordOutput(target, 320, 240, fps=30, overwrite=True)
    recorder.open()
    noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), np.uint8)
    errors = []
    for i in range(int(30 * 60)):  # at most a minute of made-up time: the disk fills within seconds
        try:
            recorder.send(np.roll(noise, i, axis=1), now=100.0 + i / 30)
        except StorageError as exc:
            errors.append(exc)
        if errors and i % 30 == 0:
            break
    assert len(errors) == 1 and "failed (the disk may be full)" in errors[0].message
    recorder.close(clean=True)
    assert target.read_bytes() == good and sorted(p.name for p in tiny_disk.iterdir()) == ["talk.mp4"]
    assert capfd.readouterr().err.count("Failed to write frame") <= 2, "OpenCV's per-frame warnings are silenced"


def test_a_killed_recordings_temporary_is_cleaned_and_an_existing_file_is_kept(tmp_path):
    tmp_path = tmp_path / "videos"
    tmp_path.mkdir()
    target = tmp_path / "talk.mp4"
    target.write_bytes(b"yesterday's talk")
    stale = tmp_path / ".talk.mp4.k2j4h5g6.mp4"  # what atomic_path leaves when the run is killed
    fresh = tmp_path / ".other.mkv.a1b2c3d4.mkv"  # another recording, being written right now
    unrelated = tmp_path / ".notes.txt.a1b2c3d4.txt"
    for path in (stale, fresh, unrelated):
        path.write_bytes(b"x")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    os.utime(unrelated, (old, old))
    recorders, notices = open_outputs(OutputConfig(kind="null", width=64, height=48, fps=10, record_path=str(target)))
    recorder = recorders[1]
    assert recorder.path == tmp_path / "talk-2.mp4"
    assert notices == ["talk.mp4 already exists: recording to talk-2.mp4 instead (--overwrite replaces the file)."]
    _record(recorder, 1.0)
    for output in recorders:
        output.close(clean=True)
    assert not stale.exists() and fresh.exists() and unrelated.exists()
    assert target.read_bytes() == b"yesterday's talk" and (tmp_path / "talk-2.mp4").is_file()
    recorders, notices = open_outputs(OutputConfig(kind="null", width=64, height=48, fps=10, record_path=str(target)), overwrite=True)
    assert recorders[1].path == target and notices == []
    recorders[1].close(clean=False)
    assert target.read_bytes() == b"yesterday's talk"


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
    opened, notices = open_outputs(OutputConfig(width=160, height=90))
    assert [o.name for o in opened] == ["null"]
    assert len(notices) == 1 and "load v4l2loopback" in notices[0] and "no output" in notices[0]
    assert opened[0].reason.startswith("No virtual camera to publish to") and "camstyle setup virtual-camera" in opened[0].reason
    assert NullOutput().reason == "", "an asked-for null output is not a fallback"


def test_record_path_is_checked_before_the_virtual_camera(tmp_path, monkeypatch):
    monkeypatch.setattr(VirtualCamOutput, "open", lambda self: pytest.fail("virtual camera opened first"))
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(StorageError):
        open_outputs(OutputConfig(kind="virtualcam", record_path=str(blocker / "out.mp4")))
    with pytest.raises(ConfigError, match="needs a file"):
        open_outputs(OutputConfig(kind="record"))


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
        "from camstyle.publish.outputs import PreviewOutput\n"
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

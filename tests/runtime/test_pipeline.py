"""The running pipeline: end to end into a virtual camera, reconnecting, dropping, actions."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import onnx_models
import pytest
import virtualcam_backend
from run_settings import run_settings

from camstyle.capture import camera as camera_module
from camstyle.capture import choose
from camstyle.capture.camera import CameraSource
from camstyle.capture.clips import SyntheticSource
from camstyle.engine import controller as controller_module
from camstyle.engine import mailbox
from camstyle.engine.controller import Controller
from camstyle.engine.mailbox import LatestBox, SendClock
from camstyle.errors import CamStyleError, ModelError
from camstyle.frames import notice_frame
from camstyle.publish.outputs import Output
from camstyle.stylize import autosize, styles

STATUS_KEYS = {"style", "styles", "strength", "steady", "steady_auto", "paused", "mirror", "privacy", "provider", "source", "output", "fps_in",
               "fps_out", "latency_ms", "stage_ms", "dropped", "frames_in", "frames_out", "input_size",
               "inference_size", "output_size", "cpu_percent", "others_cpu_cores", "uptime_s", "message"}


@pytest.fixture
def style_dir(tmp_path):
    folder = tmp_path / "styles"
    onnx_models.install_style("swap", onnx_models.colour_matrix_model(), folder)
    onnx_models.install_style("red", onnx_models.constant_colour_model((1.0, 0.0, 0.0)), folder)
    onnx_models.install_style("blue", onnx_models.constant_colour_model((0.0, 0.0, 1.0)), folder)
    return [(folder, "user")]


class LastFrameOutput(Output):
    name = "capture"

    def __init__(self):
        self.frame = None
        self.count = 0
        self.means: list[float] = []

    def send(self, frame):
        self.frame, self.count = frame, self.count + 1
        self.means.append(float(frame.mean()))


def wait_until(condition, timeout=5.0, step=0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def write_clip(path, frames=40, fps=30, size=(160, 90)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(frames):
        frame = np.full((size[1], size[0], 3), (200, 100, 30), np.uint8)  # BGR: mostly blue
        cv2.rectangle(frame, (i * 3 % size[0], 20), (i * 3 % size[0] + 20, 40), (255, 255, 255), -1)
        writer.write(frame)
    writer.release()


def test_latest_box_keeps_only_the_newest_and_counts_drops():
    box = LatestBox()
    assert box.take() is None
    for i in range(3):
        box.put(mailbox.Frame(np.zeros(1), float(i)))
    assert box.take().t_capture == 2.0 and box.dropped == 2
    assert box.take(timeout=0.01) is None  # nothing newer


def publish(ready_times, duration, fps=30, late=0.0):
    """The publish loop's decisions on a simulated clock, for frames ready at `ready_times` and
    a thread that wakes `late` s after it asked to: (every send's time, each new frame's wait
    between ready and sent)."""
    clock, t, i = SendClock(1 / fps, 0.0), 0.0, 0
    sends, waits = [], []
    while t < duration:
        repeat_at = clock.repeat_at(t)
        fresh = i < len(ready_times) and ready_times[i] <= repeat_at
        if fresh:
            t = max(t, ready_times[i])
            due = clock.fresh_at(t)
            t = due + late if due > t else t
            while i + 1 < len(ready_times) and ready_times[i + 1] <= t:  # newer ones replace it in the box
                i += 1
            waits.append(t - ready_times[i])
            i += 1
        else:
            t = repeat_at + late
        sends.append(t)
        clock.sent(t, fresh)
    return np.array(sends), waits


def test_a_camera_at_the_output_rate_is_published_without_waiting():
    rng = np.random.default_rng(0)
    ready = np.arange(300) / 30 + 0.012 + rng.uniform(-0.006, 0.006, 300)  # 30 fps, jittery arrival
    sends, waits = publish(ready, ready[-1])
    assert len(waits) == 300 and max(waits) < 1e-9  # every frame sent, none waited
    assert len(sends) == len(waits) + 1  # nothing repeated but the start-up notice at 0


def test_a_slower_camera_is_published_at_once_with_repeats_keeping_the_rate():
    ready = np.arange(250) / 25 + 0.02  # a 25 fps clip: 10 s
    sends, waits = publish(ready, ready[-1])
    assert len(waits) == 250 and max(waits) < 1e-9
    assert abs(len(sends) / 10.0 - 30) < 1  # repeats fill in: 30 fps out
    assert np.diff(sends).max() <= 1.5 / 30 + 1e-9  # never a gap longer than 1.5 frames while frames come


def test_a_faster_camera_is_held_to_the_output_rate_with_the_newest_frame():
    ready = np.arange(600) / 60  # 60 fps for 10 s
    sends, waits = publish(ready, 10.0)
    assert 30 <= len(sends) / 10.0 < 31
    assert max(waits) < 1 / 60 + 1e-9  # what is sent is at most one camera frame old


def test_frames_left_waiting_by_a_hiccup_go_out_at_once_again_within_a_second():
    period = 1 / 30
    burst = [0.0, 0.002, 0.004, 0.006, 0.008]  # five frames at once (a stutter in capture), then 30 fps
    ready = np.concatenate([burst, 0.01 + 0.1 * period + np.arange(1, 300) * period])
    sends, waits = publish(ready, ready[-1])
    assert waits[2] > 0.2 * period  # the burst spent the credit: the next frames wait...
    assert max(waits[30:]) < 1e-9  # ...and not after a second (with no drift they would wait for good)


def test_a_publisher_that_wakes_late_keeps_the_output_rate():
    sends, _ = publish([], 10.0, late=0.003)  # no camera frames: all repeats, each woken 3 ms late
    assert abs(len(sends) / 10.0 - 30) < 0.3


def test_after_a_stall_the_output_repeats_at_its_rate_and_does_not_burst():
    ready = np.concatenate([np.arange(30) / 30, 2.0 + np.arange(30) / 30])  # a second with no frames
    sends, waits = publish(ready, 3.0)
    gaps = np.diff(sends)
    assert np.all(gaps[(sends[1:] > 1.05) & (sends[1:] < 1.95)] > 0.99 / 30)  # repeats, 30 a second
    assert abs(np.sum((sends > 1.0) & (sends < 2.0)) - 30) <= 2
    assert np.sum((sends >= 2.0) & (sends < 2.1)) <= 4  # no catching up when frames return


def test_file_to_virtual_camera_end_to_end(tmp_path, style_dir):
    clip = tmp_path / "clip.mp4"
    write_clip(clip)
    with virtualcam_backend.registered() as backend:
        settings = run_settings(source=str(clip), style="swap", output="virtualcam", virtualcam_backend=backend,
                                    output_size=(320, 180), fps=30, inference_size=(160, 90))
        with Controller(*settings, style_dirs=style_dir) as controller:
            assert wait_until(lambda: controller.metrics.frames_out > 5)
            cam = virtualcam_backend.RecordingBackend.latest
            start_count, start = len(cam.times), time.perf_counter()
            time.sleep(1.5)
            with cam.lock:
                published = len(cam.times) - start_count
                intervals = np.diff(cam.times[start_count:])
                frame = cam.last_frame.copy()
            elapsed = time.perf_counter() - start
            status = controller.status()
        assert cam.closed  # released on stop
    assert (cam.width, cam.height, cam.fps) == (320, 180, 30) and frame.shape == (180, 320, 3)
    assert 0.7 * 30 * elapsed < published < 1.3 * 30 * elapsed  # a steady 30 fps, roughly
    assert 0.5 / 30 < float(np.median(intervals)) < 1.5 / 30
    # The camera's blue-ish background (RGB 30, 100, 200) arrives with red and blue swapped.
    background = np.median(frame[120:, :, :].reshape(-1, 3), axis=0)
    assert abs(background[0] - 200) < 15 and abs(background[2] - 30) < 15
    assert status["style"] == "swap" and status["provider"] == "cpu" and status["frames_in"] > 30
    assert status["latency_ms"]["p95"] > 0 and STATUS_KEYS <= set(status)
    assert status["first_frame_s"] is not None and status["output_size"] == [320, 180]


class FlakyCamera:
    """Capture factory: a camera that works, is unplugged, fails to reopen twice, then is back."""

    def __init__(self, good_frames=15, failed_reopens=2):
        self.good_frames, self.failed_reopens, self.opens = good_frames, failed_reopens, 0

    def __call__(self, device):
        self.opens += 1
        if self.opens == 1:
            return PacedCapture(self.good_frames)
        if self.opens <= 1 + self.failed_reopens:
            return PacedCapture(0, opened=False)
        return PacedCapture(10**6)


class PacedCapture:
    def __init__(self, frames, opened=True):
        self.frames, self.opened = frames, opened

    def isOpened(self):
        return self.opened

    def set(self, prop, value):
        return True

    def get(self, prop):
        return 0.0

    def read(self):
        time.sleep(0.01)
        if self.frames <= 0:
            return False, None
        self.frames -= 1
        return True, np.full((36, 64, 3), 220, np.uint8)

    def release(self):
        pass


def test_lost_camera_reconnects_while_output_keeps_flowing(monkeypatch, style_dir):
    monkeypatch.setattr(camera_module, "device_path", lambda device: None)
    monkeypatch.setattr(controller_module, "BACKOFF_START_S", 0.05)
    factory = FlakyCamera()
    camera = CameraSource("fake", 64, 36, 30, capture_factory=factory)
    camera.open()
    messages, output = [], LastFrameOutput()
    settings = run_settings(style="swap", output_size=(64, 36), inference_size=(64, 36), fps=30)
    with Controller(*settings, style_dirs=style_dir, source=camera, outputs=[output],
                    on_message=messages.append) as controller:
        assert wait_until(lambda: controller_module.RECONNECTING in messages)
        lost_at = output.count
        assert wait_until(lambda: "camera reconnected" in messages, timeout=5)
        back_at = output.count
        frames_before = controller.metrics.frames_in
        assert wait_until(lambda: controller.metrics.frames_in > frames_before + 5 and output.count > back_at + 5)
    assert factory.opens == 4  # first open, two failed reopens, then back
    assert back_at - lost_at >= 5  # publishing went on while the camera was away ...
    notice = notice_frame(controller_module.RECONNECTING, 64, 36, "CamStyle keeps trying")
    assert any(abs(m - notice.mean()) < 0.01 for m in output.means[lost_at:back_at])  # ... showing the notice
    assert output.means[-1] > 150  # and the (bright) camera again after


def test_actions_change_the_running_pipeline(style_dir):
    output = LastFrameOutput()
    settings = run_settings(style="swap", output_size=(64, 36), inference_size=(64, 36), fps=30)
    source = SyntheticSource(64, 36, fps=30)
    source.open()
    with Controller(*settings, style_dirs=style_dir, source=source, outputs=[output]) as c:
        status = c.dispatch("status")
        assert STATUS_KEYS <= set(status) and status["styles"] == ["blue", "red", "swap"]
        assert c.dispatch("next")["style"] == "blue"  # wraps around, sorted by name
        assert c.stylizer.wait_idle(5) and c.stylizer.model.name == "blue"
        assert c.dispatch("prev")["style"] == "swap"
        assert c.dispatch("style", "red")["style"] == "red"
        assert c.stylizer.wait_idle(5)
        time.sleep(0.5)  # past the cross-fade
        assert wait_until(lambda: output.frame is not None and output.frame[5, 5].tolist() == [0, 0, 255])
        with pytest.raises(ModelError, match="Unknown style 'nope'"):
            c.dispatch("style", "nope")
        assert c.dispatch("strength", "0.7")["strength"] == 0.7
        assert c.dispatch("strength", "+0.1")["strength"] == 0.8
        assert c.dispatch("strength", "-0.5")["strength"] == 0.3
        for bad in ("1.5", "abc", "", None, "nan"):
            with pytest.raises(CamStyleError):
                c.dispatch("strength", bad)
        c.dispatch("strength", "0.95")
        assert c.dispatch("strength_up")["strength"] == 1.0
        assert c.dispatch("strength_down")["strength"] == 0.9
        c.dispatch("strength", "1")
        assert c.dispatch("steady", "0.8")["steady"] == 0.8 and c.stylizer.steady == 0.8
        assert c.dispatch("steady", "+0.3")["steady"] == 0.9  # clamped to the most steadying
        assert c.dispatch("steady", "0")["steady"] == 0.0
        assert not c.status()["steady_auto"]
        back = c.dispatch("steady", "auto")  # the style's own: these test styles name none, so the default
        assert back["steady_auto"] and back["steady"] == 0.5
        for bad in ("0.95", "1", "x", None):
            with pytest.raises(CamStyleError):
                c.dispatch("steady", bad)
        assert c.dispatch("pause")["paused"] is True
        assert wait_until(lambda: output.frame[5, 5].tolist() != [0, 0, 255])  # the camera, unstyled
        assert c.dispatch("pause")["paused"] is False
        assert c.dispatch("mirror")["mirror"] is True and c.stylizer.mirror
        assert c.dispatch("privacy")["privacy"] is True
        off = notice_frame("Camera off", 64, 36, "CamStyle privacy mode")
        assert wait_until(lambda: np.array_equal(output.frame, off))
        assert c.dispatch("privacy")["privacy"] is False
        with pytest.raises(CamStyleError, match="Unknown action"):
            c.dispatch("explode")
        assert not c.wait(0)
        c.dispatch("quit")
        assert c.wait(0)


def test_dispatch_is_thread_safe(style_dir):
    settings = run_settings(style="swap", output="null", output_size=(64, 36), inference_size=(64, 36))
    source = SyntheticSource(64, 36, fps=60)
    source.open()
    errors = []

    def hammer(actions):
        try:
            for i in range(40):
                c.dispatch(actions[i % len(actions)])
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    with Controller(*settings, style_dirs=style_dir, source=source) as c:
        workers = [threading.Thread(target=hammer, args=(a,)) for a in
                   (["strength_up", "strength_down"], ["mirror", "status"], ["next", "prev"], ["pause", "status"])]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        status = c.dispatch("status")
        assert c.metrics.frames_out > 0
    assert not errors and 0.0 <= status["strength"] <= 1.0


def test_stale_frames_are_dropped_and_counted(style_dir):
    settings = run_settings(style="swap", output="null", output_size=(64, 36), inference_size=(64, 36), fps=10)
    source = SyntheticSource(64, 36, fps=120)
    source.open()
    with Controller(*settings, style_dirs=style_dir, source=source) as c:
        assert wait_until(lambda: c.metrics.frames_in > 60)
        status = c.status()
    assert status["dropped"] > 20  # published at 10 fps from a 120 fps source
    assert status["frames_out"] < status["frames_in"]


def test_no_styles_passes_the_camera_through_with_a_notice(tmp_path):
    output, messages = LastFrameOutput(), []
    settings = run_settings(output_size=(64, 36), inference_size=(64, 36))
    source = SyntheticSource(64, 36, fps=30)
    source.open()
    with Controller(*settings, style_dirs=[(tmp_path / "none", "user")], source=source, outputs=[output],
                    on_message=messages.append) as c:
        assert wait_until(lambda: output.count > 3)
        status = c.status()
    assert status["style"] == "" and "No styles are installed" in messages[0] and "camstyle train" in messages[0]
    with pytest.raises(CamStyleError, match="No styles"):
        c.dispatch("next")


def test_unknown_style_fails_before_anything_starts(style_dir):
    settings = run_settings(source="demo", style="nope", output="null")
    controller = Controller(*settings, style_dirs=style_dir)
    with pytest.raises(ModelError) as err:
        controller.start()
    assert "blue, red, swap" in err.value.hint
    assert not controller.running and controller.source is None


class HangingSource(SyntheticSource):
    """Delivers a few frames, then read() blocks: a camera that hangs instead of failing."""

    def __init__(self):
        super().__init__(64, 36, fps=30)
        self.release = threading.Event()
        self.count = 0

    def read(self):
        self.count += 1
        if self.count > 10:
            self.release.wait(5)
        return super().read()


def test_hung_camera_shows_the_notice_instead_of_freezing(monkeypatch, style_dir):
    monkeypatch.setattr(controller_module, "STALE_AFTER_S", 0.3)
    source, output, messages = HangingSource(), LastFrameOutput(), []
    source.open()
    settings = run_settings(style="swap", output_size=(64, 36), inference_size=(64, 36))
    notice = notice_frame(controller_module.RECONNECTING, 64, 36, "CamStyle keeps trying")
    with Controller(*settings, style_dirs=style_dir, source=source, outputs=[output],
                    on_message=messages.append) as c:
        assert wait_until(lambda: output.frame is not None and np.array_equal(output.frame, notice))
        assert messages[-1] == controller_module.RECONNECTING and c.status()["message"] == controller_module.RECONNECTING
        source.release.set()


def test_auto_size_is_measured_at_start_and_ctl_size_fixes_and_frees_it(style_dir):
    settings = run_settings(style="swap", output="null", output_size=(640, 360), fps=30)
    source = SyntheticSource(640, 360, fps=30)
    source.open()
    with Controller(*settings, style_dirs=style_dir, source=source) as c:
        status = c.status()
        assert status["size_auto"] and status["size_reason"].startswith("measured at start")
        assert (320, 184) in c.size_measured and all(ms > 0 for ms in c.size_measured.values())
        assert tuple(status["inference_size"]) in autosize.ladder((640, 360))
        fixed = c.dispatch("size", "320x180")
        assert fixed["inference_size"] == [320, 184] and not fixed["size_auto"]
        assert fixed["size_reason"] == "fixed at 320x184 by ctl size"
        assert c.dispatch("size", "4000x4000")["inference_size"] == [640, 360], "never above the output size"
        freed = c.dispatch("size", "auto")
        assert freed["size_auto"] and "ctl size auto" in freed["size_reason"]
        for bad in (None, "", "big", "0x0"):
            with pytest.raises(CamStyleError):
                c.dispatch("size", bad)
        frames = c.metrics.frames_styled
        assert wait_until(lambda: c.metrics.frames_styled > frames + 3), "frames keep coming through the changes"
        history = c.size_history()
    assert [h["size"] for h in history[1:4]] == [[320, 184], [640, 360], history[3]["size"]]
    assert history[0]["from"] is None and history[1]["from"] == list(status["inference_size"])


def test_a_fixed_inference_size_is_kept(style_dir):
    settings = run_settings(style="swap", output="null", output_size=(640, 360), inference_size=(448, 252))
    source = SyntheticSource(640, 360, fps=30)
    source.open()
    with Controller(*settings, style_dirs=style_dir, source=source) as c:
        status = c.status()
    assert status["inference_size"] == [448, 256] and not status["size_auto"] and not c.size_measured
    assert "inference_size setting" in status["size_reason"]


def test_a_style_that_fails_to_load_gets_an_error_reply_and_next_passes_it_by(style_dir):
    folder = style_dir[0][0]
    onnx_models.install_style("broken", onnx_models.corrupt_model_bytes(), folder)  # blue, broken, red, swap
    settings = run_settings(style="blue", output_size=(64, 36), inference_size=(64, 36), fps=30)
    source = SyntheticSource(64, 36, fps=30)
    source.open()
    with Controller(*settings, style_dirs=style_dir, source=source, outputs=[LastFrameOutput()]) as c:
        with pytest.raises(ModelError) as caught:
            c.dispatch("next")  # lands on the broken style: says so
        assert "Style 'broken' could not be loaded" in caught.value.message
        assert "still shows style 'blue'" in caught.value.message and "camstyle styles" in caught.value.hint
        assert c.status()["style"] == "blue" and c.stylizer.model.name == "blue"
        assert c.dispatch("next")["style"] == "red", "a style known to be broken is passed by"
        assert c.stylizer.model.name == "red", "the reply waits for the load"
        assert c.dispatch("prev")["style"] == "blue"
        with pytest.raises(ModelError, match="Style 'broken' could not be loaded"):
            c.dispatch("style", "broken")  # asked for by name: tried again, and the reply says it failed
        assert c.dispatch("style", "swap")["style"] == "swap" and c.stylizer.model.name == "swap"
        onnx_models.install_style("broken", onnx_models.colour_matrix_model(), folder)  # the user repairs it
        assert c.dispatch("prev")["style"] == "red"
        assert c.dispatch("prev")["style"] == "broken", "a repaired style is in the cycle again"


def test_the_control_channel_reply_for_a_broken_style_fails(style_dir):
    from camstyle.control.channel import handle_request

    folder = style_dir[0][0]
    onnx_models.install_style("broken", onnx_models.corrupt_model_bytes(), folder)
    settings = run_settings(style="swap", output_size=(64, 36), inference_size=(64, 36), fps=30)
    source = SyntheticSource(64, 36, fps=30)
    source.open()
    with Controller(*settings, style_dirs=style_dir, source=source, outputs=[LastFrameOutput()]) as c:
        reply = handle_request(c, b'{"action": "style", "value": "broken"}')
    assert reply["ok"] is False and "could not be loaded" in reply["error"] and reply["hint"]


def test_started_unattended_with_no_camera_it_waits_for_one_and_never_plays_the_demo(monkeypatch, style_dir):
    monkeypatch.setattr(camera_module, "device_path", lambda device: None)
    monkeypatch.setattr(camera_module, "FIRST_FRAME_TIMEOUT_S", 0.1)
    monkeypatch.setattr(controller_module, "BACKOFF_START_S", 0.05)
    monkeypatch.setattr(controller_module, "BACKOFF_MAX_S", 0.1)
    monkeypatch.setattr(choose, "DemoSource", None)  # any attempt to play the demo fails the test
    cameras: list[dict] = []
    monkeypatch.setattr(choose, "list_cameras", lambda max_index=8: list(cameras))

    class BrightCapture:
        def isOpened(self):
            return True

        def set(self, prop, value):
            return True

        def get(self, prop):
            return 30.0 if prop == cv2.CAP_PROP_FPS else 0.0

        def read(self):
            time.sleep(1 / 30)
            return True, np.full((36, 64, 3), 220, np.uint8)

        def release(self):
            pass

    messages, output = [], LastFrameOutput()
    settings = run_settings(source="auto", unattended=True, style="swap", output_size=(64, 36),
                                inference_size=(64, 36), fps=30)
    notice = notice_frame(controller_module.RECONNECTING, 64, 36, "CamStyle keeps trying")
    with Controller(*settings, style_dirs=style_dir, outputs=[output], capture_factory=lambda device: BrightCapture(),
                    on_message=messages.append) as c:
        assert any("Waiting for a camera" in m for m in messages)
        assert wait_until(lambda: output.frame is not None and np.array_equal(output.frame, notice))
        time.sleep(0.5)
        assert np.array_equal(output.frame, notice), "still waiting, still the notice"
        cameras.append({"index": 0, "path": "/dev/video0", "name": "USB camera", "modes": [], "virtual": False})
        assert wait_until(lambda: "camera reconnected" in messages, timeout=5)
        assert wait_until(lambda: output.frame is not None and output.frame.mean() > 200)
        assert c.status()["source"].startswith("camera /dev/video0")


def test_a_recording_that_fails_says_so_once_and_the_camera_keeps_running(monkeypatch, tmp_path, style_dir):
    from camstyle.publish import outputs
    from camstyle.publish.outputs import RecordOutput

    free = {"bytes": 10 * 2**30}
    monkeypatch.setattr(outputs, "_free_bytes", lambda folder: free["bytes"])
    recorder = RecordOutput(tmp_path / "talk.mp4", 64, 36, fps=30)
    recorder.open()
    messages, output = [], LastFrameOutput()
    settings = run_settings(style="swap", output_size=(64, 36), inference_size=(64, 36), fps=30)
    source = SyntheticSource(64, 36, fps=30)
    source.open()
    with Controller(*settings, style_dirs=style_dir, source=source, outputs=[output, recorder],
                    on_message=messages.append):
        assert wait_until(lambda: output.count > 10)
        free["bytes"] = 2**20
        assert wait_until(lambda: recorder.failed)
        count = output.count
        assert wait_until(lambda: output.count > count + 15), "the camera goes on"
    assert sum("nearly full" in m for m in messages) == 1
    assert not (tmp_path / "talk.mp4").exists() and not list(tmp_path.glob(".talk*"))


def test_with_no_style_named_it_starts_on_the_first_style_and_cycles_by_name(style_dir):
    folder = style_dir[0][0]
    settings = run_settings(style="", output_size=(64, 36), inference_size=(64, 36), fps=30)
    source = SyntheticSource(64, 36, fps=30)
    source.open()
    with Controller(*settings, style_dirs=style_dir, source=source, outputs=[LastFrameOutput()]) as c:
        assert c.status()["style"] == "blue"  # none is FIRST_STYLE: the first by name
    onnx_models.install_style(styles.FIRST_STYLE, onnx_models.colour_matrix_model(), folder)
    source = SyntheticSource(64, 36, fps=30)
    source.open()
    with Controller(*settings, style_dirs=style_dir, source=source, outputs=[LastFrameOutput()]) as c:
        assert c.status()["style"] == styles.FIRST_STYLE
        assert c.dispatch("next")["style"] == "swap"  # the cycle stays in name order

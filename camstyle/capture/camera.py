"""A physical camera through OpenCV (MJPG at the asked size and rate where the camera offers
it), and the list of cameras this machine has. A busy camera's error names the application
holding it."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from camstyle.capture.base import Source
from camstyle.capture.v4l2 import describe_device
from camstyle.errors import DeviceError
from camstyle.frames import opencv_quiet

FIRST_FRAME_TIMEOUT_S = 4.0  # cameras take a moment to deliver their first picture
NO_CAMERA_HINT = "Connect a camera, or try CamStyle without one: --source demo (or a video file)."


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

    @classmethod
    def from_config(cls, target, camera, capture_factory=None) -> "CameraSource":
        return cls(target, camera.width, camera.height, camera.fps, camera.mjpg, capture_factory)

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
        info = describe_device(path) if path else None
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
        info = describe_device(path)
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



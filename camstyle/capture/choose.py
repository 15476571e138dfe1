"""Which source a --source value means, and opening it: the registry of source kinds.

"auto" tries the cameras in order (skipping virtual ones, CamStyle's own included) and falls
back to the demo clip with a notice; unattended (--daemon) it waits for a camera instead.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from camstyle.capture.base import Source
from camstyle.capture.camera import NO_CAMERA_HINT, CameraSource, list_cameras
from camstyle.capture.clips import DemoSource, FileSource, SyntheticSource
from camstyle.errors import DeviceError


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

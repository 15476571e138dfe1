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


# The kinds of source: adding one is a class (capture.base.Source) and a line here.
SOURCES: dict[str, type[Source]] = {"camera": CameraSource, "file": FileSource, "demo": DemoSource,
                                    "synthetic": SyntheticSource}


def parse_source(spec: str) -> tuple[str, int | str]:
    """A --source value -> (kind, target): "auto", a kind's name ("demo", "synthetic"), a camera
    index or device path, else a video file."""
    spec = (spec or "auto").strip()
    lowered = spec.lower()
    if lowered == "auto" or (lowered in SOURCES and SOURCES[lowered].by_name):
        return lowered, lowered
    if spec.isdigit():
        return "camera", int(spec)
    if spec.startswith("/dev/"):
        return "camera", spec
    return "file", spec


def open_source(camera, capture_factory: Callable | None = None, unattended: bool = False) -> Source:
    """Open the source the [camera] section (camstyle.config.CameraConfig) names; the caller
    closes it. "auto" = the first camera that delivers a frame, else the demo clip with a notice
    saying why. `unattended` (a run started at login or as a service) never plays the demo: a
    missing camera gives a source whose read() is None until the camera appears."""
    kind, target = parse_source(camera.source)
    if kind == "auto" and not unattended:
        return _open_auto(camera, capture_factory)
    if kind == "auto":
        source: Source = AnyCameraSource.from_config(target, camera, capture_factory)
        waiting = "Waiting for a camera (the demo clip plays only when asked for: --source demo)."
    else:
        source = SOURCES[kind].from_config(target, camera, capture_factory)
        waiting = "Waiting for the camera."
    if unattended and source.live:
        try:
            source.open()
        except DeviceError as exc:  # read() gives None, so the engine shows "camera unavailable" and retries
            source.notice = f"{exc.message} {waiting}"
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

    @classmethod
    def from_config(cls, target, camera, capture_factory=None) -> "AnyCameraSource":
        return cls(camera.width, camera.height, camera.fps, camera.mjpg, capture_factory)

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


def _open_auto(camera, capture_factory: Callable | None) -> Source:
    found, problems = _first_camera(camera.width, camera.height, camera.fps, camera.mjpg, capture_factory)
    if found is not None:
        return found
    demo = DemoSource(camera.width, camera.height)
    demo.open()
    why = "; ".join(problems) if problems else "no camera found"
    demo.notice = f"No working camera ({why}) - showing the demo clip. Connect a camera or pick one with --source."
    return demo

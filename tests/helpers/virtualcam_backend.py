"""A pyvirtualcam backend that keeps what it is sent: the virtual camera, minus the kernel module."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Iterator

import numpy as np
import pyvirtualcam

NAME = "camstyle-test"


class RecordingBackend:
    """Follows pyvirtualcam's Backend protocol; the latest instance is kept for inspection."""

    latest: "RecordingBackend | None" = None

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw):
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self._device = device or "test-camera"
        self.times: list[float] = []
        self.last_frame: np.ndarray | None = None
        self.closed = False
        self.lock = threading.Lock()
        RecordingBackend.latest = self

    def send(self, frame: np.ndarray) -> None:
        with self.lock:
            self.times.append(time.perf_counter())
            self.last_frame = frame.reshape(self.height, self.width, 3).copy()

    def device(self) -> str:
        return self._device

    def native_fourcc(self):
        return None

    def close(self) -> None:
        self.closed = True


@contextlib.contextmanager
def registered() -> Iterator[str]:
    """The backend's name while it is registered; unregistered after, so that CamStyle's own
    search for a real virtual camera (backend=None tries every backend) never finds it."""
    pyvirtualcam.register_backend(NAME, RecordingBackend)
    RecordingBackend.latest = None
    try:
        yield NAME
    finally:
        pyvirtualcam.camera.BACKENDS.pop(NAME, None)

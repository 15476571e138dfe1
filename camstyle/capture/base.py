"""The Source contract: what every frame source (camera, clip, demo, synthetic) must do.

open() acquires the device or file and sets name, kind, fps and size, or raises DeviceError
saying what to do. read() returns the next BGR uint8 frame, paced at the source's own frame
rate, or None when the source is lost (unplugged, stopped delivering): the engine then closes
it and opens it again with back-off. close() releases it and may be called twice. Whoever
opened a source closes it.
"""

from __future__ import annotations

import time

import numpy as np


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
    by_name = False  # chosen by its kind's name as the --source value ("demo"), not by a device or a file

    @classmethod
    def from_config(cls, target, camera, capture_factory=None) -> "Source":
        """An unopened source for `target` (what parse_source found in the --source value) and the
        [camera] section (camstyle.config.CameraConfig): the size and rate asked for."""
        return cls()

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

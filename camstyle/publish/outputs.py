"""Where stylized frames go: the CamStyle virtual camera, a preview window, a video file,
or nowhere (benchmarks, headless tests).

Outputs receive BGR uint8 frames of the output size from the publish thread. GUI work
(the preview window) happens in pump(), which the main thread calls, because window
systems (Cocoa in particular) only work there.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from camstyle import atomic
from camstyle.errors import CamStyleError, ConfigError, DeviceError, StorageError

if TYPE_CHECKING:
    import numpy as np

# Container -> codec that OpenCV's bundled FFmpeg writes everywhere without extra libraries.
RECORD_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "mp4v", ".avi": "MJPG"}


def setup_hint() -> str:
    try:
        from camstyle.publish import virtualcam_setup

        return virtualcam_setup.setup_hint()
    except ImportError:  # pragma: no cover - virtualcam_setup.py ships with CamStyle
        return "Set up a virtual camera: on Linux load the v4l2loopback module; on macOS and Windows install OBS Studio."


class Output:
    """Receives published frames. send() runs on the publish thread."""

    name = "output"
    label = "the output"  # completes "Using ... instead"

    def open(self) -> None:
        pass

    def send(self, frame: np.ndarray) -> None:
        raise NotImplementedError

    def pump(self) -> bool:
        """Main-thread housekeeping; False when the user asked to stop (closed the window)."""
        return True

    def close(self, clean: bool = True) -> None:
        pass

    @classmethod
    def from_config(cls, output, backend: str | None = None) -> "Output":
        """This output for the [output] section (camstyle.config.OutputConfig); `backend` names
        a pyvirtualcam backend (tests register their own)."""
        return cls()


class NullOutput(Output):
    """Discards frames: for benchmarks and runs that only want statistics."""

    name = "null"
    label = "no output (frames are discarded)"

    def __init__(self, reason: str = "") -> None:
        self.frames = 0
        self.reason = reason  # why CamStyle fell back to publishing nothing ("" when asked for)

    def send(self, frame: np.ndarray) -> None:
        self.frames += 1


class VirtualCamOutput(Output):
    """The virtual camera meeting apps pick, through pyvirtualcam, in RGB.

    On Linux the camera's name is the v4l2loopback device's label ("CamStyle" when set up as
    `camstyle doctor` says); that device is chosen when none is configured. On macOS and
    Windows the name is fixed by OBS ("OBS Virtual Camera").
    """

    name = "virtualcam"
    label = "the virtual camera"

    def __init__(self, width: int = 1280, height: int = 720, fps: float = 30, device: str = "",
                 backend: str | None = None):
        self.size = (width, height)
        self.fps = fps
        self.device = device or ""
        self.backend = backend or None
        self.camera = None
        self._rgb: np.ndarray | None = None
        self._send_size = self.size

    @classmethod
    def from_config(cls, output, backend: str | None = None) -> "VirtualCamOutput":
        return cls(output.width, output.height, output.fps, output.device, backend)

    def _default_device(self) -> str | None:
        if self.backend or not sys.platform.startswith("linux"):
            return None
        try:
            from camstyle.publish import virtualcam_setup

            chosen = virtualcam_setup.preferred_device(virtualcam_setup.loopback_devices())
        except (ImportError, OSError):
            return None
        return chosen["path"] if chosen else None

    def open(self) -> None:
        import numpy as np

        import pyvirtualcam

        if sys.platform == "darwin" and not self.backend:
            from camstyle.publish import virtualcam_setup

            self._send_size = tuple(virtualcam_setup.MACOS_OBS_SIZE)  # OBS's macOS camera has one fixed size
        if self.backend and self.backend not in pyvirtualcam.camera.BACKENDS:
            raise ConfigError(f"Unknown virtual camera backend '{self.backend}'.",
                              f"Available: {', '.join(pyvirtualcam.camera.BACKENDS) or 'none on this system'}.")
        device = self.device or self._default_device()
        width, height = self._send_size
        try:
            self.camera = pyvirtualcam.Camera(width, height, self.fps, fmt=pyvirtualcam.PixelFormat.RGB,
                                              device=device, backend=self.backend)
        except Exception as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            detail = detail.split("backend: ", 1)[-1].split(" Did you run")[0].rstrip(". ")
            where = f" {device}" if device else ""
            raise DeviceError(f"No virtual camera{where} to publish to ({detail}).", setup_hint()) from None
        label = ""
        with contextlib.suppress(Exception):
            label = self._label(self.camera.device)
        self.name = f"virtualcam {self.camera.device}" + (f" ({label})" if label and label != self.camera.device else "")
        self._rgb = np.empty((height, width, 3), np.uint8)
        self._converted: np.ndarray | None = None  # the frame now in _rgb: repeats are sent as they are

    @staticmethod
    def _label(device: str) -> str:
        if device.startswith("/dev/video"):
            with contextlib.suppress(OSError):
                return Path(f"/sys/class/video4linux/{Path(device).name}/name").read_text().strip()
        return ""

    def send(self, frame: np.ndarray) -> None:
        """Frames are never changed once published, so a repeat (the publish tick outrunning the
        stylizer, or a notice frame) reuses the last conversion."""
        import cv2

        if frame is not self._converted:
            self._converted = frame
            if self._send_size != (frame.shape[1], frame.shape[0]):
                frame = cv2.resize(frame, self._send_size, interpolation=cv2.INTER_LINEAR)
            cv2.cvtColor(frame, cv2.COLOR_BGR2RGB, dst=self._rgb)
        self.camera.send(self._rgb)

    def close(self, clean: bool = True) -> None:
        if self.camera is not None:
            with contextlib.suppress(Exception):
                self.camera.close()
            self.camera = None


def display_available() -> bool:
    """Whether a window can be shown (OpenCV's Linux windows need an X11 display)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY"))
    return True


def _use_system_fonts() -> None:
    """opencv-python points Qt at a fonts folder it does not ship, and Qt then complains on
    every window; point it at the system's fonts instead."""
    current = os.environ.get("QT_QPA_FONTDIR")
    if sys.platform.startswith("linux") and current and not os.path.isdir(current):
        for candidate in ("/usr/share/fonts", "/usr/local/share/fonts"):
            if os.path.isdir(candidate):
                os.environ["QT_QPA_FONTDIR"] = candidate
                return


class PreviewOutput(Output):
    """A window showing the output; 'q' or Esc (or closing it) stops the run."""

    name = "preview"
    label = "a preview window"

    def __init__(self, title: str = "CamStyle preview"):
        self.title = title
        self._latest: np.ndarray | None = None
        self._shown: np.ndarray | None = None
        self._lock = threading.Lock()
        self._opened = False

    def open(self) -> None:
        import cv2

        if not display_available():
            raise DeviceError("No display to show a preview window on.",
                              "Run CamStyle in a desktop session, or choose --output virtualcam, record or null.")
        _use_system_fonts()
        try:
            cv2.namedWindow(self.title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO)
        except cv2.error as exc:
            raise DeviceError(f"Cannot open a preview window: {exc.err or exc}.",
                              "Choose --output virtualcam, record or null.") from None
        self._opened = True

    def send(self, frame: np.ndarray) -> None:
        with self._lock:
            self._latest = frame

    def pump(self) -> bool:
        import cv2

        if not self._opened:
            return True
        with self._lock:
            frame = self._latest
        if frame is not None and frame is not self._shown:
            cv2.imshow(self.title, frame)
            self._shown = frame
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), ord("Q"), 27):
            return False
        with contextlib.suppress(cv2.error):
            if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
                return False  # closed with the window's close button
        return True

    def close(self, clean: bool = True) -> None:
        import cv2

        if self._opened:
            with contextlib.suppress(cv2.error):
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)
            self._opened = False


class RecordOutput(Output):
    """Records the output to a video file, atomically: frames go to a temporary file next to
    the target, which takes the target's name only when the run stops cleanly and the file
    plays back.

    Frames are written by wall clock (repeated or skipped to match the file's frame rate),
    so the recording plays at real speed whatever the publish rate was. An existing file is
    never replaced unless `overwrite` is set: the recording takes the next free numbered name.
    When the disk fills up (or writes stop reaching the file) the recording stops with one
    StorageError from send(), its temporary file is removed, and later frames are ignored.
    """

    def __init__(self, path: str | os.PathLike, width: int = 1280, height: int = 720, fps: float = 30,
                 overwrite: bool = False):
        self.path = Path(path).expanduser()
        self.size = (width, height)
        self.fps = fps
        self.overwrite = overwrite
        self.name = f"record {self.path}"
        self.notice = ""  # something the user should know (the recording took another name)
        self.failed = ""  # why the recording stopped early
        self.frames_written = 0
        self._writer = None
        self._temporary: Path | None = None
        self._stack: contextlib.ExitStack | None = None
        self._start: float | None = None
        self._position = 0
        self._checked_at: float | None = None
        self._size_seen = -1
        self._grew_at = 0.0

    def open(self) -> None:
        import cv2

        codec = RECORD_CODECS.get(self.path.suffix.lower())
        if codec is None:
            raise ConfigError(f"Cannot record to '{self.path.name}': unsupported file type.",
                              f"Use a file name ending in {', '.join(RECORD_CODECS)} (e.g. recording.mp4).")
        if self.path.is_dir():
            raise StorageError(f"{self.path} is a folder.", "Give a file name to record to, e.g. recording.mp4.")
        remove_stale_temporaries(self.path.parent)
        if not self.overwrite and self.path.exists():
            wanted, self.path = self.path, free_name(self.path)
            self.name = f"record {self.path}"
            self.notice = (f"{wanted.name} already exists: recording to {self.path.name} instead "
                           "(--overwrite replaces the file).")
        stack = contextlib.ExitStack()
        temporary = stack.enter_context(atomic.atomic_path(self.path))  # StorageError if not writable
        free = _free_bytes(self.path.parent)
        if free is not None and free < RECORD_RESERVE_BYTES:
            stack.__exit__(StorageError, StorageError("no space"), None)
            raise StorageError(f"Not enough free space to record to {self.path} ({free / 2**20:.0f} MB free).",
                               "Free some space or record to another disk.")
        writer = cv2.VideoWriter(str(temporary), cv2.VideoWriter_fourcc(*codec), float(self.fps), self.size)
        if not writer.isOpened():
            stack.__exit__(StorageError, StorageError("writer"), None)
            raise StorageError(f"Cannot write a video to {self.path}.", "Check the folder is writable and has free space.")
        self._writer, self._stack, self._temporary = writer, stack, temporary

    def send(self, frame: np.ndarray, now: float | None = None) -> None:
        if self._writer is None:
            return  # stopped after a failure
        now = time.perf_counter() if now is None else now
        if self._start is None:
            self._start = self._checked_at = self._grew_at = now
        due = int((now - self._start) * self.fps) + 1  # frames the file should hold by now
        if due <= self._position:
            return  # published faster than the file's rate: skip
        # Repeat the frame to cover a stall, but at most a second's worth.
        with contextlib.ExitStack() as quiet:
            if self.frames_written:  # OpenCV warns on every failed write; the checks below say it once
                quiet.enter_context(_opencv_quiet())
            for _ in range(min(due - self._position, max(1, int(self.fps)))):
                self._writer.write(frame)
                self.frames_written += 1
        self._position = due
        if now - self._checked_at >= RECORD_CHECK_S:
            self._checked_at = now
            self._check_writes(now)

    def _check_writes(self, now: float) -> None:
        """Stop before the disk is full, or when written frames stop reaching the file."""
        free = _free_bytes(self.path.parent)
        try:
            size = self._temporary.stat().st_size
        except OSError:
            size = -1
        if size > self._size_seen:
            self._size_seen, self._grew_at = size, now
        if free is not None and free < RECORD_RESERVE_BYTES:
            self._fail(f"The disk is nearly full ({free / 2**20:.0f} MB free): recording to {self.path} stopped.")
        elif size < 0 or (now - self._grew_at >= RECORD_STALL_S and (free is None or free < RECORD_STALL_FREE_BYTES)):
            self._fail(f"Writing {self.path} failed (the disk may be full): recording stopped.")

    def _fail(self, message: str) -> None:
        self.failed = message
        self._discard()
        kept = "the existing file is untouched" if self.path.exists() else "nothing was saved"
        raise StorageError(message, f"The camera keeps running; {kept}. Free some space and record again.")

    def _discard(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            with _opencv_quiet():
                writer.release()
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.__exit__(CamStyleError, CamStyleError("recording discarded"), None)  # removes the temporary file

    def close(self, clean: bool = True) -> None:
        if self._writer is None:
            return
        if not (clean and self.frames_written > 0):
            self._discard()
            return
        with _opencv_quiet():
            self._writer.release()
        self._writer = None
        if not playable(self._temporary):
            self._discard()
            raise StorageError(f"The recording {self.path} could not be completed (the disk may be full).",
                               "Nothing was overwritten. Free some space and record again.")
        stack, self._stack = self._stack, None
        stack.close()  # fsync and move into place; StorageError if that fails


RECORD_RESERVE_BYTES = 16 * 2**20  # stop recording with this much space left, before writes fail
RECORD_CHECK_S = 0.5  # how often send() checks the disk
RECORD_STALL_S = 3.0  # the file did not grow for this long while frames were written ...
RECORD_STALL_FREE_BYTES = 256 * 2**20  # ... on a disk this full: writes are failing
STALE_TEMPORARY_S = 120  # a recording's temporary file untouched this long was left by a killed run
_TEMPORARY = re.compile(r"\.(?P<name>.+(?P<ext>\.[A-Za-z0-9]+))\.[a-z0-9_]{8}(?P=ext)")  # atomic.atomic_path's names


def _opencv_quiet():
    """frames.opencv_quiet, imported when first needed: frames imports OpenCV, which this module defers."""
    from camstyle.frames import opencv_quiet

    return opencv_quiet()


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def playable(path: Path) -> bool:
    """Whether a finished video file opens and yields a frame (a truncated MP4 does not)."""
    import cv2

    with _opencv_quiet():
        capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        try:
            return capture.isOpened() and capture.read()[0]
        finally:
            capture.release()


def free_name(path: Path) -> Path:
    """`path`, or the first of NAME-2.EXT, NAME-3.EXT ... that does not exist."""
    number = 2
    candidate = path
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
        number += 1
    return candidate


def remove_stale_temporaries(folder: Path, now: float | None = None) -> list[Path]:
    """Remove the temporary files of recordings that were killed (hidden, named like ours, and
    not written to for minutes); returns what was removed."""
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.fullmatch(entry.name)
        if not match or match.group("ext").lower() not in RECORD_CODECS:
            continue
        try:
            if entry.is_file() and not entry.is_symlink() and now - entry.stat().st_mtime > STALE_TEMPORARY_S:
                entry.unlink()
                removed.append(entry)
        except OSError:
            continue
    return removed


# The outputs an [output] kind (and --output) names: adding one is a class and a line here.
OUTPUTS: dict[str, type[Output]] = {"virtualcam": VirtualCamOutput, "preview": PreviewOutput, "null": NullOutput}
AUTO_ORDER = ("virtualcam", "preview")  # "auto" takes the first that opens, else publishes nothing
OUTPUT_KINDS = ("auto", *OUTPUTS, "record")  # "record": the recording alone


def open_outputs(output, backend: str | None = None, overwrite: bool = False) -> tuple[list[Output], list[str]]:
    """Open what the [output] section (camstyle.config.OutputConfig) asks for, plus a recording
    when it names a file -> (outputs, notices). The caller closes them.

    "auto" tries the kinds of AUTO_ORDER in turn and collects why each failed: the virtual camera
    if one opens, else a preview window if there is a display, else nothing (frames are
    discarded), saying once why and how to set a virtual camera up.
    """
    kind = (output.kind or "auto").strip().lower()
    if kind not in OUTPUT_KINDS:
        raise ConfigError(f"Unknown output '{kind}'.", f"Use one of: {', '.join(OUTPUT_KINDS)}.")
    if kind == "record" and not output.record_path:
        raise ConfigError("Output 'record' needs a file to record to.", "Give --record FILE (e.g. --record out.mp4).")
    notices: list[str] = []
    outputs: list[Output] = []
    try:
        if output.record_path:  # first: an unwritable path must fail before any device is taken
            recorder = RecordOutput(output.record_path, output.width, output.height, output.fps, overwrite)
            recorder.open()
            outputs.append(recorder)
            if recorder.notice:
                notices.append(recorder.notice)
        if kind in OUTPUTS:
            outputs.insert(0, _opened(OUTPUTS[kind].from_config(output, backend)))
        elif kind == "auto":
            outputs.insert(0, _first_that_opens(output, backend, notices))
    except BaseException:
        for opened in outputs:
            opened.close(clean=False)
        raise
    return outputs, notices


def _first_that_opens(output, backend: str | None, notices: list[str]) -> Output:
    errors: list[DeviceError] = []
    for kind in AUTO_ORDER:
        try:
            chosen = _opened(OUTPUTS[kind].from_config(output, backend))
        except DeviceError as exc:
            errors.append(exc)
            continue
        if errors:  # the virtual camera did not open: say why, and how to set one up
            notices.append(f"{errors[0].message} Using {chosen.label} instead. {errors[0].hint}")
        return chosen
    first = errors[0]
    notices.append(f"{first.message} Using {NullOutput.label} instead. {first.hint}")
    return NullOutput(f"{first.message} `camstyle setup virtual-camera` sets one up; see `camstyle doctor`.")


def _opened(output: Output) -> Output:
    output.open()
    return output

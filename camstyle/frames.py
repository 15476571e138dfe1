"""Frame helpers shared by sources, the stylizer and outputs (BGR uint8, OpenCV's layout).

Frames stay uint8 end to end; OpenCV does the per-pixel work because it is several times
faster than numpy on full 1280x720 frames.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Iterator

import cv2
import numpy as np


def parse_size(text: str) -> tuple[int, int]:
    """'1280x720' -> (1280, 720); ValueError for anything else."""
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) != 2:
        raise ValueError(f"'{text}' is not a size like 1280x720")
    width, height = int(parts[0]), int(parts[1])
    if width <= 0 or height <= 0:
        raise ValueError(f"'{text}' is not a size like 1280x720")
    return width, height


def crop_to_aspect(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """The largest centred window of `frame` with the aspect ratio width:height (a view, no copy)."""
    h, w = frame.shape[:2]
    if w * height > h * width:  # too wide: trim the sides
        new_w = max(1, round(h * width / height))
        x = (w - new_w) // 2
        return frame[:, x:x + new_w]
    new_h = max(1, round(w * height / width))
    y = (h - new_h) // 2
    return frame[y:y + new_h, :]


def fit_frame(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Centre-crop to the target aspect and resize to exactly width x height."""
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    elif frame.shape[2] == 4:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if frame.shape[1] == width and frame.shape[0] == height:
        return frame
    cropped = crop_to_aspect(frame, width, height)
    shrinking = cropped.shape[1] > width
    return cv2.resize(cropped, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


@functools.lru_cache(maxsize=16)
def notice_frame(text: str, width: int, height: int, detail: str = "") -> np.ndarray:
    """A dark frame with `text` (and a smaller `detail` line) centred: what meeting apps see
    while the camera is off or reconnecting. Read-only and cached, since it is sent many times."""
    frame = np.empty((height, width, 3), np.uint8)
    # A faint vertical gradient looks deliberate where flat black looks broken.
    column = np.linspace(38, 18, height, dtype=np.float32).astype(np.uint8)
    frame[:] = column[:, None, None]
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = max(0.4, width / 1280 * 1.3)
    thickness = max(1, round(scale * 2))
    lines = [(text, scale, thickness, (235, 235, 235))]
    if detail:
        lines.append((detail, scale * 0.55, max(1, thickness - 1), (170, 170, 170)))
    sizes = [cv2.getTextSize(t, font, s, th)[0] for t, s, th, _ in lines]
    gap = int(24 * scale)
    total = sum(h for _, h in sizes) + gap * (len(lines) - 1)
    y = (height - total) // 2
    for (line, s, th, colour), (w, h) in zip(lines, sizes):
        y += h
        cv2.putText(frame, line, ((width - w) // 2, y), font, s, colour, th, cv2.LINE_AA)
        y += gap
    frame.flags.writeable = False
    return frame


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

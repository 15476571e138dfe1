"""Optical flow, occlusion masks and warping for the temporal loss and its evaluation.

numpy + OpenCV only (evaluation shares it without torch). Conventions, the same as
training.losses.warp: a flow field is float32 HxWx2 (x then y, in pixels) defined on the
pixels of the frame being predicted, and warp(image, flow)(p) = image(p + flow(p)). So
flow(frame_t, frame_prev) warps the previous frame onto frame t.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

FLOW_NAME = "DIS optical flow (OpenCV, medium preset)"


def grey(rgb: np.ndarray) -> np.ndarray:
    return rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def flow(target: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Flow on `target`'s pixels to where they are in `source`: target(p) ~ source(p + flow(p))."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(grey(target), grey(source), None)


def pixel_grid(h: int, w: int) -> np.ndarray:
    """Each pixel's own coordinates, float32 HxWx2 (x then y): p, to which a flow adds."""
    return np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), axis=-1)


def warp(image: np.ndarray, flow_field: np.ndarray) -> np.ndarray:
    """Backward warp: out(p) = image(p + flow(p)), bilinear, borders repeated."""
    where = pixel_grid(*flow_field.shape[:2]) + flow_field.astype(np.float32)
    return cv2.remap(image, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # map: x, y pairs


def occlusion_mask(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Ruder et al. 2016: 1 where the flow t->prev (`backward`) is reliable, 0 where it is not.

    `forward` is the flow prev->t. A pixel is occluded when the round trip does not come back,
    |w + w'|^2 > 0.01 (|w|^2 + |w'|^2) + 0.5 with w' the forward flow warped onto frame t, or
    when it lies on a motion boundary, |grad u|^2 + |grad v|^2 > 0.01 |w|^2 + 0.002.
    """
    forward_at_t = warp(forward, backward)
    round_trip = ((backward + forward_at_t) ** 2).sum(-1)
    inconsistent = round_trip > 0.01 * ((backward ** 2).sum(-1) + (forward_at_t ** 2).sum(-1)) + 0.5
    gradient = sum(cv2.Sobel(backward[..., c], cv2.CV_32F, dx, dy, ksize=1) ** 2
                   for c in (0, 1) for dx, dy in ((1, 0), (0, 1))) / 4  # ksize=1 central differences span 2 px
    boundary = gradient > 0.01 * (backward ** 2).sum(-1) + 0.002
    return (~(inconsistent | boundary)).astype(np.float32)


def pair_flow(prev: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(flow current->prev, its occlusion mask) for one consecutive pair of RGB frames."""
    g_prev, g_cur = grey(prev), grey(current)
    backward = flow(g_cur, g_prev)
    forward = flow(g_prev, g_cur)
    return backward, occlusion_mask(backward, forward)


def cache_key(video: str | Path, width: int, height: int, extra: str = "") -> str:
    """Video path + mtime + size + resolution: a changed or moved video gets fresh flow."""
    path = Path(video).resolve()
    stat = path.stat()
    text = f"{path}|{stat.st_mtime_ns}|{stat.st_size}|{width}x{height}|{extra}"
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:20]


def cached_pair_flows(video: str | Path, pairs: list[tuple[np.ndarray, np.ndarray]], extra: str = "",
                      cache_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Flows (N,H,W,2 float16) and masks (N,H,W uint8) of `pairs` read from `video`, computed once
    and kept in the CamStyle cache folder."""
    from camstyle import atomic, paths
    from camstyle.errors import CamStyleError

    height, width = pairs[0][0].shape[:2]
    folder = Path(cache_dir) if cache_dir else paths.cache_dir() / "flow"
    file = folder / f"{cache_key(video, width, height, f'{len(pairs)}|{extra}')}.npz"
    if file.is_file():
        try:
            with np.load(file) as data:
                flows, masks = data["flows"], data["masks"]
            if flows.shape[:3] == (len(pairs), height, width):
                return flows, masks
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache entry is recomputed
    results = [pair_flow(prev, cur) for prev, cur in pairs]
    flows = np.stack([f for f, _ in results]).astype(np.float16)
    masks = np.stack([m for _, m in results]).astype(np.uint8)
    try:
        with atomic.atomic_path(file) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, flows=flows, masks=masks)
    except (CamStyleError, OSError, ValueError):  # a cache that cannot be written only costs time
        pass
    return flows, masks

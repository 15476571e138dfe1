"""Steadying: the residual shimmer of a style network, smoothed along the motion.

A trained network still repaints a few strokes differently from one frame to the next. The
steadier blends each stylized frame with the previous one, warped by the optical flow of the
camera frames (DIS, its fastest preset), so strokes follow the motion instead of being
averaged into a smear. Where the warp does not explain the camera picture (a hand that
appears, a turned head, a light switched on) the new frame is taken as it is, so nothing
ghosts. "Explains" allows the fast flow's error of about a pixel: a camera pixel counts as
explained when it lies within the range of the warped picture's 3x3 neighbourhood (and not
far from the warped pixel itself). Judged by the plain difference alone, grass, hair and
brick, where a pixel's shift changes a lot and the fast flow is often that far off, were
mostly taken unsteadied.
The blend weight `hold` is the share of the warped previous frame where the warp is
trusted and the picture moves: 0 is off, 0.5 halves a pixel's frame-to-frame shimmer. Where the
picture stands still the hold rises towards 1 (STILL_GAIN): slow moves are what smear, and a
still background the network repaints every frame is where shimmer shows most.
numpy and OpenCV only, and cheap enough to stay on by default: all its work (one DIS flow, two
remaps, a 3x3 erode and dilate, two blurs) runs at the inference size, not the output size
(docs/research/run-time-steadying.md has its cost and effect).
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_STEADY = 0.9  # steadying beyond this holds the previous frames so long that slow moves smear
DEFAULT_STEADY = 0.5  # what a style gets under steady = "auto" unless its .json asks for more (styles.StyleInfo.steady)
TRUST_FULL = 0.02  # new camera pixel within this of its warped neighbourhood's range (0..1 luminance): warp trusted
TRUST_NONE = 0.06  # this far outside it or more: the new stylized frame is taken as it is
MISMATCH_FULL = 0.10  # and, however textured the place, a plain difference up to this is trusted ...
MISMATCH_NONE = 0.20  # ... and from this on not: what a wrong flow shows, e.g. a fast ball over dark trousers
NEIGHBOURHOOD = np.ones((3, 3), np.uint8)  # the misalignment the trust allows: a pixel either way
ERROR_BLUR = 1.5   # sigma (px) of the blur on the warp error, so single noisy pixels do not decide
STILL_MOTION = 0.009  # motion under this share of the frame's width a frame (4 px at 448 wide) counts as
STILL_GAIN = 0.7      # still, in proportion, and there the hold goes this share of the way from `hold`
                      # to 1 (0.5 -> 0.85), capped at MAX_STEADY: where nothing moves, holding longer
                      # cannot smear, and repainted strokes on a still background are what shimmers most


def _trust_table(full: float, none: float) -> np.ndarray:
    """For each uint8 error (blurred, 0..255): 1 under `full` (0..1), falling linearly to 0 at `none`;
    looked up per pixel (cv2.LUT) instead of computed, as float32."""
    error = np.arange(256, dtype=np.float32)
    return np.clip((none * 255 - error) / ((none - full) * 255), 0.0, 1.0).astype(np.float32)


_TRUST_OUTSIDE = _trust_table(TRUST_FULL, TRUST_NONE)
_TRUST_MISMATCH = _trust_table(MISMATCH_FULL, MISMATCH_NONE)


class Steadier:
    """Blends stylized frames with their motion-warped predecessor. Not thread-safe: one per stream."""

    def __init__(self, hold: float = 0.5):
        self.hold = hold
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._grid: np.ndarray | None = None  # (x, y) of every pixel, per size
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame (a cut: new source, new size, a pause)."""
        self._prev_grey: np.ndarray | None = None
        self._prev_out: np.ndarray | None = None

    def rescale(self, size: tuple[int, int]) -> None:
        """The inference size changed to (width, height): keep what is held, resized, so the next
        frame is still steadied against it (forgetting it would let one frame's shimmer through)."""
        if self._prev_out is None or (self._prev_out.shape[1], self._prev_out.shape[0]) == tuple(size):
            return
        self._prev_grey = cv2.resize(self._prev_grey, tuple(size), interpolation=cv2.INTER_AREA)
        self._prev_out = cv2.resize(self._prev_out, tuple(size), interpolation=cv2.INTER_AREA)

    def __call__(self, grey: np.ndarray, styled: np.ndarray) -> np.ndarray:
        """`grey`: the camera frame the network saw (uint8 HxW); `styled`: its output (float32 HxWx3).

        Returns the steadied output (float32 HxWx3); the input arrays are not changed."""
        hold = min(MAX_STEADY, max(0.0, float(self.hold)))
        previous, prev_grey = self._prev_out, self._prev_grey
        if hold <= 0.0 or previous is None or previous.shape != styled.shape or prev_grey.shape != grey.shape:
            self._prev_grey, self._prev_out = grey, styled
            return styled
        flow = self._flow.calc(grey, prev_grey, None)
        hold_map = self._hold_map(flow, hold)
        where = self._where(flow)
        warped_grey = cv2.remap(prev_grey, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        warped_out = cv2.remap(previous, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # weight = hold where the warp explains the camera frame, falling to 0 where it does not
        outside = cv2.add(cv2.subtract(grey, cv2.dilate(warped_grey, NEIGHBOURHOOD)),  # how far each camera pixel
                          cv2.subtract(cv2.erode(warped_grey, NEIGHBOURHOOD), grey))  # is outside its warped 3x3 range
        weight = cv2.LUT(cv2.GaussianBlur(outside, (0, 0), ERROR_BLUR), _TRUST_OUTSIDE)
        np.minimum(weight, cv2.LUT(cv2.GaussianBlur(cv2.absdiff(grey, warped_grey), (0, 0), ERROR_BLUR), _TRUST_MISMATCH),
                   out=weight)
        weight *= hold_map
        # warped_out * weight + styled * (1 - weight) in one multithreaded pass (blendLinear divides
        # by the weights' sum plus 1e-5: 0.003 of a grey level at most)
        out = cv2.blendLinear(warped_out, styled, weight, cv2.subtract(1.0, weight))
        self._prev_grey, self._prev_out = grey, out
        return out

    @staticmethod
    def _hold_map(flow: np.ndarray, hold: float) -> np.ndarray:
        """Per pixel: `hold` where the scene moves by STILL_MOTION or more, rising linearly to the
        still hold where it does not move at all."""
        still_px = STILL_MOTION * flow.shape[1]
        rise = min(MAX_STEADY, hold + STILL_GAIN * (1.0 - hold)) - hold
        hold_map = np.abs(flow[..., 0])  # |dx| + |dy|, then hold + rise * (1 - motion / still_px), in place
        hold_map += np.abs(flow[..., 1])
        hold_map *= -rise / still_px
        hold_map += hold + rise
        return np.maximum(hold_map, hold, out=hold_map)

    def _where(self, flow: np.ndarray) -> np.ndarray:
        """The flow turned into remap's two-channel map (pixel -> where to sample), in place."""
        if self._grid is None or self._grid.shape != flow.shape:
            height, width = flow.shape[:2]
            self._grid = np.dstack(np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)))
        flow += self._grid
        return flow

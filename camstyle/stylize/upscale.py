"""Edge-aware upscaling of the stylized frame to the output size, guided by the camera frame.

A fast guided filter (He et al. 2010; coefficients fitted at low resolution as in Wu et al.
2018), from OpenCV box filters only, applied to the detail the network never saw: at the
inference size a local linear model, styled luminance ~= A * camera luminance + b, is fitted
over 3x3 windows; the output is the plain bilinear upscale of the stylized frame plus A times
the camera's own detail finer than the inference size (its full-size grey minus the upscaled
small grey). The network's strokes and colours pass through untouched; only where the style
follows the camera's edges (large A) do those edges come back crisp at 720p, and flat areas
(A ~ 0) get nothing. A plain guided filter at a large radius instead rebuilds the frame from
the camera, and the strokes vanish.
"""

from __future__ import annotations

import cv2
import numpy as np

RADIUS = 1       # box radius at the inference size: the local model spans 3x3 small pixels
EPS = 0.002      # regulariser on the guide's variance (0..1 intensities): flat areas get A ~ 0
GAIN = 1.0       # share of the edge detail put back
MAX_A = 3.0      # |A| is clipped: a noisy guide pixel must not blow up


def coefficients(small_grey: np.ndarray, small_styled_grey: np.ndarray, radius: int = RADIUS,
                 eps: float = EPS) -> np.ndarray:
    """A (float32 hxw): per pixel, how strongly the styled luminance follows the camera's."""
    ksize = (2 * radius + 1, 2 * radius + 1)
    guide = small_grey.astype(np.float32)
    styled = small_styled_grey.astype(np.float32)
    mean_i, mean_p = cv2.blur(guide, ksize), cv2.blur(styled, ksize)
    var_i = cv2.blur(cv2.multiply(guide, guide), ksize) - cv2.multiply(mean_i, mean_i)
    cov = cv2.blur(cv2.multiply(guide, styled), ksize) - cv2.multiply(mean_i, mean_p)
    a = cv2.divide(cov, var_i + eps * 255 * 255)
    a = cv2.blur(a, ksize)  # averaged over the windows covering each pixel, as in the guided filter
    np.clip(a, -MAX_A, MAX_A, out=a)
    return a


class GuidedUpscaler:
    """guided_upscale with its full-size work buffers kept between frames: allocating a few
    fresh 720p arrays per frame costs more than the arithmetic. One per stream (not thread-safe)."""

    def __init__(self, radius: int = RADIUS, eps: float = EPS, gain: float = GAIN):
        self.radius, self.eps, self.gain = radius, eps, gain
        self._buffers: dict[str, np.ndarray] = {}

    def _buffer(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        buffer = self._buffers.get(name)
        if buffer is None or buffer.shape != shape or buffer.dtype != dtype:
            buffer = self._buffers[name] = np.empty(shape, dtype)
        return buffer

    def __call__(self, small_styled: np.ndarray, small_grey: np.ndarray, full_grey: np.ndarray) -> np.ndarray:
        """The stylized small frame (uint8 hxwx3) at the guide's full size (a new uint8 HxWx3).

        small_grey: the camera frame the network saw, in grey (uint8 hxw); full_grey: the
        camera frame at the output size, in grey (uint8 HxW).
        """
        height, width = full_grey.shape[:2]
        size, grey_shape = (width, height), (height, width)
        a = coefficients(small_grey, cv2.cvtColor(small_styled, cv2.COLOR_BGR2GRAY), self.radius, self.eps)
        if self.gain != 1.0:
            a *= self.gain
        up_a = cv2.resize(a, size, dst=self._buffer("a", grey_shape, np.float32), interpolation=cv2.INTER_LINEAR)
        up_grey = cv2.resize(small_grey, size, dst=self._buffer("grey", grey_shape, np.uint8),
                             interpolation=cv2.INTER_LINEAR)
        detail = cv2.subtract(full_grey, up_grey, dst=self._buffer("detail", grey_shape, np.int16),
                              dtype=cv2.CV_16S)  # the camera's detail finer than the inference size
        # A * detail added to all three channels, as two saturating uint8 steps (the cheap way to
        # add a signed term): a uint8 product saturates its negative part to 0, so +A*d gives the
        # brightening and -A*d the darkening.
        three = self._buffer("three", (height, width, 3), np.uint8)
        part = self._buffer("part", grey_shape, np.uint8)
        up = cv2.resize(small_styled, size, interpolation=cv2.INTER_LINEAR)
        cv2.multiply(up_a, detail, dst=part, dtype=cv2.CV_8U)
        cv2.add(up, cv2.merge([part, part, part], dst=three), dst=up)
        cv2.multiply(up_a, detail, dst=part, scale=-1, dtype=cv2.CV_8U)
        cv2.subtract(up, cv2.merge([part, part, part], dst=three), dst=up)
        return up


def guided_upscale(small_styled: np.ndarray, small_grey: np.ndarray, full_grey: np.ndarray,
                   radius: int = RADIUS, eps: float = EPS, gain: float = GAIN) -> np.ndarray:
    """One-off form of GuidedUpscaler (see there)."""
    return GuidedUpscaler(radius, eps, gain)(small_styled, small_grey, full_grey)

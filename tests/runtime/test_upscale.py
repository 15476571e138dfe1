"""Guided upscaling: the camera's outlines come back crisp, the style's own texture stays."""

from __future__ import annotations

import cv2
import numpy as np

from camstyle.stylize.upscale import GuidedUpscaler, guided_upscale


def edge_scene(width=256, height=144):
    """A camera frame with one sharp vertical edge, its small copy, and a 'style' of that copy."""
    full = np.full((height, width, 3), 40, np.uint8)
    full[:, width // 2 + 3:] = 210  # not on a small-pixel boundary: the small copy blurs it
    small = cv2.resize(full, (width // 4, height // 4), interpolation=cv2.INTER_AREA)
    styled = cv2.applyColorMap(small, cv2.COLORMAP_OCEAN)  # a colour mapping that follows the camera
    return full, small, styled


def sharpness(image, row):
    """The steepest step between neighbouring pixels along a row (grey levels)."""
    line = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)[row].astype(int)
    return np.abs(np.diff(line)).max()


def test_shape_dtype_and_edges_sharper_than_a_plain_resize():
    full, small, styled = edge_scene()
    grey = cv2.cvtColor(full, cv2.COLOR_BGR2GRAY)
    out = guided_upscale(styled, cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), grey)
    assert out.shape == full.shape and out.dtype == np.uint8
    plain = cv2.resize(styled, (full.shape[1], full.shape[0]), interpolation=cv2.INTER_LINEAR)
    assert sharpness(out, 70) > 1.5 * sharpness(plain, 70)
    # and the crisp edge sits where the camera's is
    step = np.abs(np.diff(cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)[70].astype(int)))
    assert abs(int(step.argmax()) - (full.shape[1] // 2 + 2)) <= 1


def test_texture_the_camera_does_not_have_passes_through_untouched():
    rng = np.random.default_rng(0)
    full = np.full((144, 256, 3), 128, np.uint8)  # a flat wall
    small = cv2.resize(full, (64, 36), interpolation=cv2.INTER_AREA)
    strokes = rng.integers(0, 256, (36, 64, 3), dtype=np.uint8)  # the painting's own strokes
    out = GuidedUpscaler()(strokes, cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), cv2.cvtColor(full, cv2.COLOR_BGR2GRAY))
    plain = cv2.resize(strokes, (256, 144), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(out, plain), "no camera detail: exactly the plain upscale, no blur, no photo pasted in"


def test_buffers_are_reused_and_each_call_returns_a_new_frame():
    full, small, styled = edge_scene()
    upscaler = GuidedUpscaler()
    grey_small, grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), cv2.cvtColor(full, cv2.COLOR_BGR2GRAY)
    first = upscaler(styled, grey_small, grey)
    second = upscaler(255 - styled, grey_small, grey)
    assert not np.shares_memory(first, second) and not np.array_equal(first, second)
    assert np.array_equal(first, upscaler(styled, grey_small, grey))

"""Steadying: shimmer on still parts is calmed, moving content is followed, cuts are not smeared."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from camstyle.stylize.steady import Steadier
from camstyle.training.data import synthetic_photo

H, W = 96, 128


def scene(shift: int = 0) -> np.ndarray:
    """A textured grey picture (something for the flow to lock on), panned by `shift` px."""
    photo = synthetic_photo(W + 64, H, seed=3).mean(-1)
    grain = cv2.GaussianBlur(np.random.default_rng(3).normal(0, 40, photo.shape), (0, 0), 1.5)
    wide = np.clip(photo + grain, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(wide[:, shift:shift + W])


def paint(grey: np.ndarray) -> np.ndarray:
    """A stand-in network: a deterministic colouring of the camera picture (float32 0..255)."""
    g = grey.astype(np.float32)
    return np.stack([g, 255 - g, np.full_like(g, 128)], -1)


def frame_to_frame(outputs: list[np.ndarray]) -> float:
    return float(np.mean([np.abs(b - a).mean() for a, b in zip(outputs, outputs[1:])]))


def test_shimmer_on_a_still_picture_is_calmed():
    rng = np.random.default_rng(0)
    grey = scene()
    shimmer = [paint(grey) + rng.normal(0, 12, (H, W, 3)).astype(np.float32) for _ in range(12)]
    steadier = Steadier(0.5)
    steadied = [steadier(grey, out) for out in shimmer]
    assert frame_to_frame(steadied[2:]) < 0.75 * frame_to_frame(shimmer[2:])
    assert abs(float(np.mean(steadied[-1])) - float(np.mean(paint(grey)))) < 1.0  # calmer, not darker or brighter


def test_moving_content_is_followed_without_a_trail():
    frames = [scene(3 * t) for t in range(8)]
    steadier = Steadier(0.7)
    for grey in frames:
        out = steadier(grey, paint(grey))
    # the network's output for the newest frame, not a blend with where things were
    trail = np.abs(out - paint(frames[-1]))[8:-8, 8:-8].mean()
    unwarped = 0.7 * paint(frames[-2]) + 0.3 * paint(frames[-1])  # what a blend without the flow shows
    assert trail < 1.5 and trail < 0.3 * np.abs(unwarped - paint(frames[-1]))[8:-8, 8:-8].mean()


def test_a_cut_is_taken_as_it_is():
    steadier = Steadier(0.9)
    first, cut = scene(), 255 - scene(40)
    steadier(first, paint(first))
    out = steadier(cut, paint(cut))
    assert np.abs(out - paint(cut)).mean() < 2.0


@pytest.mark.parametrize("case", ["off", "reset", "new_size"])
def test_first_frame_off_and_resets_pass_the_network_output_through(case):
    rng = np.random.default_rng(1)
    grey = scene()
    steadier = Steadier(0.0 if case == "off" else 0.5)
    steadier(grey, paint(grey))
    if case == "reset":
        steadier.reset()
    if case == "new_size":
        grey = grey[:64, :96].copy()
    noisy = paint(grey) + rng.normal(0, 12, (*grey.shape, 3)).astype(np.float32)
    assert np.array_equal(steadier(grey, noisy), noisy)


def test_still_parts_are_held_longer_than_moving_ones(monkeypatch):
    """Where nothing moves, the hold rises towards 1 (0.5 -> 0.85): the shimmer on a still
    picture falls further than the plain hold would take it. A pan of more than STILL_MOTION
    of the width a frame keeps the plain hold: the same shimmer is calmed as much as before."""
    from camstyle.stylize import steady

    def shimmer_left(frames, seed=0):
        rng = np.random.default_rng(seed)
        steadier = Steadier(0.5)
        outputs = [steadier(grey, paint(grey) + rng.normal(0, 12, (H, W, 3)).astype(np.float32)) for grey in frames]
        return frame_to_frame([o - paint(g) for o, g in zip(outputs[4:], frames[4:])])

    nothing_moves = np.zeros((4, 8, 2), np.float32)
    assert np.allclose(Steadier._hold_map(nothing_moves, 0.5), 0.5 + steady.STILL_GAIN * 0.5)
    assert np.allclose(Steadier._hold_map(nothing_moves, 0.9), steady.MAX_STEADY)
    still, panning = [scene()] * 16, [scene(4 * t) for t in range(16)]
    adaptive = shimmer_left(still), shimmer_left(panning)
    monkeypatch.setattr(steady, "STILL_GAIN", 0.0)
    plain = shimmer_left(still), shimmer_left(panning)
    assert adaptive[0] < 0.7 * plain[0], "a still picture: held longer"
    assert adaptive[1] == pytest.approx(plain[1], rel=0.1), "a pan of 4 px a frame (3 % of the width): the plain hold"

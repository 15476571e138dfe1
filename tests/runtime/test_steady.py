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


class FlowOff:
    """Stands in for the optical flow: the true motion (none) plus a constant error of `dx` px."""

    def __init__(self, dx: float):
        self.dx = dx

    def calc(self, grey, prev, _):
        flow = np.zeros((*grey.shape, 2), np.float32)
        flow[..., 0] = self.dx
        return flow


def textured(seed: int = 5) -> np.ndarray:
    """Fine, contrasty grain (grass, hair, brick): a pixel's shift changes it a lot."""
    grain = cv2.GaussianBlur(np.random.default_rng(seed).normal(128, 70, (H, W)), (0, 0), 0.8)
    return np.clip(grain, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("flow_error", [0.0, 1.0])
def test_a_flow_a_pixel_off_is_trusted_on_texture(flow_error):
    """The fast flow is often a pixel off on fine texture, where that pixel changes the picture
    a lot: the warp still counts as explaining it, so the shimmer there is calmed."""
    rng = np.random.default_rng(0)
    grey = textured()
    steadier = Steadier(0.5)
    steadier._flow = FlowOff(flow_error)
    shimmer = [paint(grey) + rng.normal(0, 12, (H, W, 3)).astype(np.float32) for _ in range(8)]
    steadied = [steadier(grey, out) for out in shimmer]
    inner = lambda frames: [f[8:-8, 8:-8] for f in frames]  # noqa: E731 - the warp repeats the border
    assert frame_to_frame(inner(steadied[2:])) < 0.8 * frame_to_frame(inner(shimmer[2:]))


def test_a_fast_ball_the_flow_missed_leaves_no_trail():
    """A bright, patterned ball over dark trousers, moving 12 px a frame, and a flow that saw no
    motion: where the ball was and where it is now, the new frame is taken as it is, though the
    ball's dark patches put the trousers' shade within its neighbourhoods' range."""
    trousers = (textured() // 4).astype(np.uint8)
    patches = np.where(textured(seed=9) > 100, 250, 20).astype(np.uint8)  # a football's black and white
    frames = []
    for t in range(6):
        ball = np.zeros((H, W), np.uint8)
        cv2.circle(ball, (W // 2, 20 + 12 * t), 9, 255, -1)
        frames.append(np.where(ball > 0, patches, trousers))
    steadier = Steadier(0.5)
    steadier._flow = FlowOff(0.0)
    for grey in frames:
        out = steadier(grey, paint(grey))
    moved = cv2.absdiff(frames[-1], frames[-2]) > 100  # the ball's old place and its new one
    assert moved.sum() > 200
    assert np.abs(out - paint(frames[-1]))[moved].max() < 2.0

"""How frames pass between the engine's threads without queueing: a one-slot box that always
holds the newest frame (older ones are counted as dropped), and the clock that says when the
publisher sends."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np


@dataclass
class Frame:
    image: np.ndarray
    t_capture: float  # perf_counter when the frame left the camera
    stylized: bool = False


class LatestBox:
    """A one-slot mailbox: put() replaces what is there (counting it as dropped if nobody
    took it), take() waits for something newer than what was taken last."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Frame | None = None
        self._fresh = False
        self.dropped = 0

    def put(self, item: Frame) -> None:
        with self._cond:
            if self._fresh:
                self.dropped += 1
            self._item, self._fresh = item, True
            self._cond.notify_all()

    def wait_fresh(self, timeout: float) -> bool:
        """Whether something newer than what was taken last is there, waiting up to `timeout` s."""
        with self._cond:
            if not self._fresh and timeout > 0:
                self._cond.wait(timeout)
            return self._fresh

    def take(self, timeout: float | None = None) -> Frame | None:
        with self._cond:
            if not self._fresh and timeout:
                self._cond.wait(timeout)
            if not self._fresh:
                return None
            self._fresh = False
            return self._item


class SendClock:
    """When the publisher sends. A frame that is ready goes out at once unless that would run
    ahead of the output frame rate; while none comes, the last one is sent again so the output
    keeps its rate.

    Sends earn credit at the frame rate and each spends one: a new frame needs credit that is
    not negative, a repeat one and a half sends' worth. A camera at the output rate is thus
    passed through with no wait, its jitter of up to half a period absorbed; a slower one (a
    25 fps clip, a camera in a dim room) has each frame sent as soon as it is ready, with repeats
    in between; a faster one is held to the rate. Credit stops growing half a send above a
    repeat's: a publisher that wakes late loses none, and one that stalled sends one extra frame
    at most, not a burst. The credit new frames find drifts back to the middle of the two
    thresholds (time constant SETTLE_S): at equal rates any level would hold for good, so a
    start-up hiccup that left frames waiting for credit would keep them waiting, and jitter near
    a threshold would cause waits or needless repeats; the drift clears both within seconds, and
    lets a faster camera through about 2 % above the rate."""

    FRESH, REPEAT = 0.0, 1.5
    CAP = REPEAT + 0.5
    REST = (FRESH + REPEAT) / 2
    SETTLE_S = 2.0

    def __init__(self, period: float, now: float):
        self.period = period
        self._credit, self._t = self.REPEAT, now  # the first frame goes at once

    def _credit_at(self, now: float) -> float:
        return min(self.CAP, self._credit + max(0.0, now - self._t) / self.period)

    def _when(self, now: float, level: float) -> float:
        """When the credit reaches `level` (now, if it has)."""
        return now + max(0.0, level - self._credit_at(now)) * self.period

    def fresh_at(self, now: float) -> float:
        """When a frame that is ready at `now` may go out."""
        return self._when(now, self.FRESH)

    def repeat_at(self, now: float) -> float:
        """When the last frame goes out again if no new one is ready by then."""
        return self._when(now, self.REPEAT)

    def sent(self, now: float, fresh: bool) -> None:
        """A frame went out at `now`: a new one (`fresh`) or a repeat."""
        level = self._credit_at(now)
        if fresh:  # where new frames find the credit drifts to the middle; repeats keep exact time
            level += (self.REST - level) * (1 - math.exp(-max(0.0, now - self._t) / self.SETTLE_S))
        self._credit, self._t = level - 1, now

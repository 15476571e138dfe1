"""How frames pass between the engine's threads without queueing: a one-slot box that always
holds the newest frame (older ones are counted as dropped), and the publish clock's phase lock."""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass
class Frame:
    image: np.ndarray
    t_capture: float  # perf_counter when the frame left the camera
    t_ready: float = 0.0  # when it was ready to publish
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

    def take(self, timeout: float | None = None) -> Frame | None:
        with self._cond:
            if not self._fresh and timeout:
                self._cond.wait(timeout)
            if not self._fresh:
                return None
            self._fresh = False
            return self._item


class PhaseLock:
    """Keeps the publish clock's ticks just after the moment frames become ready.

    Frames arrive on the camera's clock (plus a roughly constant processing time). When their
    arrival phase within a tick period is consistent, the tick phase follows it, so frames
    wait ~a millisecond instead of up to a whole period. Scattered arrivals leave it alone,
    and the tick rate itself never changes.
    """

    def __init__(self, period: float, window: int = 30, gain: float = 0.2):
        self.period = period
        self.gain = gain
        self.offset = 0.0
        self._phases: deque[tuple[float, float]] = deque(maxlen=window)

    def observe(self, t_ready: float, base: float) -> None:
        angle = 2 * math.pi * (((t_ready - base) / self.period) % 1.0)
        self._phases.append((math.cos(angle), math.sin(angle)))
        if len(self._phases) < 10:
            return
        c = sum(p[0] for p in self._phases) / len(self._phases)
        s = sum(p[1] for p in self._phases) / len(self._phases)
        concentration = math.hypot(c, s)
        if concentration < 0.7:
            return
        spread = math.sqrt(max(0.0, -2 * math.log(concentration))) * self.period / (2 * math.pi)
        margin = min(self.period / 2, 0.001 + 2 * spread)
        target = (math.atan2(s, c) / (2 * math.pi)) * self.period + margin
        delta = ((target - self.offset) + self.period / 2) % self.period - self.period / 2
        self.offset += self.gain * delta

"""A run's measurements: frame counters and rates, latency, stage times, errors, CPU and
memory, and the metrics part of the Controller's status.

Each frame counter has one writer: the capture thread counts frames in, the stylize thread
frames styled, the publish thread frames out. Any thread may read them, and status() may be
called from any thread while they change.
"""

from __future__ import annotations

import time

from camstyle.engine.mailbox import Frame
from camstyle.stats import CpuMeter, FpsMeter, LatencyWindow, StageTimer, rss_mb


class RunMetrics:
    """The meters and counters of one run; the Controller holds one and its threads feed it."""

    def __init__(self, started_at: float | None = None):
        """`started_at` (a perf_counter time) is when the user started waiting; first_frame_s
        and uptime count from it. Unset, begin() sets it when the run starts."""
        self.started_at = started_at or 0.0
        self.fps_in, self.fps_styled, self.fps_out = FpsMeter(), FpsMeter(), FpsMeter()
        self.latency = LatencyWindow()
        self.stage = {"capture": StageTimer(), "infer": StageTimer(), "publish": StageTimer()}
        self.cpu = CpuMeter()
        self.frames_in = self.frames_styled = self.frames_out = 0
        self.errors = 0
        self.first_frame_s: float | None = None
        self._first_publish = self._last_publish = 0.0

    def begin(self) -> None:
        """The run starts now, unless it was given an earlier start."""
        self.started_at = self.started_at or time.perf_counter()

    def error(self) -> int:
        """Count one error (any thread); returns the count so far, for rate-limited notices."""
        self.errors += 1
        return self.errors

    # Called by the capture, stylize and publish threads, each for its own frames.

    def captured(self, now: float, cpu_ms: float) -> None:
        """One frame came from the source at `now`; `cpu_ms` is the capture thread's CPU time for it."""
        self.frames_in += 1
        self.fps_in.tick(now)
        self.stage["capture"].add(cpu_ms)

    def styled(self, now: float, infer_ms: float | None) -> None:
        """One frame left the stylizer; `infer_ms` is its stylize time, None when it passed through."""
        if infer_ms is not None:
            self.stage["infer"].add(infer_ms)
        self.frames_styled += 1
        self.fps_styled.tick(now)

    def published(self, now: float, cpu_ms: float) -> int:
        """One frame went to the outputs at `now`; returns the number published so far."""
        self.frames_out += 1
        self.fps_out.tick(now)
        self._last_publish = now
        if self.frames_out == 1:
            self._first_publish = now
        self.stage["publish"].add(cpu_ms)
        return self.frames_out

    def delivered(self, frame: Frame, now: float) -> None:
        """A frame was published for the first time at `now`: its latency since capture, and
        first_frame_s if it is the run's first stylized frame."""
        self.latency.add((now - frame.t_capture) * 1000)
        if frame.stylized and self.first_frame_s is None:
            self.first_frame_s = now - self.started_at

    def publish_span(self) -> float:
        """Seconds between the first and the last published frame."""
        return self._last_publish - self._first_publish

    # The status dict's metrics, in two groups that keep the status keys in their order.

    def flow(self, now: float, dropped: int) -> dict:
        """Frame rates, latency, stage times and counts; `dropped` comes from the frame boxes."""
        return {
            "fps_in": round(self.fps_in.rate(now), 2),
            "fps_styled": round(self.fps_styled.rate(now), 2),
            "fps_out": round(self.fps_out.rate(now), 2),
            "latency_ms": self.latency.summary(),
            "stage_ms": {name: round(timer.value, 2) for name, timer in self.stage.items()},
            "dropped": dropped,
            "frames_in": self.frames_in,
            "frames_styled": self.frames_styled,
            "frames_out": self.frames_out,
        }

    def usage(self, now: float) -> dict:
        """CPU, memory, uptime and the time to the first stylized frame."""
        return {
            "cpu_percent": self.cpu.percent(),
            "rss_mb": round(rss_mb(), 1),
            "uptime_s": round(now - self.started_at, 2) if self.started_at else 0.0,
            "first_frame_s": round(self.first_frame_s, 3) if self.first_frame_s is not None else None,
        }

"""How many cores the rest of the machine is using: what a competing load (the meeting app, a
build, a browser tab) takes from the stylizer.

The size governor learns under a load that a size costs more than predicted; this figure tells
it when that load is gone, so the lesson does not outlive it (camstyle.stylize.autosize).
"""

from __future__ import annotations

import time


class OtherProcessesLoad:
    """Call it to get the cores used by other processes since the previous call (0.0 up to the
    machine's core count), or None where the machine does not tell: psutil missing, or reading
    the counters failed. The first call measures from construction."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        try:
            import psutil
            self._psutil = psutil
            self._own = psutil.Process()
            self._last = self._snapshot()
        except Exception:  # ImportError, or counters this platform does not give: no figure
            self._psutil = None

    def _snapshot(self) -> tuple[float, float, float]:
        """(time, busy CPU seconds of the whole machine, CPU seconds of this process)."""
        cpu = self._psutil.cpu_times()
        # As psutil's own cpu_percent: guest time is already counted in user time on Linux.
        total = sum(cpu) - getattr(cpu, "guest", 0.0) - getattr(cpu, "guest_nice", 0.0)
        busy = total - cpu.idle - getattr(cpu, "iowait", 0.0)
        own = self._own.cpu_times()
        return self._clock(), busy, own.user + own.system

    def __call__(self) -> float | None:
        if self._psutil is None:
            return None
        try:
            now = self._snapshot()
        except Exception:
            return None
        (t0, busy0, own0), self._last = self._last, now
        elapsed = now[0] - t0
        if elapsed <= 0:
            return None
        return max(0.0, ((now[1] - busy0) - (now[2] - own0)) / elapsed)

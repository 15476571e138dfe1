"""Live measurements for the dashboard, the control channel and `--stats`: frame rates,
latency percentiles over a rolling window, per-stage times, process CPU and memory, and the
CPU other programs take.

Everything here is cheap (no numpy) and safe to update from one thread while another reads.
"""

from __future__ import annotations

import collections
import os
import sys
import threading
import time


class FpsMeter:
    """Frames per second over the last `window` seconds of ticks."""

    def __init__(self, window: float = 2.0):
        self.window = window
        self._ticks: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()
        self.count = 0

    def tick(self, now: float | None = None) -> None:
        now = time.perf_counter() if now is None else now
        with self._lock:
            self.count += 1
            self._ticks.append(now)
            self._trim(now)

    def _trim(self, now: float) -> None:
        while self._ticks and now - self._ticks[0] > self.window:
            self._ticks.popleft()

    def rate(self, now: float | None = None) -> float:
        now = time.perf_counter() if now is None else now
        with self._lock:
            self._trim(now)
            if len(self._ticks) < 2:
                return 0.0
            # N ticks span N-1 intervals; measure up to now so a stalled stream decays to 0.
            span = max(now - self._ticks[0], self._ticks[-1] - self._ticks[0])
            return (len(self._ticks) - 1) / span if span > 0 else 0.0


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile (like numpy's default) of an already sorted list."""
    if not sorted_values:
        return 0.0
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


class LatencyWindow:
    """The last `size` samples (milliseconds); p50/p95 on demand."""

    def __init__(self, size: int = 300):
        self._values: collections.deque[float] = collections.deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, ms: float) -> None:
        with self._lock:
            self._values.append(ms)

    def summary(self) -> dict[str, float]:
        with self._lock:
            values = sorted(self._values)
        return {"p50": round(percentile(values, 50), 2), "p95": round(percentile(values, 95), 2)}

    def __len__(self) -> int:
        return len(self._values)


class StageTimer:
    """Exponential moving average of one pipeline stage's duration in milliseconds."""

    def __init__(self, alpha: float = 0.1):
        self.alpha = alpha
        self.value = 0.0
        self._seen = False

    def add(self, ms: float) -> None:
        if not self._seen:
            self.value, self._seen = ms, True
        else:
            self.value += self.alpha * (ms - self.value)


def rss_mb() -> float:
    """Resident memory of this process in MiB (the current value where the OS tells it)."""
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/self/statm", "rb") as fh:
                return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, ValueError, IndexError):
            pass
    if sys.platform == "win32":
        return _windows_rss_mb()
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # peak: bytes on macOS, KiB elsewhere
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024
    except (ImportError, OSError):
        return 0.0


def peak_rss_mb() -> float:
    """The most resident memory this process has used, in MiB."""
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except (OSError, ValueError, IndexError):
            pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024
    except (ImportError, OSError):
        return rss_mb()


def _windows_rss_mb() -> float:
    import ctypes
    from ctypes import wintypes

    class Counters(ctypes.Structure):
        _fields_ = [("cb", wintypes.DWORD), ("PageFaultCount", wintypes.DWORD)] + [
            (name, ctypes.c_size_t) for name in ("PeakWorkingSetSize", "WorkingSetSize", "QuotaPeakPagedPoolUsage",
                                                 "QuotaPagedPoolUsage", "QuotaPeakNonPagedPoolUsage",
                                                 "QuotaNonPagedPoolUsage", "PagefileUsage", "PeakPagefileUsage")]

    counters = Counters()
    counters.cb = ctypes.sizeof(Counters)
    try:
        handle = ctypes.windll.kernel32.GetCurrentProcess()
        if ctypes.windll.psapi.GetProcessMemoryInfo(handle, ctypes.byref(counters), counters.cb):
            return counters.WorkingSetSize / 2**20
    except (AttributeError, OSError):
        pass
    return 0.0


class CpuMeter:
    """Process CPU use in percent of one core (like `top`) since the previous reading.

    Readings closer than `min_interval` apart return the previous value, so that several
    callers (dashboard, control channel) do not turn it into noise.
    """

    def __init__(self, min_interval: float = 0.5):
        self.min_interval = min_interval
        self._last = (time.perf_counter(), time.process_time())
        self._value = 0.0
        self._lock = threading.Lock()

    def percent(self) -> float:
        with self._lock:
            wall, cpu = time.perf_counter(), time.process_time()
            last_wall, last_cpu = self._last
            if wall - last_wall >= self.min_interval:
                self._value = 100.0 * (cpu - last_cpu) / (wall - last_wall)
                self._last = (wall, cpu)
            return round(self._value, 1)


class OtherProcessesLoad:
    """The cores other processes used since the previous call (0.0 up to the machine's core
    count): what a competing load (the meeting app, a build) takes from the stylizer. None where
    the machine does not tell (psutil missing, or its counters failed). The first call measures
    from construction. The size governor uses it to tell when a load has gone (autosize)."""

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

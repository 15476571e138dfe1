"""The inference size: a ladder of sizes, the start-up pick by measurement, and the runtime
governor that steps down under load and back up when the machine is calm again.

The network's cost grows with its pixel count, its look with its size: at 320x184 upscaled
to 720p strokes and faces blur, at 640x360 they read as a painting. "auto" takes the largest
rung of the ladder whose measured stylize time fits the budget, a share of the frame period
that leaves the rest to capture, publishing and the meeting app. Nothing here assumes an
architecture: the times are measured on whatever network the style is.

Hysteresis: the governor steps down when the median stylize time over a short window exceeds
the budget, and only steps up when the next rung is predicted to fit under UP_AT of it for a
calm period. A rung it had to leave within RETRY_WITHIN_S of climbing to it waits twice as
long before the next try (so tries thin out to one a minute at most). Left within
CORRECT_WITHIN_S, before it ever held, its predicted time is also corrected by what it really
took against the rung it stepped down to, timed just after (so a load that arrived meanwhile,
which slows both, does not count against the rung): a load that sits right at a boundary, or a
network that scales worse than its pixels, cannot make it oscillate, and a passing load does
not keep it low. A rung that held for seconds and then met one slow window is not corrected:
that window was a disturbance, not the rung's cost.
A load can also make only the larger rung dear (it takes what the pipeline's slack at the
smaller one left free), so the correction is kept with the cores other processes were using
when it was taken, and let go (with the usual calm period) once they use UNDO_CORES fewer:
the lesson learnt under a load does not outlive it.

Start-up on the CPU: the pick is timed alone, before capture and publishing run beside it,
and in the pipeline the same rung takes more (they share the cores). So the governor starts a
rung below the pick and climbs to it after CONFIRM_S only when the running time, scaled by the
two rungs' measured ratio, says it fits: the running pipeline confirms the pick instead of
stepping down from it with late frames. On a GPU the pick is taken at once: it has room.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

SMALLEST_WIDTH = 320
BASE_MULTIPLE = 8
STYLIZE_SHARE = 0.75  # of the frame period: the stylize thread's budget (measured: see docs/research/inference-size.md)
START_AT = 0.90       # a rung fits when its time is within this share of the budget: at start-up,
UP_AT = START_AT      # and while running, to step up (the same, so the idle size is reached again)
WINDOW_S = 0.6        # the short window whose median stylize time is compared with the budget
MIN_SAMPLES = 6
SETTLE_S = 0.4        # after a change, frames at the new size are not judged for this long
CALM_S = 3.0          # how long the next rung must be predicted to fit before stepping up
CONFIRM_S = 1.0       # at start-up, how long the pick must be predicted to fit before climbing to it
RETRY_WITHIN_S = 15.0  # leaving a rung this soon after climbing to it doubles its calm period
CORRECT_WITHIN_S = 5.0  # and this soon, before it held, corrects its predicted time too
MAX_CALM_S = 60.0
LOAD_EVERY_S = 0.5    # how often the other processes' CPU use is read
LOAD_WINDOW_S = 2.0   # and over how long it is averaged
UNDO_CORES = 0.5      # a correction is let go once other processes use this many cores fewer
HISTORY = 200         # size changes kept for the status and the --stats file
GPU_PROVIDERS = ("tensorrt", "cuda", "directml", "coreml")

Size = tuple[int, int]


def lcm_multiple(*multiples: int) -> int:
    """The multiple every side must be: 8, and each style network's own size multiple."""
    result = BASE_MULTIPLE
    for m in multiples:
        if isinstance(m, int) and m > 0:
            result = result * m // math.gcd(result, m)
    return result


def round_to(value: float, multiple: int) -> int:
    return max(multiple, int(value / multiple + 0.5 + 1e-9) * multiple)


def fit_size(requested: Size, output: Size, multiple: int = BASE_MULTIPLE) -> Size:
    """The largest size with the output's aspect inside `requested`, sides in `multiple`s.

    A size that already is one (sides in multiples, aspect within half a multiple) is kept,
    so fitting twice changes nothing."""
    (req_w, req_h), (out_w, out_h) = requested, output
    if not req_w % multiple and not req_h % multiple and abs(req_h - req_w * out_h / out_w) <= multiple / 2 + 1e-9:
        return req_w, req_h
    width = round_to(out_w * min(req_w / out_w, req_h / out_h), multiple)
    return width, round_to(width * out_h / out_w, multiple)


def ladder(output: Size, multiple: int = BASE_MULTIPLE) -> list[Size]:
    """Sizes with the output's aspect, smallest first: 320 wide up to the output's width.

    Widths step by 64 up to 640, by 128 up to 1280 and by 256 beyond, so that each rung costs
    roughly 1.2-1.5x the one below. An output narrower than 320 gives one rung, itself.
    """
    out_w, out_h = output
    widths, width = [], SMALLEST_WIDTH
    while width < out_w:
        widths.append(width)
        width += 64 if width < 640 else 128 if width < 1280 else 256
    widths.append(out_w)
    rungs: list[Size] = []
    for w in widths:
        size = (round_to(w, multiple), round_to(w * out_h / out_w, multiple))
        if size not in rungs:
            rungs.append(size)
    return rungs


def nearest_rung(rungs: list[Size], size: Size) -> int:
    return min(range(len(rungs)), key=lambda i: (abs(rungs[i][0] * rungs[i][1] - size[0] * size[1]), -i))


def budget_ms(fps: float, share: float = STYLIZE_SHARE) -> float:
    return 1000.0 / max(1.0, fps) * share


def is_gpu(provider: str) -> bool:
    return provider in GPU_PROVIDERS


def choose(rungs: list[Size], cost_ms: Callable[[Size], float], budget: float,
           gpu: bool = False, start_at: float = START_AT) -> tuple[int, dict[Size, float]]:
    """The start-up pick: (index of the largest rung that fits, the times measured on the way).

    A rung fits when cost_ms(rung) <= start_at * budget. On the CPU the rungs are measured from
    the smallest up and the first that does not fit ends it (a larger one would not either);
    on a GPU the largest is tried first, since there it usually fits. The smallest rung is the
    answer when none fits: it is the least the camera can do.
    """
    limit = start_at * budget
    measured: dict[Size, float] = {}
    if gpu and len(rungs) > 1:
        measured[rungs[-1]] = cost_ms(rungs[-1])
        if measured[rungs[-1]] <= limit:
            return len(rungs) - 1, measured
    best = 0
    for index, rung in enumerate(rungs):
        if rung not in measured:
            measured[rung] = cost_ms(rung)
        if measured[rung] > limit:
            break
        best = index
    return best, measured


def expected_times(rungs: list[Size], measured: dict[Size, float]) -> list[float]:
    """A time for every rung: measured ones as they are, the others predicted from the measured.

    A step has a part that grows with the pixel count (the network, steadying) and a part that
    does not (upscaling to the output size): with two or more measured rungs both are fitted
    (least squares, the fixed part kept >= 0), with one the whole time scales with pixels."""
    known = [(r[0] * r[1], t) for r, t in measured.items() if r in rungs and t > 0]
    if not known:
        return [float(w * h) for w, h in rungs]  # relative only: pixel counts
    fixed, per_pixel = 0.0, known[0][1] / known[0][0]
    if len({pixels for pixels, _ in known}) > 1:
        mean_p = sum(p for p, _ in known) / len(known)
        mean_t = sum(t for _, t in known) / len(known)
        slope = (sum((p - mean_p) * (t - mean_t) for p, t in known)
                 / sum((p - mean_p) ** 2 for p, _ in known))
        if slope > 0:
            fixed = max(0.0, mean_t - slope * mean_p)
            per_pixel = (mean_t - fixed) / mean_p
    return [measured[(w, h)] if measured.get((w, h), 0) > 0 else fixed + per_pixel * w * h for w, h in rungs]


def start_rungs(pick: int, gpu: bool) -> tuple[int, int | None]:
    """(the rung to start at, the rung to confirm or None) for the start-up pick: on the CPU a
    rung below it, to be confirmed while running (see the module's doc); on a GPU the pick."""
    if gpu or pick <= 0:
        return pick, None
    return pick - 1, pick


@dataclass
class SizeChange:
    t: float            # seconds since the governor started
    size: Size
    previous: Size | None
    reason: str

    def as_dict(self) -> dict:
        return {"t_s": round(self.t, 2), "size": list(self.size),
                "from": list(self.previous) if self.previous else None, "reason": self.reason}


class SizeGovernor:
    """Decides the inference size while running. Not thread-safe by itself: the caller
    serialises observe() (stylize thread) against pin()/free() (control actions).

    observe(ms) takes one frame's stylize time and returns the new size when it decides a
    change, else None. `clock` is injectable so tests drive it with fake time; `others` gives
    the cores other processes used since it was last called, or None where that is unknown
    (camstyle.stats.OtherProcessesLoad; without it a correction is never let go).
    """

    def __init__(self, rungs: list[Size], budget: float, index: int = 0, expected: list[float] | None = None,
                 reason: str = "start", clock: Callable[[], float] = time.monotonic, pinned: Size | None = None,
                 pinned_reason: str = "", confirm: int | None = None,
                 others: Callable[[], float | None] | None = None):
        if not rungs:
            raise ValueError("the ladder is empty")
        self.rungs = list(rungs)
        self.budget = budget
        self.expected = list(expected) if expected else [float(w * h) for w, h in self.rungs]
        self.clock = clock
        self.index = max(0, min(index, len(self.rungs) - 1))
        self.pinned = pinned
        self._t0 = clock()
        self._samples: deque[tuple[float, float]] = deque()
        self._settle_until = self._t0 + SETTLE_S
        self._calm_since: float | None = None
        self._calm_s = [CALM_S] * len(self.rungs)
        if confirm is not None and 0 < confirm < len(self.rungs):  # the start-up pick: a short calm, once
            self._calm_s[confirm] = CONFIRM_S
        self._confirm = confirm
        self._climbed: dict[int, float] = {}  # rung -> when it was climbed to
        self._correct: tuple[int, float] | None = None  # (rung left soon after climbing, its median)
        self._others = others
        self._load: deque[tuple[float, float]] = deque()  # (time, cores other processes used)
        self._load_read = self._t0
        self._others_mean: float | None = None  # kept as one value: the status reads it from any thread
        self._corrections: dict[int, tuple[float, float]] = {}  # rung -> (its time before, others' cores then)
        self._released: set[int] = set()  # rungs whose correction the end of a load let go
        self.changes: deque[SizeChange] = deque(maxlen=HISTORY)
        self.reason = ""
        self._record(pinned if pinned else self.rungs[self.index], None, pinned_reason if pinned else reason)

    @property
    def size(self) -> Size:
        return self.pinned or self.rungs[self.index]

    @property
    def auto(self) -> bool:
        return self.pinned is None

    @property
    def others_cores(self) -> float | None:
        """The cores other processes used over the last couple of seconds, if known."""
        others = self._others_mean
        return None if others is None else round(others, 2)

    def _record(self, size: Size, previous: Size | None, reason: str) -> None:
        self.reason = reason
        self.changes.append(SizeChange(self.clock() - self._t0, size, previous, reason))

    def _restart_window(self, now: float, keep_correction: bool = False) -> None:
        if not keep_correction:  # the next window judges something else (a pin, a style switch)
            self._correct = None
        self._samples.clear()
        self._settle_until = now + SETTLE_S
        self._calm_since = None

    def pin(self, size: Size, reason: str = "pinned") -> Size:
        previous = self.size
        self.pinned = size
        self._restart_window(self.clock())
        self._record(size, previous, reason)
        return size

    def free(self, reason: str = "auto again") -> Size:
        """Back to automatic: from the rung nearest the pinned size, which the window then judges."""
        previous = self.size
        if self.pinned is not None:
            self.index = nearest_rung(self.rungs, self.pinned)
        self.pinned = None
        self._restart_window(self.clock())
        self._record(self.size, previous, reason)
        return self.size

    def forget_window(self) -> None:
        """Drop what the window holds (a style switch, a pause): it measured something else."""
        self._restart_window(self.clock())

    def observe(self, ms: float, now: float | None = None) -> Size | None:
        now = self.clock() if now is None else now
        self._read_load(now)
        if self.pinned is not None or now < self._settle_until:
            return None
        self._samples.append((now, ms))
        while self._samples and now - self._samples[0][0] > WINDOW_S:
            self._samples.popleft()
        if len(self._samples) < MIN_SAMPLES:
            return None
        median = statistics.median(t for _, t in self._samples)
        if self._correct is not None:  # the first window after leaving a rung too soon
            left, median_left = self._correct
            self._correct = None
            corrected = self.expected[self.index] * median_left / median
            if corrected > self.expected[left]:
                before = self._corrections.get(left, (self.expected[left], 0.0))[0]
                others = self._others_mean  # unknown: -inf, never let go
                self._corrections[left] = (before, -math.inf if others is None else others)
                self.expected[left] = corrected
        self._release_corrections()
        if median > self.budget and self.index > 0:
            return self._step_down(median, now)
        return self._maybe_step_up(median, now)

    def _read_load(self, now: float) -> None:
        if self._others is None or now - self._load_read < LOAD_EVERY_S:
            return
        self._load_read = now
        cores = self._others()
        if cores is not None:
            self._load.append((now, cores))
        while self._load and now - self._load[0][0] > LOAD_WINDOW_S:
            self._load.popleft()
        self._others_mean = statistics.fmean(c for _, c in self._load) if self._load else None

    def _release_corrections(self) -> None:
        """Let go of corrections taken under a load that has since gone (see the module's doc)."""
        others = self._others_mean
        if others is None:
            return
        for rung, (before, others_then) in list(self._corrections.items()):
            if others <= others_then - UNDO_CORES:
                self.expected[rung] = before
                self._calm_s[rung] = CALM_S
                self._released.add(rung)
                del self._corrections[rung]

    def _predicted(self, median: float, index: int) -> float:
        return median * self.expected[index] / self.expected[self.index]

    def _step_down(self, median: float, now: float) -> Size:
        climbed = self._climbed.get(self.index)
        since = now - climbed if climbed is not None else math.inf
        soon = since < RETRY_WITHIN_S
        # At least one rung; further while the prediction stays over UP_AT of the budget. Leaving
        # a rung just climbed to, the rung below held a moment ago: the prediction, scaled from a
        # rung that proved dearer than expected, overstates it, so there only the budget counts.
        limit = (1.0 if soon else UP_AT) * self.budget
        target = self.index - 1
        while target > 0 and self._predicted(median, target) > limit:
            target -= 1
        if self._confirm is not None:  # not even the rung below the pick holds: no short calm left
            self._calm_s[self._confirm] = max(self._calm_s[self._confirm], CALM_S)
            self._confirm = None
        if soon:
            self._calm_s[self.index] = min(MAX_CALM_S, 2 * self._calm_s[self.index])
        if since < CORRECT_WITHIN_S:  # it never held: its cost was misjudged
            self._correct = (self.index, median)  # against the rung below, once it is timed
        previous = self.size
        self.index = target
        self._restart_window(now, keep_correction=True)
        self._record(self.size, previous, f"stepped down: stylize {median:.0f} ms > budget {self.budget:.0f} ms")
        return self.size

    def _maybe_step_up(self, median: float, now: float) -> Size | None:
        if self.index + 1 >= len(self.rungs):
            return None
        predicted = self._predicted(median, self.index + 1)
        if predicted > UP_AT * self.budget:
            self._calm_since = None
            return None
        if self._calm_since is None:
            self._calm_since = now
        if now - self._calm_since < self._calm_s[self.index + 1]:
            return None
        previous = self.size
        self.index += 1
        self._climbed[self.index] = now
        self._restart_window(now)
        what = ("confirmed the start-up pick" if self.index == self._confirm
                else "calm, the load that made it leave this size is gone" if self.index in self._released
                else "calm")
        self._released.discard(self.index)
        if self._confirm is not None and self.index >= self._confirm:
            self._calm_s[self._confirm] = max(self._calm_s[self._confirm], CALM_S)
            self._confirm = None
        self._record(self.size, previous, f"stepped up: {what}, {self.size[0]}x{self.size[1]} predicted "
                                          f"{predicted:.0f} ms of {self.budget:.0f} ms")
        return self.size

    def history(self) -> list[dict]:
        return [change.as_dict() for change in self.changes]

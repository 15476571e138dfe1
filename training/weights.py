"""Loss-term weights that adapt: so a term keeps its share of the total loss (AutoWeight), or so
the output holds a measure at the level of the input it paints (CellWeight)."""

from __future__ import annotations

import math


class AutoWeight:
    """A loss term's weight, fixed or set so the term is `share` of the total loss.

    The automatic weight is rest / (running geometric mean of the term): this step's rest is
    known exactly, and the term is smoothed in log space because the stability terms fall by
    orders of magnitude early in training (a mean of raw values would trail them for hundreds
    of steps). A falling term thus briefly weighs a little less than its share, never more.

    With `settle`, the term's mean stops following it after that many steps: the weight then
    scales with the rest of the loss only, so the term can fall to where its pull balances the
    style's. Chasing a falling term instead raises its pull without end (weight x gradient grows
    as 1/sqrt(term)), and the temporal stage ran away into a flat, styleless picture.

    With `hold` as well, the weight itself stops at settle (at its recent geometric mean). A weight
    that scales with the rest of the loss feeds back on itself: a rise in the style loss raises
    the pull towards a flat picture, which raises the style loss. Runs of the image stage twice
    the default length diverged that way; a weight held still has no such loop."""

    def __init__(self, share: float, fixed: float | None = None, beta: float = 0.9, settle: int = 0, hold: bool = False):
        self.share, self.fixed, self.beta, self.settle, self.hold = share, fixed, beta, settle, hold
        self.log_term = None
        self.log_weight = None  # with `hold`: the weight's running mean, kept after settle
        self.updates = 0

    @property
    def auto(self) -> bool:
        return self.fixed is None

    def __call__(self, term: float, rest: float, auto_shares: float) -> float:
        """`rest`: the fixed-weight part of the loss; `auto_shares`: the shares of all automatic terms."""
        if self.fixed is not None:
            return self.fixed
        settled = self.settle and self.updates >= self.settle
        if settled and self.hold and self.log_weight is not None:
            return math.exp(self.log_weight)
        if not settled:
            self.log_term = self._mean(self.log_term, term)
            self.updates += 1
        weight = min(self.share / (1 - auto_shares) * rest / math.exp(self.log_term), 1e9)
        if self.hold:
            self.log_weight = self._mean(self.log_weight, weight)
        return weight

    def _mean(self, log_mean: float | None, value: float) -> float:
        log_value = math.log(max(value, 1e-12))
        return log_value if log_mean is None else self.beta * log_mean + (1 - self.beta) * log_value

    def state_dict(self) -> dict:
        return {"log_term": self.log_term, "log_weight": self.log_weight, "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.log_term = state.get("log_term")
        self.log_weight = state.get("log_weight")
        self.updates = state.get("updates", 0)


class CellWeight:
    """The cells' pattern term's weight, fixed at `ceiling` or calibrated: it starts at 0 and rises,
    up to the ceiling, while the output has more of the pattern than `allowance` times the photo it
    was painted from. The two are compared by their log ratio, smoothed over about a hundred steps:
    it varies a lot from crop to crop, and a ten-step mean ratcheted the weight up on noise alone.
    It never falls: once the network paints without the pattern the term is small, and a weight
    that followed it down let the pattern back in the video stage. A painting whose strokes the
    network does not lock to its cells thus gets no weight. It sees only the pattern, not what the
    term costs faces, and the paintings tried so far all rose to the ceiling, so the ceiling is what
    decides: left to rise to 11-20, the weight took the pattern out and 3-35 % of the faces' edges
    with it (docs/research/cell-pattern.md).

    `rise`: the steps a fully excessive pattern (e times the allowance or more) takes to raise the
    weight from 0 to the ceiling."""

    def __init__(self, ceiling: float, calibrate: bool, allowance: float = 1.0, rise: int = 300, beta: float = 0.99):
        self.ceiling, self.calibrate, self.allowance, self.rise, self.beta = ceiling, calibrate, allowance, rise, beta
        self.weight = 0.0 if calibrate else ceiling
        self.log_excess = None

    def __call__(self, term: float, reference: float) -> float:
        """The weight for this step, given the output's pattern (`term`) and the photo's (`reference`)."""
        if not self.calibrate:
            return self.ceiling
        excess = math.log(max(term, 1e-12)) - math.log(max(reference * self.allowance, 1e-12))
        self.log_excess = excess if self.log_excess is None else self.beta * self.log_excess + (1 - self.beta) * excess
        if self.log_excess > 0:
            self.weight = min(self.ceiling, self.weight + min(1.0, self.log_excess) * self.ceiling / self.rise)
        return self.weight

    def state_dict(self) -> dict:
        return {"weight": self.weight, "log_excess": self.log_excess}

    def load_state_dict(self, state: dict) -> None:
        if self.calibrate and state:
            self.weight, self.log_excess = state["weight"], state["log_excess"]

"""Keeping long runs from blowing up: gradient spikes are clipped (SpikeClip), and should the
loss jump all the same, the run goes back to earlier weights (Rollback).

Why: a batch-1 run at a constant learning rate can, rarely, blow up within a few steps after
thousands of good ones: a burst of gradient spikes pushes Adam one way for a few steps and the
style loss climbs by orders of magnitude. Left alone, the run ends there and its style paints
noise (docs/research/run-that-blew-up.md).

Rollback's contract: it watches the mean style loss over windows of `window` steps; a window
more than `factor` times the median of the windows before it puts back the weights kept at
least `every` steps earlier. The data order has moved on by then, so the run does not replay
the batch that did it. Until there are windows enough for a median, the yardstick is the first
step's loss, the untrained network's, times `start_factor`: a healthy run falls from it within
a few steps (and a merely high learning rate overshoots well below that factor, then trains),
while one with a learning rate far too high leaves it at once. More than `limit` rollbacks,
or nothing to go back to, stops the run with a message saying how to go on (export the last
checkpoint, or restart with a lower learning rate) rather than training on garbage.
"""
from __future__ import annotations

import copy
from collections import deque

import numpy as np

from camstyle.errors import CamStyleError


class SpikeClip:
    """Clip a gradient far above the recent ones down to `factor` times their median.

    The limit is `factor` times the median norm of the last `history` steps; for the first
    `warmup` steps nothing is clipped. Gradients of ordinary size are untouched, so clipping
    only acts on the rare burst of spikes that, late in a heavily weighted video stage, can make
    a run run away within a few steps without any one update being large. Three times the median
    clips only a few steps in a hundred and keeps such runs training
    (docs/research/gradient-spike-clipping.md).
    """

    def __init__(self, factor: float = 3.0, history: int = 100, warmup: int = 20):
        self.factor, self.history, self.warmup = factor, history, warmup
        self.norms: list[float] = []  # recent gradient norms, before clipping

    def __call__(self, parameters: list) -> bool:
        """Clip the parameters' gradients in place if they spike; True if they did."""
        import torch

        limit = self.factor * float(np.median(self.norms)) if len(self.norms) >= self.warmup else float("inf")
        norm = float(torch.nn.utils.clip_grad_norm_(parameters, limit))  # the norm before clipping
        if np.isfinite(norm):
            self.norms = (self.norms + [norm])[-self.history:]
        return norm > limit

    def state_dict(self) -> dict:
        return {"norms": list(self.norms)}

    def load_state_dict(self, state: dict) -> None:
        self.norms = list(state.get("norms", []))


class Rollback:
    def __init__(self, every: int = 100, window: int = 10, factor: float = 20.0, history: int = 30,
                 limit: int = 3, start_factor: float = 1000.0, name: str = "NAME", saved_step: int = 0):
        self.every, self.window, self.factor, self.limit, self.name = every, window, factor, limit, name
        self.saved_step = saved_step  # the step of the run's checkpoint on disk, if any: the way out when it stops
        self.start_factor = start_factor  # over the first step's loss: room for a high learning rate's overshoot (run-that-blew-up.md)
        self.start: float | None = None   # the first step's style loss
        self.means: deque[float] = deque(maxlen=history)  # recent windows' mean style loss
        self.current: list[float] = []
        self.snapshots: deque[tuple[int, dict]] = deque(maxlen=2)  # (step, weights); the older is >= `every` steps old
        self.rollbacks = 0

    def observe(self, step: int, style: float, trainer) -> int | None:
        """Note one step's style loss. Returns the step whose weights were put back, if any."""
        self.current.append(style)
        if self.start is None:
            self.start = style
        if len(self.current) < self.window:
            return None
        mean, self.current = float(np.mean(self.current)), []
        typical, factor = ((float(np.median(self.means)), self.factor) if len(self.means) >= 5
                           else (self.start, self.start_factor))
        if not np.isfinite(mean) or mean > factor * typical:
            return self.restore(trainer, f"the style loss rose to {mean:.3g} from about {typical:.3g}")
        self.means.append(mean)
        if not self.snapshots or step - self.snapshots[-1][0] >= self.every:
            self.snapshots.append((step, copy.deepcopy(weights(trainer))))
        return None

    def restore(self, trainer, why: str) -> int:
        """Put back the kept weights, or explain that there are none to go back to."""
        self.rollbacks += 1
        if not self.snapshots or self.rollbacks > self.limit:
            restart = "a lower learning rate, e.g. --lr 5e-4, with --restart."
            raise CamStyleError(f"Training diverged ({why}).",
                                f"The checkpoint of step {self.saved_step} is intact: `camstyle export {self.name}` "
                                f"installs that network. Or start over with {restart}" if self.saved_step
                                else f"Use {restart}")
        step, state = self.snapshots[0]
        trainer.load_state_dict({**trainer.state_dict(), **copy.deepcopy(state)})  # keeps the data order
        self.current = []
        self.snapshots = deque([(step, state)], maxlen=2)
        return step


def weights(trainer) -> dict:
    """What going back restores: the network, the optimizer and the loss weights, not the data order."""
    return {k: v for k, v in trainer.state_dict().items() if k != "rng"}

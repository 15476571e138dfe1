"""Going back to earlier weights when a run blows up.

A batch-1 run at a constant learning rate can, rarely, blow up within a few steps after
thousands of good ones: one odd batch, one large Adam step, and the style loss jumps from
about 0.6 to thousands. Left alone, the run ends there and its style paints noise
(styles/README.md, "A run that blew up"). The guard watches the style loss in windows of a
few steps; a window far above the median of the windows before it puts back the weights kept
at least `every` steps earlier. The data order has moved on by then, so the run does not
replay the batch that did it.
"""
from __future__ import annotations

import copy
from collections import deque

import numpy as np

from camstyle.errors import CamStyleError


class Rollback:
    def __init__(self, every: int = 100, window: int = 10, factor: float = 20.0, history: int = 30,
                 limit: int = 3):
        self.every, self.window, self.factor, self.limit = every, window, factor, limit
        self.means: deque[float] = deque(maxlen=history)  # recent windows' mean style loss
        self.current: list[float] = []
        self.fresh: tuple[int, dict] | None = None  # the newest weights kept ...
        self.kept: tuple[int, dict] | None = None   # ... and the ones before: at least `every` steps old
        self.rollbacks = 0

    def observe(self, step: int, style: float, trainer) -> int | None:
        """Note one step's style loss. Returns the step whose weights were put back, if any."""
        self.current.append(style)
        if len(self.current) < self.window:
            return None
        mean, self.current = float(np.mean(self.current)), []
        typical = float(np.median(self.means)) if len(self.means) >= 5 else None
        if not np.isfinite(mean) or (typical is not None and mean > self.factor * typical):
            return self.restore(trainer, f"the style loss jumped to {mean:.3g} from about {typical:.3g}"
                                if typical is not None else f"the style loss is {mean}")
        self.means.append(mean)
        if self.fresh is None or step - self.fresh[0] >= self.every:
            self.kept, self.fresh = self.fresh, (step, copy.deepcopy(weights(trainer)))
        return None

    def restore(self, trainer, why: str) -> int:
        """Put back the kept weights, or explain that there are none to go back to."""
        back = self.kept or self.fresh
        self.rollbacks += 1
        if back is None or self.rollbacks > self.limit:
            raise CamStyleError(f"Training diverged ({why}).",
                                "Use a lower learning rate, e.g. --lr 5e-4, with --restart.")
        step, state = back
        trainer.load_state_dict({**trainer.state_dict(), **copy.deepcopy(state)})
        self.current, self.fresh, self.kept = [], back, None
        return step


def weights(trainer) -> dict:
    """What going back restores: the network, the optimizer and the loss weights, not the data order."""
    return {k: v for k, v in trainer.state_dict().items() if k != "rng"}

"""The actions a running CamStyle takes from hotkeys, the dashboard and `camstyle ctl`."""

from __future__ import annotations

import math

from camstyle.stylize.steady import MAX_STEADY
from camstyle.errors import CamStyleError

ACTIONS = ("next", "prev", "style", "strength", "strength_up", "strength_down", "steady", "steady_up", "steady_down",
           "size", "pause", "mirror", "privacy",
           "status", "quit")


LEVEL_STEP = 0.1  # what strength_up / steady_down and the like change by


# Actions that set a level: (highest value, what the range's ends mean, for the message).
LEVELS = {"strength": (1.0, "0 (camera only) to 1 (full style)"),
          "steady": (MAX_STEADY, f"0 (off) to {MAX_STEADY} (steadiest)")}


def _parse_level(value: str | None, current: float, what: str, high: float, ends: str) -> float:
    """A `ctl` value for strength or steady: a level in 0..high, or a change like +0.1 (clamped)."""
    hint = f"Give 0..{high:g} (e.g. 0.5) or a change like +0.1 or -0.1."
    if value is None or not str(value).strip():
        raise CamStyleError(f"The {what} action needs a value.", hint)
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        raise CamStyleError(f"'{text}' is not a {what} level.", hint) from None
    if not math.isfinite(number):
        raise CamStyleError(f"'{text}' is not a {what} level.", hint)
    if text[0] in "+-":
        return round(min(high, max(0.0, current + number)), 3)
    if not 0.0 <= number <= high:
        raise CamStyleError(f"{what.capitalize()} {text} is out of range.", f"Give a value from {ends}.")
    return number

"""Reading the values actions take (the actions themselves: camstyle.actions)."""

from __future__ import annotations

import math

from camstyle.actions import Level
from camstyle.errors import CamStyleError


def parse_level(value: str | None, current: float, what: str, level: Level) -> float | str:
    """A value for a level action (strength, steady): a level in 0..level.high, or a change like
    +0.1 that is applied to `current` and clamped to the range, or "auto" where the level has one.
    CamStyleError for anything else."""
    high = level.high
    hint = f"Give 0..{high:g} (e.g. 0.5) or a change like +0.1 or -0.1" + (", or auto." if level.auto else ".")
    if value is None or not str(value).strip():
        raise CamStyleError(f"The {what} action needs a value.", hint)
    text = str(value).strip()
    if level.auto and text.lower() == "auto":
        return "auto"
    try:
        number = float(text)
    except ValueError:
        raise CamStyleError(f"'{text}' is not a {what} level.", hint) from None
    if not math.isfinite(number):
        raise CamStyleError(f"'{text}' is not a {what} level.", hint)
    if text[0] in "+-":
        return round(min(high, max(0.0, current + number)), 3)
    if not 0.0 <= number <= high:
        raise CamStyleError(f"{what.capitalize()} {text} is out of range.", f"Give a value from {level.ends}.")
    return number

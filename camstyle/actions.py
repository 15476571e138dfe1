"""The actions a running CamStyle accepts: one table, one row per action.

`camstyle ctl` (its choices, values and help), the global hotkeys and the [hotkeys] config
section, the dashboard's keys and their help line all read this table, and
Controller.dispatch performs a row by calling the Controller method the row names.
Adding an action means one row here and that one method on the Controller.

This module is plain data: it imports nothing from camstyle but the steadying limit, so
the config (below the engine) can read it as well as the engine and the controls above.
"""

from __future__ import annotations

from dataclasses import dataclass

from camstyle.stylize.steady import MAX_STEADY

# The kinds of value an action takes.
STYLE_NAME = "style name"  # a style's name, as `camstyle styles` lists it
LEVEL = "level"  # a level in 0..Level.high, or a change like +0.1 / -0.1
SIZE = "size"  # "auto" or a size like 640x360
VALUE_KINDS = (STYLE_NAME, LEVEL, SIZE)

LEVEL_STEP = 0.1  # what one strength_up / steady_down and the like change a level by


@dataclass(frozen=True)
class Level:
    """The range of a level action: 0..high; `ends` says what the two ends mean, for messages."""

    high: float
    ends: str
    auto: bool = False  # "auto" is a value too: the level goes back to following the style


@dataclass(frozen=True)
class Hotkey:
    """A global hotkey: its key in the config's [hotkeys] section and its default combination."""

    setting: str
    default: str  # pynput syntax, e.g. "<ctrl>+<alt>+n"


@dataclass(frozen=True)
class Keys:
    """Dashboard keys: the first is the one its help line names; rows sharing a label share one entry."""

    keys: tuple[str, ...]  # single characters, or "up", "down", "left", "right" for the arrows
    label: str


@dataclass(frozen=True)
class Action:
    """One action.

    handler: the Controller method that performs it. It is called with the preset when the
    row has one, with the given value when the row takes one, else with no argument; it
    returns the style it asked to switch to (the reply then waits for that style to load) or None.
    """

    name: str
    help: str  # one line: `camstyle ctl --help` and the config file's hotkey comments show it
    handler: str
    value: str | None = None  # the kind of value it needs (one of VALUE_KINDS); None: it takes none
    level: Level | None = None  # for value LEVEL: the range
    preset: str | None = None  # the value the handler always gets (strength_up: "+0.1"); any given value is ignored
    ctl: bool = True  # offered by `camstyle ctl`
    while_starting: bool = False  # accepted while CamStyle is still starting (before its stylizer exists)
    hotkey: Hotkey | None = None  # a global hotkey and its [hotkeys] setting
    keys: Keys | None = None  # dashboard keys


STRENGTH = Level(1.0, "0 (camera only) to 1 (full style)")
STEADY = Level(MAX_STEADY, f"0 (off) to {MAX_STEADY} (steadiest), or auto (each style's own)", auto=True)
_UP, _DOWN = f"+{LEVEL_STEP}", f"-{LEVEL_STEP}"

ACTIONS: tuple[Action, ...] = (
    Action("next", "switch to the next style", "_do_next",
           hotkey=Hotkey("next_style", "<ctrl>+<alt>+n"), keys=Keys(("n", "right"), "style")),
    Action("prev", "switch to the previous style", "_do_prev",
           hotkey=Hotkey("prev_style", "<ctrl>+<alt>+b"), keys=Keys(("p", "left"), "style")),
    Action("style", "switch to a style by name", "_do_style", value=STYLE_NAME),
    Action("strength", f"set the strength (0..{STRENGTH.high:g}), or change it: {_UP}, {_DOWN}", "_do_strength",
           value=LEVEL, level=STRENGTH),
    Action("strength_up", f"raise the strength by {LEVEL_STEP}", "_do_strength", preset=_UP, ctl=False,
           hotkey=Hotkey("strength_up", "<ctrl>+<alt>+<up>"), keys=Keys(("+", "=", "up"), "strength")),
    Action("strength_down", f"lower the strength by {LEVEL_STEP}", "_do_strength", preset=_DOWN, ctl=False,
           hotkey=Hotkey("strength_down", "<ctrl>+<alt>+<down>"), keys=Keys(("-", "_", "down"), "strength")),
    Action("steady", f"set the steadying (0 = off .. {STEADY.high:g}), or change it: {_UP}, {_DOWN}; "
           "auto: each style's own", "_do_steady",
           value=LEVEL, level=STEADY),
    Action("steady_up", f"steady more, by {LEVEL_STEP}", "_do_steady", preset=_UP, ctl=False,
           keys=Keys(("]",), "steady")),
    Action("steady_down", f"steady less, by {LEVEL_STEP}", "_do_steady", preset=_DOWN, ctl=False,
           keys=Keys(("[",), "steady")),
    Action("size", "fix the size the network runs at (e.g. 640x360); auto frees it", "_do_size",
           value=SIZE),
    Action("pause", "toggle pass-through (the camera unstyled)", "_do_pause",
           hotkey=Hotkey("pause", "<ctrl>+<alt>+s"), keys=Keys((" ",), "pause")),
    Action("mirror", "toggle mirroring", "_do_mirror",
           hotkey=Hotkey("mirror", "<ctrl>+<alt>+m"), keys=Keys(("m",), "mirror")),
    Action("privacy", 'toggle the "camera off" frame', "_do_privacy",
           hotkey=Hotkey("privacy", "<ctrl>+<alt>+o"), keys=Keys(("o",), "privacy")),
    Action("status", "show what is running", "_do_status", while_starting=True),
    Action("quit", "stop CamStyle", "_do_quit", while_starting=True, keys=Keys(("q",), "quit")),
)

BY_NAME: dict[str, Action] = {action.name: action for action in ACTIONS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
CTL_ACTIONS: tuple[Action, ...] = tuple(action for action in ACTIONS if action.ctl)
HOTKEY_ACTIONS: tuple[Action, ...] = tuple(action for action in ACTIONS if action.hotkey)


def ctl_command(action: Action) -> str | None:
    """The `camstyle ctl` command that does what this action does (strength_up: `camstyle ctl strength +0.1`),
    or None when ctl has none."""
    if action.ctl:
        return f"camstyle ctl {action.name}"
    same = next((a for a in CTL_ACTIONS if a.handler == action.handler), None)
    if same is None:
        return None
    return f"camstyle ctl {same.name} {action.preset}" if action.preset else f"camstyle ctl {same.name}"


def _check_table() -> None:
    """The rows' own consistency; a broken row fails at import, not when the action is first used."""
    if len(BY_NAME) != len(ACTIONS):
        raise ValueError("two actions share a name")
    settings = [a.hotkey.setting for a in HOTKEY_ACTIONS]
    if len(set(settings)) != len(settings) or "enabled" in settings:
        raise ValueError("hotkey settings must be unique and not 'enabled'")
    keys = [key for a in ACTIONS if a.keys for key in a.keys.keys]
    if len(set(keys)) != len(keys):
        raise ValueError("a dashboard key is bound twice")
    for a in ACTIONS:
        if a.value is not None and a.value not in VALUE_KINDS:
            raise ValueError(f"{a.name}: unknown value kind {a.value!r}")
        if (a.value == LEVEL) != (a.level is not None):
            raise ValueError(f"{a.name}: a level action needs its range, and only a level action has one")
        if a.value is not None and a.preset is not None:
            raise ValueError(f"{a.name}: an action takes a value or has a preset, not both")
        if a.hotkey and not a.ctl and not any(c.handler == a.handler for c in CTL_ACTIONS):
            raise ValueError(f"{a.name}: a hotkey action needs a `camstyle ctl` form, for desktops without global hotkeys")


_check_table()

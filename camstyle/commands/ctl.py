"""Control a running CamStyle from the command line or a desktop shortcut."""
# The full description, with one line per action, is built from camstyle.actions below.

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass

from camstyle.actions import BY_NAME, CTL_ACTIONS, LEVEL, SIZE, STYLE_NAME, Action
from camstyle.errors import ConfigError

ACTIONS = tuple(action.name for action in CTL_ACTIONS)
HELP = f"control a running CamStyle ({', '.join(ACTIONS)})"


@dataclass(frozen=True)
class _Wording:
    """How ctl words one kind of value."""

    placeholder: str  # in the usage lines
    short: str  # in the VALUE argument's help
    wanted: str  # what a missing or bad value is told to give; {high} is a level's highest value
    example: str


_WORDING = {
    STYLE_NAME: _Wording("NAME", "a style name", "a style name", "starry_night"),
    LEVEL: _Wording("LEVEL", "a level or +0.1 / -0.1", "a value from 0 to {high:g} or a change like +0.1 or -0.1", "0.7"),
    SIZE: _Wording("WxH|auto", "auto or WxH", "auto or a size like 640x360", "auto"),
}


def _wanted(action: Action) -> str:
    wording = _WORDING[action.value]
    what = wording.wanted.format(high=action.level.high if action.level else 0)
    if action.level and action.level.auto:
        what += ", or auto"
    return f"{what}, e.g. `camstyle ctl {action.name} {wording.example}`"


NEEDS_VALUE = {action.name: _wanted(action) for action in CTL_ACTIONS if action.value}


def _usage() -> str:
    commands = [f"camstyle ctl {a.name}" + (f" {_WORDING[a.value].placeholder}" if a.value else "") for a in CTL_ACTIONS]
    width = max(map(len, commands))
    return "\n".join(f"  {command:<{width}}  {action.help}" for command, action in zip(commands, CTL_ACTIONS))


__doc__ = f"""{__doc__}

{_usage()}

--json prints the status after any action as JSON, e.g. `camstyle ctl status --json`.
Global hotkeys do not work on Wayland: bind these commands to keyboard shortcuts in your
desktop's settings instead (e.g. Ctrl+Alt+N -> `camstyle ctl next`).
"""

_VALUE_HELP = "; ".join(
    f"{wording.short} for " + " and ".join(f"`{a.name}`" for a in CTL_ACTIONS if a.value == kind)
    for kind, wording in _WORDING.items() if any(a.value == kind for a in CTL_ACTIONS))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=ACTIONS, metavar="ACTION", help="one of: " + ", ".join(ACTIONS))
    parser.add_argument("value", nargs="?", metavar="VALUE", help=_VALUE_HELP)
    parser.add_argument("--json", action="store_true", help="print the daemon's status as JSON")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                        help="how long to wait for an answer (default: 5)")


def _check_value(action: str, value: str | None) -> None:
    if action in NEEDS_VALUE and value is None:
        raise ConfigError(f"`camstyle ctl {action}` needs {NEEDS_VALUE[action]}.")
    if action not in NEEDS_VALUE and value is not None:
        raise ConfigError(f"`camstyle ctl {action}` takes no value (got {value!r}).", "See `camstyle ctl --help`.")
    kind = BY_NAME[action].value
    if kind == SIZE:
        from camstyle.config import parse_inference_size

        try:
            parse_inference_size(value)
        except ValueError:
            raise ConfigError(f"Size {value!r} is not valid.", f"Give {NEEDS_VALUE[action]}.") from None
    if kind == LEVEL and not (BY_NAME[action].level.auto and value.strip().lower() == "auto"):
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        relative, high = value[:1] in "+-", BY_NAME[action].level.high
        if number != number or (not relative and not 0 <= number <= high) or (relative and abs(number) > high):
            raise ConfigError(f"{action.capitalize()} {value!r} is not valid.", f"Give {NEEDS_VALUE[action]}.")


def summary(status: dict) -> str:
    """One line after a change: what the camera shows now."""
    state = "camera off" if status.get("privacy") else "paused (unstyled)" if status.get("paused") else "live"
    flags = " · mirrored" if status.get("mirror") else ""
    steady = float(status.get("steady") or 0)
    steady_text = (f"{steady:.2f}" if steady else "off") + (" (the style's)" if status.get("steady_auto") else "")
    size = status.get("inference_size")
    size_text = f" · network {size[0]}x{size[1]} {'auto' if status.get('size_auto') else 'fixed'}" \
        if isinstance(size, (list, tuple)) and len(size) == 2 else ""
    return (f"{status.get('style') or '-'} · strength {float(status.get('strength') or 0):.2f} · "
            f"steady {steady_text}{size_text} · {state}{flags}")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from camstyle.control.channel import NOT_RUNNING, send_command
    from camstyle.errors import CamStyleError

    _check_value(args.action, args.value)
    try:
        status = send_command(args.action, args.value, timeout=args.timeout)
    except CamStyleError as exc:
        if args.json:  # scripts get JSON on stdout whatever happened, and the exit code says it failed
            print(json.dumps({"running": exc.message != NOT_RUNNING, "ok": False, "error": exc.message,
                              "hint": exc.hint}, indent=2, sort_keys=True))
        raise
    console = Console(highlight=False)
    if args.json:
        print(json.dumps({"running": True, "ok": True, **status}, indent=2, sort_keys=True))
    elif args.action == "status":
        from camstyle.control.dashboard import render_status

        console.print(render_status(status, key_help=False, title="CamStyle status"))
    elif args.action == "quit":
        console.print("CamStyle is stopping.")
    else:
        console.print(summary(status))
    return 0

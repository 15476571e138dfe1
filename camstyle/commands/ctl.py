"""Control a running CamStyle from the command line or a desktop shortcut.

  camstyle ctl next | prev            switch to the next / previous style
  camstyle ctl style NAME             switch to a style by name
  camstyle ctl strength 0.7           set the strength (0..1), or change it: +0.1, -0.1
  camstyle ctl steady 0.7             set the steadying (0 = off .. 0.9), or change it: +0.1, -0.1
  camstyle ctl size 640x360           fix the size the network runs at; `ctl size auto` frees it again
  camstyle ctl pause                  toggle pass-through (camera unstyled)
  camstyle ctl mirror                 toggle mirroring
  camstyle ctl privacy                toggle the "camera off" frame
  camstyle ctl status [--json]        show what is running
  camstyle ctl quit                   stop CamStyle

Global hotkeys do not work on Wayland: bind these commands to keyboard shortcuts in your
desktop's settings instead (e.g. Ctrl+Alt+N -> `camstyle ctl next`).
"""

from __future__ import annotations

import argparse
import json

from camstyle.stylize.steady import MAX_STEADY
from camstyle.errors import ConfigError

HELP = "control a running CamStyle (next/prev style, strength, steady, size, pause, privacy, status, quit)"

ACTIONS = ("next", "prev", "style", "strength", "steady", "size", "pause", "mirror", "privacy", "status", "quit")
NEEDS_VALUE = {"style": "a style name, e.g. `camstyle ctl style starry_night`",
               "strength": "a value from 0 to 1 or a change like +0.1 or -0.1, e.g. `camstyle ctl strength 0.7`",
               "steady": f"a value from 0 to {MAX_STEADY} or a change like +0.1 or -0.1, e.g. `camstyle ctl steady 0.7`",
               "size": "auto or a size like 640x360, e.g. `camstyle ctl size auto`"}
LEVEL_RANGE = {"strength": 1.0, "steady": MAX_STEADY}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=ACTIONS, metavar="ACTION", help="one of: " + ", ".join(ACTIONS))
    parser.add_argument("value", nargs="?", metavar="VALUE",
                        help="style name for `style`; a level or +0.1 / -0.1 for `strength` and `steady`; auto or WxH for `size`")
    parser.add_argument("--json", action="store_true", help="print the daemon's status as JSON")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                        help="how long to wait for an answer (default: 5)")


def _check_value(action: str, value: str | None) -> None:
    if action in NEEDS_VALUE and value is None:
        raise ConfigError(f"`camstyle ctl {action}` needs {NEEDS_VALUE[action]}.")
    if action not in NEEDS_VALUE and value is not None:
        raise ConfigError(f"`camstyle ctl {action}` takes no value (got {value!r}).", "See `camstyle ctl --help`.")
    if action == "size":
        from camstyle.config import parse_inference_size

        try:
            parse_inference_size(value)
        except ValueError:
            raise ConfigError(f"Size {value!r} is not valid.", f"Give {NEEDS_VALUE[action]}.") from None
    if action in LEVEL_RANGE:
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        relative, high = value[:1] in "+-", LEVEL_RANGE[action]
        if number != number or (not relative and not 0 <= number <= high) or (relative and abs(number) > high):
            raise ConfigError(f"{action.capitalize()} {value!r} is not valid.", f"Give {NEEDS_VALUE[action]}.")


def summary(status: dict) -> str:
    """One line after a change: what the camera shows now."""
    state = "camera off" if status.get("privacy") else "paused (unstyled)" if status.get("paused") else "live"
    flags = " · mirrored" if status.get("mirror") else ""
    steady = float(status.get("steady") or 0)
    size = status.get("inference_size")
    size_text = f" · network {size[0]}x{size[1]} {'auto' if status.get('size_auto') else 'fixed'}" \
        if isinstance(size, (list, tuple)) and len(size) == 2 else ""
    return (f"{status.get('style') or '-'} · strength {float(status.get('strength') or 0):.2f} · "
            f"steady {f'{steady:.2f}' if steady else 'off'}{size_text} · {state}{flags}")


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

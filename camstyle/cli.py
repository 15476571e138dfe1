"""The `camstyle` command: one subcommand per module in camstyle.commands.

Each command module offers HELP, add_arguments(parser) and run(args) -> exit code, and keeps
heavy imports (numpy, OpenCV, ONNX Runtime, torch) inside run() so that `camstyle --help`
and every command start fast. Errors the user can fix are printed as one message with a
hint; a traceback is shown only with CAMSTYLE_DEBUG=1.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys

from camstyle import __version__
from camstyle.errors import CamStyleError

# (command, module) in the order `camstyle --help` lists them.
COMMANDS = [
    ("run", "camstyle.commands.run"),
    ("ctl", "camstyle.commands.ctl"),
    ("styles", "camstyle.commands.styles"),
    ("stylize", "camstyle.commands.stylize"),
    ("bench", "camstyle.commands.bench"),
    ("config", "camstyle.commands.config"),
    ("doctor", "camstyle.commands.doctor"),
    ("autostart", "camstyle.commands.autostart"),
    ("setup", "camstyle.commands.setup"),
    ("train", "camstyle.commands.train"),
    ("export", "camstyle.commands.export"),
    ("eval", "camstyle.commands.eval"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="camstyle",
        description="Real-time style transfer for your webcam, published as the virtual camera 'CamStyle'.",
    )
    parser.add_argument("--version", action="version", version=f"camstyle {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS:
        module = importlib.import_module(module_name)
        doc = (module.__doc__ or "").strip().splitlines()
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP if not doc else "\n".join(doc),
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def print_error(exc: CamStyleError) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(f"[bold red]camstyle:[/] {escape(exc.message)}", markup=True, emoji=False)
    if exc.hint:
        console.print(f"  [yellow]→[/] {escape(exc.hint)}", markup=True, emoji=False)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except CamStyleError as exc:
        if os.environ.get("CAMSTYLE_DEBUG"):
            raise
        print_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a bug, not bad input: say so briefly and how to see details
        if os.environ.get("CAMSTYLE_DEBUG"):
            raise
        print_error(CamStyleError(f"Unexpected error: {type(exc).__name__}: {exc}",
                                  "This is a bug in CamStyle. Re-run with CAMSTYLE_DEBUG=1 to see the traceback and report it."))
        return 1


if __name__ == "__main__":
    sys.exit(main())

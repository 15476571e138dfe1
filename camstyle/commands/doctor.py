"""Check everything CamStyle needs and say exactly how to fix what is missing.

Checks the config file, the cameras and their modes, the virtual camera (Linux: the
v4l2loopback module, its devices, exclusive_caps and permissions; macOS and Windows: OBS),
which ONNX Runtime providers really run a model, the installed styles, and the global
hotkeys. Exits with 1 when something stops `camstyle run` from working.
"""

from __future__ import annotations

import argparse
import json

HELP = "check camera, virtual camera, inference, styles and hotkeys, with fixes"

COLOURS = {"ok": "green", "warning": "yellow", "problem": "red"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="show details (each device, provider, style)")


def run(args: argparse.Namespace) -> int:
    from camstyle.system import doctor

    checks = doctor.run_checks()
    if args.json:
        print(json.dumps(doctor.as_json(checks), indent=2))
        return doctor.exit_code(checks)
    print_checks(checks, verbose=args.verbose)
    return doctor.exit_code(checks)


def print_checks(checks, verbose: bool = False) -> None:
    from rich.console import Console
    from rich.text import Text

    from camstyle.system import doctor

    console = Console(highlight=False, soft_wrap=True)
    width = max(len(c.name) for c in checks)
    for check in checks:
        row = Text()
        row.append(f"{check.status:<8}", style=f"bold {COLOURS.get(check.status, '')}")
        row.append(f" {check.name:<{width}}  ", style="bold")
        row.append(check.summary)
        if check.blocking:
            row.append(f"  [{check.effect or 'blocks camstyle run'}]", style="red")
        console.print(row)
        indent = " " * (width + 11)
        if check.fix and check.status != "ok":
            for i, line in enumerate(check.fix.splitlines()):
                console.print(Text(indent + ("fix: " if i == 0 else "     ") + line, style="cyan"))
        if verbose or check.status != "ok":
            for line in check.details:
                console.print(Text(indent + "- " + line, style="dim"))
    code = doctor.exit_code(checks)
    problems = sum(c.status == "problem" for c in checks)
    warnings = sum(c.status == "warning" for c in checks)
    if code and any(c.blocking and not c.effect for c in checks):
        console.print(Text("CamStyle cannot run until the blocking problems above are fixed.", style="bold red"))
    elif code:
        console.print(Text("CamStyle runs, but is of no use until the problems marked above are fixed.", style="bold red"))
    elif problems or warnings:
        console.print(Text(f"CamStyle can run; {problems} problem(s) and {warnings} warning(s) above.", style="yellow"))
    else:
        console.print(Text("Everything looks good: start CamStyle with `camstyle run`.", style="bold green"))

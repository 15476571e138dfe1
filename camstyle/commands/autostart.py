"""Start CamStyle at login, stop doing so, or show what is set up.

  camstyle autostart enable              the right entry for this system (Linux: XDG autostart
                                         in a desktop session, which the global hotkeys need)
  camstyle autostart enable --method systemd   a systemd user service instead (Restart=on-failure)
  camstyle autostart disable             remove it again
  camstyle autostart status              what is installed and whether CamStyle is running
Add --dry-run to see what would be written, and where, without changing anything.
"""

from __future__ import annotations

import argparse
import json

HELP = "start CamStyle at login (enable, disable, status)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("enable", "disable", "status"), help="what to do")
    parser.add_argument("--method", choices=("systemd", "xdg", "launchd", "windows"),
                        help="how to start at login (default: the usual way for this system)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be written or removed, change nothing")
    parser.add_argument("--json", action="store_true", help="status as JSON")


def run(args: argparse.Namespace) -> int:
    from camstyle.system import autostart

    host = autostart.Host()
    if args.action == "enable":
        method = autostart.check_method(host, args.method)
        if args.method is None:
            print(f"method: {method} ({autostart.default_method(host)[1]})")
        for line in autostart.enable(host, method, dry_run=args.dry_run):
            print(line)
        return 0
    if args.action == "disable":
        for line in autostart.disable(host, args.method, dry_run=args.dry_run):
            print(line)
        return 0
    report = autostart.status(host)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    entries = [e for e in report["entries"] if e["installed"]]
    if not entries:
        print("autostart: not enabled  (enable it with: camstyle autostart enable)")
    for entry in entries:
        note = "" if entry["current"] else "  (points at another CamStyle install; run `camstyle autostart enable` to update it)"
        print(f"autostart: enabled via {entry['method']}: {entry['path']}{note}")
    print(f"running:   {'yes' if report['running'] else 'no'} - {report['running_detail']}")
    return 0

"""Set up what CamStyle needs from the system, wherever CamStyle is installed.

  camstyle setup virtual-camera            Linux: install and load v4l2loopback as the "CamStyle"
                                           camera, keep it across reboots, join the video group
                                           (asks sudo for root rights)
  camstyle setup virtual-camera --dry-run  print each step without changing anything
  camstyle setup virtual-camera --print    print the set-up script's path and the files it installs

It runs the set-up script shipped with CamStyle; macOS and Windows get the OBS Studio steps.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

from camstyle.errors import DeviceError

HELP = "set up the virtual camera (Linux: v4l2loopback) wherever CamStyle is installed"
SCRIPT = ("linux", "setup-virtual-camera.sh")
FILES = (("linux", "camstyle-v4l2loopback.conf"), ("linux", "camstyle-modules-load.conf"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=("virtual-camera",), help="what to set up")
    parser.add_argument("--dry-run", action="store_true", help="print each step, change nothing (no root rights needed)")
    parser.add_argument("--print", action="store_true", dest="print_only",
                        help="print where the set-up script and its files are, run nothing")
    parser.add_argument("--user", metavar="NAME", help="the user to add to the video group (default: you)")
    parser.add_argument("--skip-package", action="store_true", help="do not install the v4l2loopback package")


def script_command(dry_run: bool = False, user: str | None = None, skip_package: bool = False,
                   euid: int | None = None) -> list[str]:
    """The command that runs the set-up script: through sudo unless root or a dry run."""
    from camstyle.publish import virtualcam_setup

    command = [shutil.which("bash") or "bash", str(virtualcam_setup.install_file(*SCRIPT))]
    if dry_run:
        command.append("--dry-run")
    if skip_package:
        command.append("--skip-package")
    user = user or os.environ.get("SUDO_USER") or _login_name()
    if user:
        command += ["--user", user]
    euid = os.geteuid() if euid is None and hasattr(os, "geteuid") else euid
    if not dry_run and euid != 0:
        sudo = shutil.which("sudo")
        if sudo is None:
            raise DeviceError("Setting up the virtual camera needs root rights, and sudo is not installed.",
                              f"Run as root: {' '.join(command)}")
        command.insert(0, sudo)
    return command


def _login_name() -> str | None:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return None


def run(args: argparse.Namespace) -> int:
    from camstyle.publish import virtualcam_setup

    if virtualcam_setup.os_family() != "linux":
        print(virtualcam_setup.setup_hint())
        return 0
    script = virtualcam_setup.install_file(*SCRIPT)
    missing = [p for p in [script, *(virtualcam_setup.install_file(*f) for f in FILES)] if not p.is_file()]
    if missing:
        raise DeviceError(f"CamStyle's set-up files are missing ({', '.join(map(str, missing))}).",
                          "Reinstall CamStyle (pip install --force-reinstall camstyle).")
    if args.print_only:
        print(f"set-up script: {script}")
        for parts in FILES:
            print(f"installs:      {virtualcam_setup.install_file(*parts)}")
        print(f"run it with:   sudo bash {script}   (or: camstyle setup virtual-camera)")
        return 0
    command = script_command(args.dry_run, args.user, args.skip_package)
    print("$ " + " ".join(command), flush=True)
    try:
        return subprocess.run(command, check=False).returncode
    except OSError as exc:
        raise DeviceError(f"Cannot run the set-up script: {exc.strerror or exc}.", f"Run it by hand: sudo bash {script}") from None
    except KeyboardInterrupt:
        print("stopped.", file=sys.stderr)
        return 130

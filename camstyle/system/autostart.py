"""Start CamStyle at login: a systemd user unit or XDG autostart entry (Linux), a LaunchAgent
(macOS) or a Startup-folder script (Windows).

The files come from the templates in install/autostart/ (shipped inside the package), filled with the absolute path of the
Python that runs this CamStyle, so that the entry keeps working outside an activated
environment. Enabling twice writes the same file; all writes are atomic. Everything about the
host (platform, environment, home, subprocesses, /proc) sits in a Host so tests can stand in
for any machine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from xml.sax.saxutils import escape as xml_escape

from camstyle import atomic
from camstyle.publish import virtualcam_setup
from camstyle.errors import CamStyleError, ConfigError

METHODS = ("systemd", "xdg", "launchd", "windows")
SERVICE_NAME = "camstyle.service"
LAUNCHD_LABEL = "org.camstyle.daemon"
TEMPLATE_FILES = {
    "systemd": "camstyle.service",
    "xdg": "camstyle.desktop",
    "launchd": f"{LAUNCHD_LABEL}.plist",
    "windows": "camstyle-startup.cmd",
}
RUN_ARGS = ["-m", "camstyle", "run", "--no-dashboard", "--daemon"]  # --daemon: never the demo clip


def run_command(args: list[str], timeout: float = 15) -> subprocess.CompletedProcess:
    """Run a helper program; a missing program or a hang reads as a failure, never an exception."""
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        return subprocess.CompletedProcess(args, 127, "", f"{args[0]}: command not found")
    except (subprocess.TimeoutExpired, OSError) as exc:
        return subprocess.CompletedProcess(args, 124, "", str(exc))


@dataclass
class Host:
    """The machine as autostart sees it."""

    platform: str = field(default_factory=lambda: sys.platform)
    environ: dict = field(default_factory=lambda: dict(os.environ))
    home: Path = field(default_factory=Path.home)
    run: Callable[[list[str]], subprocess.CompletedProcess] = run_command
    which: Callable[[str], str | None] = shutil.which
    proc_root: Path = Path("/proc")
    python: str = field(default_factory=lambda: sys.executable)

    @property
    def os_name(self) -> str:
        return virtualcam_setup.os_family(self.platform)

    def config_home(self) -> Path:
        value = self.environ.get("XDG_CONFIG_HOME")
        return Path(value) if value and os.path.isabs(value) else self.home / ".config"

    def has_desktop_session(self) -> bool:
        env = self.environ
        return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY") or env.get("XDG_CURRENT_DESKTOP")
                    or env.get("XDG_SESSION_TYPE") in ("x11", "wayland"))

    def systemctl_usable(self) -> tuple[bool, str]:
        """Whether `systemctl --user` reaches a user service manager."""
        if not self.which("systemctl"):
            return False, "systemctl is not installed (this system does not use systemd)"
        result = self.run(["systemctl", "--user", "show-environment"])
        if result.returncode != 0:
            detail = (result.stderr or result.stdout or "").strip().splitlines()
            return False, f"systemctl --user cannot reach your user session ({detail[0] if detail else 'no user manager'})"
        return True, "systemctl --user works"


@dataclass(frozen=True)
class Target:
    method: str
    path: Path
    content: str


def methods_for(host: Host) -> tuple[str, ...]:
    return {"linux": ("xdg", "systemd"), "macos": ("launchd",), "windows": ("windows",)}.get(host.os_name, ())


def default_method(host: Host) -> tuple[str, str]:
    """(method, why) for this machine."""
    if host.os_name == "macos":
        return "launchd", "macOS starts user programs at login through a LaunchAgent"
    if host.os_name == "windows":
        return "windows", "Windows starts what is in your Startup folder"
    if host.os_name != "linux":
        raise CamStyleError(f"Autostart is not supported on {host.platform}.", "Start CamStyle by hand with `camstyle run`.")
    if host.has_desktop_session():
        return "xdg", "a desktop session is running, and the global hotkeys need its display"
    usable, _ = host.systemctl_usable()
    if usable:
        return "systemd", "no desktop session was found, and systemd manages your user services"
    return "xdg", "the desktop starts XDG autostart entries at your next graphical login"


def check_method(host: Host, method: str | None) -> str:
    if method is None:
        return default_method(host)[0]
    if method not in methods_for(host):
        allowed = ", ".join(methods_for(host)) or "none"
        raise ConfigError(f"--method {method} does not apply to this system.", f"Use one of: {allowed}.")
    return method


def command_args(host: Host) -> list[str]:
    """The absolute command that starts the daemon with this environment's Python."""
    python = Path(os.path.abspath(host.python))  # not resolved: a venv's python is a symlink that must stay
    if host.os_name == "windows":
        windowless = python.with_name("pythonw.exe")
        if windowless.exists():
            python = windowless
    return [str(python), *RUN_ARGS]


def target_path(host: Host, method: str) -> Path:
    if method == "systemd":
        return host.config_home() / "systemd/user" / SERVICE_NAME
    if method == "xdg":
        return host.config_home() / "autostart/camstyle.desktop"
    if method == "launchd":
        return host.home / "Library/LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
    if method == "windows":
        appdata = host.environ.get("APPDATA") or str(host.home / "AppData/Roaming")
        return Path(appdata) / "Microsoft/Windows/Start Menu/Programs/Startup/CamStyle.cmd"
    raise ConfigError(f"Unknown autostart method '{method}'.", f"Use one of: {', '.join(METHODS)}.")


def templates_dir() -> Path:
    """The autostart templates: shipped inside the package, or install/autostart in a checkout."""
    folder = virtualcam_setup.install_file("autostart")
    if not folder.is_dir():
        raise CamStyleError(f"The autostart templates are missing ({folder}).",
                            "Reinstall CamStyle (pip install --force-reinstall camstyle), then try again.")
    return folder


# --- quoting for each file format -------------------------------------------------------------

_PLAIN = re.compile(r"[A-Za-z0-9_@+=:,./\-]+")


def systemd_quote(arg: str) -> str:
    """One ExecStart argument: % and $ are specifiers and variables there, so double them."""
    arg = arg.replace("%", "%%").replace("$", "$$")
    if _PLAIN.fullmatch(arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


# Characters systemd accepts in an ExecStart program path (it expands no variables there).
_SYSTEMD_SAFE_PROGRAM = re.compile(r"/[A-Za-z0-9_@+=:,./ %$~\-]*")


def systemd_exec_line(args: list[str]) -> str:
    """ExecStart= value; a program path systemd refuses (quotes, control characters) runs via env."""
    program, rest = args[0], args[1:]
    if not _SYSTEMD_SAFE_PROGRAM.fullmatch(program):
        program, rest = "/usr/bin/env", args
    program = program.replace("%", "%%")
    if not _PLAIN.fullmatch(program):
        program = f'"{program}"'
    return " ".join([program, *(systemd_quote(a) for a in rest)])


def desktop_exec(args: list[str]) -> str:
    """An Exec= value per the Desktop Entry spec: quote, escape, then escape as a string value."""
    parts = []
    for arg in args:
        if _PLAIN.fullmatch(arg):
            parts.append(arg)
        else:
            parts.append('"' + re.sub(r'(["`$\\])', r"\\\1", arg) + '"')
    return " ".join(parts).replace("%", "%%").replace("\\", "\\\\")


def cmd_quote(arg: str) -> str:
    """One argument of a Windows batch file line."""
    arg = arg.replace("%", "%%")
    return arg if _PLAIN.fullmatch(arg.replace("\\", "/")) else f'"{arg}"'


def render(host: Host, method: str) -> str:
    template = (templates_dir() / TEMPLATE_FILES[method]).read_text(encoding="utf-8")
    args = command_args(host)
    if method == "systemd":
        values = {"EXEC": systemd_exec_line(args)}
    elif method == "xdg":
        values = {"EXEC": desktop_exec(args)}
    elif method == "launchd":
        values = {"PROGRAM_ARGUMENTS": "\n".join(f"\t\t<string>{xml_escape(a)}</string>" for a in args),
                  "HOME": xml_escape(str(host.home)),
                  "LOG": xml_escape(str(host.home / "Library/Logs/camstyle.log"))}
    else:
        values = {"EXEC": " ".join(cmd_quote(a) for a in args)}
    for key, value in values.items():
        template = template.replace(f"@CAMSTYLE_{key}@", value)
    left = re.findall(r"@CAMSTYLE_[A-Z_]+@", template)
    if left:
        raise CamStyleError(f"The autostart template {TEMPLATE_FILES[method]} has unknown placeholders {left}.",
                            "Reinstall CamStyle, whose autostart templates are damaged.")
    if method == "windows":
        template = template.replace("\r\n", "\n").replace("\n", "\r\n")
    return template


def build_target(host: Host, method: str) -> Target:
    return Target(method, target_path(host, method), render(host, method))


# --- enable / disable / status -----------------------------------------------------------------


def _systemctl(host: Host, *args: str) -> subprocess.CompletedProcess:
    return host.run(["systemctl", "--user", *args])


def _remove(host: Host, method: str, dry_run: bool, lines: list[str]) -> bool:
    path = target_path(host, method)
    if not path.exists():
        return False
    if method == "systemd":
        usable, _ = host.systemctl_usable()
        if usable and not dry_run:
            _systemctl(host, "disable", "--now", SERVICE_NAME)
    if method == "launchd" and not dry_run and hasattr(os, "getuid"):
        host.run(["launchctl", "bootout", f"gui/{os.getuid()}", str(path)])  # fails harmlessly when not loaded
    if dry_run:
        lines.append(f"would remove {path}")
        return True
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise atomic.storage_error(path, exc) from None
    lines.append(f"removed {path}")
    if method == "systemd" and host.systemctl_usable()[0]:
        _systemctl(host, "daemon-reload")
    return True


def enable(host: Host, method: str | None = None, dry_run: bool = False) -> list[str]:
    """Install the login entry; returns what was done, line by line."""
    method = check_method(host, method)
    target = build_target(host, method)
    lines: list[str] = []
    for other in methods_for(host):
        if other != method and target_path(host, other).exists():
            lines.append(f"switching from {other} to {method} so that CamStyle does not start twice:")
            _remove(host, other, dry_run, lines)
    current = target.path.read_text(encoding="utf-8") if target.path.is_file() else None
    if dry_run:
        lines.append(f"would write {target.path}:")
        lines.extend("    " + line for line in target.content.splitlines())
    elif current == target.content:
        lines.append(f"already enabled ({method}): {target.path} is up to date")
    else:
        atomic.write_text(target.path, target.content)
        lines.append(f"{'updated' if current is not None else 'wrote'} {target.path}")
    lines.extend(_activate(host, target, dry_run))
    return lines


def _activate(host: Host, target: Target, dry_run: bool) -> list[str]:
    method = target.method
    if method == "systemd":
        commands = [["systemctl", "--user", "daemon-reload"], ["systemctl", "--user", "enable", SERVICE_NAME]]
        if dry_run:
            return ["would run: " + " ".join(c) for c in commands]
        usable, why = host.systemctl_usable()
        if not usable:
            return [f"{why}.",
                    "From a terminal in your desktop session run:  systemctl --user daemon-reload && "
                    f"systemctl --user enable --now {SERVICE_NAME}"]
        for command in commands:
            result = host.run(command)
            if result.returncode != 0:
                message = (result.stderr or result.stdout).strip()
                return [f"`{' '.join(command)}` failed: {message}",
                        f"Fix that, then run:  systemctl --user daemon-reload && systemctl --user enable {SERVICE_NAME}"]
        return ["enabled: CamStyle starts with your graphical session.",
                f"Start it now with:  systemctl --user start {SERVICE_NAME}   (logs: journalctl --user -u camstyle)"]
    if dry_run:
        return ["dry run: nothing was written. Without --dry-run, CamStyle would start at your next "
                f"{'desktop login' if method == 'xdg' else 'login' if method == 'launchd' else 'Windows sign-in'}."]
    if method == "xdg":
        return ["CamStyle starts at your next desktop login. Start it now with:  camstyle run"]
    if method == "launchd":
        uid = os.getuid() if hasattr(os, "getuid") else "$(id -u)"
        return ["CamStyle starts at your next login. Start it now with:  "
                f"launchctl bootstrap gui/{uid} {target.path}",
                f"Logs: {host.home / 'Library/Logs/camstyle.log'}"]
    return ["CamStyle starts at your next Windows sign-in (it sits in your Startup folder, shell:startup)."]


def disable(host: Host, method: str | None = None, dry_run: bool = False) -> list[str]:
    methods = [check_method(host, method)] if method else list(methods_for(host))
    lines: list[str] = []
    removed = [m for m in methods if _remove(host, m, dry_run, lines)]
    if not removed:
        lines.append("autostart was not enabled; nothing to remove.")
    return lines


def status(host: Host) -> dict:
    """What is installed (and whether it still points at this CamStyle) and whether it runs."""
    entries = []
    for method in methods_for(host):
        path = target_path(host, method)
        installed = path.is_file()
        current = None
        if installed:
            try:
                current = path.read_text(encoding="utf-8") == render(host, method)
            except (OSError, UnicodeDecodeError):
                current = False
        entries.append({"method": method, "path": str(path), "installed": installed, "current": current})
    running, detail = is_running(host)
    return {"entries": entries, "running": running, "running_detail": detail}


def is_running(host: Host) -> tuple[bool, str]:
    if host.os_name == "linux" and target_path(host, "systemd").exists() and host.systemctl_usable()[0]:
        result = _systemctl(host, "is-active", SERVICE_NAME)
        if result.stdout.strip() == "active":
            return True, f"systemd: {SERVICE_NAME} is active"
    answer = control_channel_status()
    if answer is not None:
        return True, f"CamStyle answers on its control channel (style {answer.get('style') or 'none'}, output {answer.get('output') or '?'})"
    pids = find_daemon_pids(host)
    if pids:
        return True, f"a `camstyle run` process is running (pid {', '.join(map(str, pids))})"
    return False, "no `camstyle run` process found"


def control_channel_status(timeout: float = 1.0) -> dict | None:
    """The running daemon's status through `camstyle ctl`'s channel, or None when none answers."""
    try:
        from camstyle.control.channel import send_command

        return send_command("status", timeout=timeout)
    except (CamStyleError, ImportError, OSError):
        return None


def _program(arg: str) -> str:
    return arg.replace("\\", "/").rsplit("/", 1)[-1].lower()


def is_daemon_command(args: list[str]) -> bool:
    """`camstyle run ...`, `python [options] -m camstyle run ...` or `python .../camstyle run ...`
    as the process itself: a wrapper that starts one (`timeout 60 camstyle run`, a shell) is not
    CamStyle, and the CamStyle it started is found as its own process."""
    if not args:
        return False
    program, rest = _program(args[0]), list(args[1:])
    if program in ("camstyle", "camstyle.exe"):
        return rest[:1] == ["run"]
    if not program.startswith("python"):
        return False
    while rest and rest[0].startswith("-") and rest[0] != "-m":
        rest = rest[2:] if rest[0] in ("-X", "-W") else rest[1:]  # interpreter options, some with a value
    if rest[:3] == ["-m", "camstyle", "run"]:
        return True
    return len(rest) >= 2 and _program(rest[0]) in ("camstyle", "camstyle-script.py") and rest[1] == "run"


def find_daemon_pids(host: Host) -> list[int]:
    if host.os_name == "linux":
        pids = []
        for entry in host.proc_root.glob("[0-9]*"):
            try:
                args = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            decoded = [a.decode("utf-8", "replace") for a in args if a]
            if int(entry.name) != os.getpid() and is_daemon_command(decoded):
                pids.append(int(entry.name))
        return sorted(pids)
    if host.os_name == "macos":
        result = host.run(["ps", "-axo", "pid=,command="])
        pids = []
        for line in result.stdout.splitlines():
            pid, _, command = line.strip().partition(" ")
            if pid.isdigit() and int(pid) != os.getpid() and is_daemon_command(command.split()):
                pids.append(int(pid))
        return pids
    if host.os_name == "windows":
        query = ("Get-CimInstance Win32_Process -Filter \"Name LIKE 'python%' OR Name LIKE 'camstyle%'\" | "
                 "ForEach-Object { \"$($_.ProcessId) $($_.CommandLine)\" }")
        result = host.run(["powershell", "-NoProfile", "-Command", query])
        pids = []
        for line in result.stdout.splitlines():
            pid, _, command = line.strip().partition(" ")
            if pid.isdigit() and int(pid) != os.getpid() and is_daemon_command(command.replace('"', "").split()):
                pids.append(int(pid))
        return pids
    return []

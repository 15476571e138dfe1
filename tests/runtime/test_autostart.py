"""Autostart files: generated from the templates, validated with the real tools, and an
enable/disable round trip in the temporary home that conftest.py sets up."""

from __future__ import annotations

import argparse
import os
import plistlib
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from camstyle.system import autostart
from camstyle.errors import ConfigError

EXPECTED_ARGS = ["-m", "camstyle", "run", "--no-dashboard", "--daemon"]


class FakeSystemctl:
    """Records `systemctl --user ...` calls; answers like a working user manager."""

    def __init__(self, works: bool = True, active: bool = False):
        self.works, self.active, self.calls = works, active, []

    def __call__(self, args):
        self.calls.append(args)
        if args[:2] == ["systemctl", "--user"] and not self.works:
            return subprocess.CompletedProcess(args, 1, "", "Failed to connect to bus: No medium found")
        out = ("active\n" if self.active else "inactive\n") if "is-active" in args else ""
        return subprocess.CompletedProcess(args, 0, out, "")


def linux_host(desktop: bool = True, systemctl: FakeSystemctl | None = None, python: str | None = None, **kw) -> autostart.Host:
    environ = dict(os.environ)
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_CURRENT_DESKTOP", "XDG_SESSION_TYPE"):
        environ.pop(var, None)
    if desktop:
        environ.update(DISPLAY=":0", XDG_CURRENT_DESKTOP="GNOME")
    systemctl = systemctl or FakeSystemctl()
    return autostart.Host(platform="linux", environ=environ, run=systemctl,
                          which=lambda name: f"/usr/bin/{name}", python=python or sys.executable, **kw)


def odd_python(tmp_path) -> str:
    """A Python whose path has a space, a quote, a dollar and a percent sign in it."""
    folder = tmp_path / "my env's $HOME 100%"
    folder.mkdir()
    link = folder / "python"
    link.symlink_to(sys.executable)
    return str(link)


# --- the generated files, checked by the tools that read them -------------------------------


@pytest.mark.parametrize("python", ["plain", "odd"])
def test_systemd_unit_verifies(tmp_path, python):
    systemd_analyze = shutil.which("systemd-analyze")
    if not systemd_analyze:
        pytest.skip("systemd-analyze is not installed (CI installs the systemd package)")
    host = linux_host(python=odd_python(tmp_path) if python == "odd" else None)
    unit = tmp_path / "units" / "camstyle.service"
    unit.parent.mkdir()
    unit.write_text(autostart.render(host, "systemd"))
    result = subprocess.run([systemd_analyze, "--user", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    text = unit.read_text()
    for line in ("Restart=on-failure", "After=graphical-session.target", "PartOf=graphical-session.target",
                 "WantedBy=graphical-session.target"):
        assert line in text.splitlines()
    assert any(line.startswith("RestartSec=") for line in text.splitlines())


def test_systemd_verify_rejects_a_broken_unit(tmp_path):
    """The check above can fail: a relative ExecStart is refused."""
    systemd_analyze = shutil.which("systemd-analyze")
    if not systemd_analyze:
        pytest.skip("systemd-analyze is not installed")
    unit = tmp_path / "camstyle.service"
    unit.write_text(autostart.render(linux_host(), "systemd").replace(sys.executable, "no-such-python"))
    result = subprocess.run([systemd_analyze, "--user", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "Command no-such-python is not executable" in result.stderr, result.stderr


def test_systemd_exec_start_quoting():
    line = autostart.systemd_exec_line(["/opt/my env/$x/python", "50%", "$HOME", 'say "hi"'])
    assert line == '"/opt/my env/$x/python" "50%%" "$$HOME" "say \\"hi\\""'
    # systemd refuses a quote in a program path; such a Python is started through env.
    assert autostart.systemd_exec_line(["/opt/it's/python", "-m"]) == '/usr/bin/env "/opt/it\'s/python" -m'


@pytest.mark.parametrize("python", ["plain", "odd"])
def test_desktop_entry_validates(tmp_path, python):
    validator = shutil.which("desktop-file-validate")
    if not validator:
        pytest.skip("desktop-file-validate is not installed (CI installs desktop-file-utils)")
    python_path = odd_python(tmp_path) if python == "odd" else sys.executable
    entry = tmp_path / "camstyle.desktop"
    entry.write_text(autostart.render(linux_host(python=python_path), "xdg"))
    result = subprocess.run([validator, str(entry)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "error" not in result.stdout.lower(), result.stdout + result.stderr
    exec_value = next(line.split("=", 1)[1] for line in entry.read_text().splitlines() if line.startswith("Exec="))
    assert parse_desktop_exec(exec_value) == [os.path.abspath(python_path), *EXPECTED_ARGS]


def parse_desktop_exec(value: str) -> list[str]:
    """Undo the Desktop Entry spec's two escaping layers: string value, then argument quoting."""
    unescaped, i = [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            unescaped.append({"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}.get(value[i + 1], "\\" + value[i + 1]))
            i += 2
        else:
            unescaped.append(value[i])
            i += 1
    text = "".join(unescaped).replace("%%", "%")
    args, current, quoted, i = [], [], False, 0
    while i < len(text):
        ch = text[i]
        if quoted and ch == "\\" and i + 1 < len(text) and text[i + 1] in '"`$\\':
            current.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif ch == " " and not quoted:
            if current:
                args.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    if current:
        args.append("".join(current))
    return args


def test_desktop_validation_can_fail(tmp_path):
    validator = shutil.which("desktop-file-validate")
    if not validator:
        pytest.skip("desktop-file-validate is not installed")
    entry = tmp_path / "camstyle.desktop"
    entry.write_text(autostart.render(linux_host(), "xdg").replace("Type=Application", "Type=Program"))
    assert subprocess.run([validator, str(entry)], capture_output=True, timeout=60).returncode != 0


def test_launch_agent_plist(tmp_path):
    python = str(tmp_path / "a&b <c>" / "python")
    host = autostart.Host(platform="darwin", environ={}, home=tmp_path / "home", python=python)
    data = plistlib.loads(autostart.render(host, "launchd").encode())
    assert data["Label"] == autostart.LAUNCHD_LABEL
    assert data["ProgramArguments"] == [python, *EXPECTED_ARGS]
    assert data["RunAtLoad"] is True and data["KeepAlive"] == {"SuccessfulExit": False}
    assert data["StandardErrorPath"] == str(tmp_path / "home/Library/Logs/camstyle.log")
    assert autostart.target_path(host, "launchd") == tmp_path / "home/Library/LaunchAgents/org.camstyle.daemon.plist"


def test_windows_startup_script(tmp_path):
    folder = tmp_path / "Python 3.12"
    folder.mkdir()
    (folder / "python.exe").write_text("")
    (folder / "pythonw.exe").write_text("")
    host = autostart.Host(platform="win32", environ={"APPDATA": str(tmp_path / "Roaming")}, home=tmp_path,
                          python=str(folder / "python.exe"))
    script = autostart.render(host, "windows")
    assert "\r\n" in script and "\n" not in script.replace("\r\n", "")
    start_line = next(line for line in script.splitlines() if line.startswith("start "))
    assert shlex.split(start_line) == ["start", "CamStyle", "/min", str(folder / "pythonw.exe"), *EXPECTED_ARGS]
    assert autostart.target_path(host, "windows") == (
        tmp_path / "Roaming/Microsoft/Windows/Start Menu/Programs/Startup/CamStyle.cmd")
    assert autostart.cmd_quote("100%") in ("100%%", '"100%%"')


def test_no_placeholder_left_in_any_rendering(tmp_path):
    hosts = {"systemd": linux_host(), "xdg": linux_host(),
             "launchd": autostart.Host(platform="darwin", environ={}, home=tmp_path),
             "windows": autostart.Host(platform="win32", environ={"APPDATA": str(tmp_path)}, home=tmp_path)}
    for method, host in hosts.items():
        text = autostart.render(host, method)
        assert "@CAMSTYLE_" not in text and "--no-dashboard" in text


# --- enable / disable / status ------------------------------------------------------------------


def test_enable_disable_round_trip_xdg(isolated_home):
    host = linux_host(desktop=True)
    assert autostart.default_method(host)[0] == "xdg"
    entry = isolated_home / ".config/autostart/camstyle.desktop"

    lines = autostart.enable(host)
    assert entry.is_file() and f"wrote {entry}" in lines
    first = entry.read_text()
    assert autostart.enable(host)[0].startswith("already enabled (xdg)")
    assert entry.read_text() == first
    assert not list(entry.parent.glob(".camstyle.desktop.*"))  # no temporary files left behind

    report = autostart.status(host)
    xdg = next(e for e in report["entries"] if e["method"] == "xdg")
    assert xdg == {"method": "xdg", "path": str(entry), "installed": True, "current": True}

    assert autostart.disable(host) == [f"removed {entry}"]
    assert not entry.exists()
    assert autostart.disable(host) == ["autostart was not enabled; nothing to remove."]


def test_enable_systemd_runs_systemctl(isolated_home):
    systemctl = FakeSystemctl()
    host = linux_host(systemctl=systemctl)
    unit = isolated_home / ".config/systemd/user/camstyle.service"
    lines = autostart.enable(host, "systemd")
    assert unit.is_file() and any("enabled" in line for line in lines)
    assert ["systemctl", "--user", "daemon-reload"] in systemctl.calls
    assert ["systemctl", "--user", "enable", "camstyle.service"] in systemctl.calls
    systemctl.active = True
    assert autostart.is_running(host) == (True, "systemd: camstyle.service is active")
    systemctl.calls.clear()
    autostart.disable(host)
    assert not unit.exists()
    assert ["systemctl", "--user", "disable", "--now", "camstyle.service"] in systemctl.calls


def test_enable_systemd_without_a_user_manager_says_how(isolated_home):
    host = linux_host(systemctl=FakeSystemctl(works=False))
    lines = autostart.enable(host, "systemd")
    assert (isolated_home / ".config/systemd/user/camstyle.service").is_file()
    assert any("cannot reach your user session" in line for line in lines)
    assert any("systemctl --user daemon-reload && systemctl --user enable --now camstyle.service" in line for line in lines)


def test_switching_method_removes_the_other_entry(isolated_home):
    host = linux_host()
    autostart.enable(host, "xdg")
    lines = autostart.enable(host, "systemd")
    assert not (isolated_home / ".config/autostart/camstyle.desktop").exists()
    assert (isolated_home / ".config/systemd/user/camstyle.service").exists()
    assert any("does not start twice" in line for line in lines)


def test_dry_run_changes_nothing(isolated_home):
    systemctl = FakeSystemctl()
    host = linux_host(systemctl=systemctl)
    lines = autostart.enable(host, "systemd", dry_run=True)
    unit = isolated_home / ".config/systemd/user/camstyle.service"
    assert not unit.exists() and f"would write {unit}:" in lines
    assert any(line.strip().startswith("ExecStart=") for line in lines)
    assert "would run: systemctl --user enable camstyle.service" in lines
    assert not any(call[2:3] == ["enable"] for call in systemctl.calls)
    autostart.enable(host, "xdg")
    assert autostart.disable(host, dry_run=True) == [f"would remove {isolated_home / '.config/autostart/camstyle.desktop'}"]
    assert (isolated_home / ".config/autostart/camstyle.desktop").exists()


def test_status_notices_an_entry_for_another_install(isolated_home, tmp_path):
    autostart.enable(linux_host(python="/opt/old-camstyle/bin/python"), "xdg")
    entry = next(e for e in autostart.status(linux_host())["entries"] if e["method"] == "xdg")
    assert entry["installed"] and entry["current"] is False
    assert "updated" in autostart.enable(linux_host(), "xdg")[0]


def test_default_method_without_desktop(isolated_home):
    assert autostart.default_method(linux_host(desktop=False))[0] == "systemd"
    no_systemd = linux_host(desktop=False, systemctl=FakeSystemctl(works=False))
    assert autostart.default_method(no_systemd)[0] == "xdg"
    assert autostart.default_method(autostart.Host(platform="darwin"))[0] == "launchd"


def test_method_must_fit_the_system():
    with pytest.raises(ConfigError, match="launchd"):
        autostart.enable(linux_host(), "launchd")


def test_running_daemon_found_in_proc(tmp_path):
    proc = tmp_path / "proc"
    for pid, args in ((101, ["/home/me/camstyle/.venv/bin/python", "-m", "camstyle", "run", "--no-dashboard"]),
                      (102, ["/home/me/.venv/bin/camstyle", "run"]),
                      (103, ["/usr/bin/python3", "-m", "camstyle", "doctor"]),
                      (104, ["vim", "run"]),
                      (105, ["timeout", "600", "/home/me/.venv/bin/camstyle", "run"]),  # a wrapper, not CamStyle
                      (106, ["/bin/sh", "-c", "camstyle run --daemon"]),
                      (107, ["python3.12", "-u", "-X", "dev", "-m", "camstyle", "run"]),
                      (108, ["/usr/bin/python3", "/home/me/.local/bin/camstyle", "run"])):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in args) + b"\0")
    (proc / "self").mkdir()
    host = linux_host(proc_root=proc)
    assert autostart.find_daemon_pids(host) == [101, 102, 107, 108]
    running, detail = autostart.is_running(host)
    assert running and "101, 102, 107, 108" in detail
    assert autostart.is_running(linux_host(proc_root=tmp_path / "empty")) == (False, "no `camstyle run` process found")


def test_command_line_round_trip(isolated_home, monkeypatch, capsys):
    from camstyle.commands import autostart as command

    monkeypatch.setenv("DISPLAY", ":0")
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    assert command.run(parser.parse_args(["enable", "--dry-run"])) == 0
    out = capsys.readouterr().out
    assert "would write" in out and "starts at your next" not in out
    assert out.rstrip().splitlines()[-1] == ("dry run: nothing was written. Without --dry-run, CamStyle would start "
                                             "at your next desktop login.")
    assert not (isolated_home / ".config/autostart/camstyle.desktop").exists()
    assert command.run(parser.parse_args(["enable"])) == 0
    assert command.run(parser.parse_args(["status"])) == 0
    out = capsys.readouterr().out
    assert "enabled via xdg" in out and "running:" in out
    assert command.run(parser.parse_args(["disable"])) == 0
    assert "removed" in capsys.readouterr().out
    assert not Path(isolated_home / ".config/autostart/camstyle.desktop").exists()

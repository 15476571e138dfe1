"""CamStyle installed from a wheel into a fresh virtual environment, away from its source folder,
as `pip install camstyle` or `pipx install camstyle` leave it: every command that prints a file
of CamStyle's (autostart templates, set-up script, modprobe files) prints one that exists."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "camstyle", "styles", "install", "training")
PATH_PATTERN = re.compile(r"(/[^\s'\"`,;()\[\]]+)")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="checks the Linux set-up files")]


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv, environment for its commands, a working folder with no source in it)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    source.mkdir()
    for name in SOURCES:
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy
        copy(REPO / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__", "*.pyc")}
                                           if (REPO / name).is_dir() else {}))
    # Offline with the setuptools already here; else pip fetches it (CI is online).
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-w", str(root / "dist"), str(source)])
    assert built.returncode == 0, built.stdout + built.stderr
    wheel = next((root / "dist").glob("camstyle-*.whl"))
    shutil.rmtree(source)  # nothing of the source folder is left to fall back on

    venv = root / "venv"
    created = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert created.returncode == 0, created.stderr
    python = venv / "bin" / "python"
    purelib = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # The dependencies (numpy, OpenCV, ONNX Runtime ...) come from this environment, so the test
    # runs offline. A path line in a .pth adds the folder only: its own .pth files (an editable
    # CamStyle among them) are not run, and the venv's own site-packages comes first.
    here = {p for p in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]) if Path(p).is_dir()}
    (purelib / "camstyle_test_dependencies.pth").write_text("\n".join(sorted(here)) + "\n")
    install = _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)])
    assert install.returncode == 0, install.stdout + install.stderr

    home = root / "home"
    work = root / "work"
    for folder in (home, work, home / "run"):
        folder.mkdir(parents=True)
    (home / "run").chmod(0o700)
    env = {"HOME": str(home), "PATH": f"{venv / 'bin'}:/usr/bin:/bin", "LANG": "C.UTF-8",
           "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local/share"),
           "XDG_CACHE_HOME": str(home / ".cache"), "XDG_RUNTIME_DIR": str(home / "run"),
           "XDG_CURRENT_DESKTOP": "GNOME", "COLUMNS": "200"}
    return venv, env, work


def camstyle(installed, *args: str) -> subprocess.CompletedProcess:
    venv, env, work = installed
    return _run([str(venv / "bin" / "camstyle"), *args], cwd=work, env=env)


def printed_paths(result: subprocess.CompletedProcess) -> list[Path]:
    return [Path(p.rstrip(".")) for p in PATH_PATTERN.findall(result.stdout + result.stderr)]


def assert_own_paths_exist(installed, result) -> list[Path]:
    """Every path printed inside the install exists; none points at the source folder. (Paths in
    the home are where files will go, such as the config file `config --init` would write.)"""
    venv, env, _ = installed
    paths = printed_paths(result)
    assert not [p for p in paths if str(p).startswith(str(REPO))], "points at the source folder"
    own = [p for p in paths if str(p).startswith(str(venv))]
    missing = [str(p) for p in own if not p.exists()]
    assert not missing, f"printed but missing: {missing}\n{result.stdout}{result.stderr}"
    return own


def test_installed_from_the_wheel_not_the_source(installed):
    venv, _, _ = installed
    result = _run([str(venv / "bin" / "python"), "-c", "import camstyle, sys; print(camstyle.__file__)"], cwd=installed[2],
                  env=installed[1])
    assert result.stdout.strip().startswith(str(venv)), result.stdout + result.stderr


def test_doctor_and_the_virtual_camera_advice(installed):
    doctor = camstyle(installed, "doctor", "--verbose")
    assert doctor.returncode in (0, 1) and "Traceback" not in doctor.stderr, doctor.stdout + doctor.stderr
    assert_own_paths_exist(installed, doctor)
    advice = camstyle(installed, "setup", "virtual-camera", "--print")
    assert advice.returncode == 0, advice.stderr
    own = assert_own_paths_exist(installed, advice)
    assert {p.name for p in own} >= {"setup-virtual-camera.sh", "camstyle-v4l2loopback.conf", "camstyle-modules-load.conf"}
    dry = camstyle(installed, "setup", "virtual-camera", "--dry-run")
    assert "Traceback" not in dry.stderr and "missing" not in dry.stdout + dry.stderr, dry.stdout + dry.stderr
    assert_own_paths_exist(installed, dry)


def test_run_prints_only_existing_set_up_files(installed):
    result = camstyle(installed, "run", "--source", "demo", "--frames", "15", "--no-dashboard")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stopped: 15 frames out" in result.stderr
    assert_own_paths_exist(installed, result)


def test_autostart_enable_status_disable(installed):
    _, env, _ = installed
    entry = Path(env["XDG_CONFIG_HOME"]) / "autostart/camstyle.desktop"
    dry = camstyle(installed, "autostart", "enable", "--dry-run")
    assert dry.returncode == 0 and "would write" in dry.stdout, dry.stdout + dry.stderr
    assert not entry.exists()
    for method in ("systemd", "xdg"):
        shown = camstyle(installed, "autostart", "enable", "--method", method, "--dry-run")
        assert shown.returncode == 0 and "@CAMSTYLE_" not in shown.stdout, shown.stdout + shown.stderr
        assert_own_paths_exist(installed, shown)
    enabled = camstyle(installed, "autostart", "enable", "--method", "xdg")
    assert enabled.returncode == 0 and entry.is_file() and f"wrote {entry}" in enabled.stdout, enabled.stdout
    assert_own_paths_exist(installed, enabled)
    exec_line = next(line for line in entry.read_text().splitlines() if line.startswith("Exec="))
    program = Path(exec_line.split("=", 1)[1].split()[0])
    assert program.exists() and str(program).startswith(str(installed[0])), exec_line
    status = camstyle(installed, "autostart", "status")
    assert status.returncode == 0 and f"enabled via xdg: {entry}" in status.stdout, status.stdout
    assert "another CamStyle" not in status.stdout
    assert_own_paths_exist(installed, status)
    disabled = camstyle(installed, "autostart", "disable")
    assert disabled.returncode == 0 and f"removed {entry}" in disabled.stdout and not entry.exists()

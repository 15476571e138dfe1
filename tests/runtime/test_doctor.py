"""`camstyle doctor` against simulated machines: each failure gives the right advice and exit code."""

from __future__ import annotations

import argparse
import functools
import json
import os
from pathlib import Path

import pytest
from onnx_models import colour_matrix_model, wrong_shape_model
from test_virtualcam import KERNEL, fake_linux

from camstyle import paths
from camstyle.system import doctor
from camstyle.config import Config, load_config
from camstyle.errors import ConfigError
from camstyle.stylize.styles import discover_styles

REAL_ENVIRONMENT = doctor.Environment
CAMERA = {"index": 0, "path": "/dev/video0", "name": "Integrated Camera",
          "modes": [{"width": 1280, "height": 720, "fps": 30, "fourcc": "MJPG"}, {"width": 640, "height": 480, "fps": 30}]}


def allow_all(path, mode):
    return True


def deny_write(path, mode):
    return mode != os.W_OK


@pytest.fixture
def styles_dir(tmp_path):
    folder = tmp_path / "styles"
    folder.mkdir()
    (folder / "mosaic.onnx").write_bytes(colour_matrix_model())
    (folder / "mosaic.json").write_text('{"name": "mosaic", "title": "Mosaic"}')
    return folder


def make_env(tmp_path, styles_dir=None, **overrides) -> doctor.Environment:
    """A healthy Linux desktop: CamStyle device ready, a camera, CPU inference, X11 hotkeys."""
    default_root = tmp_path / "root"
    root = overrides.pop("root", None) or (default_root if default_root.exists() else fake_linux(default_root))
    folder = styles_dir if styles_dir is not None else tmp_path / "no-styles"
    values = dict(
        platform="linux", root=root, environ={"DISPLAY": ":0", "XDG_SESSION_TYPE": "x11"},
        groups=["me", "video"], account_groups=["me", "video"], access=allow_all, kernel_release=KERNEL,
        list_cameras=lambda: [CAMERA], probe_providers=lambda: [("cpu", True, "ran a test model in 3 ms")],
        hotkey_backend_status=lambda: (True, "X11 display :0"), load_config=load_config,
        discover_styles=lambda: discover_styles([(folder, "user")]),
    )
    values.update(overrides)
    return REAL_ENVIRONMENT(**values)


def by_name(checks):
    return {c.name: c for c in checks}


def test_healthy_machine_is_all_ok(tmp_path, styles_dir):
    checks = doctor.run_checks(make_env(tmp_path, styles_dir))
    assert [c.status for c in checks] == ["ok"] * 6, [(c.name, c.summary) for c in checks]
    assert doctor.exit_code(checks) == 0
    rows = by_name(checks)
    assert "/dev/video10" in rows["virtual camera"].summary
    assert any("1280x720@30 MJPG" in line for line in rows["camera"].details)
    assert "cpu" in rows["inference"].summary


def test_no_module_installed(tmp_path):
    env = make_env(tmp_path, root=fake_linux(tmp_path / "root", loaded=False, installed=False))
    check = by_name(doctor.run_checks(env))["virtual camera"]
    assert check.status == "problem" and "not installed" in check.summary
    assert "setup-virtual-camera.sh" in check.fix and "exclusive_caps=1" in check.fix
    assert not check.blocking  # a desktop session: CamStyle falls back to a preview window


def test_no_module_blocks_when_there_is_no_other_output(tmp_path):
    root = fake_linux(tmp_path / "root", loaded=False, installed=False)
    headless = make_env(tmp_path, root=root, environ={})
    checks = doctor.run_checks(headless)
    assert doctor.exit_code(checks) == 1
    row = by_name(checks)["virtual camera"]
    assert row.effect == "camstyle run publishes nothing" and "runs but publishes nothing" in row.summary
    config = paths.config_file()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[output]\nkind = "virtualcam"\n')
    checks = doctor.run_checks(make_env(tmp_path, root=root))
    assert by_name(checks)["virtual camera"].blocking and doctor.exit_code(checks) == 1


def test_installed_but_not_loaded_under_secure_boot(tmp_path):
    root = fake_linux(tmp_path / "root", loaded=False, installed=True, secure_boot=True)
    check = by_name(doctor.run_checks(make_env(tmp_path, root=root)))["virtual camera"]
    assert "installed but not loaded" in check.summary
    assert check.fix.startswith('Load it: sudo modprobe v4l2loopback devices=1 video_nr=10 card_label="CamStyle" exclusive_caps=1')
    assert "mokutil --import" in check.fix and "Enroll MOK" in check.fix


def test_module_without_exclusive_caps(tmp_path):
    root = fake_linux(tmp_path / "root", exclusive_caps=(False,))
    checks = doctor.run_checks(make_env(tmp_path, root=root))
    check = by_name(checks)["virtual camera"]
    assert check.status == "warning"
    assert "Chrome" in check.summary and "Meet" in check.summary
    assert "sudo modprobe -r v4l2loopback" in check.fix and "exclusive_caps=1" in check.fix and "Zoom" in check.fix
    assert doctor.exit_code(checks) == 0


def test_no_permission_and_not_in_video_group(tmp_path):
    env = make_env(tmp_path, access=deny_write, groups=["me"], account_groups=["me"])
    check = by_name(doctor.run_checks(env))["virtual camera"]
    assert check.status == "problem" and "no permission to write to /dev/video10" in check.summary
    assert "sudo usermod -aG video $USER" in check.fix and "log out" in check.fix


def test_every_virtual_camera_issue_is_listed_at_once(tmp_path):
    root = fake_linux(tmp_path / "root", exclusive_caps=(False,))
    env = make_env(tmp_path, root=root, access=deny_write, groups=["me"], account_groups=["me"])
    check = by_name(doctor.run_checks(env))["virtual camera"]
    assert check.status == "problem"
    assert "no permission" in check.summary and "exclusive_caps=0" in check.summary
    assert "usermod -aG video" in check.fix and "exclusive_caps=1" in check.fix


def test_added_to_video_group_but_not_logged_in_again(tmp_path):
    env = make_env(tmp_path, access=deny_write, groups=["me"], account_groups=["me", "video"])
    check = by_name(doctor.run_checks(env))["virtual camera"]
    assert "log out and back in" in check.fix and "usermod" not in check.fix


def test_in_video_group_but_device_still_not_writable(tmp_path):
    check = by_name(doctor.run_checks(make_env(tmp_path, access=deny_write)))["virtual camera"]
    assert "chmod 660 /dev/video10" in check.fix


def test_unlabelled_device_and_configured_device_missing(tmp_path):
    root = fake_linux(tmp_path / "root", devices=((3, "Dummy video device (0x0000)"),), video_nr=(3,))
    check = by_name(doctor.run_checks(make_env(tmp_path, root=root)))["virtual camera"]
    assert check.status == "warning" and "Dummy video device" in check.summary and 'card_label="CamStyle"' in check.fix
    config = paths.config_file()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[output]\ndevice = "/dev/video7"\n')
    check = by_name(doctor.run_checks(make_env(tmp_path, root=root)))["virtual camera"]
    assert check.blocking and "/dev/video3" in check.fix


def test_no_provider_works(tmp_path, styles_dir):
    env = make_env(tmp_path, styles_dir, probe_providers=lambda: [
        ("cuda", False, "no NVIDIA driver found"), ("cpu", False, "ran, but returned wrong results")])
    checks = doctor.run_checks(env)
    check = by_name(checks)["inference"]
    assert check.status == "problem" and check.blocking
    assert "pip install --force-reinstall onnxruntime" in check.fix
    assert "cuda: not usable - no NVIDIA driver found" in check.details
    assert doctor.exit_code(checks) == 1
    assert doctor.as_json(checks)["ok"] is False


def test_configured_provider_that_does_not_work_blocks(tmp_path):
    config = paths.config_file()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[runtime]\nprovider = "cuda"\n')
    env = make_env(tmp_path, probe_providers=lambda: [("cuda", False, "libcudnn.so.9: cannot open shared object file"),
                                                       ("cpu", True, "ran")])
    check = by_name(doctor.run_checks(env))["inference"]
    assert check.blocking and 'runtime.provider = "auto"' in check.fix and "onnxruntime-gpu[cuda,cudnn]" in check.fix


def test_gpu_provider_installed_but_failing_is_a_warning(tmp_path):
    env = make_env(tmp_path, probe_providers=lambda: [("cuda", False, "libcublasLt.so.12: cannot open"), ("cpu", True, "ran")])
    check = by_name(doctor.run_checks(env))["inference"]
    assert check.status == "warning" and not check.blocking and "onnxruntime-gpu[cuda,cudnn]" in check.fix


def test_invalid_config_blocks_with_the_config_message(tmp_path, styles_dir):
    config = paths.config_file()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[style]\nstrength = 5\n")
    checks = doctor.run_checks(make_env(tmp_path, styles_dir))
    check = by_name(checks)["config"]
    assert check.status == "problem" and check.blocking and "style.strength" in check.summary
    assert doctor.exit_code(checks) == 1
    # The other checks still run, on the defaults.
    assert by_name(checks)["virtual camera"].status == "ok"


def test_no_styles_is_only_a_warning(tmp_path):
    checks = doctor.run_checks(make_env(tmp_path))
    check = by_name(checks)["styles"]
    assert check.status == "warning" and "camstyle train" in check.fix
    assert doctor.exit_code(checks) == 0


def test_broken_styles_are_named(tmp_path, styles_dir):
    (styles_dir / "grey.onnx").write_bytes(wrong_shape_model())
    (styles_dir / "corrupt.onnx").write_bytes(b"not an onnx file")
    (styles_dir / "badmeta.onnx").write_bytes(colour_matrix_model())
    (styles_dir / "badmeta.json").write_text("{broken")
    checks = doctor.run_checks(make_env(tmp_path, styles_dir))
    check = by_name(checks)["styles"]
    assert check.status == "problem" and not check.blocking
    assert "3 of 4" in check.summary
    details = "\n".join(check.details)
    assert "grey (user): input shape [1, 1, 'height', 'width'] is not [1, 3, H, W]" in details
    assert "corrupt (user): does not load" in details
    assert "badmeta (user): metadata badmeta.json is unreadable" in details
    assert "mosaic (user): ok" in details


def test_configured_style_missing_blocks(tmp_path, styles_dir):
    config = paths.config_file()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[style]\nname = "starry_night"\n')
    check = by_name(doctor.run_checks(make_env(tmp_path, styles_dir)))["styles"]
    assert check.blocking and "mosaic" in check.fix


def test_wayland_hotkeys_advise_desktop_shortcuts(tmp_path):
    env = make_env(tmp_path, hotkey_backend_status=lambda: (False, "this is a Wayland session, where applications cannot read global hotkeys"))
    check = by_name(doctor.run_checks(env))["hotkeys"]
    assert check.status == "warning" and "camstyle ctl next" in check.fix


def test_camera_missing_and_explicit_source(tmp_path):
    check = by_name(doctor.run_checks(make_env(tmp_path, list_cameras=lambda: [])))["camera"]
    assert check.status == "warning" and "demo" in check.summary
    config = paths.config_file()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[camera]\nsource = "2"\n')
    check = by_name(doctor.run_checks(make_env(tmp_path)))["camera"]
    assert check.status == "problem" and 'camera.source = "auto"' in check.fix


def test_loopback_device_is_not_listed_as_a_camera(tmp_path):
    ours = {"index": 10, "path": "/dev/video10", "name": "CamStyle", "modes": []}
    check = by_name(doctor.run_checks(make_env(tmp_path, list_cameras=lambda: [ours])))["camera"]
    assert check.status == "warning" and "no camera found" in check.summary


@pytest.mark.parametrize("status, expected, words", [
    ({"installed": False, "version": None, "path": None, "camera_ready": None}, "problem", "not installed"),
    ({"installed": True, "version": "29.1.3", "path": "/Applications/OBS.app", "camera_ready": True}, "problem", "30 or newer"),
    ({"installed": True, "version": "30.1.2", "path": "/Applications/OBS.app", "camera_ready": False}, "warning", "not activated"),
    ({"installed": True, "version": "30.1.2", "path": "/Applications/OBS.app", "camera_ready": True}, "ok", "1280x720"),
])
def test_macos_obs(tmp_path, status, expected, words):
    env = make_env(tmp_path, platform="darwin", obs_status=lambda: status)
    check = by_name(doctor.run_checks(env))["virtual camera"]
    assert check.status == expected and words in check.summary


def test_a_crashing_probe_becomes_a_row(tmp_path):
    def broken():
        raise RuntimeError("camera backend exploded")

    checks = doctor.run_checks(make_env(tmp_path, list_cameras=broken))
    check = by_name(checks)["camera"]
    assert check.status == "problem" and "camera backend exploded" in check.summary
    assert len(checks) == 6


def test_config_error_from_loader(tmp_path):
    def bad():
        raise ConfigError("Unknown key style.colour in /x/config.toml.", "Did you mean style.mirror?")

    check = by_name(doctor.run_checks(make_env(tmp_path, load_config=bad)))["config"]
    assert check.blocking and check.fix == "Did you mean style.mirror?"


def test_command_prints_rows_and_json(tmp_path, styles_dir, monkeypatch, capsys):
    from camstyle.commands import doctor as command

    env_factory = functools.partial(make_env, tmp_path, styles_dir, access=deny_write, groups=["me"], account_groups=["me"])
    monkeypatch.setattr(doctor, "Environment", lambda: env_factory())
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    assert command.run(parser.parse_args([])) == 0
    out = capsys.readouterr().out
    assert "problem" in out and "sudo usermod -aG video $USER" in out and "fix:" in out
    assert command.run(parser.parse_args(["--json"])) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["exit_code"] == 0
    assert [c["name"] for c in report["checks"]] == ["config", "camera", "virtual camera", "inference", "styles", "hotkeys"]


def test_real_machine_checks_do_not_crash():
    """On whatever machine runs the tests: every check completes with a verdict."""
    checks = doctor.run_checks()
    assert len(checks) == 6
    for check in checks:
        assert check.status in ("ok", "warning", "problem")
        assert not check.summary.startswith("could not check"), (check.name, check.summary)
        assert check.status == "ok" or check.fix, check.name
    assert isinstance(Config(), Config) and Path(paths.config_file()).name == "config.toml"

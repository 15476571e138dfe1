"""Virtual-camera inspection against simulated machines: sysfs, /dev, EFI variables, OBS installs."""

from __future__ import annotations

import os
import plistlib
import re
from pathlib import Path

import pytest

from camstyle.publish import virtualcam_setup

KERNEL = "6.1.0-test-amd64"
MAX_DEVICES = 8


def fake_linux(root: Path, devices=((10, "CamStyle"),), exclusive_caps=(True,), video_nr=(10,),
               loaded=True, installed=True, secure_boot=None) -> Path:
    """Lay out the parts of /sys, /dev and /lib/modules that v4l2loopback touches.

    The module lists exclusive_caps and video_nr per creation index, padded to its maximum
    number of devices, exactly as the kernel prints module parameter arrays.
    """
    root.mkdir(parents=True, exist_ok=True)
    if installed:
        ko = root / "lib/modules" / KERNEL / "updates/dkms/v4l2loopback.ko.xz"
        ko.parent.mkdir(parents=True)
        ko.write_bytes(b"\x00")
    if loaded:
        params = root / "sys/module/v4l2loopback/parameters"
        params.mkdir(parents=True)
        caps = ["Y" if c else "N" for c in exclusive_caps] + ["N"] * (MAX_DEVICES - len(exclusive_caps))
        numbers = [str(n) for n in video_nr] + ["-1"] * (MAX_DEVICES - len(video_nr))
        (params / "exclusive_caps").write_text(",".join(caps) + "\n")
        (params / "video_nr").write_text(",".join(numbers) + "\n")
        (params / "max_buffers").write_text("2\n")
        for number, label in devices:
            sysdev = root / f"sys/devices/virtual/video4linux/video{number}"
            sysdev.mkdir(parents=True)
            (sysdev / "name").write_text(label + "\n")
            (sysdev / "max_openers").write_text("10\n")
            (root / "dev").mkdir(exist_ok=True)
            (root / f"dev/video{number}").write_text("")
    if secure_boot is not None:
        efivars = root / "sys/firmware/efi/efivars"
        efivars.mkdir(parents=True)
        (efivars / "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c").write_bytes(
            b"\x06\x00\x00\x00" + (b"\x01" if secure_boot else b"\x00"))
    return root


def allow_all(path, mode):
    return True


def test_camstyle_device_with_exclusive_caps(tmp_path):
    root = fake_linux(tmp_path / "root")
    assert virtualcam_setup.module_loaded(root)
    assert virtualcam_setup.module_installed(root, KERNEL)
    devices = virtualcam_setup.loopback_devices(root, access=allow_all)
    assert devices == [{"path": "/dev/video10", "label": "CamStyle", "exclusive_caps": True,
                        "exists": True, "readable": True, "writable": True}]


def test_exclusive_caps_follow_video_nr_order_not_device_order(tmp_path):
    # video_nr=11,10 with exclusive_caps=1,0: /dev/video11 is index 0 and has exclusive caps.
    root = fake_linux(tmp_path / "root", devices=((10, "Zoom"), (11, "CamStyle")),
                      exclusive_caps=(True, False), video_nr=(11, 10))
    by_path = {d["path"]: d for d in virtualcam_setup.loopback_devices(root, access=allow_all)}
    assert by_path["/dev/video11"]["exclusive_caps"] is True
    assert by_path["/dev/video10"]["exclusive_caps"] is False


def test_module_loaded_without_exclusive_caps(tmp_path):
    root = fake_linux(tmp_path / "root", exclusive_caps=(False,))
    assert virtualcam_setup.loopback_devices(root, access=allow_all)[0]["exclusive_caps"] is False


def test_single_auto_numbered_device_maps_to_index_zero_but_several_are_unknown(tmp_path):
    one = fake_linux(tmp_path / "one", devices=((2, "Dummy video device (0x0000)"),), video_nr=())
    assert virtualcam_setup.loopback_devices(one, access=allow_all)[0]["exclusive_caps"] is True
    two = fake_linux(tmp_path / "two", devices=((2, "a"), (3, "b")), exclusive_caps=(True, True), video_nr=())
    assert [d["exclusive_caps"] for d in virtualcam_setup.loopback_devices(two, access=allow_all)] == [None, None]


def test_permissions_come_from_the_access_check(tmp_path):
    root = fake_linux(tmp_path / "root")
    seen = []

    def read_only(path, mode):
        seen.append((Path(path), mode))
        return mode == os.R_OK

    device = virtualcam_setup.loopback_devices(root, access=read_only)[0]
    assert device["readable"] and not device["writable"]
    assert (root / "dev/video10", os.W_OK) in seen


def test_device_missing_from_dev(tmp_path):
    root = fake_linux(tmp_path / "root")
    (root / "dev/video10").unlink()
    device = virtualcam_setup.loopback_devices(root, access=allow_all)[0]
    assert device["exists"] is False and device["writable"] is False


def test_no_module(tmp_path):
    root = fake_linux(tmp_path / "root", loaded=False, installed=False)
    assert not virtualcam_setup.module_loaded(root)
    assert not virtualcam_setup.module_installed(root, KERNEL)
    assert virtualcam_setup.loopback_devices(root) == []
    assert virtualcam_setup.module_parameters(root) == {}


def test_other_kernel_does_not_count_as_installed(tmp_path):
    root = fake_linux(tmp_path / "root", loaded=False)
    assert not virtualcam_setup.module_installed(root, "5.10.0-other")


def test_non_loopback_entries_are_ignored(tmp_path):
    root = fake_linux(tmp_path / "root")
    (root / "sys/devices/virtual/video4linux/v4l-subdev0").mkdir()
    assert [d["path"] for d in virtualcam_setup.loopback_devices(root, access=allow_all)] == ["/dev/video10"]


@pytest.mark.parametrize("state, expected", [(True, True), (False, False), (None, None)])
def test_secure_boot_state(tmp_path, state, expected):
    root = fake_linux(tmp_path / "root", secure_boot=state)
    assert virtualcam_setup.secure_boot_enabled(root) is expected


def test_preferred_device_picks_the_camstyle_label_and_avoids_obs():
    obs = {"path": "/dev/video2", "label": "OBS Virtual Camera"}
    other = {"path": "/dev/video3", "label": "Dummy video device (0x0000)"}
    ours = {"path": "/dev/video10", "label": "CamStyle"}
    assert virtualcam_setup.preferred_device([obs, other, ours]) is ours
    assert virtualcam_setup.preferred_device([obs, other]) is other
    assert virtualcam_setup.preferred_device([obs]) is obs
    assert virtualcam_setup.preferred_device([]) is None


def test_linux_hint_names_the_exact_command_and_existing_files():
    hint = virtualcam_setup.setup_hint("linux")
    assert 'sudo modprobe v4l2loopback devices=1 video_nr=10 card_label="CamStyle" exclusive_caps=1' in hint
    named = re.findall(r"(/\S+/linux/\S+\.(?:sh|conf))", hint)
    assert {Path(p).name for p in named} == {"setup-virtual-camera.sh", "camstyle-v4l2loopback.conf",
                                             "camstyle-modules-load.conf"}
    assert all(Path(p).is_file() for p in named)
    assert "camstyle setup virtual-camera" in hint
    assert "/etc/modprobe.d/" in hint and "/etc/modules-load.d/" in hint


def test_macos_and_windows_hints_point_at_obs():
    mac = virtualcam_setup.setup_hint("darwin")
    assert "OBS Studio 30" in mac and "Start Virtual Camera" in mac and "1280x720" in mac
    win = virtualcam_setup.setup_hint("win32")
    assert "OBS" in win and "modprobe" not in win


def _fake_obs_app(root: Path, version: str, extension: bool) -> None:
    info = root / "Applications/OBS.app/Contents/Info.plist"
    info.parent.mkdir(parents=True)
    info.write_bytes(plistlib.dumps({"CFBundleShortVersionString": version, "CFBundleIdentifier": "com.obsproject.obs-studio"}))
    ext_root = root / "Library/SystemExtensions"
    ext_root.mkdir(parents=True)
    if extension:
        (ext_root / "ABCD-1234/com.obsproject.obs-studio.mac-camera-extension.systemextension").mkdir(parents=True)


def test_obs_status_on_macos(tmp_path):
    root = tmp_path / "mac"
    _fake_obs_app(root, "30.2.3", extension=True)
    status = virtualcam_setup.obs_status("darwin", root=root, home=tmp_path / "home")
    assert status == {"installed": True, "version": "30.2.3", "path": str(root / "Applications/OBS.app"), "camera_ready": True}
    assert virtualcam_setup.version_major(status["version"]) == 30


def test_obs_status_on_macos_without_obs_or_extension(tmp_path):
    assert virtualcam_setup.obs_status("darwin", root=tmp_path, home=tmp_path)["installed"] is False
    root = tmp_path / "old"
    _fake_obs_app(root, "29.1.3", extension=False)
    status = virtualcam_setup.obs_status("darwin", root=root, home=tmp_path)
    assert status["version"] == "29.1.3" and status["camera_ready"] is False

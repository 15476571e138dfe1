"""What the virtual camera needs on this OS, and what is there right now.

Linux publishes through the v4l2loopback kernel module, macOS and Windows through OBS
Studio's virtual camera. This module only inspects (sysfs, /dev, the OBS install) and
words the fix; it never changes the system. Every function takes the filesystem root and
platform as arguments so that tests can simulate any machine.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

MODULE = "v4l2loopback"
CARD_LABEL = "CamStyle"
VIDEO_NR = 10
MODPROBE_OPTIONS = f'devices=1 video_nr={VIDEO_NR} card_label="{CARD_LABEL}" exclusive_caps=1'
MODPROBE_COMMAND = f"sudo modprobe {MODULE} {MODPROBE_OPTIONS}"
OBS_MIN_MACOS = 30
OBS_URL = "https://obsproject.com"
# OBS 30+ on macOS serves its virtual camera at this fixed size; CamStyle scales to it there.
MACOS_OBS_SIZE = (1280, 720)


def setup_files_dir() -> Path:
    """Where the set-up files (install/autostart, install/linux) are: inside the installed
    package (camstyle/setup_files, from a wheel) or the source checkout's install/ folder."""
    packaged = Path(__file__).resolve().parents[1] / "setup_files"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "install"


def install_file(*parts: str) -> Path:
    return setup_files_dir().joinpath(*parts)


def os_family(platform: str | None = None) -> str:
    """"linux", "macos" or "windows" for a sys.platform value (default: this machine's)."""
    platform = platform or sys.platform
    if platform.startswith("linux"):
        return "linux"
    if platform == "darwin":
        return "macos"
    if platform in ("win32", "cygwin"):
        return "windows"
    return platform


def module_loaded(root: Path | str = "/") -> bool:
    return (Path(root) / "sys/module" / MODULE).is_dir()


def module_installed(root: Path | str = "/", kernel_release: str | None = None) -> bool:
    """Whether a v4l2loopback.ko for the running kernel exists (DKMS, akmod or distro package)."""
    release = kernel_release or os.uname().release
    base = Path(root) / "lib/modules" / release
    if not base.is_dir():
        return False
    return any(base.rglob(f"{MODULE}.ko*"))


def module_parameters(root: Path | str = "/") -> dict[str, str]:
    """The readable parameters of the loaded module (exclusive_caps, video_nr, ...)."""
    folder = Path(root) / "sys/module" / MODULE / "parameters"
    params: dict[str, str] = {}
    if folder.is_dir():
        for item in folder.iterdir():
            try:
                params[item.name] = item.read_text().strip()
            except OSError:
                continue
    return params


def _parse_bool(text: str) -> bool | None:
    return {"y": True, "1": True, "n": False, "0": False}.get(text.strip().lower())


def _device_number(name: str) -> int | None:
    match = re.fullmatch(r"video(\d+)", name)
    return int(match.group(1)) if match else None


def _exclusive_caps_by_number(params: dict[str, str], numbers: list[int]) -> dict[int, bool | None]:
    """Map /dev/videoN to its exclusive_caps flag, which the module lists by creation index."""
    caps = [_parse_bool(v) for v in params.get("exclusive_caps", "").split(",") if v.strip()]
    requested = []
    for value in params.get("video_nr", "").split(","):
        try:
            requested.append(int(value))
        except ValueError:
            continue
    result: dict[int, bool | None] = {n: None for n in numbers}
    if not caps:
        return result
    explicit = {nr: i for i, nr in enumerate(requested) if nr >= 0}
    for number in numbers:
        if number in explicit and explicit[number] < len(caps):
            result[number] = caps[explicit[number]]
    if not explicit and len(numbers) == 1:  # one auto-numbered device: it is index 0
        result[numbers[0]] = caps[0]
    return result


def loopback_devices(root: Path | str = "/", access=os.access) -> list[dict]:
    """The v4l2loopback devices: [{path, label, exclusive_caps, readable, writable}], by number.

    `access` is os.access by default (it honours the ACLs logind gives the seat's user);
    tests pass their own.
    """
    root = Path(root)
    sysfs = root / "sys/devices/virtual/video4linux"
    if not sysfs.is_dir():
        return []
    entries = []
    for entry in sysfs.iterdir():
        number = _device_number(entry.name)
        if number is None:
            continue
        try:
            label = (entry / "name").read_text().strip()
        except OSError:
            label = ""
        entries.append((number, entry.name, label))
    entries.sort()
    caps = _exclusive_caps_by_number(module_parameters(root), [n for n, _, _ in entries])
    devices = []
    for number, name, label in entries:
        node = root / "dev" / name
        exists = node.exists()
        devices.append({
            "path": f"/dev/{name}",
            "label": label,
            "exclusive_caps": caps.get(number),
            "exists": exists,
            "readable": exists and bool(access(node, os.R_OK)),
            "writable": exists and bool(access(node, os.W_OK)),
        })
    return devices


def preferred_device(devices: list[dict]) -> dict | None:
    """The device CamStyle should write to: the one labelled CamStyle, else the first free-looking one."""
    for device in devices:
        if device["label"] == CARD_LABEL:
            return device
    for device in devices:
        if "obs" not in device["label"].lower():  # OBS keeps its own loopback device busy
            return device
    return devices[0] if devices else None


def secure_boot_enabled(root: Path | str = "/") -> bool | None:
    """Secure Boot state from the EFI variable (None: not an EFI system or unreadable)."""
    efivars = Path(root) / "sys/firmware/efi/efivars"
    for var in efivars.glob("SecureBoot-*") if efivars.is_dir() else []:
        try:
            data = var.read_bytes()
        except OSError:
            return None
        return bool(data and data[-1] == 1)
    return None


def obs_status(platform: str | None = None, root: Path | str = "/", home: Path | None = None) -> dict:
    """OBS Studio on macOS or Windows: {installed, version, path, camera_ready}.

    camera_ready is True when the OBS virtual camera has been registered (Windows) or its
    macOS camera extension activated, None when CamStyle cannot tell.
    """
    os_name = os_family(platform)
    if os_name == "macos":
        return _obs_status_macos(Path(root), home or Path.home())
    if os_name == "windows":
        return _obs_status_windows()
    return {"installed": False, "version": None, "path": None, "camera_ready": None}


def _obs_status_macos(root: Path, home: Path) -> dict:
    import plistlib

    status = {"installed": False, "version": None, "path": None, "camera_ready": None}
    for app in (root / "Applications/OBS.app", home / "Applications/OBS.app"):
        info = app / "Contents/Info.plist"
        if info.is_file():
            status.update(installed=True, path=str(app))
            try:
                with open(info, "rb") as fh:
                    status["version"] = str(plistlib.load(fh).get("CFBundleShortVersionString") or "") or None
            except (OSError, plistlib.InvalidFileException, ValueError):
                pass
            break
    extensions = root / "Library/SystemExtensions"
    if extensions.is_dir():
        try:
            status["camera_ready"] = any(extensions.glob("*/com.obsproject.obs-studio.mac-camera-extension*"))
        except OSError:
            status["camera_ready"] = None
    return status


# The class id OBS registers for its DirectShow virtual camera.
OBS_VIRTUALCAM_CLSID = "{A3FCE0F5-3493-419F-958A-ABA1250EC20B}"


def _obs_status_windows() -> dict:
    status = {"installed": False, "version": None, "path": None, "camera_ready": None}
    try:
        import winreg  # type: ignore[import-not-found]
    except ImportError:
        return status

    def read(hive, key, value=""):
        try:
            with winreg.OpenKey(hive, key) as handle:
                return winreg.QueryValueEx(handle, value)[0]
        except OSError:
            return None

    path = read(winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\OBS Studio")
    version = read(winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\OBS Studio", "DisplayVersion")
    status.update(installed=bool(path or version), path=path, version=version)
    status["camera_ready"] = read(winreg.HKEY_CLASSES_ROOT, rf"CLSID\{OBS_VIRTUALCAM_CLSID}") is not None
    return status


def version_major(version: str | None) -> int | None:
    match = re.match(r"\s*(\d+)", version or "")
    return int(match.group(1)) if match else None


def linux_setup_commands() -> str:
    script = install_file("linux", "setup-virtual-camera.sh")
    conf = install_file("linux", "camstyle-v4l2loopback.conf")
    load = install_file("linux", "camstyle-modules-load.conf")
    return (
        f"Set it up once with:  camstyle setup virtual-camera   (it runs sudo bash {script})\n"
        "or by hand:\n"
        "  sudo apt install v4l2loopback-dkms      (Fedora: sudo dnf install akmod-v4l2loopback from RPM Fusion;"
        " Arch: sudo pacman -S v4l2loopback-dkms linux-headers)\n"
        f"  {MODPROBE_COMMAND}\n"
        f"  sudo cp {conf} /etc/modprobe.d/ && sudo cp {load} /etc/modules-load.d/   (keeps it after a reboot)"
    )


def setup_hint(platform: str | None = None) -> str:
    """The exact steps that give this OS a virtual camera CamStyle can publish to."""
    os_name = os_family(platform)
    if os_name == "linux":
        return "The virtual camera needs the v4l2loopback kernel module. " + linux_setup_commands()
    if os_name == "macos":
        return (f"Install OBS Studio {OBS_MIN_MACOS} or newer ({OBS_URL}), open it once and click "
                "'Start Virtual Camera' (allow the system extension in System Settings > Privacy & Security), "
                "then quit OBS and start CamStyle again. The macOS virtual camera runs at 1280x720.")
    if os_name == "windows":
        return (f"Install OBS Studio 30 or newer ({OBS_URL}); its installer registers the 'OBS Virtual Camera' "
                "that CamStyle publishes to. OBS itself does not need to be running. Then start CamStyle again.")
    return "CamStyle's virtual camera supports Linux (v4l2loopback), macOS and Windows (OBS Studio virtual camera)."

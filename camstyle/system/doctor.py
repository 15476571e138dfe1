"""`camstyle doctor`: everything CamStyle needs, checked, each with the exact fix.

Each check returns a Check row: ok, warning (works, but something is off) or problem; a
problem that stops `camstyle run` from working is `blocking` and makes doctor exit non-zero.
`effect` says what a blocking problem does when it is not that run refuses to start.
The machine is described by an Environment (filesystem root, groups, environment variables,
platform and the probe functions of the other modules), so tests can simulate a missing
module, a device without permission or a machine where no provider works.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from camstyle.publish import virtualcam_setup
from camstyle.errors import CamStyleError

OK, WARNING, PROBLEM = "ok", "warning", "problem"


@dataclass
class Check:
    name: str
    status: str
    summary: str
    fix: str = ""
    blocking: bool = False
    details: list[str] = field(default_factory=list)
    effect: str = ""  # what a blocking problem does to `camstyle run` ("" = run stops with an error)


def _real_list_cameras():
    from camstyle.capture.camera import list_cameras

    return list_cameras()


def _real_probe_providers():
    from camstyle.stylize.providers import probe_providers

    return probe_providers()


def _real_hotkey_status():
    from camstyle.control.hotkeys import hotkey_backend_status

    return hotkey_backend_status()


def _real_load_config():
    from camstyle.config import load_config

    return load_config()


def _real_discover_styles():
    from camstyle.stylize.styles import discover_styles

    return discover_styles()


def _process_groups() -> list[str]:
    try:
        import grp

        names = []
        for gid in os.getgroups():
            try:
                names.append(grp.getgrgid(gid).gr_name)
            except KeyError:
                continue
        return names
    except ImportError:
        return []


def _account_groups() -> list[str]:
    """Groups the user database gives this user (what the next login will have)."""
    try:
        import grp
        import pwd

        user = pwd.getpwuid(os.getuid())
        names = {g.gr_name for g in grp.getgrall() if user.pw_name in g.gr_mem}
        try:
            names.add(grp.getgrgid(user.pw_gid).gr_name)
        except KeyError:
            pass
        return sorted(names)
    except (ImportError, KeyError):
        return []


@dataclass
class Environment:
    """The machine doctor looks at; every field can be replaced by a test."""

    platform: str = field(default_factory=lambda: sys.platform)
    root: Path = Path("/")
    environ: dict = field(default_factory=lambda: dict(os.environ))
    groups: list[str] = field(default_factory=_process_groups)
    account_groups: list[str] = field(default_factory=_account_groups)
    access: Callable[[Path, int], bool] = os.access
    kernel_release: str | None = None
    list_cameras: Callable[[], list] = _real_list_cameras
    probe_providers: Callable[[], list] = _real_probe_providers
    hotkey_backend_status: Callable[[], tuple] = _real_hotkey_status
    load_config: Callable[[], object] = _real_load_config
    discover_styles: Callable[[], list] = _real_discover_styles
    obs_status: Callable[[], dict] | None = None

    @property
    def os_name(self) -> str:
        return virtualcam_setup.os_family(self.platform)

    def has_display(self) -> bool:
        if self.os_name in ("macos", "windows"):
            return True
        return bool(self.environ.get("DISPLAY") or self.environ.get("WAYLAND_DISPLAY"))


# --- config -------------------------------------------------------------------------------------


def check_config(env: Environment):
    """(Check, config to use for the other checks: the defaults when the file is broken)."""
    from camstyle.config import Config

    try:
        cfg = env.load_config()
    except CamStyleError as exc:
        return Check("config", PROBLEM, exc.message, exc.hint or "Fix the file, or move it away to use the defaults.",
                     blocking=True), Config()
    where = getattr(cfg, "path", None)
    if getattr(cfg, "from_file", False):
        return Check("config", OK, f"{where} is valid"), cfg
    return Check("config", OK, f"no config file, using the defaults (create one with `camstyle config --init`: {where})"), cfg


# --- cameras ------------------------------------------------------------------------------------


def _describe_mode(mode) -> str:
    if isinstance(mode, dict):
        w, h, fps = mode.get("width"), mode.get("height"), mode.get("fps")
        fourcc = mode.get("fourcc") or mode.get("format") or ""
        text = f"{w}x{h}" + (f"@{fps:g}" if isinstance(fps, (int, float)) else "")
        return f"{text} {fourcc}".strip()
    if isinstance(mode, (list, tuple)):
        return "x".join(str(v) for v in mode[:2]) + (f"@{mode[2]}" if len(mode) > 2 else "")
    return str(mode)


def check_cameras(env: Environment, cfg) -> Check:
    source = str(cfg.camera.source)
    loopback_paths = {d["path"] for d in virtualcam_setup.loopback_devices(env.root, env.access)} if env.os_name == "linux" else set()
    try:
        cameras = [c for c in env.list_cameras() if c.get("path") not in loopback_paths]
    except CamStyleError as exc:
        return Check("camera", WARNING, exc.message, exc.hint or "")
    details = []
    for cam in cameras:
        modes = cam.get("modes") or []
        shown = ", ".join(_describe_mode(m) for m in modes[:6]) + (f" (+{len(modes) - 6} more)" if len(modes) > 6 else "")
        details.append(f"{cam.get('path') or cam.get('index')}: {cam.get('name') or 'camera'}" + (f" - {shown}" if shown else ""))
    if source == "demo":
        return Check("camera", OK, "camera.source = \"demo\": the built-in demo clip plays", details=details)
    if source == "auto":
        if cameras:
            first = cameras[0]
            return Check("camera", OK, f"{len(cameras)} camera(s); using {first.get('path') or first.get('index')} "
                                       f"({first.get('name') or 'camera'})", details=details)
        fix = "Connect a webcam (and close apps that hold it), then restart CamStyle."
        if env.os_name == "linux":
            fix += " Check `ls -l /dev/video*` and that you can read the device (video group)."
        elif env.os_name == "macos":
            fix += " Allow camera access for your terminal in System Settings > Privacy & Security > Camera."
        else:
            fix += " Allow camera access in Settings > Privacy & security > Camera."
        return Check("camera", WARNING, "no camera found: CamStyle plays its built-in demo clip instead "
                                        "(started at login, it waits for a camera)", fix)
    if source.isdigit():
        if any(str(c.get("index")) == source for c in cameras):
            return Check("camera", OK, f"camera {source} is present", details=details)
        return Check("camera", PROBLEM, f"camera.source = \"{source}\" but no camera has that index",
                     "Set camera.source = \"auto\" (or one of the cameras listed) with `camstyle config`.", details=details)
    path = Path(source)
    if source.startswith("/dev/"):
        if any(c.get("path") == source for c in cameras) or (env.root / source.lstrip("/")).exists():
            return Check("camera", OK, f"{source} is present", details=details)
        return Check("camera", PROBLEM, f"camera.source = \"{source}\" does not exist",
                     "Plug the camera in, or set camera.source = \"auto\".", details=details)
    if path.is_file():
        return Check("camera", OK, f"camera.source plays the video file {path}")
    return Check("camera", PROBLEM, f"camera.source = \"{source}\": no such camera or video file",
                 "Give an existing video file, a camera index, or \"auto\".", blocking=True)


# --- virtual camera -----------------------------------------------------------------------------


def _reload_commands() -> str:
    conf = virtualcam_setup.install_file("linux", "camstyle-v4l2loopback.conf")
    return (f"sudo modprobe -r v4l2loopback && {virtualcam_setup.MODPROBE_COMMAND}\n"
            f"and keep it across reboots: sudo cp {conf} /etc/modprobe.d/")


def _secure_boot_fix() -> str:
    return ("Secure Boot is on: if modprobe says 'Key was rejected by service', enroll the DKMS signing key once: "
            "sudo mokutil --import /var/lib/shim-signed/mok/MOK.der (Ubuntu; Debian: /var/lib/dkms/mok.pub; "
            "Fedora: sudo kmodgenca -a, then /etc/pki/akmods/certs/public_key.der), reboot and choose "
            "'Enroll MOK' in the blue screen. `mokutil --sb-state` shows the state.")


def check_virtual_camera(env: Environment, cfg) -> Check:
    kind = cfg.output.kind
    if kind not in ("auto", "virtualcam"):
        return Check("virtual camera", OK, f"not used (output.kind = \"{kind}\")")
    if env.os_name == "linux":
        check = _linux_virtual_camera(env, cfg)
    elif env.os_name in ("macos", "windows"):
        check = _obs_virtual_camera(env)
    else:
        check = Check("virtual camera", PROBLEM, f"no virtual camera support on {env.platform}", virtualcam_setup.setup_hint(env.platform))
    if check.status == PROBLEM:
        if kind == "virtualcam":
            check.blocking = True
        elif not env.has_display():
            check.blocking = True
            check.effect = "camstyle run publishes nothing"
            check.summary += ("; without a display there is no preview window either, so `camstyle run` runs "
                              "but publishes nothing")
        else:
            check.summary += " (CamStyle falls back to a preview window)"
    return check


def _linux_virtual_camera(env: Environment, cfg) -> Check:
    name = "virtual camera"
    if not virtualcam_setup.module_loaded(env.root):
        fix = virtualcam_setup.setup_hint("linux")
        if virtualcam_setup.module_installed(env.root, env.kernel_release):
            summary = "v4l2loopback is installed but not loaded"
            fix = f"Load it: {virtualcam_setup.MODPROBE_COMMAND}\n" + virtualcam_setup.linux_setup_commands()
        else:
            summary = "the v4l2loopback kernel module is not installed"
        if virtualcam_setup.secure_boot_enabled(env.root):
            fix += "\n" + _secure_boot_fix()
        return Check(name, PROBLEM, summary, fix)
    devices = virtualcam_setup.loopback_devices(env.root, env.access)
    details = [f"{d['path']} \"{d['label']}\" exclusive_caps={_caps_text(d['exclusive_caps'])} "
               f"{'read/write' if d['writable'] else 'no write access'}" for d in devices]
    if not devices:
        return Check(name, PROBLEM, "v4l2loopback is loaded but created no device",
                     f"Reload it with CamStyle's options: {_reload_commands()}")
    wanted = cfg.output.device
    if wanted:
        device = next((d for d in devices if d["path"] == wanted), None)
        if device is None:
            return Check(name, PROBLEM, f"output.device = \"{wanted}\" is not a v4l2loopback device",
                         f"Use one of {', '.join(d['path'] for d in devices)}, or \"\" to find the CamStyle camera.",
                         blocking=True, details=details)
    else:
        device = virtualcam_setup.preferred_device(devices)
    path = device["path"]
    if not device["exists"]:
        return Check(name, PROBLEM, f"{path} is in sysfs but not in /dev", "Reload the module: " + _reload_commands(),
                     details=details)
    issues = []  # (status, summary, fix): all of them at once, so one run of doctor lists every fix
    if not device["writable"]:
        issues.append((PROBLEM, f"no permission to write to {path}", _permission_fix(env, path)))
    if device["exclusive_caps"] is False:
        issues.append((WARNING, f"{path} has exclusive_caps=0: Chrome, Chromium browsers and Google Meet will not list it",
                       "Reload with exclusive_caps=1: " + _reload_commands() +
                       "\n(keep exclusive_caps=0 only if your Zoom build needs it)"))
    if device["label"] != virtualcam_setup.CARD_LABEL:
        issues.append((WARNING, f"apps list {path} as \"{device['label']}\", not \"CamStyle\"",
                       "To name it CamStyle: " + _reload_commands()))
    if issues:
        status = PROBLEM if any(i[0] == PROBLEM for i in issues) else WARNING
        fixes = list(dict.fromkeys(i[2] for i in issues))
        return Check(name, status, "; ".join(i[1] for i in issues), "\n".join(fixes), details=details)
    groups = ""
    if "video" not in env.groups:
        groups = " (access through your desktop session; `sudo usermod -aG video $USER` keeps it outside the session too)"
    return Check(name, OK, f"{path} \"{device['label']}\" is ready{groups}. The first time, restart the meeting app "
                           "after starting CamStyle so it lists the camera", details=details)


def _caps_text(value) -> str:
    return {True: "1", False: "0", None: "unknown"}[value]


def _permission_fix(env: Environment, path: str) -> str:
    if "video" not in env.groups:
        if "video" in env.account_groups:
            return ("You were added to the video group but this session predates it: log out and back in "
                    "(or reboot), then start CamStyle again.")
        return ("Add yourself to the video group, then log out and back in:\n"
                "  sudo usermod -aG video $USER")
    return (f"You are in the video group but {path} is still not writable: check `ls -l {path}` "
            f"(it should be group video, mode crw-rw----); `sudo chmod 660 {path} && sudo chgrp video {path}` fixes it "
            "until the next reboot, reloading the module fixes it for good.")


def _obs_virtual_camera(env: Environment) -> Check:
    status = env.obs_status() if env.obs_status else virtualcam_setup.obs_status(env.platform, env.root)
    name = "virtual camera"
    hint = virtualcam_setup.setup_hint(env.platform)
    if not status.get("installed"):
        return Check(name, PROBLEM, "OBS Studio is not installed (CamStyle publishes through the OBS virtual camera)", hint)
    version = status.get("version") or "unknown version"
    major = virtualcam_setup.version_major(status.get("version"))
    if env.os_name == "macos":
        if major is not None and major < virtualcam_setup.OBS_MIN_MACOS:
            return Check(name, PROBLEM, f"OBS {version} is too old: macOS needs OBS {virtualcam_setup.OBS_MIN_MACOS} or newer",
                         f"Update OBS from {virtualcam_setup.OBS_URL}, start its virtual camera once, then start CamStyle.")
        if status.get("camera_ready") is False:
            return Check(name, WARNING, f"OBS {version} is installed but its camera extension is not activated yet",
                         "Open OBS, click 'Start Virtual Camera' once and allow the system extension in System Settings "
                         "> Privacy & Security; then quit OBS.")
        return Check(name, OK, f"OBS {version}: the virtual camera runs at {virtualcam_setup.MACOS_OBS_SIZE[0]}x"
                               f"{virtualcam_setup.MACOS_OBS_SIZE[1]} on macOS; restart the meeting app after the first start")
    if status.get("camera_ready") is False:
        return Check(name, PROBLEM, f"OBS {version} is installed but its virtual camera is not registered",
                     "Open OBS once and click 'Start Virtual Camera' (then stop it and quit OBS), or reinstall OBS 30+.")
    return Check(name, OK, f"OBS {version} virtual camera is registered; quit OBS's own virtual camera while CamStyle runs")


# --- inference providers ------------------------------------------------------------------------

PROVIDER_FIXES = {
    "tensorrt": "Install TensorRT for your CUDA version (pip install tensorrt) next to onnxruntime-gpu.",
    "cuda": "Install the NVIDIA driver, then the CUDA/cuDNN libraries onnxruntime-gpu needs: "
            "pip install \"onnxruntime-gpu[cuda,cudnn]\".",
    "directml": "Update the graphics driver; DirectML comes with the onnxruntime-directml package.",
    "coreml": "CoreML needs macOS 11 or newer with the onnxruntime package from PyPI.",
    "cpu": "Reinstall onnxruntime: pip install --force-reinstall onnxruntime (or onnxruntime-gpu).",
}


def check_providers(env: Environment, cfg) -> Check:
    name = "inference"
    try:
        results = env.probe_providers()
    except CamStyleError as exc:
        return Check(name, PROBLEM, exc.message, exc.hint or PROVIDER_FIXES["cpu"], blocking=True)
    except ImportError as exc:
        return Check(name, PROBLEM, f"onnxruntime cannot be imported: {exc}", PROVIDER_FIXES["cpu"], blocking=True)
    details = [f"{p}: {'works' if ok else 'not usable'} - {detail}" for p, ok, detail in results]
    working = [p for p, ok, _ in results if ok]
    if not working:
        return Check(name, PROBLEM, "no onnxruntime provider can run a model, not even the CPU",
                     PROVIDER_FIXES["cpu"], blocking=True, details=details)
    wanted = cfg.runtime.provider
    if wanted != "auto" and wanted not in working:
        listed = any(p == wanted for p, _, _ in results)
        why = "does not work here" if listed else "is not in this onnxruntime build"
        return Check(name, PROBLEM, f"runtime.provider = \"{wanted}\" {why}",
                     f"Set runtime.provider = \"auto\" to use {working[0]}, or: {PROVIDER_FIXES.get(wanted, '')}",
                     blocking=True, details=details)
    chosen = wanted if wanted != "auto" else working[0]
    broken_gpu = [p for p, ok, detail in results if not ok and "no nvidia driver" not in detail.lower()]
    if broken_gpu and chosen == "cpu":
        return Check(name, WARNING, f"running on the CPU: {', '.join(broken_gpu)} is installed but fails",
                     " ".join(PROVIDER_FIXES.get(p, "") for p in broken_gpu), details=details)
    return Check(name, OK, f"inference runs on {chosen}", details=details)


# --- styles -------------------------------------------------------------------------------------


def check_styles(env: Environment, cfg) -> Check:
    name = "styles"
    try:
        styles = env.discover_styles()
    except CamStyleError as exc:
        return Check(name, WARNING, exc.message, exc.hint or "")
    train = "Train one with `camstyle train painting.jpg --name NAME`."
    if not styles:
        blocking = bool(cfg.style.name)
        return Check(name, PROBLEM if blocking else WARNING,
                     "no styles installed: CamStyle passes the camera through unstyled", train, blocking=blocking)
    from camstyle.stylize.styles import style_problem

    broken, details = {}, []
    for style in styles:
        reason = style_problem(style)
        if reason:
            broken[style.name] = reason
        details.append(f"{style.name} ({style.origin}): {reason or 'ok'}")
    wanted = cfg.style.name
    if wanted and wanted not in {s.name for s in styles}:
        return Check(name, PROBLEM, f"style.name = \"{wanted}\" is not installed",
                     f"Pick one of {', '.join(s.name for s in styles)} (`camstyle styles`). {train}",
                     blocking=True, details=details)
    if wanted in broken:
        return Check(name, PROBLEM, f"the configured style \"{wanted}\" {broken[wanted]}",
                     "Re-export it with `camstyle export`, remove it, or choose another style.", blocking=True, details=details)
    if broken:
        fix = "Re-export them with `camstyle export` or delete their files:\n" + "\n".join(
            f"  {s.model_path}" for s in styles if s.name in broken)
        return Check(name, PROBLEM, f"{len(broken)} of {len(styles)} styles are broken: {', '.join(broken)}", fix,
                     details=details)
    return Check(name, OK, f"{len(styles)} style(s) load and have the right shape", details=details)


# --- hotkeys ------------------------------------------------------------------------------------


def check_hotkeys(env: Environment, cfg) -> Check:
    name = "hotkeys"
    if not cfg.hotkeys.enabled:
        return Check(name, OK, "disabled in the config; `camstyle ctl` still controls CamStyle")
    usable, detail = env.hotkey_backend_status()
    if usable:
        return Check(name, OK, f"global hotkeys work ({detail})")
    lowered = detail.lower()
    if "wayland" in lowered:
        fix = ("Bind commands to keyboard shortcuts in your desktop's settings, e.g. Ctrl+Alt+N -> `camstyle ctl next`, "
               "Ctrl+Alt+Up -> `camstyle ctl strength +0.1`, Ctrl+Alt+S -> `camstyle ctl pause` (see README, Control command).")
    elif "accessibility" in lowered:
        fix = ("Give your terminal (or Python) Accessibility permission in System Settings > Privacy & Security > "
               "Accessibility, then restart CamStyle.")
    elif "display" in lowered:
        fix = "Global hotkeys need a desktop session; until then use `camstyle ctl next`, `camstyle ctl pause`, ..."
    else:
        fix = "Use `camstyle ctl ...` instead, or bind it to desktop shortcuts."
    return Check(name, WARNING, f"global hotkeys are not available: {detail}", fix)


# --- all together -------------------------------------------------------------------------------


def run_checks(env: Environment | None = None) -> list[Check]:
    """Every check, in the order a user would fix them; a check that crashes becomes a row too."""
    env = env or Environment()
    config_check, cfg = _guard("config", lambda: check_config(env))
    checks = [config_check]
    for name, func in (("camera", check_cameras), ("virtual camera", check_virtual_camera),
                       ("inference", check_providers), ("styles", check_styles), ("hotkeys", check_hotkeys)):
        checks.append(_guard(name, lambda f=func: f(env, cfg)))
    return checks


def _guard(name: str, func):
    try:
        return func()
    except CamStyleError as exc:
        if os.environ.get("CAMSTYLE_DEBUG"):
            raise
        result = Check(name, PROBLEM, exc.message, exc.hint or "")
    except Exception as exc:  # a failing probe must not hide the other checks
        if os.environ.get("CAMSTYLE_DEBUG"):
            raise
        result = Check(name, PROBLEM, f"could not check: {type(exc).__name__}: {exc}",
                       "Re-run with CAMSTYLE_DEBUG=1 and report it if this looks like a bug in CamStyle.")
    if name == "config":
        from camstyle.config import Config

        return result, Config()
    return result


def exit_code(checks: list[Check]) -> int:
    return 1 if any(c.blocking for c in checks) else 0


def as_json(checks: list[Check]) -> dict:
    code = exit_code(checks)
    return {"ok": code == 0, "exit_code": code, "checks": [asdict(c) for c in checks]}

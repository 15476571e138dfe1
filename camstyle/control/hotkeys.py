"""Global hotkeys through pynput (X11, Windows, macOS with Accessibility permission; not
Wayland, where users bind `camstyle ctl ...` to desktop shortcuts). Each binding ends in
controller.dispatch(action)."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Any, Callable, Mapping

from camstyle import actions
from camstyle.control.channel import SupportsDispatch
from camstyle.errors import CamStyleError

log = logging.getLogger(__name__)


# Hotkey setting (config [hotkeys]) -> controller action.
HOTKEY_ACTIONS = {action.hotkey.setting: action.name for action in actions.HOTKEY_ACTIONS}

SHORTCUT_ADVICE = ("bind " + ", ".join(f"`{actions.ctl_command(action)}`" for action in actions.HOTKEY_ACTIONS)
                   + " to desktop keyboard shortcuts instead")


def hotkey_backend_status() -> tuple[bool, str]:
    """Whether pynput global hotkeys can work in this session, and why not."""
    if sys.platform == "win32":
        return True, "Windows keyboard hook"
    if sys.platform == "darwin":
        return _macos_accessibility_status()
    backend = os.environ.get("PYNPUT_BACKEND_KEYBOARD") or os.environ.get("PYNPUT_BACKEND")
    if backend:
        return True, f"pynput backend {backend!r} (chosen by PYNPUT_BACKEND)"
    if os.environ.get("WAYLAND_DISPLAY") or os.environ.get("XDG_SESSION_TYPE", "").lower() == "wayland":
        return False, "this is a Wayland session, where applications cannot read global hotkeys"
    display = os.environ.get("DISPLAY")
    if not display:
        return False, "there is no graphical display (DISPLAY is not set)"
    try:
        import Xlib.display
        import Xlib.error
    except ImportError:
        return False, "python-xlib is not installed (pip install python-xlib)"
    try:
        connection = Xlib.display.Display(display)
    except Exception as exc:  # Xlib raises several unrelated types for a bad or closed display
        return False, f"cannot connect to the X display {display}: {exc}"
    try:
        if not connection.has_extension("RECORD"):
            return False, f"the X server on {display} lacks the RECORD extension that global hotkeys need"
    finally:
        connection.close()
    return True, f"X11 display {display}"


def _macos_accessibility_status() -> tuple[bool, str]:
    import ctypes
    import ctypes.util

    try:
        services = ctypes.cdll.LoadLibrary(ctypes.util.find_library("ApplicationServices"))
        services.AXIsProcessTrusted.restype = ctypes.c_bool
        trusted = bool(services.AXIsProcessTrusted())
    except (OSError, AttributeError, TypeError):
        return True, "macOS (Accessibility permission could not be checked)"
    if trusted:
        return True, "macOS with Accessibility permission"
    return False, ("macOS has not given this terminal Accessibility permission "
                   "(System Settings > Privacy & Security > Accessibility, then restart CamStyle)")


def bindings_from_config(hotkeys_config: Any) -> dict[str, str]:
    """{action: combo} from the [hotkeys] settings; unbound ("") actions are left out."""
    return {action: getattr(hotkeys_config, key) for key, action in HOTKEY_ACTIONS.items() if getattr(hotkeys_config, key)}


class HotkeyListener:
    """Global hotkeys that call controller.dispatch(action); never takes CamStyle down.

    start() returns True when the hotkeys are live. When the platform cannot provide
    them it logs one notice (also kept in `.notice`) and returns False.
    """

    READY_TIMEOUT = 3.0

    def __init__(self, bindings: Mapping[str, str], controller: SupportsDispatch):
        self.bindings = dict(bindings)
        self.controller = controller
        self.active = False
        self.notice = ""
        self._listener = None

    @classmethod
    def from_config(cls, hotkeys_config: Any, controller: SupportsDispatch) -> "HotkeyListener":
        """From the [hotkeys] settings; with enabled = false it has no bindings and start() does nothing."""
        return cls(bindings_from_config(hotkeys_config) if hotkeys_config.enabled else {}, controller)

    def start(self) -> bool:
        if self.active or not self.bindings:
            return self.active
        usable, detail = hotkey_backend_status()
        if usable:
            try:
                self._listener = self._start_pynput()
                self.active = True
                log.info("Global hotkeys active (%s): %s", detail,
                         ", ".join(f"{combo} {action}" for action, combo in self.bindings.items()))
                return True
            except Exception as exc:  # pynput fails in platform-specific ways; hotkeys are optional
                detail = f"{detail}, but the hotkey listener failed: {exc}"
        self.notice = f"Global hotkeys are off: {detail}. To control CamStyle, {SHORTCUT_ADVICE}."
        log.warning(self.notice)
        return False

    def _start_pynput(self):
        from pynput import keyboard  # the backend connects to the display on import

        listener = keyboard.GlobalHotKeys({combo: self._callback(action) for action, combo in self.bindings.items()})
        listener.daemon = True
        listener.start()
        ready = threading.Event()
        threading.Thread(target=lambda: (listener.wait(), ready.set()), daemon=True, name="camstyle-hotkeys-ready").start()
        deadline = time.monotonic() + self.READY_TIMEOUT
        while not ready.wait(0.02):
            if not listener.is_alive() or time.monotonic() > deadline:
                # stop() waits for readiness, so hand a stuck listener's stop to a throwaway thread
                threading.Thread(target=listener.stop, daemon=True).start()
                raise RuntimeError("it did not start")
        return listener

    def _callback(self, action: str) -> Callable[[], None]:
        def fire() -> None:
            try:
                self.controller.dispatch(action)
            except CamStyleError as exc:
                log.warning("Hotkey %s: %s", action, exc.message)
            except Exception:
                log.exception("Hotkey %s failed", action)
        return fire

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        self.active = False
        if listener is not None:
            listener.stop()
            listener.join(1.0)

    def __enter__(self) -> "HotkeyListener":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

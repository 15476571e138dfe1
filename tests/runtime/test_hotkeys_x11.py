"""Global hotkeys in a real X server: Xvfb plus xdotool pressing the keys (CI installs both)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
from fake_controller import FakeController

from camstyle.control import hotkeys
from camstyle.config import SCHEMA, HotkeysConfig, parse_hotkey

pytestmark = [
    pytest.mark.x11,
    pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")),
                       reason="Xvfb and xdotool are not installed (apt-get install xvfb xdotool)"),
]


@pytest.fixture(scope="module")
def xvfb():
    """A private X server on a free display number (Xvfb picks it and reports it through -displayfd)."""
    read_fd, write_fd = os.pipe()
    # -noreset: by default Xvfb resets when its last client leaves, and refuses connections meanwhile
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-nolisten", "tcp", "-noreset",
                               "-screen", "0", "640x480x24"],
                              pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as reported:
            number = reported.readline().strip()
        if not number:
            pytest.fail("Xvfb did not start")
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(5)


@pytest.fixture
def display(xvfb, monkeypatch):
    monkeypatch.setenv("DISPLAY", xvfb)
    for var in ("WAYLAND_DISPLAY", "XDG_SESSION_TYPE", "PYNPUT_BACKEND", "PYNPUT_BACKEND_KEYBOARD"):
        monkeypatch.delenv(var, raising=False)
    return xvfb


def press(display: str, keys: str) -> None:
    subprocess.run(["xdotool", "key", keys], env={**os.environ, "DISPLAY": display}, check=True, timeout=10)


def press_until(controller: FakeController, display: str, keys: str, action: str) -> bool:
    """The listener records from just after it reports ready, so allow a retry for the first keys."""
    for _ in range(3):
        press(display, keys)
        if controller.wait_for(action, 1.0):
            return True
    return False


def test_backend_status_on_x11(display):
    assert hotkeys.hotkey_backend_status() == (True, f"X11 display {display}")


def test_default_hotkeys_reach_the_controller(display):
    controller = FakeController()
    listener = hotkeys.HotkeyListener(hotkeys.bindings_from_config(HotkeysConfig()), controller)
    try:
        assert listener.start() is True and listener.notice == "", listener.notice
        assert press_until(controller, display, "ctrl+alt+n", "next")
        press(display, "ctrl+alt+Up")
        press(display, "ctrl+alt+o")
        assert controller.wait_for("strength_up", 2.0) and controller.wait_for("privacy", 2.0)
        nexts = controller.calls.count(("next", None))
        press(display, "n")  # the key alone is just typing
        press(display, "ctrl+alt+s")
        assert controller.wait_for("pause", 2.0)
        assert controller.calls.count(("next", None)) == nexts
    finally:
        listener.stop()
    assert {a for a, _ in controller.calls} == {"next", "strength_up", "privacy", "pause"}
    assert controller.state["style"] == "starry_night" and controller.state["privacy"] is True
    press(display, "ctrl+alt+m")
    time.sleep(0.3)
    assert "mirror" not in {a for a, _ in controller.calls}, "no events after stop()"


def test_config_parser_agrees_with_pynput(display):
    from pynput.keyboard import HotKey  # the display is set, so pynput's X backend imports

    samples = [s.default for s in SCHEMA["hotkeys"].values() if isinstance(s.default, str)] + [
        "<ctrl>+<shift>+<f9>", "<cmd>+<alt_gr>+x", "<ctrl>++", "<alt>+<65>", "<CTRL>+<Alt>+N", "<media_next>",
        "", "<ctrl>+", "<ctrl>+<ctrl>", "<ctrl>+ab", "<ctrl>+<nope>", "<>", "ctrl+n", "<ctrl>+<alt_l>+<alt>+n",
    ]
    for combo in samples:
        try:
            HotKey.parse(combo)
            pynput_ok = True
        except ValueError:
            pynput_ok = False
        try:
            parse_hotkey(combo)
            ours_ok = True
        except ValueError:
            ours_ok = False
        assert ours_ok == pynput_ok, combo

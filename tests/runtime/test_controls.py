"""The control channel (`camstyle ctl` <-> daemon) and the hotkey fallbacks, against a fake controller."""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time

import pytest
from fake_controller import FakeController

from camstyle import paths
from camstyle.control import channel, hotkeys
from camstyle.config import HotkeysConfig
from camstyle.control.channel import NOT_RUNNING, ControlServer, send_command
from camstyle.control.hotkeys import HotkeyListener
from camstyle.errors import CamStyleError, DeviceError


@pytest.fixture
def controller():
    return FakeController()


@pytest.fixture
def server(controller):
    with ControlServer(controller) as running:
        yield running


def raw_exchange(data: bytes, path=None) -> dict:
    """Send raw bytes as a client would and return the decoded reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(path or paths.control_socket_path()))
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        return json.loads(channel._read_line(sock))


def test_round_trip_through_the_socket(server, controller):
    status = send_command("next")
    assert status["style"] == "starry_night" and controller.calls == [("next", None)]
    status = send_command("strength", "0.7")
    assert status["strength"] == 0.7
    status = send_command("strength", "-0.2")
    assert status["strength"] == 0.5 and controller.calls[-1] == ("strength", "-0.2")
    assert send_command("strength", 0.9)["strength"] == 0.9, "numbers are sent as strings"
    status = send_command("status")
    assert status["latency_ms"] == {"p50": 23.14, "p95": 31.42} and status["input_size"] == [1280, 720]
    assert send_command("privacy")["privacy"] is True
    assert send_command("quit")["style"] == "starry_night"


def test_socket_is_private(server):
    path = paths.control_socket_path()
    assert stat.S_ISSOCK(path.lstat().st_mode)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_folder_is_created_private_and_an_open_one_is_refused_untouched(controller, tmp_path):
    fresh = tmp_path / "new" / "deeper" / "camstyle.sock"
    with ControlServer(controller, path=fresh):
        assert stat.S_IMODE(fresh.parent.stat().st_mode) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    with pytest.raises(DeviceError) as caught:
        ControlServer(controller, path=shared / "camstyle.sock").start()
    assert "open to other users (mode 0755" in caught.value.message and "chmod 700" in caught.value.hint
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755 and list(shared.iterdir()) == []


@pytest.fixture
def shared_tmp(tmp_path, monkeypatch):
    """No XDG_RUNTIME_DIR: the control folder is camstyle-UID in the (shared) temporary folder."""
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    shared = tmp_path / "tmp"
    shared.mkdir(mode=0o777)
    shared.chmod(0o1777)
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    folder = paths.control_socket_path().parent
    assert folder == shared / f"camstyle-{os.getuid()}"
    return folder


def test_a_symlink_planted_as_the_control_folder_is_not_followed(controller, shared_tmp, tmp_path):
    victim = tmp_path / "root-owned"
    victim.mkdir(mode=0o755)
    victim.chmod(0o755)
    shared_tmp.symlink_to(victim)
    with pytest.raises(DeviceError) as caught:
        ControlServer(controller).start()
    assert "is a symbolic link" in caught.value.message and "XDG_RUNTIME_DIR" in caught.value.hint
    assert stat.S_IMODE(victim.stat().st_mode) == 0o755, "the link's target was not chmodded"
    assert list(victim.iterdir()) == [], "no lock or socket was put into it"


def test_a_control_folder_of_another_user_is_refused(controller, shared_tmp, monkeypatch):
    shared_tmp.mkdir(mode=0o700)
    real_uid = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: real_uid + 1)  # the folder now belongs to "someone else"
    monkeypatch.setattr(paths, "_user_id", lambda: str(real_uid))
    with pytest.raises(DeviceError) as caught:
        ControlServer(controller).start()
    assert "belongs to another user" in caught.value.message
    assert list(shared_tmp.iterdir()) == []


def test_a_lock_file_planted_as_a_symlink_is_not_followed(controller, tmp_path):
    folder = tmp_path / "private"
    folder.mkdir(mode=0o700)
    target = tmp_path / "elsewhere"
    (folder / "camstyle.sock.lock").symlink_to(target)
    with pytest.raises(DeviceError, match="control lock"):
        ControlServer(controller, path=folder / "camstyle.sock").start()
    assert not target.exists()


def test_the_private_control_folder_in_the_shared_tmp_works(controller, shared_tmp):
    with ControlServer(controller):
        assert stat.S_IMODE(shared_tmp.lstat().st_mode) == 0o700
        assert send_command("status")["style"] == "mosaic"


def test_stop_removes_the_socket_and_a_restart_works(controller):
    path = paths.control_socket_path()
    server = ControlServer(controller).start()
    server.stop()
    assert not path.exists()
    with ControlServer(controller):
        assert send_command("next")["style"] == "starry_night"


def test_stale_socket_of_a_dead_daemon_is_replaced(controller):
    path = paths.control_socket_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # a crashed daemon leaves its socket file behind
    assert path.exists()
    with pytest.raises(DeviceError, match="not running"):
        send_command("status")
    with ControlServer(controller):
        assert send_command("status")["style"] == "mosaic"


def test_second_daemon_is_refused_and_the_first_keeps_working(server, controller):
    with pytest.raises(DeviceError) as caught:
        ControlServer(FakeController()).start()
    assert "already running" in caught.value.message and "camstyle ctl quit" in caught.value.hint
    assert send_command("next")["style"] == "starry_night"
    assert controller.calls[-1] == ("next", None)


def test_lock_refuses_a_second_daemon_even_before_the_first_listens(controller):
    """Two daemons starting at once: the lock file decides, not the socket probe."""
    first = channel._UnixListener(str(paths.control_socket_path()))
    first._private_folder()
    first._lock()
    try:
        with pytest.raises(DeviceError, match="already running"):
            ControlServer(controller).start()
    finally:
        first._unlock()


def test_a_file_in_the_way_is_not_deleted(controller):
    path = paths.control_socket_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("important")
    with pytest.raises(DeviceError, match="not a CamStyle control socket"):
        ControlServer(controller).start()
    assert path.read_text() == "important"


def test_no_daemon_gives_a_clear_device_error():
    with pytest.raises(DeviceError) as caught:
        send_command("next")
    assert caught.value.message == NOT_RUNNING == "CamStyle is not running - start it with `camstyle run`"


def test_malformed_requests_get_errors_and_the_server_survives(server, controller):
    assert raw_exchange(b"this is not json\n")["error"].startswith("Malformed request")
    assert raw_exchange(b"[1, 2]\n")["ok"] is False
    assert raw_exchange(b'{"value": "x"}\n')["ok"] is False
    assert "must be a string" in raw_exchange(b'{"action": "strength", "value": 0.5}\n')["error"]
    assert raw_exchange(b"\xff\xfe\n")["ok"] is False
    assert raw_exchange(b"")["ok"] is False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as rude:  # connects and hangs up at once
        rude.connect(str(paths.control_socket_path()))
    reply = raw_exchange(b'{"action": "next"}\n' + b'{"action": "next"}\n')
    assert reply["ok"] is True and reply["status"]["style"] == "starry_night", "one request per connection"
    assert controller.calls == [("next", None)]
    assert send_command("status")["style"] == "starry_night"


def test_controller_errors_reach_the_client_and_bugs_do_not_kill_the_server(server, controller, caplog):
    with pytest.raises(CamStyleError) as caught:
        send_command("style", "nope")
    assert caught.value.message == "Unknown style 'nope'." and "mosaic" in caught.value.hint
    with caplog.at_level(logging.ERROR, logger="camstyle.control.channel"):
        with pytest.raises(CamStyleError, match="RuntimeError: simulated bug") as caught:
            send_command("crash")
    assert "bug" in caught.value.hint and "simulated bug" in caplog.text
    assert send_command("next")["style"] == "starry_night"


def test_a_slow_daemon_times_out_with_a_clear_message(server, controller):
    controller.slow_seconds = 0.6
    started = time.monotonic()
    with pytest.raises(DeviceError, match=r"did not answer within 0\.2 s"):
        send_command("slow", timeout=0.2)
    assert time.monotonic() - started < 0.5
    time.sleep(0.5)
    assert send_command("status")["style"] == "mosaic"


def test_pipe_transport_round_trip(controller, tmp_path):
    """The Windows named-pipe code path, run over multiprocessing's AF_UNIX family here."""
    address = str(tmp_path / "pipe.sock")
    with ControlServer(controller, path=address, transport="pipe"):
        raw = channel._exchange_pipe(address, channel.encode({"action": "next", "value": None}), 2.0, family="AF_UNIX")
        assert json.loads(raw)["status"]["style"] == "starry_night"
        with pytest.raises(DeviceError, match="already running"):
            ControlServer(FakeController(), path=address, transport="pipe").start()
    assert controller.calls == [("next", None)]


# ------------------------------------------------------------------ `camstyle ctl` in a subprocess

def run_ctl(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "camstyle", "ctl", *args], capture_output=True, text=True, env=env, timeout=30)


def test_ctl_without_a_daemon_explains_and_fails():
    result = run_ctl("next")
    assert result.returncode == 3
    assert "CamStyle is not running - start it with `camstyle run`" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_ctl_status_json_without_a_daemon_is_json_that_says_so():
    result = run_ctl("status", "--json")
    assert result.returncode == 3
    answer = json.loads(result.stdout)
    assert answer["running"] is False and answer["ok"] is False and "not running" in answer["error"]


def test_ctl_against_a_running_daemon(server, controller):
    result = run_ctl("strength", "-0.3")
    assert result.returncode == 0, result.stderr
    assert controller.calls == [("strength", "-0.3")] and "strength 0.70" in result.stdout

    result = run_ctl("status", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["fps_out"] == 29.87
    assert json.loads(result.stdout)["running"] is True

    result = run_ctl("status")
    assert result.returncode == 0 and "Mosaic" in result.stdout and "29.9" in result.stdout

    result = run_ctl("style", "nope")
    assert result.returncode == 2 and "Unknown style 'nope'" in result.stderr and "Traceback" not in result.stderr


def test_ctl_checks_its_arguments_before_connecting(capsys):
    from camstyle.cli import main

    assert main(["ctl", "strength"]) == 2
    assert "needs a value from 0 to 1" in capsys.readouterr().err
    assert main(["ctl", "strength", "1.5"]) == 2
    assert main(["ctl", "strength", "abc"]) == 2
    assert main(["ctl", "next", "extra"]) == 2
    assert main(["ctl", "style"]) == 2
    assert main(["ctl", "steady", "0.95"]) == 2
    assert "from 0 to 0.9" in capsys.readouterr().err
    assert main(["ctl", "size"]) == 2
    assert main(["ctl", "size", "huge"]) == 2
    assert "auto or a size like 640x360" in capsys.readouterr().err
    assert main(["ctl", "size", "640x360"]) == 3, "valid, but nobody is listening"
    assert main(["ctl", "strength", "+0.1"]) == 3, "valid, but nobody is listening"
    assert main(["ctl", "steady", "auto"]) == 3, "valid: back to each style's own"
    assert main(["ctl", "strength", "auto"]) == 2, "strength has no auto"
    assert "not running" in capsys.readouterr().err


# ------------------------------------------------------------------ hotkeys without a usable backend

def test_hotkeys_without_a_display_log_one_notice_and_do_not_crash(monkeypatch, controller, caplog):
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE", "PYNPUT_BACKEND", "PYNPUT_BACKEND_KEYBOARD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    usable, detail = hotkeys.hotkey_backend_status()
    assert not usable and "DISPLAY is not set" in detail
    listener = HotkeyListener(hotkeys.bindings_from_config(HotkeysConfig()), controller)
    with caplog.at_level(logging.WARNING, logger="camstyle.control.channel"):
        assert listener.start() is False
    assert len(caplog.records) == 1
    assert "Global hotkeys are off" in listener.notice and "camstyle ctl next" in listener.notice
    assert listener.notice in caplog.text
    listener.stop()


def test_wayland_is_reported_as_unsupported(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("PYNPUT_BACKEND", raising=False)
    monkeypatch.delenv("PYNPUT_BACKEND_KEYBOARD", raising=False)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    monkeypatch.setenv("DISPLAY", ":0")  # XWayland
    usable, detail = hotkeys.hotkey_backend_status()
    assert not usable and "Wayland" in detail


def test_unreachable_x_display_is_reported(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    for var in ("WAYLAND_DISPLAY", "XDG_SESSION_TYPE", "PYNPUT_BACKEND", "PYNPUT_BACKEND_KEYBOARD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DISPLAY", ":987")
    usable, detail = hotkeys.hotkey_backend_status()
    assert not usable and "cannot connect to the X display :987" in detail


def test_bindings_follow_the_config_and_skip_unbound_actions():
    bindings = hotkeys.bindings_from_config(HotkeysConfig(pause="", mirror="<ctrl>+<shift>+<f9>"))
    assert bindings["next"] == "<ctrl>+<alt>+n" and bindings["strength_up"] == "<ctrl>+<alt>+<up>"
    assert bindings["mirror"] == "<ctrl>+<shift>+<f9>" and "pause" not in bindings
    assert set(bindings) == {"next", "prev", "strength_up", "strength_down", "mirror", "privacy"}


def test_hotkeys_disabled_in_the_config_stay_off_quietly(controller, caplog):
    listener = HotkeyListener.from_config(HotkeysConfig(enabled=False), controller)
    with caplog.at_level(logging.INFO, logger="camstyle.control.channel"):
        assert listener.start() is False
    assert listener.bindings == {} and listener.notice == "" and not caplog.records
    assert HotkeyListener.from_config(HotkeysConfig(), controller).bindings["prev"] == "<ctrl>+<alt>+b"


def test_a_failing_hotkey_action_is_logged_not_raised(controller, caplog):
    listener = HotkeyListener({"style": "<ctrl>+<alt>+x"}, controller)
    with caplog.at_level(logging.WARNING, logger="camstyle.control.channel"):
        listener._callback("style")()  # the fake rejects a style without a name
        listener._callback("crash")()
    assert "Hotkey style" in caplog.text and "Hotkey crash failed" in caplog.text

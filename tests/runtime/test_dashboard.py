"""Dashboard rendering, dashboard keys (through a real pseudo-terminal) and the plain log reporter."""

from __future__ import annotations

import os
import pty
import re
import sys
import termios
import time

import pytest
from fake_controller import FakeController
from rich.console import Console

from camstyle import paths
from camstyle.control import dashboard
from camstyle.stylize import styles
from camstyle.control.dashboard import Dashboard, LogReporter, render_status, split_keys, status_line
from camstyle.errors import CamStyleError


@pytest.fixture(autouse=True)
def fresh_style_lookup():
    dashboard.style_details.cache_clear()
    yield
    dashboard.style_details.cache_clear()


def rendered(renderable, width: int = 120) -> str:
    console = Console(record=True, width=width, force_terminal=True, color_system="truecolor")
    console.print(renderable)
    return console.export_text()


def test_status_panel_shows_style_rates_latency_and_sizes():
    status = FakeController().status()
    status.update(style="starry_night", strength=0.7, steady=0.0, mirror=True, message="camera unavailable - reconnecting")
    text = rendered(render_status(status))
    assert "Starry Night" in text and "starry_night · 2/3" in text
    assert "0.70" in text and "█" in text
    assert re.search(r"Steady +░+ +off", text) and "[/] steady" in text
    assert "LIVE" in text and "MIRROR" in text
    assert "in 30.0" in text and "out 29.9 fps" in text
    assert "p50 23.1 ms" in text and "p95 31.4 ms" in text
    assert "capture 2.1" in text and "infer 15.3" in text and "publish 3.0 ms" in text
    assert "in 1,234" in text and "dropped 4 (0.3%)" in text
    assert "43%" in text and "other programs 1.0 cores" in text and "uptime 0:12:03" in text
    assert "CPUExecutionProvider" in text
    assert "demo 1280×720" in text and "network 320×180" in text and "null 1280×720" in text
    assert "camera unavailable - reconnecting" in text
    assert "n/p style" in text and "space pause" in text and "q quit" in text


def test_status_panel_shows_the_inference_size_and_why_it_changed():
    status = {**FakeController().status(), "inference_size": [384, 216], "size_auto": True,
              "size_reason": "stepped down: stylize 31 ms > budget 23 ms"}
    text = rendered(render_status(status))
    assert re.search(r"Network +384×216 +AUTO +stepped down: stylize 31 ms > budget 23 ms", text)
    fixed = rendered(render_status({**status, "size_auto": False, "size_reason": "fixed at 640x360 by ctl size"}))
    assert "FIXED" in fixed and "fixed at 640x360 by ctl size" in fixed


def test_status_panel_flags_and_narrow_terminal():
    status = {**FakeController().status(), "paused": True}
    assert "PAUSED" in rendered(render_status(status))
    status["privacy"] = True
    text = rendered(render_status(status, key_help=False), width=70)
    assert "CAMERA OFF" in text and "paused" in text and "q quit" not in text
    assert max(len(line) for line in text.splitlines()) <= 70
    notice = "No working camera (no camera found) - showing the demo clip. Connect a camera or pick one with --source."
    lines = rendered(render_status({**status, "message": notice}), width=80).splitlines()
    first = next(i for i, line in enumerate(lines) if "Notice" in line)
    column = lines[first].index("No working")
    assert lines[first + 1][column:].startswith("Connect a camera") and not lines[first + 1][2:column].strip()


def test_style_title_and_artist_come_from_the_style_metadata():
    styles.write_style(paths.user_styles_dir(), "starry_night", b"not a real model",
                       {"title": "The Starry Night", "artist": "Vincent van Gogh"})
    status = {**FakeController().status(), "style": "starry_night"}
    text = rendered(render_status(status))
    assert "The Starry Night — Vincent van Gogh" in text


def test_an_empty_status_still_renders():
    text = rendered(render_status({}))
    assert "CamStyle" in text and "p50 0.0 ms" in text and "?" in text


def test_dashboard_keys_drive_the_controller():
    controller = FakeController()
    board = Dashboard(controller, console=Console(record=True, width=120), keys=False)
    for key in ("n", "N", "+", "-", "]", "[", " ", "m", "o", "right", "left", "up", "q"):
        assert board.handle_key(key)
    assert not board.handle_key("x")
    assert [a for a, _ in controller.calls] == ["next", "next", "strength_up", "strength_down", "steady_up", "steady_down",
                                                "pause", "mirror", "privacy", "next", "prev", "strength_up", "quit"]


def test_a_refused_key_shows_as_a_notice():
    class Refusing(FakeController):
        def dispatch(self, action, value=None):
            if action == "next":
                raise CamStyleError("Only one style is installed.")
            return super().dispatch(action, value)

    board = Dashboard(Refusing(), keys=False)
    board.handle_key("n")
    assert "Only one style is installed." in rendered(board.render())


def test_split_keys_understands_arrows():
    assert split_keys("n\x1b[A+\x1b[D \x1bOB") == ["n", "up", "+", "left", " ", "down"]


def test_live_dashboard_polls_the_controller():
    controller = FakeController()
    console = Console(record=True, width=120, force_terminal=True)
    with Dashboard(controller, console=console, refresh_per_second=20, keys=True):  # stdin is no TTY under pytest
        time.sleep(0.3)
        controller.dispatch("next")
        time.sleep(0.3)
    text = console.export_text()
    assert "Starry Night" in text and "out 29.9 fps" in text and "p95 31.4 ms" in text
    assert sum(1 for a, _ in controller.calls if a == "status") >= 3


def test_keys_from_a_terminal_in_cbreak_mode_and_the_terminal_is_restored(monkeypatch):
    controller = FakeController()
    master, slave = pty.openpty()
    terminal = os.fdopen(slave, "r")
    before = termios.tcgetattr(slave)
    monkeypatch.setattr(sys, "stdin", terminal)
    try:
        board = Dashboard(controller, console=Console(record=True, width=120), refresh_per_second=10).start()
        try:
            assert not termios.tcgetattr(slave)[3] & termios.ICANON, "cbreak: keys arrive without Enter"
            os.write(master, b"n+\x1b[Bq")
            assert controller.wait_for("quit", 3.0)
        finally:
            board.stop()
        assert termios.tcgetattr(slave) == before
        assert [a for a, _ in controller.calls if a != "status"] == ["next", "strength_up", "strength_down", "quit"]
    finally:
        terminal.close()
        os.close(master)


def test_a_fallback_to_no_output_says_plainly_that_nothing_is_published():
    status = {**FakeController().status(), "not_published": "No virtual camera to publish to (none found)."}
    text = rendered(render_status(status))
    assert "NOTHING IS PUBLISHED: No virtual camera to publish to (none found)." in text
    assert "nothing is published: No virtual camera" in status_line(status)
    assert "NOTHING IS PUBLISHED" not in rendered(render_status(FakeController().status()))
    fallback_notice = {**status, "message": "No virtual camera to publish to (none found). Using no output instead."}
    assert status_line(fallback_notice).count("No virtual camera") == 1  # the notice of the fallback says it again


def test_status_line_for_logs():
    status = {**FakeController().status(), "paused": True, "message": "camera unavailable - reconnecting"}
    line = status_line(status)
    assert line == ("style mosaic 1.00 steady 0.50 | network 320x180 | fps in 30.0 out 29.9 | latency p50 23 ms p95 31 ms | dropped 4 | cpu 43%"
                    " | paused | camera unavailable - reconnecting")


def test_log_lines_tell_a_reason_or_a_notice_once_while_it_lasts():
    status = {**FakeController().status(), "not_published": "No virtual camera (none found).", "message": "demo clip"}
    lines: list[str] = []
    controller = type("Fixed", (), {"dispatch": lambda self, action: status})()
    reporter = LogReporter(controller, emit=lines.append)
    reporter.report()
    reporter.report()
    status["message"] = "camera unavailable - reconnecting"
    reporter.report()
    assert "nothing is published: No virtual camera (none found). | demo clip" in lines[0]
    assert lines[1].endswith("| nothing is published")
    assert lines[2].endswith("| nothing is published | camera unavailable - reconnecting")


def test_log_reporter_emits_lines_until_stopped():
    lines: list[str] = []
    with LogReporter(FakeController(), interval=0.05, emit=lines.append):
        time.sleep(0.3)
    count = len(lines)
    assert count >= 3 and all(line.startswith("style mosaic") for line in lines)
    time.sleep(0.15)
    assert len(lines) == count

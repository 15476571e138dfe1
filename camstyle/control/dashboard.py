"""The live terminal view of a running CamStyle, and its plain-log twin for --no-dashboard.

Both only read controller.dispatch("status"), so they show exactly what `camstyle ctl
status` would. In a terminal the dashboard also takes the single-key commands that
camstyle.actions binds (n/p, +/-, space, ...), reading stdin in cbreak mode and restoring
the terminal on exit.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import sys
import threading
import time
from typing import Any, Callable

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from camstyle import actions
from camstyle.errors import CamStyleError
from camstyle.stylize.steady import MAX_STEADY

log = logging.getLogger(__name__)

# Dashboard key -> controller action, and the help line's (keys, label) entries, from camstyle.actions.
KEY_ACTIONS = {key: action.name for action in actions.ACTIONS if action.keys for key in action.keys.keys}
_KEY_NAMES = {" ": "space"}


def _key_help() -> tuple[tuple[str, str], ...]:
    """One entry per label, in table order: the first key of each of its actions ("n/p", "style")."""
    groups: dict[str, list[str]] = {}
    for action in actions.ACTIONS:
        if action.keys:
            groups.setdefault(action.keys.label, []).append(action.keys.keys[0])
    # A label's keys in character order: n/p, +/-, [/].
    return tuple(("/".join(_KEY_NAMES.get(key, key) for key in sorted(keys)), label) for label, keys in groups.items())


KEY_HELP = _key_help()
_ESCAPES = {"\x1b[A": "up", "\x1b[B": "down", "\x1b[C": "right", "\x1b[D": "left",
            "\x1bOA": "up", "\x1bOB": "down", "\x1bOC": "right", "\x1bOD": "left"}
STAGE_COLOURS = {"capture": "cyan", "infer": "magenta", "publish": "green"}
NOTICE_SECONDS = 6.0
PANEL_WIDTH = 100  # at most; narrower terminals get their own width


# --------------------------------------------------------------------------- formatting

def _number(status: dict, key: str) -> float:
    value = status.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _size(value: Any) -> str:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return f"{value[0]}×{value[1]}"
    return "?"


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


@functools.lru_cache(maxsize=64)
def style_details(name: str) -> tuple[str, str]:
    """(title, artist) of an installed style, from its metadata; the name itself when unknown."""
    fallback = (name.replace("_", " ").title() if name else "—", "")
    if not name:
        return fallback
    try:
        from camstyle.stylize.styles import discover_styles

        for style in discover_styles():
            if style.name == name:
                return style.title, style.artist
    except Exception:  # a broken styles folder must not break the view
        log.debug("Style lookup failed", exc_info=True)
    return fallback


def _badge(text: str, style: str) -> Text:
    return Text(f" {text} ", style=style)


def _state(status: dict) -> Text:
    state = Text()
    if status.get("privacy"):
        state.append_text(_badge("CAMERA OFF", "bold white on red"))
    elif status.get("paused"):
        state.append_text(_badge("PAUSED · camera unstyled", "bold black on yellow"))
    else:
        state.append_text(_badge("LIVE", "bold black on green"))
    state.append("  ")
    state.append_text(_badge("MIRROR", "bold black on cyan") if status.get("mirror") else Text("mirror off", style="dim"))
    if status.get("paused") and status.get("privacy"):
        state.append("  ").append("paused", style="yellow")
    return state


def _level_bar(level: float, high: float = 1.0, zero: str = "0.00", width: int = 24) -> Text:
    level = min(high, max(0.0, level))
    filled = round(level / high * width)
    return Text.assemble(("█" * filled, "magenta"), ("░" * (width - filled), "grey35"),
                         f"  {level:.2f}" if level else f"  {zero}")


def _fps(status: dict) -> Text:
    fps_in, fps_out = _number(status, "fps_in"), _number(status, "fps_out")
    slow = fps_in > 0 and fps_out < 0.8 * fps_in
    return Text.assemble("in ", (f"{fps_in:.1f}", "bold"), "   out ",
                         (f"{fps_out:.1f}", "bold yellow" if slow else "bold green"), " fps")


def _latency(status: dict) -> Text:
    latency = status.get("latency_ms") or {}
    p50, p95 = (_number(latency, "p50"), _number(latency, "p95"))
    colour = "green" if p95 < 50 else "yellow" if p95 < 100 else "red"
    return Text.assemble("p50 ", (f"{p50:.1f}", "bold"), " ms   p95 ", (f"{p95:.1f}", f"bold {colour}"), " ms")


def _stages(status: dict, width: int = 24) -> Text:
    stages = {k: _number(status.get("stage_ms") or {}, k) for k in ("capture", "infer", "publish")}
    total = sum(stages.values())
    bar = Text()
    if total > 0:
        cells = [round(width * v / total) for v in stages.values()]
        cells[max(range(3), key=cells.__getitem__)] += width - sum(cells)
        for (name, _), n in zip(stages.items(), cells):
            bar.append("▆" * n, style=STAGE_COLOURS[name])
    else:
        bar.append("▆" * width, style="grey35")
    bar.append("  ")
    slowest = max(stages, key=stages.get)
    for i, (name, ms) in enumerate(stages.items()):
        bar.append(("  " if i else "") + name + " ", style=STAGE_COLOURS[name])
        bar.append(f"{ms:.1f}", style="bold" if name == slowest and total > 0 else "")
    bar.append(" ms")
    return bar


def _frames(status: dict) -> Text:
    frames_in, dropped = int(_number(status, "frames_in")), int(_number(status, "dropped"))
    share = f" ({100 * dropped / frames_in:.1f}%)" if frames_in and dropped else ""
    return Text.assemble("in ", f"{frames_in:,}", "   out ", f"{int(_number(status, 'frames_out')):,}",
                         "   dropped ", (f"{dropped:,}{share}", "yellow" if dropped else "green"))


def _network(status: dict) -> Text:
    """The inference size, whether auto chooses it, and why it last changed."""
    text = Text.assemble((_size(status.get("inference_size")), "bold"), "  ")
    text.append_text(_badge("AUTO", "bold black on green") if status.get("size_auto") else _badge("FIXED", "bold black on yellow"))
    if status.get("size_reason"):
        text.append(f"  {status['size_reason']}", style="dim")
    return text


def key_help_text() -> Text:
    text = Text()
    for i, (key, what) in enumerate(KEY_HELP):
        text.append(" · " if i else " ", style="dim").append(key, style="bold cyan").append(f" {what}", style="default")
    return text.append(" ")


def render_status(status: dict, *, notice: str = "", key_help: bool = True, title: str = "CamStyle") -> Panel:
    """One frame of the dashboard (also `camstyle ctl status`), from a controller status dict."""
    name = str(status.get("style") or "")
    style_title = status.get("style_title") or style_details(name)[0]
    artist = status.get("style_artist") if "style_title" in status else style_details(name)[1]
    styles = list(status.get("styles") or [])
    where = f"{styles.index(name) + 1}/{len(styles)}" if name in styles else ""

    look = _section()
    style_line = Text.assemble((style_title, "bold magenta"))
    if artist:
        style_line.append(f" — {artist}", style="italic")
    if name:
        style_line.append(f"   {name}" + (f" · {where}" if where else ""), style="dim")
    look.add_row("Style", style_line)
    look.add_row("Strength", _level_bar(_number(status, "strength")))
    steady = _level_bar(_number(status, "steady"), MAX_STEADY, zero="off")
    if status.get("steady_auto"):
        steady.append("  the style's", style="dim")
    look.add_row("Steady", steady)
    look.add_row("State", _state(status))

    perf = _section()
    perf.add_row("FPS", _fps(status))
    perf.add_row("Latency", _latency(status))
    perf.add_row("Stages", _stages(status))
    perf.add_row("Frames", _frames(status))
    others = status.get("others_cpu_cores")
    perf.add_row("CPU", Text.assemble((f"{_number(status, 'cpu_percent'):.0f}%", "bold"),
                                      *(("   other programs ", (f"{others:.1f} cores", "bold"))
                                        if isinstance(others, (int, float)) else ()),
                                      "   uptime ", (format_duration(_number(status, "uptime_s")), "bold")))

    route = _section()
    route.add_row("Provider", Text(str(status.get("provider") or "?"), style="cyan"))
    route.add_row("Video", Text.assemble(str(status.get("source") or "camera"), " ", (_size(status.get("input_size")), "bold"),
                                         ("  →  ", "dim"), "network ", (_size(status.get("inference_size")), "bold"),
                                         ("  →  ", "dim"), str(status.get("output") or "output"), " ",
                                         (_size(status.get("output_size")), "bold")))

    if "size_auto" in status:
        route.add_row("Network", _network(status))
    if status.get("not_published"):
        route.add_row("Output", Text(f"NOTHING IS PUBLISHED: {status['not_published']}", style="bold red"))

    parts: list[RenderableType] = [look, Rule(style="grey35"), perf, Rule(style="grey35"), route]
    message = notice or str(status.get("message") or "")
    if message:
        note = _section()  # a row like those above, so a long notice wraps under itself
        note.add_row("Notice", Text(message, style="yellow"))
        parts += [Rule(style="grey35"), note]
    return Panel(Group(*parts), title=f"[bold]{title}[/]", title_align="left",
                 subtitle=key_help_text() if key_help else None, subtitle_align="left",
                 border_style="magenta", padding=(0, 1), width=PANEL_WIDTH)


def _section() -> Table:
    """Rows of the panel: a bold label column, then the value, which wraps under itself."""
    rows = Table.grid(padding=(0, 2))
    rows.add_column(style="bold", min_width=9)
    rows.add_column()
    return rows


def _first_sentence(text: str) -> str:
    return text.split(". ")[0].rstrip(".")


def status_line(status: dict, said: frozenset[str] = frozenset()) -> str:
    """The one-line form for logs: style, strength, steadying, fps, latency, drops, flags, notice.
    Texts in `said` (told in an earlier line) are not repeated: "nothing is published" stays, without its reason."""
    latency = status.get("latency_ms") or {}
    flags = [flag for flag in ("paused", "mirror", "privacy") if status.get(flag)]
    line = (f"style {status.get('style') or '-'} {_number(status, 'strength'):.2f} steady {_number(status, 'steady'):.2f}"
            f" | network {_size(status.get('inference_size')).replace('×', 'x')}"
            f" | fps in {_number(status, 'fps_in'):.1f} out {_number(status, 'fps_out'):.1f}"
            f" | latency p50 {_number(latency, 'p50'):.0f} ms p95 {_number(latency, 'p95'):.0f} ms"
            f" | dropped {int(_number(status, 'dropped'))} | cpu {_number(status, 'cpu_percent'):.0f}%")
    if flags:
        line += " | " + " ".join(flags)
    if status.get("not_published"):
        line += " | nothing is published" + ("" if status["not_published"] in said else f": {status['not_published']}")
    message = status.get("message") or ""
    same_event = bool(status.get("not_published")) and _first_sentence(message) == _first_sentence(status["not_published"])
    if message and message not in said and not same_event:  # the fallback's own notice says the reason again
        line += f" | {message}"
    return line


# --------------------------------------------------------------------------- live dashboard

class Dashboard:
    """rich Live view redrawn `refresh_per_second` times a second, plus single-key control in a TTY."""

    def __init__(self, controller, console: Console | None = None, refresh_per_second: float = 4, keys: bool = True):
        self.controller = controller
        self.console = console or Console()
        self.refresh_per_second = refresh_per_second
        self.keys = keys
        self._live = None
        self._notice, self._notice_until = "", 0.0
        self._stop = threading.Event()
        self._key_thread: threading.Thread | None = None
        self._saved_terminal = None

    def render(self) -> RenderableType:
        try:
            status = self.controller.dispatch("status")
        except Exception as exc:  # keep drawing; say what is wrong
            return Panel(Text(f"Status unavailable: {exc}", style="red"), title="[bold]CamStyle[/]", border_style="red")
        notice = self._notice if time.monotonic() < self._notice_until else ""
        return render_status(status, notice=notice, key_help=self._key_thread is not None)

    def handle_key(self, key: str) -> bool:
        """Run the action bound to a dashboard key ("n", "+", " ", "up", ...); False if unbound."""
        action = KEY_ACTIONS.get(key if len(key) > 1 else key.lower())
        if action is None:
            return False
        try:
            self.controller.dispatch(action)
        except CamStyleError as exc:
            self._say(exc.message)
        except Exception as exc:
            log.exception("Dashboard key %r failed", key)
            self._say(f"{action} failed: {exc}")
        return True

    def _say(self, notice: str) -> None:
        self._notice, self._notice_until = notice, time.monotonic() + NOTICE_SECONDS

    def start(self) -> "Dashboard":
        from rich.live import Live

        if self._live is not None:
            return self
        self._stop.clear()
        if self.keys:
            self._start_keys()
        self._live = Live(get_renderable=self.render, console=self.console, refresh_per_second=self.refresh_per_second,
                          transient=False, redirect_stdout=True, redirect_stderr=True)
        self._live.start(refresh=True)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._key_thread is not None:
            self._key_thread.join(1.0)
            self._key_thread = None
        self._restore_terminal()
        if self._live is not None:
            live, self._live = self._live, None
            live.stop()

    def __enter__(self) -> "Dashboard":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # Keys: cbreak stdin read by a thread (POSIX) or msvcrt (Windows); silently absent without a TTY.

    def _start_keys(self) -> None:
        try:
            if not sys.stdin or not sys.stdin.isatty():
                return
            fd = sys.stdin.fileno()
        except (AttributeError, OSError, ValueError):
            return
        if os.name == "nt":
            reader: Callable[[], None] = self._read_keys_windows
        else:
            import termios
            import tty

            try:
                self._saved_terminal = (fd, termios.tcgetattr(fd))
                tty.setcbreak(fd)
            except termios.error:
                self._saved_terminal = None
                return
            atexit.register(self._restore_terminal)
            reader = functools.partial(self._read_keys_posix, fd)
        self._key_thread = threading.Thread(target=reader, name="camstyle-dashboard-keys", daemon=True)
        self._key_thread.start()

    def _restore_terminal(self) -> None:
        saved, self._saved_terminal = self._saved_terminal, None
        if saved is not None:
            import termios

            try:
                termios.tcsetattr(saved[0], termios.TCSADRAIN, saved[1])
            except termios.error:
                pass

    def _read_keys_posix(self, fd: int) -> None:
        import select

        while not self._stop.is_set():
            try:
                readable, _, _ = select.select([fd], [], [], 0.1)
                if not readable:
                    continue
                data = os.read(fd, 64).decode("utf-8", "ignore")
            except (OSError, ValueError):
                return
            if not data:
                return
            for key in split_keys(data):
                self.handle_key(key)

    def _read_keys_windows(self) -> None:
        import msvcrt

        arrows = {"H": "up", "P": "down", "M": "right", "K": "left"}
        while not self._stop.is_set():
            if not msvcrt.kbhit():
                time.sleep(0.05)
                continue
            char = msvcrt.getwch()
            if char in ("\x00", "\xe0"):
                char = arrows.get(msvcrt.getwch(), "")
            if char:
                self.handle_key(char)


def split_keys(data: str) -> list[str]:
    """Raw terminal input -> key names: arrow escape sequences become "up"/"down"/"left"/"right"."""
    keys, i = [], 0
    while i < len(data):
        sequence = data[i:i + 3]
        if sequence in _ESCAPES:
            keys.append(_ESCAPES[sequence])
            i += 3
        else:
            keys.append(data[i])
            i += 1
    return keys


# --------------------------------------------------------------------------- plain log lines

class LogReporter:
    """For --no-dashboard: one status line every `interval` seconds (stderr by default)."""

    def __init__(self, controller, interval: float = 5.0, emit: Callable[[str], None] | None = None):
        self.controller = controller
        self.interval = interval
        self.emit = emit or self._print
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._said: frozenset[str] = frozenset()  # the reason and notice of the last line: not repeated while they last

    @staticmethod
    def _print(line: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} camstyle: {line}", file=sys.stderr, flush=True)

    def report(self) -> None:
        try:
            status = self.controller.dispatch("status")
            self.emit(status_line(status, self._said))
            self._said = frozenset(text for text in (status.get("not_published"), status.get("message")) if text)
        except Exception as exc:
            log.warning("Status unavailable: %s", exc)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.report()

    def start(self) -> "LogReporter":
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="camstyle-status-log", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval + 1.0)
            self._thread = None

    def __enter__(self) -> "LogReporter":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

"""The running camera: capture, stylize and publish threads, and the Controller that hotkeys,
the dashboard and the control channel drive.

Capture puts each frame, timestamped, into a one-slot box; the stylizer always takes the
newest and frames it never saw are counted as dropped, so a slow network adds no queueing
delay. Publishing runs on its own clock at the output frame rate and repeats the last frame
while stylizing lags, so meeting apps never see a frozen camera; a stylized frame goes out as
soon as it is ready, whatever the camera's rate (mailbox.SendClock).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable

import numpy as np

from camstyle import actions as actions_table
from camstyle.config import Config, parse_inference_size
from camstyle.engine.actions import parse_level
from camstyle.engine.assembly import STYLES_HINT, RunOptions, open_parts
from camstyle.engine.mailbox import Frame, LatestBox, SendClock
from camstyle.engine.metrics import RunMetrics
from camstyle.errors import CamStyleError, ModelError
from camstyle.stylize import autosize
from camstyle.stylize import styles as styles_mod

STYLE_REPLY_WAIT_S = 3.0  # a style action's reply waits this long for the load, to say whether it worked
STALE_AFTER_S = 1.5  # no camera frame for this long: show the reconnecting notice
BACKOFF_START_S, BACKOFF_MAX_S = 0.25, 5.0
RECONNECTING = "camera unavailable - reconnecting"


class Controller:
    """Owns a run: its source, stylizer, outputs and threads, and the actions that change it.

    start() opens the parts (camstyle.engine.assembly) and starts the capture, stylize and
    publish threads; the threads feed `metrics` (camstyle.engine.metrics.RunMetrics).
    dispatch() may be called from any thread (hotkeys, control channel, dashboard).
    """

    def __init__(self, config: Config, options: RunOptions = RunOptions(),
                 style_dirs: list[tuple[Path, str]] | None = None, source=None, outputs=None,
                 capture_factory: Callable | None = None, on_message: Callable[[str], None] | None = None,
                 started_at: float | None = None):
        """`source` and `outputs`, when given, are already open; start() opens the ones not given.
        From then on the controller owns them: stop() closes them all, given or opened (a failed
        start() closes only what it opened)."""
        self.config = config
        self.options = options
        self.output_size = (config.output.width, config.output.height)
        self.fps = config.output.fps
        self.style_dirs = style_dirs
        self.capture_factory = capture_factory
        self.on_message = on_message or (lambda text: None)
        self.source = source
        self.outputs = outputs
        self.stylizer = None
        self.sizer: autosize.SizeGovernor | None = None  # the inference size; guarded by _size_lock
        self._size_lock = threading.Lock()
        self.size_measured: dict[tuple[int, int], float] = {}  # start-up stylize ms per ladder size
        self.styles: list[styles_mod.StyleInfo] = []
        self._rungs: list[tuple[int, int]] = []  # the size ladder, smallest first
        self.message = ""
        self.notices: deque[str] = deque(maxlen=100)  # recent notices, for --stats and tests
        self.paused = False
        self.privacy = False
        self.metrics = RunMetrics(started_at)  # first_frame_s counts from started_at (default: start())
        self.final_status: dict | None = None
        self._stop = threading.Event()
        self._done = threading.Event()  # the run should end (quit, frame limit, window closed)
        self._dispatch_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._captured = LatestBox()
        self._styled = LatestBox()
        self._last_capture = 0.0
        self._reconnecting = False
        self._stale = False

    # -- start and stop ----------------------------------------------------------------------

    def start(self) -> "Controller":
        """Open the parts, then start the threads.

        Anything the user must fix raises a CamStyleError before a thread starts, with what
        start() opened closed again (see camstyle.engine.assembly.open_parts). The parts are
        set all at once, stylizer last: until then dispatch() answers "still starting".
        """
        self.metrics.begin()
        parts = open_parts(self.config, self.options, self.style_dirs, self._notify, self.source, self.outputs,
                           self.capture_factory)
        self.source, self.outputs, self.styles, self._rungs = parts.source, parts.outputs, parts.styles, parts.rungs
        self.size_measured = parts.size_measured
        with self._size_lock:
            self.sizer = parts.sizer
        self.stylizer = parts.stylizer
        for name, loop in (("capture", self._capture_loop), ("stylize", self._stylize_loop),
                           ("publish", self._publish_loop)):
            thread = threading.Thread(target=self._supervised, args=(name, loop), name=f"camstyle-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, clean: bool = True) -> None:
        """Stop the threads and release camera and outputs (a clean stop keeps recordings)."""
        self._stop.set()
        self._done.set()
        for thread in self._threads:
            thread.join(timeout=5.0)
        if self._threads:
            self.final_status = self.status()  # what the run did, before its parts are released
        self._threads = []
        if self.source is not None:
            self.source.close()
        errors = []
        for output in self.outputs or []:
            try:
                output.close(clean=clean)
            except CamStyleError as exc:
                errors.append(exc)
        if self.stylizer is not None:
            self.stylizer.close()
        if errors:
            raise errors[0]

    @property
    def running(self) -> bool:
        return bool(self._threads) and not self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run should end (quit, frame limit, window closed); True if it should."""
        return self._done.wait(timeout)

    def pump(self) -> bool:
        """Main-thread work for outputs (preview window); False once the run should end."""
        for output in self.outputs or []:
            if not output.pump():
                self._done.set()
        return not self._done.is_set()

    def request_stop(self) -> None:
        self._done.set()

    def __enter__(self) -> "Controller":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop(clean=exc_type is None or issubclass(exc_type, KeyboardInterrupt))

    # -- threads -----------------------------------------------------------------------------

    def _notify(self, text: str) -> None:
        self.message = text
        self.notices.append(text)
        self.on_message(text)

    def _supervised(self, name: str, loop: Callable[[], None]) -> None:
        """Run a thread's loop; if a bug escapes it, say so and restart it rather than freeze."""
        while not self._stop.is_set():
            try:
                loop()
                return
            except Exception as exc:
                self.metrics.error()
                self._notify(f"{name} restarted after an error: {type(exc).__name__}: {exc}")
                self._stop.wait(0.2)

    def _capture_loop(self) -> None:
        from camstyle.frames import fit_frame

        width, height = self.output_size
        while not self._stop.is_set():
            cpu0 = time.thread_time()  # CPU time, so waiting for the camera does not count
            try:
                image = self.source.read()
            except Exception:
                image = None
            if image is None:
                if self._stop.is_set():
                    break
                self._reconnect()
                continue
            now = time.perf_counter()
            image = fit_frame(image, width, height)  # returns a frame already at the size as it is
            self._last_capture = now
            self._captured.put(Frame(image, now))
            self.metrics.captured(now, (time.thread_time() - cpu0) * 1000)

    def _reconnect(self) -> None:
        """Reopen a lost source with exponential back-off; frames keep flowing meanwhile."""
        self._reconnecting = True
        self._notify(RECONNECTING)
        self.source.close()
        delay = BACKOFF_START_S
        while not self._stop.wait(delay):
            try:
                self.source.open()
            except Exception:
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            self._reconnecting = False
            self._notify(f"{self.source.kind} reconnected")
            return

    def _stylize_loop(self) -> None:
        while not self._stop.is_set():
            frame = self._captured.take(timeout=0.1)
            if frame is None or self.privacy:
                continue
            start = time.perf_counter()
            stylize = not self.paused and self.stylizer.model is not None
            judged = stylize and not self.stylizer.fading  # a cross-fade runs two networks
            try:
                image = self.stylizer.process(frame.image, passthrough=not stylize)
            except Exception as exc:  # a failing network must not stop the camera
                errors = self.metrics.error()
                if errors == 1 or errors % 100 == 0:
                    self._notify(f"stylizing failed ({type(exc).__name__}: {exc}); passing the camera through")
                image, stylize = self.stylizer.process(frame.image, passthrough=True), False
            now = time.perf_counter()
            if judged and not self.stylizer.fading:
                self._judge_size((now - start) * 1000)
            self.metrics.styled(now, (now - start) * 1000 if stylize else None)
            self._styled.put(Frame(image, frame.t_capture, stylize))

    def _judge_size(self, ms: float) -> None:
        """Feed one frame's stylize time to the governor; apply the size it decides."""
        with self._size_lock:
            if self.sizer is None:
                return
            size = self.sizer.observe(ms)
            if size is not None:
                self.stylizer.inference_size = size
                reason = self.sizer.reason
        if size is not None:
            self._notify(f"inference size {size[0]}x{size[1]}: {reason}")

    def _forget_size_window(self) -> None:
        """A pause or a new style: the stylize times so far measured something else."""
        with self._size_lock:
            if self.sizer is not None:
                self.sizer.forget_window()

    def size_history(self) -> list[dict]:
        """Every inference size change of the run (time, size, from, reason), oldest first."""
        with self._size_lock:
            return self.sizer.history() if self.sizer else []

    def _publish_frame(self, now: float, last: Frame | None) -> tuple[np.ndarray, Frame | None, bool]:
        """What to publish now: a notice, the newest frame, or the previous one again."""
        from camstyle.frames import notice_frame

        width, height = self.output_size
        if self.privacy:
            self._styled.take()
            return notice_frame("Camera off", width, height, "CamStyle privacy mode"), last, False
        if self._reconnecting or (self._last_capture and now - self._last_capture > STALE_AFTER_S):
            if not self._stale:  # a camera that hangs without failing: say so once
                self._stale = True
                if not self._reconnecting:
                    self._notify(RECONNECTING)
            return notice_frame(RECONNECTING, width, height, "CamStyle keeps trying"), last, False
        self._stale = False
        item = self._styled.take()
        if item is not None:
            return item.image, item, True
        if last is not None:
            return last.image, last, False
        return notice_frame("CamStyle", width, height, "starting the camera"), None, False

    def _publish_loop(self) -> None:
        clock = SendClock(1.0 / self.fps, time.perf_counter())
        last: Frame | None = None
        while not self._stop.is_set():
            now = time.perf_counter()
            if self._styled.wait_fresh(clock.repeat_at(now) - now):
                ready = time.perf_counter()
                delay = clock.fresh_at(ready) - ready
                if delay > 0 and self._stop.wait(delay):
                    break
            elif self._stop.is_set():
                break
            cpu0 = time.thread_time()
            now = time.perf_counter()
            image, last, fresh = self._publish_frame(now, last)
            for output in self.outputs:
                try:
                    output.send(image)
                except CamStyleError as exc:  # an output that stopped itself (a recording on a full disk)
                    self.metrics.error()
                    self._notify(f"{exc.message} {exc.hint or ''}".strip())
                except Exception as exc:  # one failing output must not stop the others
                    errors = self.metrics.error()
                    if errors == 1 or errors % 100 == 0:
                        self._notify(f"{output.name} failed: {type(exc).__name__}: {exc}")
            clock.sent(now, fresh)
            if fresh and last is not None:
                self.metrics.delivered(last, time.perf_counter())
            published = self.metrics.published(now, (time.thread_time() - cpu0) * 1000)
            if self.options.max_frames and published >= self.options.max_frames:
                self._done.set()
                break

    # -- actions -----------------------------------------------------------------------------

    @property
    def dropped(self) -> int:
        """Frames that a newer one replaced before the next thread took them."""
        return self._captured.dropped + self._styled.dropped

    def _refresh_styles(self) -> list[styles_mod.StyleInfo]:
        self.styles = styles_mod.discover_styles(self.style_dirs)
        return self.styles

    def _step_style(self, step: int) -> styles_mod.StyleInfo:
        """Request the next (+1) or previous (-1) style, passing over those that failed to load."""
        styles = self._refresh_styles()
        if not styles:
            raise CamStyleError("No styles are installed.", STYLES_HINT)
        names = [s.name for s in styles]
        current = self.stylizer.style
        if current in names:
            start = names.index(current)
            candidates = [styles[(start + step * k) % len(styles)] for k in range(1, len(styles) + 1)]
        else:
            candidates = styles if step > 0 else styles[::-1]
        choice = next((s for s in candidates if not self.stylizer.known_broken(s)), candidates[0])
        self.stylizer.request_style(choice)
        self._forget_size_window()
        return choice

    def _style_reply(self, requested: styles_mod.StyleInfo) -> dict:
        """The status once the requested style has loaded; ModelError when it failed to."""
        stylizer = self.stylizer
        if stylizer is not None and stylizer.wait_idle(STYLE_REPLY_WAIT_S):
            error = stylizer.load_errors.get(requested.name)
            if error and stylizer.style != requested.name:
                showing = f"style '{stylizer.style}'" if stylizer.style else "the camera unstyled"
                raise ModelError(f"Style '{requested.name}' could not be loaded: {error} CamStyle still shows {showing}.",
                                 "`camstyle styles` marks the broken styles; re-export this one (`camstyle export`) "
                                 "or remove its files.")
        return self.status()

    def dispatch(self, action: str, value: str | None = None) -> dict:
        """Apply one action (a row of camstyle.actions) and return the status after it (see status()).

        The row names the method that performs it. Until start() has set the parts (the
        stylizer last) only the rows marked while_starting are accepted. A style switch's reply
        waits for the new style to load, outside the lock, so that other requests go on meanwhile.
        """
        name = (action or "").strip().lower()
        row = actions_table.BY_NAME.get(name)
        with self._dispatch_lock:
            if self.stylizer is None and not (row and row.while_starting):
                raise CamStyleError("CamStyle is still starting.", "Try again in a moment.")
            if row is None:
                raise CamStyleError(f"Unknown action '{name}'.", f"Use one of: {', '.join(actions_table.NAMES)}.")
            handler = getattr(self, row.handler)
            if row.preset is not None:
                requested = handler(row.preset)
            elif row.value is not None:
                requested = handler(value)
            else:
                requested = handler()
            if requested is None:
                return self.status()
        return self._style_reply(requested)

    # Action handlers, named by camstyle.actions; each runs under the dispatch lock and returns
    # the style it asked to switch to, or None.

    def _do_next(self) -> styles_mod.StyleInfo:
        return self._step_style(+1)

    def _do_prev(self) -> styles_mod.StyleInfo:
        return self._step_style(-1)

    def _do_style(self, value: str | None) -> styles_mod.StyleInfo:
        if not value:
            raise CamStyleError("The style action needs a style name.", "See `camstyle styles` for the names.")
        self._refresh_styles()
        requested = styles_mod.find_style(str(value).strip(), self.style_dirs)
        self.stylizer.request_style(requested)
        self._forget_size_window()
        return requested

    def _do_strength(self, value: str | None) -> None:
        self._set_level("strength", value)

    def _do_steady(self, value: str | None) -> None:
        self._set_level("steady", value)

    def _set_level(self, name: str, value: str | None) -> None:
        """Set the stylizer's level `name` (the action of that name gives its range) from a level or a change."""
        level = actions_table.BY_NAME[name].level
        setattr(self.stylizer, name, parse_level(value, getattr(self.stylizer, name), name, level))

    def _do_size(self, value: str | None) -> None:
        """`ctl size auto|WxH`: free the size for the governor, or fix it."""
        from camstyle.stylize.stylizer import inference_shape

        hint = "Give auto, or a size like 640x360 (fitted to the output's shape)."
        try:
            wanted = parse_inference_size(str(value or ""))
        except ValueError:
            raise CamStyleError(f"'{value}' is not an inference size." if value else "The size action needs a value.",
                                hint) from None
        with self._size_lock:
            if wanted == "auto":
                size = self.sizer.free("automatic again (ctl size auto)")
            else:
                largest = self._rungs[-1]
                fitted = inference_shape((min(wanted[0], largest[0]), min(wanted[1], largest[1])),
                                         self.output_size, self.stylizer.size_multiple)
                size = self.sizer.pin(fitted, f"fixed at {fitted[0]}x{fitted[1]} by ctl size")
            self.stylizer.inference_size = size

    def _do_pause(self) -> None:
        self.paused = not self.paused
        self._forget_size_window()
        self._notify("paused: camera passes through unstyled" if self.paused else "styling resumed")

    def _do_mirror(self) -> None:
        self.stylizer.mirror = not self.stylizer.mirror

    def _do_privacy(self) -> None:
        self.privacy = not self.privacy
        self._notify("privacy: camera off" if self.privacy else "camera on")

    def _do_status(self) -> None:
        """Nothing to change: dispatch returns the status."""

    def _do_quit(self) -> None:
        self._done.set()

    def status(self) -> dict:
        """The run as the dashboard, `ctl status` and --stats read it; callable from any thread,
        before start() too (the parts not yet open read as empty)."""
        stylizer = self.stylizer
        now = time.perf_counter()
        return {
            "style": stylizer.style if stylizer else "",
            "styles": [s.name for s in self.styles],
            "strength": round(stylizer.strength, 3) if stylizer else 0.0,
            "steady": round(stylizer.steady, 3) if stylizer else 0.0,
            "steady_auto": bool(stylizer and stylizer.steady_auto),
            "paused": self.paused,
            "mirror": bool(stylizer and stylizer.mirror),
            "privacy": self.privacy,
            "provider": stylizer.provider if stylizer else "",
            "source": self.source.name if self.source else "",
            "output": " + ".join(o.name for o in self.outputs or []),
            "not_published": next((o.reason for o in self.outputs or [] if getattr(o, "reason", "")), ""),
            **self.metrics.flow(now, self.dropped),
            "input_size": list(self.source.size) if self.source else [0, 0],
            "inference_size": list(stylizer.inference_size) if stylizer else [0, 0],
            "size_auto": bool(self.sizer and self.sizer.auto),
            "size_reason": self.sizer.reason if self.sizer else "",
            "output_size": list(self.output_size),
            **self.metrics.usage(now),
            "others_cpu_cores": self.sizer.others_cores if self.sizer else None,
            "message": self.message,
        }

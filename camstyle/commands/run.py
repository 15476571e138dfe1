"""Run the camera: read the webcam, stylize every frame and publish the virtual camera "CamStyle".

Settings come from the config file (`camstyle config`); flags override them for this run.
In a terminal a live dashboard shows frame rates and latency and takes keys
(n/p style, +/- strength, space pause, m mirror, o privacy, q quit); --no-dashboard prints
a status line every few seconds instead, for running at login. Global hotkeys and
`camstyle ctl` work in both. Ctrl+C or SIGTERM stop cleanly.

examples:
  camstyle run                                  camera -> first style -> virtual camera
  camstyle run --source demo --output preview   try it without a camera or virtual camera
  camstyle run --style starry_night --strength 0.7 --record talk.mp4
  camstyle run --source demo --output null --frames 300 --stats stats.json --no-dashboard
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from camstyle.config import steady_option
from camstyle.errors import ConfigError
from camstyle.publish import outputs
from camstyle.stylize import providers

HELP = "run the stylized virtual camera (camera -> style -> 'CamStyle' camera)"



def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="config file to use instead of the default one")
    group = parser.add_argument_group("input and style")
    group.add_argument("--source", metavar="SRC", help='"auto", "demo", a camera index (0), a device (/dev/video0) or a video file')
    group.add_argument("--style", metavar="NAME", help="style to start with (see `camstyle styles`)")
    group.add_argument("--strength", type=float, metavar="S", help="0 = camera only ... 1 = full style")
    group.add_argument("--inference-size", metavar="auto|WxH",
                       help='size the network runs at: "auto" (default: the largest this machine keeps up with, '
                            'adapting to load) or a fixed size like 640x360 (larger = finer, slower)')
    group.add_argument("--guided-upscale", action=argparse.BooleanOptionalAction, default=None,
                       help="bring the camera's outlines back crisp when scaling the style up (default: on)")
    group.add_argument("--steady", type=steady_option, metavar="auto|S",
                       help="steadying, 0 = off ... 0.9: calms the strokes' shimmer (default: auto, each style's "
                            "own, 0.5 unless it names more)")
    group.add_argument("--preserve-colors", action=argparse.BooleanOptionalAction, default=None,
                       help="keep the camera's colours, take only the brush strokes from the style")
    group.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=None, help="flip the image horizontally")
    group.add_argument("--provider", choices=providers.CHOICES, help="ONNX Runtime execution provider (default: auto)")
    group = parser.add_argument_group("output")
    group.add_argument("--output", choices=outputs.OUTPUT_KINDS, help="where the video goes (default: auto)")
    group.add_argument("--size", metavar="WxH", help="size of the published video, e.g. 1280x720")
    group.add_argument("--fps", type=int, metavar="N", help="frame rate of the published video")
    group.add_argument("--device", metavar="DEV", help="virtual camera device, e.g. /dev/video10")
    group.add_argument("--record", metavar="FILE", help="also record the output to FILE (.mp4, .mkv, .mov, .avi); "
                       "an existing FILE is kept and the recording takes a numbered name (FILE-2.mp4)")
    group.add_argument("--overwrite", action="store_true", help="let --record replace an existing file")
    group.add_argument("--virtualcam-backend", help=argparse.SUPPRESS)
    group = parser.add_argument_group("running")
    group.add_argument("--no-dashboard", action="store_true", help="plain status lines instead of the live dashboard")
    group.add_argument("--daemon", action="store_true",
                       help="running unattended (autostart, a service): with source \"auto\" and no camera, show "
                            "'camera unavailable' and wait for one instead of playing the demo clip")
    group.add_argument("--frames", type=int, metavar="N", help="stop after publishing N frames")
    group.add_argument("--stats", metavar="FILE", help="write run statistics as JSON to FILE when stopping")


def _size(text: str | None, flag: str) -> tuple[int, int] | tuple[None, None]:
    if text is None:
        return None, None
    from camstyle.frames import parse_size

    try:
        return parse_size(text)
    except ValueError:
        raise ConfigError(f"{flag} {text} is not a size.", f"Give width x height, e.g. {flag} 1280x720.") from None


def overrides(args: argparse.Namespace) -> dict:
    """Command-line flags as config overrides (None = not given)."""
    out_w, out_h = _size(args.size, "--size")
    from camstyle.config import inference_size_option

    inference_size_option(args.inference_size)
    return {
        "camera.source": args.source, "style.name": args.style, "style.strength": args.strength,
        "style.inference_size": args.inference_size, "style.guided_upscale": args.guided_upscale,
        "style.steady": args.steady, "style.preserve_colors": args.preserve_colors, "style.mirror": args.mirror,
        "runtime.provider": args.provider, "output.kind": args.output, "output.width": out_w, "output.height": out_h,
        "output.fps": args.fps, "output.device": args.device, "output.record_path": args.record,
    }


def stats_summary(controller, elapsed_s: float) -> dict:
    """What --stats writes: the final status plus whole-run averages."""
    from camstyle.stats import peak_rss_mb

    status = controller.final_status or controller.status()
    published = controller.metrics.publish_span()
    return {
        **status,
        "fps_out": round((controller.metrics.frames_out - 1) / published, 2) if published > 0 else 0.0,
        "fps_out_window": status["fps_out"],
        "elapsed_s": round(elapsed_s, 2),
        "rss_peak_mb": round(peak_rss_mb(), 1),
        "notices": list(controller.notices),
        "size_changes": controller.size_history(),
        "size_measured_ms": {f"{w}x{h}": round(ms, 2) for (w, h), ms in controller.size_measured.items()},
    }


def timeline_point(status: dict) -> dict:
    """One second of the --stats timeline: rates, drops so far, the stylize time, the size and
    the cores other programs took."""
    return {"t_s": status["uptime_s"], "fps_in": status["fps_in"], "fps_styled": status["fps_styled"], "fps_out": status["fps_out"],
            "dropped": status["dropped"], "frames_in": status["frames_in"], "infer_ms": status["stage_ms"]["infer"],
            "latency_ms": status["latency_ms"], "inference_size": status["inference_size"],
            "others_cpu_cores": status.get("others_cpu_cores")}


class _SayHandler(logging.Handler):
    """Routes the camstyle loggers (hotkeys, control channel) to the same notice lines."""

    def __init__(self, say):
        super().__init__(logging.INFO)
        self.say = say

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.say(record.getMessage())
        except Exception:  # logging must never break the run
            self.handleError(record)


def _check_writable(path: str) -> None:
    """Fail before the camera starts, not after the run, when --stats cannot be written."""
    import os
    import tempfile
    from pathlib import Path

    from camstyle.atomic import storage_error

    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise storage_error(target, exc) from None


def run(args: argparse.Namespace) -> int:
    import time

    started = time.perf_counter()  # first_frame_s counts from here: what the user waits for
    from rich.console import Console
    from rich.text import Text

    from camstyle.config import load_config
    from camstyle.engine.assembly import RunOptions

    if args.frames is not None and args.frames < 1:
        raise ConfigError(f"--frames {args.frames} must be at least 1.")
    if args.stats:
        _check_writable(args.stats)
    cfg = load_config(args.config).with_overrides(overrides(args))
    options = RunOptions(unattended=args.daemon, max_frames=args.frames or 0, overwrite=args.overwrite,
                         virtualcam_backend=args.virtualcam_backend)
    use_dashboard = not args.no_dashboard and sys.stdout.isatty()
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    live = {"dashboard": False}

    def say(text: str) -> None:
        if not live["dashboard"]:  # the dashboard shows the latest notice itself
            console.print(Text.assemble((time.strftime("%H:%M:%S"), "dim"), f" camstyle: {text}"), emoji=False)

    handler = _SayHandler(say)
    logger = logging.getLogger("camstyle")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # not twice through Python's last-resort handler
    try:
        return _run(args, cfg, options, started, say, live, use_dashboard)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def _run(args, cfg, options, started: float, say, live: dict, use_dashboard: bool) -> int:
    import signal

    from camstyle.control.channel import ControlServer
    from camstyle.engine.controller import Controller

    controller = Controller(cfg, options, on_message=say, started_at=started)
    # SIGTERM (logout, systemd, `kill`) ends the run like Ctrl+C: cleanly, even while starting.
    # The handler only appends to a list: it runs between two bytecodes of the main thread,
    # which may be holding the very lock that controller.request_stop() would take.
    signalled: list[int] = []
    previous_term = signal.signal(signal.SIGTERM, lambda number, _frame: signalled.append(number))
    try:
        server = ControlServer(controller)
        server.start()  # first: a second CamStyle must not grab the camera
        try:
            controller.start()
        except BaseException:
            server.stop()
            raise
        return _serve(args, cfg, controller, server, started, say, live, use_dashboard, signalled)
    finally:
        signal.signal(signal.SIGTERM, previous_term)


def _serve(args, cfg, controller, server, started: float, say, live: dict, use_dashboard: bool,
           signalled: list[int]) -> int:
    """Run until quit, Ctrl+C, SIGTERM or the frame limit; then release everything."""
    import signal
    import time

    from camstyle import atomic
    from camstyle.control.dashboard import Dashboard, LogReporter
    from camstyle.control.hotkeys import HotkeyListener

    status = controller.status()
    steady = f"steadied {status['steady']:g}" if status["steady"] else "not steadied"
    say(f"{status['source']} -> style {status['style'] or '(none)'} on {status['provider']} at "
        f"{'x'.join(map(str, status['inference_size']))}, {steady} -> {status['output']} "
        f"{'x'.join(map(str, status['output_size']))} at {cfg.output.fps:g} fps")
    hotkeys = HotkeyListener.from_config(cfg.hotkeys, controller)
    view = Dashboard(controller) if use_dashboard else LogReporter(controller)
    clean = True
    timeline: list[dict] = []
    # From here Ctrl+C is a request, like SIGTERM, not a KeyboardInterrupt that could land
    # halfway through a lock or a recording write. Installing our own handler also makes a
    # SIGINT stop the run when it was started from a shell that ignores SIGINT (a background
    # job), where Python would otherwise leave it ignored.
    previous_int = signal.signal(signal.SIGINT, lambda number, _frame: signalled.append(number))
    try:
        hotkeys.start()  # says itself, through logging, when hotkeys cannot work here
        view.start()
        live["dashboard"] = use_dashboard
        interval = 0.01 if any(o.name == "preview" for o in controller.outputs) else 0.2
        next_sample = time.perf_counter() + 1.0
        while not signalled and controller.pump() and not controller.wait(interval):
            if args.stats and time.perf_counter() >= next_sample:  # the --stats timeline, once a second
                next_sample += 1.0
                timeline.append(timeline_point(controller.status()))
    except BaseException:
        clean = False
        raise
    finally:
        signal.signal(signal.SIGINT, previous_int)
        live["dashboard"] = False
        for part in (view, hotkeys, server):
            try:
                part.stop()
            except Exception as exc:  # stopping must still release the camera
                say(f"while stopping: {exc}")
        controller.stop(clean=clean)
    summary = stats_summary(controller, time.perf_counter() - started)
    summary["timeline"] = timeline
    if args.stats:
        atomic.write_text(args.stats, json.dumps(summary, indent=2) + "\n")
    say(f"stopped: {summary['frames_out']} frames out at {summary['fps_out']:.1f} fps, "
        f"latency p50 {summary['latency_ms']['p50']:.0f} ms p95 {summary['latency_ms']['p95']:.0f} ms, "
        f"{summary['dropped']} dropped")
    return 0

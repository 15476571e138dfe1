"""Stylize an image or a video file with an installed style.

Images run at their own size (up to 1280 pixels on the long side) unless --inference-size
says otherwise; videos run at the live camera's inference size from the config, so they
look like the live camera: with "auto" (the default) the largest size this machine would
keep up with at the video's size, measured as the live camera measures it. The output is written atomically: it appears complete or not at
all. Video output has no sound track.

examples:
  camstyle stylize photo.jpg -o photo_starry.png --style starry_night
  camstyle stylize clip.mp4 -o clip_starry.mp4 --style starry_night --strength 0.8 --preserve-colors
  camstyle stylize clip.mp4 -o clip_raw.mp4 --style starry_night --steady 0   (the network alone)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from camstyle.config import steady_option
from camstyle.errors import CamStyleError, ConfigError, ModelError
from camstyle.stylize import providers

HELP = "stylize an image or video file"

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
MAX_IMAGE_SIDE = 1280


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT", help="image (.jpg, .png, ...) or video (.mp4, .mov, .mkv, .avi, ...)")
    parser.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                        help="file to write: an image for an image, a video (.mp4, .mkv, .mov, .avi) for a video")
    parser.add_argument("--style", metavar="NAME", help="style to use (default: the configured one, else the first)")
    parser.add_argument("--strength", type=float, default=1.0, metavar="S", help="0 = original ... 1 = full style (default 1)")
    parser.add_argument("--inference-size", metavar="auto|WxH",
                        help="size the network runs at (larger = finer strokes, slower; default: from the config)")
    parser.add_argument("--guided-upscale", action=argparse.BooleanOptionalAction, default=None,
                        help="bring the outlines back crisp when scaling the style up (default: from the config)")
    parser.add_argument("--preserve-colors", action="store_true", help="keep the original colours")
    parser.add_argument("--steady", type=steady_option, metavar="auto|S",
                        help="steadying of a video, 0 = off ... 0.9, or auto: each style's own (default: from the "
                             "config, as the live camera)")
    parser.add_argument("--provider", choices=providers.CHOICES,
                        help="ONNX Runtime execution provider (default: from the config, usually auto)")
    parser.add_argument("--config", metavar="FILE", help="config file to use instead of the default one")


def _pick_style(name: str | None, configured: str):
    from camstyle.stylize.styles import discover_styles, find_style, in_start_order

    if name or configured:
        return find_style(name or configured)
    styles = discover_styles()
    if not styles:
        raise ModelError("No styles are installed.",
                         "Train one with `camstyle train PAINTING --name NAME`; `camstyle styles` shows the styles folder.")
    return in_start_order(styles)[0]


def _make_stylizer(args, cfg, style, size: tuple[int, int], inference: tuple[int, int]):
    from camstyle.stylize import autosize
    from camstyle.stylize.providers import select_providers
    from camstyle.stylize.stylizer import Stylizer

    multiple = autosize.lcm_multiple(style.size_multiple)
    auto = inference == "auto"
    stylizer = Stylizer(cfg.style, select_providers(cfg.runtime.provider), cfg.runtime.threads,
                        autosize.ladder(size, multiple)[0] if auto else inference, size, multiple)
    stylizer.load(style)
    if auto:  # as the live camera chooses: the largest ladder size that keeps up at the configured frame rate
        rungs = autosize.ladder(size, multiple)
        index, _ = autosize.choose(rungs, stylizer.measure, autosize.budget_ms(cfg.output.fps),
                                   gpu=autosize.is_gpu(stylizer.provider))
        stylizer.inference_size = rungs[index]
    return stylizer


def _check_paths(source: Path, target: Path) -> bool:
    """Validate the paths; True for an image, False for a video."""
    from camstyle.publish.outputs import RECORD_CODECS

    if not source.is_file():
        raise CamStyleError(f"No such file: {source}.", "Check the path of the image or video to stylize.")
    is_image = source.suffix.lower() in IMAGE_SUFFIXES
    out_suffix = target.suffix.lower()
    if is_image and out_suffix not in IMAGE_SUFFIXES:
        raise ConfigError(f"The output of an image must be an image, not '{target.name}'.",
                          f"Use one of: {', '.join(IMAGE_SUFFIXES)}.")
    if not is_image and out_suffix not in RECORD_CODECS:
        raise ConfigError(f"The output of a video must be a video file, not '{target.name}'.",
                          f"Use one of: {', '.join(RECORD_CODECS)}.")
    if target.is_dir():
        raise ConfigError(f"{target} is a folder.", "Give a file name for the output.")
    return is_image


def run(args: argparse.Namespace) -> int:
    from camstyle.config import inference_size_option, load_config
    from camstyle.stylize.steady import MAX_STEADY

    if not 0.0 <= args.strength <= 1.0:
        raise ConfigError(f"--strength {args.strength:g} is out of range.", "Give a value from 0 to 1.")
    if isinstance(args.steady, float) and not 0.0 <= args.steady <= MAX_STEADY:
        raise ConfigError(f"--steady {args.steady:g} is out of range.", f"Give a value from 0 (off) to {MAX_STEADY}.")
    inference = inference_size_option(args.inference_size or None)
    # The file's settings, with this command's: a file is stylized unmirrored, at --strength.
    cfg = load_config(args.config).with_overrides({
        "style.strength": args.strength, "style.preserve_colors": args.preserve_colors, "style.mirror": False,
        "style.steady": args.steady, "style.guided_upscale": args.guided_upscale, "runtime.provider": args.provider})
    source, target = Path(args.input).expanduser(), Path(args.output).expanduser()
    is_image = _check_paths(source, target)
    style = _pick_style(args.style, cfg.style.name)
    if is_image:
        _stylize_image(args, cfg, style, source, target, inference)
    else:
        _stylize_video(args, cfg, style, source, target, inference)
    return 0


def _stylize_image(args, cfg, style, source: Path, target: Path, inference) -> None:
    import cv2
    from rich.console import Console

    from camstyle import atomic
    from camstyle.errors import StorageError

    image = cv2.imread(str(source), cv2.IMREAD_COLOR)
    if image is None:
        raise CamStyleError(f"{source} is not an image CamStyle can read.", "Use a JPEG, PNG, BMP, WebP or TIFF file.")
    height, width = image.shape[:2]
    if inference in (None, "auto"):  # an image is not a live stream: its own size, within reason
        scale = min(1.0, MAX_IMAGE_SIDE / max(width, height))
        inference = (max(8, round(width * scale)), max(8, round(height * scale)))
    stylizer = _make_stylizer(args, cfg, style, (width, height), inference)
    result = stylizer.process(image)
    with atomic.atomic_path(target) as tmp:
        if not cv2.imwrite(str(tmp), result):
            raise StorageError(f"Cannot write the image {target}.", "Check the folder is writable and has free space.")
    Console(stderr=True, highlight=False).print(
        f"Wrote {target} ({width}x{height}, style {style.name}, network at "
        f"{stylizer.inference_size[0]}x{stylizer.inference_size[1]} on {stylizer.provider}).", markup=False)


def _stylize_video(args, cfg, style, source: Path, target: Path, inference) -> None:
    import cv2
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from camstyle import atomic
    from camstyle.config import parse_inference_size
    from camstyle.errors import StorageError
    from camstyle.frames import opencv_quiet
    from camstyle.publish.outputs import RECORD_CODECS

    with opencv_quiet():
        capture = cv2.VideoCapture(str(source), cv2.CAP_FFMPEG)
    try:
        ok, first = capture.read() if capture.isOpened() else (False, None)
        if not ok:
            raise CamStyleError(f"{source} is not a video CamStyle can read.",
                                "Use a common video file (MP4/H.264, WebM, MKV, AVI, MOV), or an image.")
        height, width = first.shape[:2]
        fps = capture.get(cv2.CAP_PROP_FPS) or 0
        fps = fps if 1 <= fps <= 240 else 30.0
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0) or None
        stylizer = _make_stylizer(args, cfg, style, (width, height),
                                  inference or parse_inference_size(cfg.style.inference_size))
        console = Console(stderr=True, highlight=False)
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
        written = 0
        with atomic.atomic_path(target) as tmp:
            writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*RECORD_CODECS[target.suffix.lower()]),
                                     fps, (width, height))
            if not writer.isOpened():
                raise StorageError(f"Cannot write a video to {target}.", "Check the folder is writable and has free space.")
            try:
                with Progress(*columns, console=console, transient=False) as progress:
                    task = progress.add_task(f"{style.name}", total=total)
                    frame = first
                    while frame is not None:
                        if frame.shape[:2] != (height, width):  # some streams change size mid-way
                            frame = cv2.resize(frame, (width, height))
                        writer.write(stylizer.process(frame))
                        written += 1
                        progress.update(task, advance=1)
                        ok, frame = capture.read()
                        frame = frame if ok else None
            finally:
                writer.release()
    finally:
        capture.release()
    console.print(f"Wrote {target} ({written} frames, {width}x{height} at {fps:g} fps, style {style.name}, network at "
                  f"{stylizer.inference_size[0]}x{stylizer.inference_size[1]} on {stylizer.provider}; no sound).",
                  markup=False)

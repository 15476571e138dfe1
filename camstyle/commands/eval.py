"""Measure how steady and how stylized a style is on video clips.

  camstyle eval --style starry_night clip.mp4
  camstyle eval --style starry_night --baseline starry_night_baseline --style-image starry.jpg clip.mp4 --json

Per clip: the temporal warping error (Lai et al. 2018, optical flow on the source frames;
the source clip's own error for scale), the sensitivity to camera-like input noise, the
share of the bright subject (a lit face) blown out to pure white and,
with PyTorch installed, the training's VGG style and content losses (the style loss needs
--style-image). Lower is better for all of these. With --style-image, the output's contrast
and colourfulness are also given as ratios to the painting's: near 1 is the painting's look,
far below 1 a grey wash. --steady S measures the video as `camstyle run` publishes it with that
steadying; by default the networks are measured alone.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "measure a style's flicker, noise sensitivity and style/content losses on clips"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", nargs="+", type=Path, metavar="VIDEO", help="clips to evaluate on")
    parser.add_argument("--style", required=True, help="the style to evaluate")
    parser.add_argument("--baseline", help="a second style to compare with (e.g. the same painting without stability)")
    parser.add_argument("--frames", type=int, default=60, help="consecutive frames per clip (default 60)")
    parser.add_argument("--size", help="inference size WxH (default: the style's own, else 640x360)")
    parser.add_argument("--style-image", type=Path, metavar="PAINTING", help="the painting, for the style loss")
    parser.add_argument("--vgg-weights", type=Path, metavar="FILE", help="VGG16 weights for the style/content losses")
    parser.add_argument("--no-vgg", action="store_true", help="skip the style/content losses (quicker; no torch needed)")
    parser.add_argument("--steady", type=float, default=0.0, metavar="S",
                        help="measure the published video at this steadying (as `camstyle run --steady S`; default 0: the networks alone)")
    parser.add_argument("--provider", default="cpu", help="onnxruntime provider: cpu (default), cuda, auto, ...")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def run(args: argparse.Namespace) -> int:
    from camstyle.stylize import styles
    from camstyle.errors import CamStyleError
    from camstyle.frames import parse_size

    size = None
    if args.size:
        try:
            size = parse_size(args.size)
        except ValueError as exc:
            raise CamStyleError(f"--size: {exc}.", "Use WIDTHxHEIGHT, e.g. --size 640x360.") from None
    if args.frames < 2:
        raise CamStyleError("--frames must be at least 2.", "E.g. --frames 60.")
    if args.style_image is not None and not args.style_image.is_file():
        raise CamStyleError(f"Style image {args.style_image} does not exist.", "Pass the painting the style was trained on.")
    from camstyle.stylize.steady import MAX_STEADY

    if not 0 <= args.steady <= MAX_STEADY:
        raise CamStyleError(f"--steady {args.steady:g} is out of range.", f"Give 0 (off) to {MAX_STEADY}, e.g. --steady 0.5.")
    style = styles.find_style(args.style)
    baseline = styles.find_style(args.baseline) if args.baseline else None

    from camstyle.training import evaluate

    report = evaluate.evaluate(style, args.videos, args.frames, size, baseline, args.style_image, args.vgg_weights,
                                 args.provider, vgg_losses=not args.no_vgg, steady=args.steady)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0


def print_report(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    def number(value) -> str:
        return "-" if value is None else f"{value:.4g}"

    steadied = f", steadied {report['steady']:g}" if report.get("steady") else ""
    table = Table(title=f"Style '{report['style']}' at {report['size'][0]}x{report['size'][1]}{steadied}")
    for column in ("clip", "frames", "output", "warping error", "noise sensitivity", "shift sensitivity", "blown highlights",
                   "contrast ÷ painting", "colourfulness ÷ painting", "style loss", "content loss"):
        table.add_column(column, justify="left" if column in ("clip", "output") else "right")
    for clip in report["clips"]:
        for i, (name, metrics) in enumerate(clip["results"].items()):
            table.add_row(Path(clip["clip"]).name if i == 0 else "", str(clip["frames"]) if i == 0 else "",
                          name, number(metrics.get("warping_error")), number(metrics.get("noise_sensitivity")),
                          number(metrics.get("shift_sensitivity")),
                          number(metrics.get("blown_highlights")),
                          number(metrics.get("contrast")), number(metrics.get("colourfulness")),
                          number(metrics.get("style_loss")), number(metrics.get("content_loss")),
                          end_section=i == len(clip["results"]) - 1)
    console = Console(highlight=False)
    console.print(table)
    for note in report["notes"]:
        console.print(f"[dim]- {note}[/]")

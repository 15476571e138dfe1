"""Train a style from any painting, export it to ONNX and install it.

  camstyle train starry_night.jpg --name starry_night --data ~/Pictures/coco clip1.mp4 clip2.mp4
  camstyle train starry_night.jpg --name starry_night --resume       continue after Ctrl+C
  camstyle train scream.jpg --name scream --set steps=4000           one recipe value changed
  camstyle train scream.jpg --name scream --recipe my_recipe.toml    a recipe of your own
  camstyle train scream.jpg --name scream --recipe quick             a softer style in a third of the time

Stage 1 learns the painting's strokes on photos (and stills from videos); when videos are given
(--data or --temporal-data), stage 2 teaches the network to hold them still: a noise stability
loss and a temporal loss along the optical flow, on frame pairs from the clips and from a
made-up shaking camera. Without videos, the noise term trains from the start. Without --data,
the photos in your Pictures folder are used (at least 100). The recipe (training/recipes) is
chosen for the device: gpu on CUDA, default elsewhere.
Checkpoints, preview grids and log.jsonl go to the run folder; the finished style is installed
in your styles folder, ready for `camstyle run --style NAME`. Needs the training extras:
pip install "camstyle[train]". A GPU (CUDA or Apple MPS) is used when there is one.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path


HELP = "train a style from a painting and install it"

# The expert flags of earlier releases, one per Recipe field: replaced by recipe files and
# --set KEY=VALUE. Still read for one release, with a warning that names the --set spelling.
LEGACY_OPTIONS = ("steps", "temporal_steps", "size", "batch", "architecture", "style_weight", "content_weight",
                  "video_content_weight", "noise_weight", "temporal_weight", "style_size", "lr", "seed",
                  "content_layer", "colour_weight", "contrast_weight", "tv_weight", "output", "range_weight",
                  "white_weight", "noise_share", "temporal_share", "noise_settle", "temporal_settle", "camera_shake")
INT_OPTIONS = {"steps", "temporal_steps", "size", "batch", "style_size", "seed", "noise_settle", "temporal_settle"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("style_image", metavar="STYLE_IMAGE", type=Path, help="the painting (jpg, png, webp, bmp)")
    parser.add_argument("--name", required=True, help="style name: lower-case letters, digits, - and _")
    parser.add_argument("--data", nargs="+", type=Path, default=[], metavar="DIR_OR_VIDEO",
                        help="folders of photos (searched recursively) and/or video files")
    parser.add_argument("--temporal-data", nargs="+", type=Path, default=[], metavar="VIDEO",
                        help="videos for the video stage, which teaches the network to hold its strokes still "
                             "(videos in --data are used too)")
    group = parser.add_argument_group("recipe (on --resume: the run's own)")
    group.add_argument("--recipe", metavar="NAME_OR_FILE",
                       help="a recipe file, or one of training/recipes: default (CPU), gpu, and quick "
                            "(starts from the installed style nearest the painting) "
                            "(default: gpu when CUDA is present, else default)")
    group.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                       help="change one recipe value, e.g. --set steps=4000 (repeatable; keys: see the recipe files)")
    group.add_argument("--no-stability", action="store_true",
                       help="train the per-frame baseline: no noise and no temporal loss (same as --set stability=false)")
    for option in LEGACY_OPTIONS:  # the expert flags of earlier releases: still read, with a warning
        kind = str if option in ("architecture", "content_layer", "output") else int if option in INT_OPTIONS else float
        group.add_argument("--" + option.replace("_", "-"), type=kind, help=argparse.SUPPRESS)
    group.add_argument("--late-stability", action="store_true", help=argparse.SUPPRESS)
    run_group = parser.add_argument_group("run")
    run_group.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    run_group.add_argument("--resume", action="store_true", help="continue the run NAME from its latest checkpoint")
    run_group.add_argument("--restart", action="store_true", help="start the run NAME over, replacing its checkpoint")
    run_group.add_argument("--vgg-weights", type=Path, metavar="FILE", help="VGG16 weights: torchvision .pth or Keras HED .h5")
    run_group.add_argument("--preview-every", type=int, default=250, metavar="N", help=argparse.SUPPRESS)
    run_group.add_argument("--checkpoint-every", type=int, default=500, metavar="N", help=argparse.SUPPRESS)
    run_group.add_argument("--no-install", action="store_true", help="train only; install later with `camstyle export`")
    meta = parser.add_argument_group("style credits (shown by `camstyle styles`)")
    meta.add_argument("--title", default="")
    meta.add_argument("--artist", default="")
    meta.add_argument("--year", type=int)
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads for training (default: all cores; 1 each to train two styles side by side)")


def run(args: argparse.Namespace) -> int:
    from camstyle import paths
    from camstyle.errors import CamStyleError
    from camstyle.stylize.styles import validate_name

    validate_name(args.name)
    if args.resume and args.restart:
        raise CamStyleError("--resume and --restart contradict each other.", "Use one of them.")
    if args.resume and args.recipe:
        raise CamStyleError("--resume continues a run with its own recipe; --recipe starts a new one.",
                            "Drop --recipe (step counts may still change with --set), or use --restart.")
    if min(args.preview_every, args.checkpoint_every) < 1:
        raise CamStyleError("--preview-every and --checkpoint-every must be at least 1.", "E.g. --checkpoint-every 500.")
    # Before torch loads OpenMP: its idle threads spin by default, and with another program on
    # the cores (a meeting, the camera, a second training) a two-thread step then ran 8-10x
    # slower instead of 1.6x; on a quiet machine sleeping costs nothing measurable.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if importlib.util.find_spec("torch") is None:
        raise CamStyleError("Training needs PyTorch, which is not installed.",
                            'Install the training extras: pip install "camstyle[train]".')
    # The checks that need no torch, before its slow import: a typo should not cost seconds.
    from camstyle.training import data

    data.load_style_image(args.style_image, 64)
    if not args.resume or args.data or args.temporal_data:  # --resume alone reuses the run's data
        data.training_files(args.data, args.temporal_data)
    data.check_writable(paths.data_dir() / "runs" / args.name)
    if not args.no_install:
        data.check_writable(paths.user_styles_dir())
    from camstyle.training import recipe, train

    overrides = recipe.parse_settings(args.settings)
    legacy = {option: getattr(args, option) for option in LEGACY_OPTIONS if getattr(args, option) is not None}
    if args.late_stability:
        legacy["late_stability"] = True
    if legacy:
        spelled = " ".join(f"--set {k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in legacy.items())
        print(f"camstyle train: these options are going away; use recipe settings instead: {spelled}", file=sys.stderr)
        overrides = {**legacy, **overrides}
    if args.no_stability:
        overrides["stability"] = False
    job = train.Job(name=args.name, style_image=args.style_image, data=args.data, temporal_data=args.temporal_data,
                    device=args.device, resume=args.resume, restart=args.restart, vgg_weights=args.vgg_weights,
                    recipe_file=args.recipe,
                    preview_every=args.preview_every, checkpoint_every=args.checkpoint_every,
                    title=args.title, artist=args.artist, year=args.year, install=not args.no_install,
                    threads=max(0, args.threads))
    try:
        train.train(job, overrides)
    except train.TrainingInterrupted as stopped:
        from rich.console import Console

        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"Stopped at step {stopped.step}; the checkpoint is saved in {stopped.path}.\n"
            f"Continue with: camstyle train {args.style_image} --name {args.name} --resume")
        return 130
    return 0

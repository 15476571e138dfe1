"""Train a style from any painting, export it to ONNX and install it.

  camstyle train starry_night.jpg --name starry_night --data ~/Pictures/coco
  camstyle train starry_night.jpg --name starry_night --resume       continue after Ctrl+C
  camstyle train scream.jpg --name scream_baseline --no-stability    per-frame baseline

Stage 1 learns the style on photos (and stills from videos) with a noise stability loss; when
videos are given (--data or --temporal-data), stage 2 fine-tunes with a temporal loss along the
optical flow. With --late-stability, stage 1 trains like the baseline and both stability
terms join in stage 2. Without --data, the photos in your Pictures folder are used (at least 100).
Checkpoints, preview grids and log.jsonl go to the run folder; the finished style is installed
in your styles folder, ready for `camstyle run --style NAME`. Needs the training extras:
pip install "camstyle[train]". A GPU (CUDA or Apple MPS) is used when there is one.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from training.architectures import ARCHITECTURES, OUTPUTS  # torch-free presets

HELP = "train a style from a painting and install it"

# option -> Recipe field, for the options that change what is learned
RECIPE_OPTIONS = ("steps", "temporal_steps", "size", "batch", "architecture", "style_weight", "content_weight",
                  "video_content_weight", "noise_weight", "temporal_weight", "style_size", "lr", "seed",
                  "content_layer", "colour_weight", "contrast_weight", "tv_weight", "output", "range_weight",
                  "white_weight", "noise_share", "temporal_share", "noise_settle", "temporal_settle", "camera_shake")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("style_image", metavar="STYLE_IMAGE", type=Path, help="the painting (jpg, png, webp, bmp)")
    parser.add_argument("--name", required=True, help="style name: lower-case letters, digits, - and _")
    parser.add_argument("--data", nargs="+", type=Path, default=[], metavar="DIR_OR_VIDEO",
                        help="folders of photos (searched recursively) and/or video files")
    parser.add_argument("--temporal-data", nargs="+", type=Path, default=[], metavar="VIDEO",
                        help="videos for the temporal stage (videos in --data are used too)")
    group = parser.add_argument_group("recipe (defaults: training/train.py RECIPE; on --resume: the run's own)")
    group.add_argument("--steps", type=int, help="image-stage steps")
    group.add_argument("--temporal-steps", type=int, help="video-stage steps (only with videos)")
    group.add_argument("--size", type=int, help="training crop in px, a multiple of 8")
    group.add_argument("--batch", type=int, help="images per step")
    group.add_argument("--architecture", choices=tuple(ARCHITECTURES), help="transform network")
    group.add_argument("--style-weight", type=float)
    group.add_argument("--content-weight", type=float)
    group.add_argument("--video-content-weight", type=float,
                       help="the content weight in the video stage (default: --content-weight's); lower keeps more of "
                            "the painting on close-ups at some flicker; may change on --resume until that stage starts")
    group.add_argument("--content-layer", choices=("relu2_2", "relu3_3"))
    group.add_argument("--colour-weight", type=float, help="weight of the match to the painting's colour statistics")
    group.add_argument("--contrast-weight", type=float, help="weight of the match to the painting's contrast (colour covariance)")
    group.add_argument("--tv-weight", type=float, help="total-variation weight (smoothness)")
    group.add_argument("--range-weight", type=float,
                       help="weight of the raw output's distance from 0..1, where the camera clips it "
                            "(keeps lit faces from blowing out to white)")
    group.add_argument("--white-weight", type=float,
                       help="weight of the guard against pure-white patches on lit faces, which the stability terms "
                            "drift towards; it joins with them (default 0: off; see styles/README.md)")
    group.add_argument("--noise-weight", type=float, help="fixed noise-stability weight (default: automatic, a tenth of the loss)")
    group.add_argument("--temporal-weight", type=float,
                       help="fixed temporal weight (default: automatic); with --resume it may be set mid-way, to train a style on, steadier")
    group.add_argument("--noise-share", type=float,
                       help="the automatic noise-stability term's share of the loss (default 0.1); lower keeps more "
                            "texture, higher flickers less")
    group.add_argument("--noise-settle", type=int, metavar="STEPS",
                       help="steps after which the automatic noise weight holds still (default 4000); 0 keeps it "
                            "following its term, which made runs twice the default length diverge")
    group.add_argument("--temporal-share", type=float,
                       help="the automatic temporal term's share of the loss in the video stage (default 0.2)")
    group.add_argument("--temporal-settle", type=int, metavar="STEPS",
                       help="video-stage steps after which the automatic temporal weight stops following its term "
                            "(default 20); 0 keeps following it, which steadies more and flattens the style")
    group.add_argument("--camera-shake", type=float, metavar="SHARE",
                       help="share of the video stage's frame pairs made by moving a frame as a hand-held camera does "
                            "(default 0); steadies the strokes on a shaking background")
    group.add_argument("--output", choices=OUTPUTS,
                       help="what the losses see: linear (default) the raw output, clipped to 0..1 only on the camera; "
                            "clip the clipped picture itself: fewer blown-out highlights and a stronger, steadier "
                            "style, but less facial detail (see styles/README.md)")
    group.add_argument("--no-stability", action="store_true", help="train the per-frame baseline: no noise and no temporal loss")
    group.add_argument("--late-stability", action="store_true",
                       help="train the image stage like the per-frame baseline and add the noise and temporal terms in "
                            "the video stage only; give it a longer one, e.g. --temporal-steps 1600 (see styles/README.md)")
    group.add_argument("--style-size", type=int, help="the painting's longer side in px for the style targets")
    group.add_argument("--lr", type=float, help="Adam learning rate")
    group.add_argument("--seed", type=int, help="random seed (same seed on CPU: identical losses)")
    run_group = parser.add_argument_group("run")
    run_group.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    run_group.add_argument("--resume", action="store_true", help="continue the run NAME from its latest checkpoint")
    run_group.add_argument("--restart", action="store_true", help="start the run NAME over, replacing its checkpoint")
    run_group.add_argument("--vgg-weights", type=Path, metavar="FILE", help="VGG16 weights: torchvision .pth or Keras HED .h5")
    run_group.add_argument("--preview-every", type=int, default=250, metavar="N")
    run_group.add_argument("--checkpoint-every", type=int, default=500, metavar="N")
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
    from camstyle.styles import validate_name

    validate_name(args.name)
    if args.resume and args.restart:
        raise CamStyleError("--resume and --restart contradict each other.", "Use one of them.")
    if min(args.preview_every, args.checkpoint_every) < 1:
        raise CamStyleError("--preview-every and --checkpoint-every must be at least 1.", "E.g. --checkpoint-every 500.")
    if importlib.util.find_spec("torch") is None:
        raise CamStyleError("Training needs PyTorch, which is not installed.",
                            'Install the training extras: pip install "camstyle[train]".')
    # The checks that need no torch, before its slow import: a typo should not cost seconds.
    from training import data

    data.load_style_image(args.style_image, 64)
    if not args.resume or args.data or args.temporal_data:  # --resume alone reuses the run's data
        data.training_files(args.data, args.temporal_data)
    data.check_writable(paths.data_dir() / "runs" / args.name)
    if not args.no_install:
        data.check_writable(paths.user_styles_dir())
    from training import train

    overrides = {option: getattr(args, option) for option in RECIPE_OPTIONS}
    if args.no_stability:
        overrides["stability"] = False
    if args.late_stability:
        overrides["late_stability"] = True
    job = train.Job(name=args.name, style_image=args.style_image, data=args.data, temporal_data=args.temporal_data,
                    device=args.device, resume=args.resume, restart=args.restart, vgg_weights=args.vgg_weights,
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

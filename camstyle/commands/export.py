"""Export a training checkpoint to ONNX and install it as a style.

  camstyle export starry_night                        the run's latest checkpoint, same name
  camstyle export path/to/checkpoint.pt --name starry_v2

The model is checked against PyTorch with onnxruntime before it is installed; a running
`camstyle run` picks it up by name (--style NAME, the next-style hotkey or `camstyle ctl`).
"""

from __future__ import annotations

import argparse
import importlib.util

HELP = "export a training checkpoint to ONNX and install it as a style"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="a checkpoint.pt file or a run name")
    parser.add_argument("--name", help="style name (default: the run's name)")
    parser.add_argument("--title", help="override the title in the metadata")
    parser.add_argument("--artist", help="override the artist")
    parser.add_argument("--year", type=int, help="override the year")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from camstyle import paths
    from camstyle.errors import CamStyleError

    given = Path(args.checkpoint)
    if not given.is_file() and not (paths.data_dir() / "runs" / given.name / "checkpoint.pt").is_file():
        raise CamStyleError(f"Checkpoint {given} does not exist.",  # said before the slow torch import
                            f"Pass a checkpoint file or a run name; runs are in {paths.data_dir() / 'runs'}.")
    if importlib.util.find_spec("torch") is None:
        raise CamStyleError("Exporting needs PyTorch, which is not installed.",
                            'Install the training extras: pip install "camstyle[train]".')
    from rich.console import Console

    from camstyle.training import checkpoint, export

    state = checkpoint.load(args.checkpoint)
    result = export.export_checkpoint(state, args.name, {"title": args.title, "artist": args.artist, "year": args.year})
    done = "" if state.get("finished") else f" (an unfinished run: step {state['step']} of {state.get('total_steps', '?')})"
    Console(highlight=False).print(
        f"Installed style [bold]{result.style.name}[/]{done} as {result.style.model_path}\n"
        f"ONNX vs PyTorch max abs difference: {result.max_abs_diff:.1e}. Use it: camstyle run --style {result.style.name}")
    return 0

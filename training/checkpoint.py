"""Training runs on disk: paths.data_dir()/runs/NAME holds checkpoint.pt, preview.jpg,
previews/step_NNNNNN.jpg and log.jsonl.

A checkpoint is one dict saved atomically with torch.save: the recipe, the step, the network,
the optimizer, the loss-weight and random-number states (so a resumed run continues exactly),
the style's metadata and a few fixed images for previews and export checks.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from camstyle import atomic, paths
from camstyle.errors import CamStyleError

FORMAT = 1
FILE = "checkpoint.pt"
# Recipe fields added after FORMAT 1, with what the runs saved before them were trained with.
LEGACY_RECIPE = {"output": "linear", "range_weight": 0.0, "temporal_settle": 0, "noise_settle": 0, "white_weight": 0.0,
                 "camera_shake": 0.0, "video_content_weight": None, "pair_scale": 1.25,
                 "photo_every": 0, "cell_weight": 0.0, "cell_calibrate": False,
                 "tone_weight": 0.0, "minutes": 0.0, "anneal_steps": 0, "video_style_layers": None}


def run_dir(name: str) -> Path:
    return paths.data_dir() / "runs" / name


def checkpoint_path(name: str) -> Path:
    return run_dir(name) / FILE


def save(path: Path, state: dict) -> None:
    buffer = io.BytesIO()
    torch.save({**state, "format": FORMAT}, buffer)
    atomic.write_bytes(path, buffer.getvalue())


def load(path: str | Path) -> dict:
    """A checkpoint from a file, or from a run name; clear errors for anything else."""
    path = Path(path)
    if not path.is_file() and path.suffix == "" and checkpoint_path(path.name).is_file():
        path = checkpoint_path(path.name)
    if not path.is_file():
        raise CamStyleError(f"Checkpoint {path} does not exist.",
                            f"Pass a checkpoint file or a run name; runs are in {run_dir('NAME').parent}.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        raise CamStyleError(f"{path} is not a readable checkpoint ({type(exc).__name__}).",
                            "It may be incomplete or damaged; use another checkpoint or train again.") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT or "model" not in state or "recipe" not in state:
        raise CamStyleError(f"{path} is not a CamStyle training checkpoint.",
                            "Pass a checkpoint.pt written by `camstyle train`.")
    state["recipe"] = {**LEGACY_RECIPE, **state["recipe"]}
    return state

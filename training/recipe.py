"""What a run learns: the Recipe (every default in one place), recipe files
(training/recipes/*.toml, a shipped style's JSON recipe too), --set values, and what --resume
may change."""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from camstyle.errors import CamStyleError
from camstyle.stylize.architectures import ARCHITECTURES, DEFAULT_ARCHITECTURE, DEFAULT_OUTPUT, OUTPUTS
from camstyle.training.vgg import LAYERS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class Recipe:
    """Everything that decides what a run learns: the defaults here are the CPU recipe, and a
    recipe file (training/recipes/*.toml) changes some of them. --resume refuses to change it,
    but for the step counts and, until the video stage starts, that stage's settings (VIDEO_STAGE).
    The measurements behind the defaults are in docs/research/ (cited by file name)."""
    recipe_file: str = "default"      # the file this recipe started from (training/recipes/NAME.toml)
    architecture: str = DEFAULT_ARCHITECTURE
    output: str = DEFAULT_OUTPUT      # linear, or clip: what the losses see (camstyle/stylize/architectures.py)
    init: str = ""                    # the weights it starts from: "" random, an installed style's name, or "auto",
                                      # the installed style nearest the painting (training/warm_start.py)
    steps: int = 2800                 # stage 1 (images), at most: about 1 s a step on 2 CPU cores
    min_steps: int = 1400             # ... and at least, where `minutes` shortens it
    minutes: float = 45.0             # the run aims to end within this (0: off): after its first steps it shortens
                                      # the image stage to what fits on this machine, not below min_steps, and
                                      # records 0 and the steps it chose, so its saved recipe trains them again.
                                      # Longer paints more (docs/research/image-stage-budget.md)
    temporal_steps: int = 900         # stage 2 (video pairs, about 1.2 s a step, and photos); skipped when there are no videos
    size: int = 256                   # training crop, px (multiple of 8): webcam scale at 640x360
    batch: int = 1
    style_size: int = 384             # the painting's longer side for the style targets, px
    lr: float = 1e-3                  # Adam, constant but for the anneal below
    anneal_steps: int = 0             # over the run's last this many steps the rate falls linearly towards 0. 0: off;
                                      # over the video stage's last 300 it moved the style cost either way at the same
                                      # flicker, within the swing of a constant rate (docs/research/video-stage-anneal.md)
    style_weight: float = 3.0
    style_layers: tuple = (1.0, 1.0, 1.0, 1.0)  # relu1_2, relu2_2, relu3_3, relu4_3; also the weights every
                                      # network's style loss is measured with (camstyle eval)
    video_style_layers: tuple | None = None  # the video stage's (None: style_layers). The deep layers weighted twice
                                      # there cut the style cost, paid in steadiness or outlines: the same trade as
                                      # the other weights (docs/research/video-stage-deep-layers.md)
    content_weight: float = 3.0       # sharp_fine paints hard enough to lose faces at 1 (docs/research/sharp-fine-head.md)
    video_content_weight: float | None = None  # the video stage's content weight (None: content_weight); at half
                                      # of it sharp_fine painted streaks across faces (docs/research/face-streaks.md)
    content_layer: str = "relu2_2"
    colour_weight: float = 1.0
    contrast_weight: float = 30.0     # the painting's colour covariance: a flat output is the most stable one,
                                      # so without it the stability terms fade the style towards a grey wash
    tv_weight: float = 3.0           # suppresses stripes the VGG cannot see
    cell_weight: float = 5.0          # against texture locked to the network's stride cells, stripes in flat areas
                                      # (losses.cell_pattern; docs/research/cell-pattern.md). Kept low because the
                                      # term's price is paid in faces: weights of 11-20 cost them 3-35 % of their edges
    cell_calibrate: bool = True       # cell_weight is then a ceiling: the weight starts at 0 and rises while the
                                      # output has more of that pattern than the photo it paints, then holds
                                      # (weights.CellWeight), so a painting that needs less gets less
    cell_allowance: float = 2.0       # ... allowing this many times the photo's own: networks free of stripes at
                                      # 720p sit at 1.1-2.0 times it, those trained without the term at 2.9-22
    tone_weight: float = 10.0         # keeps the photo's coarse light and dark in order (losses.tone_order): networks
                                      # that invert them paint lit faces dark brown or navy. A hinge, 0 while the
                                      # order holds, so it only acts on a network on its way to the negative
                                      # (docs/research/tone-order.md)
    range_weight: float = 1000.0      # keeps the raw output within 0..1, where the camera clips it (losses.out_of_range)
    white_weight: float = 3000.0      # with the stability terms: holds lit faces off pure white (losses.white_patches)
    stability: bool = True            # False: the per-frame baseline (no noise, no temporal loss)
    late_stability: bool = True       # the image stage trains as the baseline does; the noise and temporal terms
                                      # join in the video stage: the network first learns the painting's strokes,
                                      # then to hold them still. Without videos the noise term joins from the start.
    noise_weight: float | None = None  # None: automatic, the term is noise_share of the loss
    noise_share: float = 0.1
    noise_settle: int = 20            # its weight holds still after this many updates (0: follows the term; AutoWeight).
                                      # It joins a trained network in the video stage, where a weight that kept
                                      # following the term ran away (docs/research/pack-retrain-sharp-fine.md)
    noise_fraction: float = 0.003
    noise_amplitude: float = 30 / 255
    temporal_weight: float | None = None  # None: automatic, the term is temporal_share of the loss
    temporal_share: float = 0.02      # ... at the start of the temporal stage (0.3 flattened the strokes: sharp-fine-head.md)
    temporal_settle: int = 20         # its weight settles after this many steps (0: follows the term; AutoWeight)
    temporal_pairs: int = 100         # frame pairs taken from each video
    pair_scale: float = 1.25          # the pairs' frames are resized to a short side of pair_scale x size
                                      # (2: the image stage's scale; no clear gain, docs/research/video-stage-scale-and-probes.md)
    photo_every: int = 2              # in the video stage every Nth step is a batch of photos (image-stage losses and
                                      # the noise term) instead of video pairs, so that the network does not forget the
                                      # painting on a few clips (0: video pairs only; docs/research/photo-replay.md)
    camera_shake: float = 0.5         # share of video pairs made by moving a frame as a hand-held camera does
                                      # (data.camera_move): holds strokes still on a shaking background
    moved_photos: float = 0.0         # share of the video stage's photo steps that pair the photo with itself moved
                                      # that way, with the temporal term, so the stability terms see every kind of
                                      # picture, not only the training clips': steadier at 0-20 points more style
                                      # loss, which not every painting can spare (docs/research/moved-photos.md)
    seed: int = 0


RECIPE = Recipe()


# A video-stage step costs about this many image steps: half of them are video pairs, three
# pictures through the network and the temporal term, the other half photos with the noise term.
VIDEO_STEP_COST = 1.2


def fit_to_minutes(recipe: Recipe, spent_s: float, step_s: float, done: int, temporal_steps: int) -> Recipe:
    """`recipe` with its image stage shortened, where need be, so that a run `done` image steps and
    `spent_s` seconds in, at `step_s` seconds an image step, ends within recipe.minutes; never
    below min_steps (or `done`), never longer. Its minutes become 0: it now says how long it trains."""
    left_s = recipe.minutes * 60 - spent_s - step_s * VIDEO_STEP_COST * temporal_steps
    fits = done + int(max(left_s, 0) / step_s)
    steps = max(min(recipe.steps, fits), min(recipe.min_steps, recipe.steps), done)
    return dataclasses.replace(recipe, steps=steps, minutes=0.0)


def learning_rate(recipe: Recipe, step: int, total_steps: int) -> float:
    """The rate for the step after `step` steps of a run of `total_steps`: recipe.lr, and over the last
    anneal_steps a linear fall to lr / anneal_steps at the last step."""
    left = total_steps - step
    if recipe.anneal_steps and 0 < left <= recipe.anneal_steps:
        return recipe.lr * left / recipe.anneal_steps
    return recipe.lr


# The noise weight's settle when the term trains from the start (no video stage): on an untrained
# network the term falls by orders of magnitude, so its weight follows it through the image stage
# and holds only where runs twice the default length diverged (docs/research/noise-settle.md).
EARLY_NOISE_SETTLE = 4000


def noise_from_the_start(recipe: Recipe) -> Recipe:
    """`recipe` with the noise term in the image stage; a default noise_settle becomes EARLY_NOISE_SETTLE."""
    settle = EARLY_NOISE_SETTLE if recipe.noise_settle == RECIPE.noise_settle else recipe.noise_settle
    return dataclasses.replace(recipe, late_stability=False, noise_settle=settle)


RECIPE_KEYS = {f.name for f in dataclasses.fields(Recipe)} - {"recipe_file"}  # what files and --set may set


# May change on --resume: to train longer, or on with a fixed temporal weight (a finished style
# that still flickers: the automatic weight, measured on the flickery start, is then too light)
# or with camera shake (one that flickers on a hand-held camera), or with an anneal over the steps it adds.
RESUMABLE = {"steps", "temporal_steps", "noise_settle", "temporal_weight", "camera_shake", "anneal_steps"}


# ... and these, until the video stage starts
VIDEO_STAGE = {"temporal_share", "temporal_settle", "temporal_pairs", "pair_scale", "video_content_weight", "photo_every",
               "moved_photos", "video_style_layers"}


# ... and, with late_stability, the noise term's settings too: it joins in the video stage
LATE_NOISE = {"noise_weight", "noise_share", "noise_settle", "noise_fraction", "noise_amplitude", "white_weight"}


RECIPES_DIR = Path(__file__).parent / "recipes"


def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))


def default_recipe_file(device: torch.device) -> str:
    """The GPU recipe on CUDA, the default one elsewhere (MPS included: too slow for the GPU's)."""
    return "gpu" if device.type == "cuda" else "default"


def read_recipe_file(name_or_path: str) -> dict:
    """A recipe file's values: `name` is a file in training/recipes, anything else a path: a TOML
    recipe, or a style's .json, whose "recipe" is the whole recipe it was trained with (a field
    it lacks was added later, and takes the value that style was trained with: checkpoint.LEGACY_RECIPE)."""
    path = Path(name_or_path)
    if path.suffix not in (".toml", ".json") and "/" not in name_or_path and "\\" not in name_or_path:
        path = RECIPES_DIR / f"{name_or_path}.toml"
    if path.suffix == ".json":
        return _style_recipe(path)
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CamStyleError(f"There is no recipe {name_or_path!r} ({path} does not exist).",
                            f"Pass a recipe file or one of: {', '.join(recipe_names())}.") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CamStyleError(f"The recipe {path} cannot be read: {exc}.", "Fix the file (TOML: key = value lines).") from None
    unknown = sorted(set(values) - RECIPE_KEYS)
    if unknown:
        raise CamStyleError(f"The recipe {path} has unknown keys: {', '.join(unknown)}.",
                            f"Recipe keys are: {', '.join(sorted(RECIPE_KEYS))}.")
    return {**values, "recipe_file": path.stem if path.parent == RECIPES_DIR else str(path)}


def _style_recipe(path: Path) -> dict:
    from camstyle.training.checkpoint import LEGACY_RECIPE

    try:
        recipe = json.loads(path.read_text(encoding="utf-8")).get("recipe")
    except FileNotFoundError:
        raise CamStyleError(f"There is no style file {path}.", "Give a style's .json (see `camstyle styles`) or a recipe file.") from None
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as exc:
        raise CamStyleError(f"The style file {path} cannot be read: {exc}.", "Give a style's .json or a TOML recipe file.") from None
    if not isinstance(recipe, dict):
        raise CamStyleError(f"The style file {path} has no recipe.",
                            "Only styles trained by `camstyle train` record theirs; give a TOML recipe file instead.")
    values = {**LEGACY_RECIPE, **recipe}
    return {**{key: value for key, value in values.items() if key in RECIPE_KEYS}, "recipe_file": str(path)}


def parse_settings(settings: list[str]) -> dict:
    """`--set key=value` pairs; each value is read as TOML (3000, 0.5, true, [1, 1, 1, 1]) or else as text."""
    values = {}
    for item in settings:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in RECIPE_KEYS:
            raise CamStyleError(f"--set {item!r} is not key=value with a recipe key.",
                                f"Recipe keys are: {', '.join(sorted(RECIPE_KEYS))}.")
        try:
            values[key] = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            values[key] = text.strip()
    return values


# The recipe values that may be None (a weight set automatically, or the image stage's value), each
# with the form it takes otherwise
OPTIONAL = {"noise_weight": 0.0, "temporal_weight": 0.0, "video_content_weight": RECIPE.content_weight,
            "video_style_layers": RECIPE.style_layers}


def coerce(key: str, value):
    """A recipe value of the field's type (ints pass as floats), or one clear error."""
    if key in OPTIONAL and value is None:
        return None
    default = OPTIONAL.get(key, getattr(RECIPE, key))
    ok = value
    if isinstance(default, bool):
        ok = value if isinstance(value, bool) else None
    elif isinstance(default, int):
        ok = value if isinstance(value, int) and not isinstance(value, bool) else None
    elif isinstance(default, float):
        ok = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    elif isinstance(default, str):
        ok = value if isinstance(value, str) else None
    elif isinstance(default, tuple):
        ok = tuple(float(v) for v in value) if isinstance(value, (list, tuple)) and len(value) == len(default) \
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value) else None
    if ok is None:
        kind = f"a list of {len(default)} numbers, e.g. {list(default)}" if isinstance(default, tuple) else \
            {bool: "true or false", int: "a whole number", float: "a number"}.get(type(default), "text")
        raise CamStyleError(f"Invalid training options: {key} = {value!r} is not {kind}.", "See `camstyle train --help`.")
    return ok


def resolve_recipe(overrides: dict, previous: dict | None, name: str, recipe_file: str | None = None) -> Recipe:
    """RECIPE with the recipe file's values and the command's options; on --resume the run's
    recipe, which they may not change."""
    known = {f.name for f in dataclasses.fields(Recipe)}
    base, named = RECIPE, set(overrides)
    if recipe_file and not previous:
        from_file = read_recipe_file(recipe_file)
        base = dataclasses.replace(RECIPE, **{k: coerce(k, v) for k, v in from_file.items()})
        named |= set(from_file)
    if previous:
        base = dataclasses.replace(RECIPE, **{k: tuple(v) if isinstance(v, list) else v  # lists: as saved in a .json
                                              for k, v in previous["recipe"].items() if k in known})
    overrides = {k: coerce(k, v) for k, v in overrides.items() if v is not None}
    if previous:
        free = set(RESUMABLE)
        if previous["step"] <= base.steps:
            free |= VIDEO_STAGE | (LATE_NOISE if base.late_stability else set())
        changed = [f"{k}={getattr(base, k)!r} (asked: {v!r})" for k, v in overrides.items()
                   if k not in free and getattr(base, k) != v]
        if changed:
            raise CamStyleError(f"Run '{name}' was trained with a different recipe: {', '.join(changed)}.",
                                "Drop those options to continue it, add --restart to start it over with them, or pick another --name.")
    recipe = dataclasses.replace(base, **overrides)
    if "steps" in named and "minutes" not in named:  # steps asked for are trained, however long (--resume too)
        recipe = dataclasses.replace(recipe, minutes=0.0)
    if not recipe.stability and "late_stability" not in overrides:  # the baseline: no stability terms, early or late
        recipe = dataclasses.replace(recipe, late_stability=False)
    elif recipe.stability and not recipe.late_stability and not previous:
        recipe = noise_from_the_start(recipe)
    problems = []
    if recipe.architecture not in ARCHITECTURES:
        problems.append(f"architecture must be one of {', '.join(ARCHITECTURES)}")
    if recipe.output not in OUTPUTS:
        problems.append(f"the output must be one of {', '.join(OUTPUTS)}")
    if recipe.size < 16 or recipe.size % 8:
        problems.append("size must be a multiple of 8, at least 16 (e.g. 192 or 256)")
    if recipe.content_layer not in LAYERS:
        problems.append(f"the content layer must be one of {', '.join(LAYERS)}")
    counts = (recipe.steps, recipe.min_steps, recipe.temporal_steps, recipe.noise_settle, recipe.temporal_settle,
              recipe.photo_every, recipe.minutes, recipe.anneal_steps)
    if min(recipe.batch, recipe.style_size) < 1 or not min(counts) >= 0:  # NaN minutes too
        problems.append("batch and style_size must be positive, steps, min_steps, temporal_steps, noise_settle, "
                        "temporal_settle, photo_every, minutes and anneal_steps not negative")
    weights = [getattr(recipe, f.name) for f in dataclasses.fields(recipe) if f.name.endswith("_weight")]
    if any(w is not None and w < 0 for w in weights) or recipe.lr <= 0:
        problems.append("weights may not be negative and lr must be positive")
    for layers in ("style_layers", "video_style_layers"):
        values = getattr(recipe, layers)
        if values is not None and not (min(values) >= 0 and sum(values) > 0):  # NaN too
            problems.append(f"{layers} are the VGG layers' weights: none negative, not all 0")
    if min(recipe.noise_share, recipe.temporal_share) < 0 or recipe.noise_share + recipe.temporal_share >= 1:
        problems.append("noise_share and temporal_share may not be negative and must add up to less than 1")
    if not 0 <= recipe.camera_shake <= 1:
        problems.append("camera_shake is a share of the video pairs, from 0 to 1")
    if not 0 <= recipe.moved_photos <= 1:
        problems.append("moved_photos is a share of the video stage's photo steps, from 0 to 1")
    if not recipe.cell_allowance >= 1:  # NaN too
        problems.append("cell_allowance (how many times a photo's own cells' pattern the output may have) must be at least 1")
    if recipe.photo_every == 1:
        problems.append("photo_every = 1 would leave no video pairs: use 0 (pairs only) or 2 and up")
    if not 1 <= recipe.pair_scale <= 4:
        problems.append("pair_scale (the video frames' short side over the crop) must be from 1 to 4")
    if recipe.late_stability and not recipe.stability:
        problems.append("late_stability adds the stability terms late, --no-stability leaves them out: use one")
    if problems:
        raise CamStyleError("Invalid training options: " + "; ".join(problems) + ".",
                            "See `camstyle train --help`.")
    return recipe

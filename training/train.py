"""`camstyle train`: learn a stabilized transform network for one painting, then install it.

Stage 1, on photos (and stills from videos): the balanced style loss, content, colour statistics,
the painting's contrast and total variation, plus the noise stability loss of Mur.AI: the same batch is stylized with
and without sparse noise (0.3% of pixels, +-30/255) and the two outputs must agree.
Stage 2, only when videos are given: fine-tuning on consecutive frame pairs, where stylized
frame t must match stylized frame t-1 warped along the (DIS) optical flow, outside occlusions;
every photo_every-th step is a batch of photos instead, so that the network keeps the painting
it learned rather than drifting towards what suits the few training clips (with moved_photos,
each photo paired with itself moved as a hand-held camera moves it, under the temporal term too).
With late_stability (the default), stage 1 is the per-frame baseline's, step for step, and
the noise term joins the temporal one in stage 2: the network first learns the painting's strokes,
then learns to hold them still, rather than learning from the start that a flat area is the
steadiest one (docs/research/late-stability.md measures both). Without videos the noise term trains in stage 1.
An optional guard (white_weight) joins the stability terms: they drift towards the steadiest
picture of a lit face, a flat white patch, and the guard holds its darkest channel under 240/255.
Another (tone_weight) works in both stages: zero while the output's coarse light and dark follow
the photo's, it keeps a network out of the inverted picture, lit faces dark (losses.tone_order).

The noise and temporal weights adapt automatically unless given (noise_weight, temporal_weight),
since a fixed weight would be right for one painting and wrong for the next: the style terms'
scale depends on the painting. Every step each weight is set from this step's perceptual loss and
a running (geometric) mean of its own term, so that the term is about `share` of the total loss.
The temporal term's mean settles after the video stage's first 20 steps: from then on its weight
follows the perceptual loss only, and the term falls until its pull balances the style's. Had it
kept following its falling term, its pull would grow without end and flatten the picture. The
noise weight holds still after its first 20 updates: a weight that scales with the loss feeds back
on itself (docs/research/noise-settle.md), and one that followed the noise term through the video
stage ran away and washed a painting out (docs/research/pack-retrain-sharp-fine.md). When the noise
term trains from the start, on an untrained network, its weight follows it for 4000 steps. Should a run still
blow up, training/rollback.py puts back the weights of a hundred or so steps before and goes on.
The cells' pattern term (texture locked to the network's stride grid) has a weight that calibrates
itself too: it rises from 0, up to a low ceiling, only while the output has clearly more of that
pattern than the photo it paints, then holds.

A run starts from random weights, or from an installed style's network (recipe `init`,
training/warm_start.py): the quick recipe moves the nearest style to the new painting in short stages.

Every default is in RECIPE, and recipe files (training/recipes/*.toml) change some of them; a run
folder holds checkpoints, preview grids, log.jsonl and, for a late-stability run, baseline.pt.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import random
import signal
import sys
import threading
import time
import types
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from camstyle import atomic, paths
from camstyle.errors import CamStyleError, DeviceError
from camstyle.training import checkpoint, data, warm_start
from camstyle.training import losses as L
from camstyle.training.networks import build_network
from camstyle.training.recipe import Recipe, default_recipe_file, fit_to_minutes, learning_rate, noise_from_the_start, resolve_recipe
from camstyle.training.rollback import Rollback, SpikeClip
from camstyle.training.vgg import VGGFeatures, load_vgg
from camstyle.training.weights import AutoWeight, CellWeight

# A run that aims to end in time (recipe.minutes) times this many steps after the first few (15 %
# slower: allocations, caches), then fits its image stage.
WARM_UP_STEPS, TIMED_STEPS = 10, 30
BASELINE_FILE = "baseline.pt"  # in the run folder: the checkpoint at the end of a late-stability run's image stage


@dataclass
class Job:
    """What to train and where: everything that is not the recipe."""
    name: str
    style_image: Path
    data: list[Path] = field(default_factory=list)           # empty: the Pictures folder
    temporal_data: list[Path] = field(default_factory=list)
    device: str = "auto"
    resume: bool = False
    restart: bool = False
    vgg_weights: Path | None = None
    recipe_file: str | None = None     # None: training/recipes/gpu.toml on CUDA, default.toml elsewhere
    preview_every: int = 250
    checkpoint_every: int = 500
    checkpoint_minutes: float = 2.0   # also save this often (0: off), so a killed run loses little
    log_every: int = 10
    threads: int = 0                  # 0: os.cpu_count()
    title: str = ""
    artist: str = ""
    year: int | None = None
    install: bool = True


class Diverged(Exception):
    """A step's loss was not a number: the step is not taken (rollback.Rollback goes back)."""


class TrainingInterrupted(Exception):
    def __init__(self, step: int, path: Path):
        super().__init__(f"interrupted at step {step}")
        self.step, self.path = step, path


# -- set-up: checks that fail fast, before minutes of loading -------------------------------------


def pick_device(requested: str) -> torch.device:
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps and mps.is_available())
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise DeviceError(f"--device cuda: PyTorch {torch.__version__} ({build}) sees no usable NVIDIA GPU.",
                          "Use --device cpu, or check the driver with nvidia-smi and install a matching CUDA build of PyTorch.")
    if requested == "mps" and not has_mps:
        raise DeviceError("--device mps: Apple's Metal backend is not available here.", "Use --device cpu (or cuda).")
    return torch.device(requested)


@contextlib.contextmanager
def stop_on_ctrl_c():
    """First Ctrl+C: finish the current step, save and stop. A second one stops at once."""
    flag = types.SimpleNamespace(requested=False)
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        if flag.requested:
            raise KeyboardInterrupt
        flag.requested = True
        print("\nStopping after this step to save a checkpoint (Ctrl+C again stops at once)...", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def to_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).to(device)


class StepTimer:
    """Seconds a step takes, timed over TIMED_STEPS steps after WARM_UP_STEPS of this process."""

    def __init__(self, first_step: int):
        self.first_step, self.timed_from = first_step, None

    def seconds_a_step(self, step: int) -> float | None:
        """Called after each step: the answer once, when the timed steps are done; else None."""
        if step - self.first_step == WARM_UP_STEPS:
            self.timed_from = time.monotonic()
        elif step - self.first_step == WARM_UP_STEPS + TIMED_STEPS and self.timed_from is not None:
            return (time.monotonic() - self.timed_from) / TIMED_STEPS
        return None


# -- the training step ----------------------------------------------------------------------------

class Trainer:
    """The network, its loss network and optimizer, and one step of either stage."""

    def __init__(self, recipe: Recipe, vgg: VGGFeatures, style_rgb: np.ndarray, device: torch.device):
        self.recipe, self.device = recipe, device
        torch.manual_seed(recipe.seed)
        self.net = build_network(recipe.architecture, recipe.output).to(device)
        self.vgg = vgg.to(device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=recipe.lr)
        self.amp = None
        if device.type == "cuda":  # bf16 where the GPU has it, else fp16 with a loss scaler
            self.amp = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp is torch.float16)
        self.rng = random.Random(recipe.seed)  # data sampling
        self.noise_rng = torch.Generator(device=device)
        self.noise_rng.manual_seed(recipe.seed + 1)
        self.layer_weights = dict(zip(L.STYLE_LAYERS, recipe.style_layers))
        self.video_layer_weights = dict(zip(L.STYLE_LAYERS, recipe.video_style_layers or recipe.style_layers))
        style = to_tensor(data.to_chw([style_rgb]), device)
        with torch.no_grad():
            feats = self.vgg(style)
            self.grams = {k: L.gram(feats[k].float()) for k in L.STYLE_LAYERS}
            self.colour_target = L.colour_stats(style)
            self.contrast_target = L.colour_covariance(style)
        self.noise_weight = AutoWeight(recipe.noise_share, recipe.noise_weight, settle=recipe.noise_settle, hold=True)
        self.temporal_weight = AutoWeight(recipe.temporal_share, recipe.temporal_weight, settle=recipe.temporal_settle)
        self.cell_weight = CellWeight(recipe.cell_weight, recipe.cell_calibrate, recipe.cell_allowance)
        self.spike_clip = SpikeClip()

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp) if self.amp else contextlib.nullcontext()

    def step(self, batch: tuple[np.ndarray, ...], video_stage: bool = False) -> dict[str, float]:
        """One optimizer step on (images,) or (prev, current, flow, mask); returns the loss terms.
        In the video stage (`video_stage`) photos get the noise term too, as video pairs do, and the style
        loss weighs its layers by video_style_layers where the recipe sets them."""
        r = self.recipe
        video = len(batch) == 4
        x = to_tensor(batch[1] if video else batch[0], self.device)
        inputs = [x]
        noisy = r.stability and (video or video_stage or not r.late_stability)
        if noisy:
            inputs.append(L.sparse_noise(x, r.noise_fraction, r.noise_amplitude, generator=self.noise_rng))
        if video:
            inputs.append(to_tensor(batch[0], self.device))
        self.net.train()
        with self.autocast():
            outputs = self.net(torch.cat(inputs)).float().chunk(len(inputs))
            feats = self.vgg(outputs[0])
            with torch.no_grad():
                content = self.vgg(x, upto=r.content_layer)
        y = outputs[0]
        feats = {k: v.float() for k, v in feats.items()}
        layer_weights = self.video_layer_weights if video_stage else self.layer_weights
        terms = {"style": L.style_loss(feats, self.grams, layer_weights),
                 "content": L.content_loss(feats, {r.content_layer: content[r.content_layer].float()}, r.content_layer),
                 "colour": L.colour_loss(y, self.colour_target),
                 "tv": L.total_variation(y)}
        content_weight = r.video_content_weight if video and r.video_content_weight is not None else r.content_weight
        total = (r.style_weight * terms["style"] + content_weight * terms["content"]
                 + r.colour_weight * terms["colour"] + r.tv_weight * terms["tv"])
        if r.contrast_weight:
            terms["contrast"] = L.contrast_loss(y, self.contrast_target)
            total = total + r.contrast_weight * terms["contrast"]
        weights = {}
        if r.cell_weight:
            terms["cell"] = L.cell_pattern(y)
            with torch.no_grad():
                terms["cell_photo"] = L.cell_pattern(x)
            weights["cell_weight"] = self.cell_weight(terms["cell"].item(), terms["cell_photo"].item())
            total = total + weights["cell_weight"] * terms["cell"]
        if r.tone_weight:
            terms["tone"] = L.tone_order(y, x)
            total = total + r.tone_weight * terms["tone"]
        if r.range_weight:
            terms["range"] = L.out_of_range(y)
            total = total + r.range_weight * terms["range"]
        if noisy and r.white_weight:
            terms["white"] = L.white_patches(y, x)
            total = total + r.white_weight * terms["white"]
        rest, extra = total.item(), []
        if noisy:
            extra.append(("stability", L.stability_loss(y, outputs[1]), self.noise_weight, "noise_weight"))
        if video:
            flow, mask = to_tensor(batch[2], self.device), to_tensor(batch[3], self.device)
            extra.append(("temporal", L.temporal_loss(y, outputs[-1], flow, mask), self.temporal_weight, "temporal_weight"))
        auto_shares = sum(w.share for _, _, w, _ in extra if w.auto)
        for name, term, weight, label in extra:
            terms[name] = term
            weights[label] = weight(term.item(), rest, auto_shares)
            total = total + weights[label] * term
        values = {"loss": total.item(), **{k: v.item() for k, v in terms.items()}, **weights}
        if not np.isfinite(values["loss"]):
            raise Diverged(f"the loss is {values['loss']}")
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        self.scaler.unscale_(self.opt)
        values["clipped"] = float(self.spike_clip([p for p in self.net.parameters() if p.grad is not None]))
        self.scaler.step(self.opt)
        self.scaler.update()
        return values

    @torch.no_grad()
    def stylize(self, images: torch.Tensor) -> torch.Tensor:
        self.net.eval()
        return self.net(images.to(self.device).float()).clamp(0, 1).cpu()

    def state_dict(self) -> dict:
        return {"model": self.net.state_dict(), "optimizer": self.opt.state_dict(), "scaler": self.scaler.state_dict(),
                "auto_weights": {"noise": self.noise_weight.state_dict(), "temporal": self.temporal_weight.state_dict(),
                                 "cell": self.cell_weight.state_dict()},
                "spike_clip": self.spike_clip.state_dict(),
                "rng": {"data": self.rng.getstate(), "noise": self.noise_rng.get_state()}}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        if state["scaler"]:  # empty when saved without fp16 (CPU, bf16)
            self.scaler.load_state_dict(state["scaler"])
        self.noise_weight.load_state_dict(state["auto_weights"]["noise"])
        self.temporal_weight.load_state_dict(state["auto_weights"]["temporal"])
        self.cell_weight.load_state_dict(state["auto_weights"].get("cell", {}))  # runs saved before it: from 0
        self.spike_clip.load_state_dict(state.get("spike_clip", {}))  # runs saved before it: an empty history
        self.rng.setstate(state["rng"]["data"])
        with contextlib.suppress(RuntimeError):  # saved on another kind of device: keep the fresh seed
            self.noise_rng.set_state(state["rng"]["noise"])


# -- previews and logs ----------------------------------------------------------------------------

def preview_grid(contents: torch.Tensor, stylized: torch.Tensor, painting: np.ndarray) -> np.ndarray:
    """Rows of content | stylized, then the painting: BGR uint8, ready to encode."""
    def rgb8(t: torch.Tensor) -> np.ndarray:
        return (t.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)

    rows = [np.concatenate([rgb8(c), rgb8(s)], axis=1) for c, s in zip(contents, stylized)]
    h, w = rows[0].shape[:2]
    k = min(w / painting.shape[1], h / painting.shape[0])
    art = cv2.resize(painting, (max(1, int(painting.shape[1] * k)), max(1, int(painting.shape[0] * k))), interpolation=cv2.INTER_AREA)
    row = np.full((h, w, 3), 24, np.uint8)
    y, x = (h - art.shape[0]) // 2, (w - art.shape[1]) // 2
    row[y:y + art.shape[0], x:x + art.shape[1]] = art
    return cv2.cvtColor(np.concatenate(rows + [row], axis=0), cv2.COLOR_RGB2BGR)


def write_jpeg(path: Path, bgr: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if ok:
        atomic.write_bytes(path, encoded.tobytes())


def trim_log(path: Path, last_step: int) -> None:
    """On resume, drop log lines from steps after the checkpoint: they are about to be redone."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= last_step]
    atomic.write_text(path, "".join(line + "\n" for line in kept))


def counter(status, what: str):
    """A progress callback that shows `what: done of total` on a rich status line."""
    return lambda done, total: status.update(f"{what}: {done} of {total}...")


def plain_progress(step: int, total: int, stage: str, elapsed_s: float, done_here: int) -> str:
    """The head of a progress line where there is no terminal for the bar (a log file, a pipe):
    the step, the stage, the minutes spent in this process and, from its pace so far, those left."""
    head = f"step {step}/{total} {'video' if stage == 'temporal' else stage} stage, {elapsed_s / 60:.1f} min"
    if 0 < done_here and step < total:
        head += f", about {elapsed_s / done_here * (total - step) / 60:.0f} min left"
    return head + "  "


def describe(values: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.3g}" for k, v in values.items()
                     if isinstance(v, float) and not k.endswith("_weight") and k not in ("time_s", "clipped"))


# -- the run --------------------------------------------------------------------------------------

def train(job: Job, overrides: dict | None = None, vgg: VGGFeatures | None = None, console=None) -> dict:
    """Train (or continue) job.name; save checkpoints; install the style. Returns the final checkpoint.

    Raises TrainingInterrupted after saving when stopped with Ctrl+C."""
    from rich.console import Console

    began = time.monotonic()
    console = console or Console(highlight=False, soft_wrap=True)
    run = checkpoint.run_dir(job.name)
    ckpt_path = run / checkpoint.FILE
    previous = None
    if job.resume:
        if not ckpt_path.is_file():
            raise CamStyleError(f"There is no run '{job.name}' to resume ({ckpt_path} does not exist).",
                                "Start it without --resume.")
        previous = checkpoint.load(ckpt_path)
    elif ckpt_path.is_file() and not job.restart:
        raise CamStyleError(f"A run named '{job.name}' already exists in {run}.",
                            "Add --resume to continue it, --restart to start it over, or pick another --name.")
    device = pick_device(job.device)
    recipe = resolve_recipe(overrides or {}, previous, job.name, job.recipe_file or default_recipe_file(device))
    if not previous:
        warm_start.check_init(recipe.init, recipe.architecture)

    style_rgb = data.load_style_image(Path(job.style_image), recipe.style_size)
    sha = file_sha256(Path(job.style_image))
    if previous and previous["style"]["sha256"] != sha:
        raise CamStyleError(f"Run '{job.name}' was trained on another painting than {job.style_image}.",
                            "Pass the same style image to --resume, or use --restart or another --name.")
    data.check_writable(run)
    run.mkdir(parents=True, exist_ok=True)
    if job.install:
        from camstyle.training.export import check_exporter

        data.check_writable(paths.user_styles_dir())
        check_exporter()
    torch.set_num_threads(job.threads or os.cpu_count() or 1)

    if previous and not job.data and not job.temporal_data:  # --resume alone: the run's own data
        sources = previous.get("sources", {})
        job = dataclasses.replace(job, data=[Path(p) for p in sources.get("data", [])],
                                  temporal_data=[Path(p) for p in sources.get("temporal_data", [])])
    images, videos = data.training_files(job.data, job.temporal_data)
    temporal_videos = sorted(set(videos) | set(data.collect_files(job.temporal_data)[1]))
    if recipe.late_stability and not temporal_videos and not previous:
        # Nothing to hold still in a video stage: the noise term joins from the start instead.
        recipe = noise_from_the_start(recipe)
        console.print("No videos: the noise stability term trains from the start (add clips with --temporal-data "
                      "for the video stage, which holds strokes still on moving pictures).")
    if vgg is None:
        with console.status("Loading the VGG16 loss network..."):
            vgg = load_vgg(job.vgg_weights, say=console.print)
    with console.status("Reading training files...") as status:
        dataset = data.ImageDataset(images, videos, recipe.size, seed=recipe.seed,
                                    progress=counter(status, "Reading training files"))
    pairs = None
    if recipe.stability and recipe.temporal_steps and temporal_videos:
        with console.status("Computing optical flow (cached)...") as status:
            pairs = data.VideoPairs(temporal_videos, recipe.size, recipe.temporal_pairs,
                                    progress=counter(status, "Computing optical flow (cached): videos done"),
                                    camera_shake=recipe.camera_shake, scale=recipe.pair_scale)
    skipped = len(dataset.skipped) + (len(pairs.skipped) if pairs else 0)
    summary = f"{len(dataset)} training images from {len(images)} image files and {len(videos)} videos"
    if dataset.sampled_from:
        summary += f" (a sample of {dataset.sampled_from} files)"
    console.print(summary + (f"; skipped {skipped} unreadable files" if skipped else ""))
    if pairs:
        console.print(f"{len(pairs)} frame pairs from {len(pairs.clips)} videos for the temporal stage")

    trainer = Trainer(recipe, vgg, style_rgb, device)
    temporal_steps = recipe.temporal_steps if pairs else 0
    total_steps = recipe.steps + temporal_steps
    if previous:
        trainer.load_state_dict(previous)
        fixed = previous["fixed_images"].float() / 255
        meta, step, spent = previous["meta"], previous["step"], previous["training_time_s"]
        trim_log(run / "log.jsonl", step)
        console.print(f"Resuming '{job.name}' at step {step} of {total_steps}" + (" (nothing left to train)" if step >= total_steps else ""))
    else:
        fixed_list = dataset.fixed_images(3, *data.INFERENCE_SIZE)  # previews show what users get
        fixed = torch.from_numpy(np.stack(fixed_list)).permute(0, 3, 1, 2).float() / 255
        meta = {"title": job.title or Path(job.style_image).stem.replace("_", " ").replace("-", " ").title(),
                "artist": job.artist, "year": job.year, "style_image": Path(job.style_image).name,
                "loss_network": vgg.source}
        step, spent = 0, 0.0
        with contextlib.suppress(OSError):
            (run / "log.jsonl").unlink()
    if recipe.init and not previous:
        with console.status("Choosing the network to start from..."):
            start, source, scores = warm_start.starting_network(recipe.init, recipe.architecture, recipe.output, trainer.vgg,
                                                                trainer.grams, trainer.layer_weights, fixed.to(device))
        trainer.net.load_state_dict(start.state_dict())
        recipe = dataclasses.replace(recipe, init=source)  # recorded by name: the run can be trained again as it was
        nearest = f" (the nearest to the painting of {len(scores)} installed)" if scores else ""
        console.print(f"Starting from style {source}'s network{nearest}.")
    final_losses = previous.get("final_losses", {}) if previous else {}
    recent: dict[str, deque] = {}
    guard = Rollback(name=job.name, saved_step=step if previous else 0)

    def snapshot(finished: bool) -> dict:
        nonlocal final_losses, saved_at
        if recent:
            final_losses = {k: float(np.mean(v)) for k, v in recent.items()}
        state = {**trainer.state_dict(), "name": job.name, "recipe": dataclasses.asdict(recipe), "step": step,
                 "total_steps": total_steps, "finished": finished, "meta": meta,
                 "style": {"sha256": sha, "file": Path(job.style_image).name},
                 "training_time_s": spent + (time.monotonic() - started), "final_losses": final_losses,
                 "fixed_images": (fixed * 255 + 0.5).to(torch.uint8), "training_size": recipe.size,
                 "data": {"images": len(dataset), "videos": len(temporal_videos), "skipped": skipped,
                          "temporal_pairs": len(pairs) if pairs else 0},
                 "device": device.type,
                 "sources": {"data": [str(Path(p).resolve()) for p in job.data],
                             "temporal_data": [str(Path(p).resolve()) for p in job.temporal_data]}}
        checkpoint.save(ckpt_path, state)
        guard.saved_step = step
        saved_at = time.monotonic()
        return state

    def preview() -> None:
        grid = preview_grid(fixed, trainer.stylize(fixed), style_rgb)
        write_jpeg(run / "previews" / f"step_{step:06d}.jpg", grid)
        write_jpeg(run / "preview.jpg", grid)

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    started = saved_at = time.monotonic()
    timer = StepTimer(step)
    window: dict[str, list[float]] = {}
    plain = not console.is_terminal
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[losses]}")]
    with stop_on_ctrl_c() as stop, Progress(*columns, console=console, disable=plain) as progress:
        task = progress.add_task(job.name, total=total_steps, completed=step, losses="")
        while step < total_steps:
            stage = "image" if step < recipe.steps else "temporal"
            photos = stage == "image" or (recipe.photo_every and (step - recipe.steps + 1) % recipe.photo_every == 0)
            if not photos:
                batch = pairs.batch(recipe.batch, trainer.rng)
            elif stage == "temporal" and recipe.moved_photos and trainer.rng.random() < recipe.moved_photos:
                batch = dataset.moved_batch(recipe.batch, trainer.rng)
            else:
                batch = (dataset.batch(recipe.batch, trainer.rng),)
            for group in trainer.opt.param_groups:
                group["lr"] = learning_rate(recipe, step, total_steps)
            try:
                values = trainer.step(batch, video_stage=stage == "temporal")
            except Diverged as exc:
                back = guard.restore(trainer, str(exc))
            else:
                back = guard.observe(step + 1, values["style"], trainer)
            if back is not None:
                console.print(f"[yellow]The run blew up at step {step + 1}; it goes on from the weights of step {back}.[/]")
                step = back
                trim_log(run / "log.jsonl", step)
                window.clear()
                recent.clear()
                progress.update(task, completed=step)
                continue
            step += 1
            for k, v in values.items():
                window.setdefault(k, []).append(v)
                recent.setdefault(k, deque(maxlen=50)).append(v)
            progress.update(task, completed=step, description=f"{job.name} [{stage}]",
                            losses=describe({k: float(np.mean(v)) for k, v in recent.items()}))
            if step % job.log_every == 0 or step == total_steps:
                line = {"step": step, "stage": stage, "time_s": round(spent + time.monotonic() - started, 2),
                        **{k: float(np.mean(v)) for k, v in window.items()}}
                try:
                    with open(run / "log.jsonl", "a", encoding="utf-8") as log:
                        log.write(json.dumps(line) + "\n")
                except OSError as exc:
                    raise atomic.storage_error(run / "log.jsonl", exc) from None
                window.clear()
                if plain and (step % max(job.log_every, 50) == 0 or step == total_steps):
                    console.print(plain_progress(step, total_steps, stage, time.monotonic() - started,
                                                 step - timer.first_step)
                                  + describe(line), markup=False)
            step_s = timer.seconds_a_step(step) if recipe.minutes and step < recipe.steps else None
            if step_s:
                asked, minutes = recipe.steps, recipe.minutes
                recipe = trainer.recipe = fit_to_minutes(recipe, spent + time.monotonic() - began, step_s, step, temporal_steps)
                if recipe.steps < asked:
                    console.print(f"At {step_s:.2f} s a step here, {asked} image steps would take the run past "
                                  f"{minutes:g} minutes: it trains {recipe.steps} (--set minutes=0 trains them all).")
                total_steps = recipe.steps + temporal_steps
                progress.update(task, total=total_steps)
            if step % job.preview_every == 0 or step == total_steps:
                preview()
            overdue = job.checkpoint_minutes > 0 and time.monotonic() - saved_at >= job.checkpoint_minutes * 60
            if (step % job.checkpoint_every == 0 or overdue) and step < total_steps:
                snapshot(finished=False)
            if step == recipe.steps and temporal_steps and recipe.late_stability:
                # The image stage alone is the per-frame baseline (same network, same budget, no
                # stability terms): kept so that `camstyle eval` can measure what the video stage bought.
                snapshot(finished=False)
                atomic.write_bytes(run / BASELINE_FILE, ckpt_path.read_bytes())
            if stop.requested and step < total_steps:
                snapshot(finished=False)
                raise TrainingInterrupted(step, ckpt_path)
    if total_steps == 0:
        preview()
    state = snapshot(finished=True)
    console.print(f"Trained '{job.name}': {step} steps in {state['training_time_s'] / 60:.1f} min; "
                  f"previews and checkpoint in {run}")
    if job.install:
        from camstyle.training import export

        result = export.export_checkpoint(state, job.name)
        console.print(f"Installed style [bold]{job.name}[/] in {result.style.model_path.parent} "
                      f"(ONNX matches PyTorch to {result.max_abs_diff:.1e}). Use it: camstyle run --style {job.name}")
    return state

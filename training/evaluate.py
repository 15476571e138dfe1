"""`camstyle eval`: how steady and how stylized a style is on real clips.

Per clip, at the style's inference size and through its ONNX model (onnxruntime):
  warping error   Lai et al. (ECCV 2018): E = mean over consecutive pairs of
                  sum(M * ||O_t - warp(O_t-1)||^2) / sum(M), RGB in [0, 1], with the DIS flow
                  and the Ruder et al. occlusion mask M computed on the SOURCE frames. Also
                  reported for the source clip itself and for a --baseline style. The source's
                  own is a yardstick, not a floor: where the picture drifts by sub-pixel steps,
                  a sharp painting that moves exactly with it measures more (flow error times
                  its gradient; docs/research/steadiness-floor.md).
  noise sensitivity  mean |f(x + n) - f(x)| with n ~ N(0, 2/255) per pixel: camera noise.
  shift sensitivity  mean |f(shifted x) - shifted f(x)| over shifts of 1, 2 and 4 px across and
                  down: how much a network repaints a picture that only moved, as a hand-held
                  camera moves it.
  blown highlights  the share of the source's bright subject (Rec. 601 luminance >= 120/255 and
                  not clipped itself: on webcam footage the lit face and hair) that comes out pure
                  white: a face lost to a white patch, which no other measure here sees.
  contrast / colourfulness  with --style-image: the output's luminance spread and its
                  colourfulness (Hasler & Suesstrunk 2003) as ratios to the painting's; 1 is
                  the painting's, far below 1 is the grey wash that a loss curve does not show.
  --steady S      measures what the camera publishes with that steadying (camstyle.stylize.steady) on
                  every network's output, the style's and the baseline's alike; the noise and
                  shift sensitivities stay the network's own.
  style / content loss  the training definitions (VGG16); needs torch, so both are skipped
                  with a note without it. The style loss also needs --style-image PAINTING
                  (styles do not ship their painting).
Only numpy, OpenCV and onnxruntime are needed otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from camstyle.stylize.autosize import round_to
from camstyle.errors import CamStyleError
from camstyle.frames import fit_frame
from camstyle.stylize.steady import Steadier
from camstyle.stylize.styles import StyleInfo
from camstyle.stylize.stylizer import mend_border
from camstyle.training import flow
from camstyle.training.data import INFERENCE_SIZE, evenly, read_video_frames

NOISE_SIGMA = 2 / 255
BRIGHT = 120 / 255    # the bright subject for blown_highlights: the lit face and hair of a webcam picture
CLIPPED = 250 / 255   # a source pixel this bright in any channel is already blown: not the style's doing
WHITE = 254.5 / 255   # an output pixel at least this bright in every channel is pure white (255 on the camera)
VGG_FRAMES = 8        # frames (evenly spread) for the VGG losses and the noise test
PAINTING_SIZE = 512   # the painting's longer side for its contrast and colourfulness


def read_clip(path: str | Path, frames: int, size: tuple[int, int]) -> list[np.ndarray]:
    """The first `frames` consecutive frames, centre-cropped and resized to `size` (RGB uint8)."""
    path = Path(path)
    if not path.is_file():
        raise CamStyleError(f"Video {path} does not exist.", "Pass video files (mp4, avi, mov, mkv, webm).")
    decoded = read_video_frames(path, range(frames))
    out: list[np.ndarray] = []
    while len(out) in decoded:  # consecutive frames only: the warping error compares neighbours
        out.append(fit_frame(decoded[len(out)], *size))
    if len(out) < 2:
        raise CamStyleError(f"{path} is not a readable video with at least 2 frames.",
                            "Pass a video file OpenCV can decode (mp4, avi, mov, mkv, webm).")
    return out


class OnnxStyle:
    """A style's network on float RGB HxWx3 images in 0..1 (no uint8 rounding, unlike the runtime)."""

    def __init__(self, style: StyleInfo, provider: str = "cpu"):
        import onnxruntime as ort

        from camstyle.stylize import providers
        from camstyle.errors import ModelError

        providers.quiet_onnxruntime()
        self.style = style
        try:
            self.session = ort.InferenceSession(str(style.model_path), providers=providers.session_providers(
                providers.select_providers(provider)))
        except Exception as exc:
            raise ModelError(f"The model of style '{style.name}' cannot be loaded: {str(exc).strip()[:160]}.",
                             "Re-export or reinstall the style.") from None
        self.input = self.session.get_inputs()[0].name

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        blob = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32)
        out = self.session.run(None, {self.input: blob})[0][0]
        return mend_border(np.clip(out.transpose(1, 2, 0), 0, 1))  # as the runtime shows it


def warping_error(frames: list[np.ndarray], flows: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Lai et al.'s E_warp of float RGB frames in 0..1 given (flow t->t-1, mask) per pair."""
    errors = []
    for (prev, cur), (fl, mask) in zip(zip(frames, frames[1:]), flows):
        diff = ((cur - flow.warp(prev, fl)) ** 2).sum(-1)
        errors.append(float((mask * diff).sum() / max(mask.sum(), 1.0)))
    return float(np.mean(errors))


def noise_sensitivity(model: OnnxStyle, frames: list[np.ndarray], seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    changes = []
    for frame in frames:
        noisy = np.clip(frame + rng.normal(0, NOISE_SIGMA, frame.shape).astype(np.float32), 0, 1)
        changes.append(float(np.abs(model(noisy) - model(frame)).mean()))
    return float(np.mean(changes))


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.asarray([0.299, 0.587, 0.114], np.float32)


SHIFTS = ((1, 0), (2, 0), (4, 0), (0, 1), (0, 2), (0, 4))  # (x, y) px: a hand-held webcam moves 1-4 px a frame
SHIFT_MARGIN = 16  # px left out at the edges, where the shifted picture shows something else


def shift_sensitivity(model: OnnxStyle, frames: list[np.ndarray]) -> float:
    """Stride-2 layers map only shifts of whole cells onto each other, so a network can paint
    other strokes on a scene moved by a pixel or two: the flicker of a hand-held camera, which
    clips of a still camera hardly show. Whole-pixel shifts: no resampling blur in the measure."""
    changes = []
    m = SHIFT_MARGIN
    for frame in frames:
        h, w = frame.shape[0] - 8, frame.shape[1] - 8  # windows of the frame, still multiples of 8
        still = model(frame[:h, :w])
        for dx, dy in SHIFTS:
            moved = model(frame[dy:dy + h, dx:dx + w])  # moved[p] shows what still[p + shift] shows
            changes.append(float(np.abs(moved[m:h - m - dy, m:w - m - dx] - still[m + dy:h - m, m + dx:w - m]).mean()))
    return float(np.mean(changes))


def blown_highlights(outputs: list[np.ndarray], sources: list[np.ndarray]) -> float | None:
    """Share of the sources' bright, unclipped pixels that the style renders pure white (None: none bright)."""
    blown = bright = 0
    for out, src in zip(outputs, sources):
        subject = (luminance(src) >= BRIGHT) & (src.max(-1) < CLIPPED)
        blown += int((subject & (out.min(-1) >= WHITE)).sum())
        bright += int(subject.sum())
    return blown / bright if bright else None


def contrast(rgb: np.ndarray) -> float:
    """Standard deviation of the Rec. 601 luminance of float RGB in 0..1."""
    return float(luminance(rgb).std())


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Suesstrunk's colourfulness metric of float RGB in 0..1 (0 for any grey image)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg, yb = r - g, (r + g) / 2 - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def palette_ratios(outputs: list[np.ndarray], painting: np.ndarray) -> dict[str, float]:
    """The outputs' mean contrast and colourfulness relative to the painting's."""
    return {"contrast": float(np.mean([contrast(o) for o in outputs])) / max(contrast(painting), 1e-6),
            "colourfulness": float(np.mean([colourfulness(o) for o in outputs])) / max(colourfulness(painting), 1e-6)}


@dataclass
class VGGScorer:
    """Training's style and content losses, or a note saying why they are not available."""
    style_image: Path | None = None
    vgg_weights: Path | None = None
    note: str = ""
    _state: dict = field(default_factory=dict)

    def ready(self) -> bool:
        if self._state or self.note:
            return bool(self._state)
        try:
            import torch
        except ImportError:
            self.note = 'style and content losses skipped: PyTorch is not installed (pip install "camstyle[train]")'
            return False
        from camstyle.training.vgg import load_vgg

        try:
            self._state["vgg"] = load_vgg(self.vgg_weights, allow_download=False)
        except CamStyleError as exc:
            self.note = f"style and content losses skipped: {exc.message}"
            return False
        self._state["torch"] = torch
        if self.style_image is None:
            self.note = "style loss skipped: pass --style-image PAINTING (styles do not ship their painting)"
        return True

    def scores(self, outputs: list[np.ndarray], sources: list[np.ndarray], recipe: dict) -> dict[str, float | None]:
        from camstyle.training import losses as L
        from camstyle.training.data import load_style_image
        from camstyle.training.recipe import RECIPE

        torch, vgg = self._state["torch"], self._state["vgg"]
        layers = recipe.get("content_layer", RECIPE.content_layer)
        # style_layers, not video_style_layers: a network and its per-frame baseline are measured alike
        weights = dict(zip(L.STYLE_LAYERS, recipe.get("style_layers", RECIPE.style_layers)))
        tensor = lambda images: torch.from_numpy(np.stack([im.transpose(2, 0, 1) for im in images]).astype(np.float32))
        with torch.no_grad():
            feats = vgg(tensor(outputs))
            content = vgg(tensor(sources), upto=layers)
            result = {"content_loss": float(L.content_loss(feats, content, layers)), "style_loss": None}
            if self.style_image is not None:
                style_size = int(recipe.get("style_size", RECIPE.style_size))
                if style_size not in self._state:  # the painting's Gram matrices, once per size
                    painting = load_style_image(Path(self.style_image), style_size)
                    target = vgg(tensor([painting.astype(np.float32) / 255]))
                    self._state[style_size] = {k: L.gram(target[k]) for k in L.STYLE_LAYERS}
                result["style_loss"] = float(L.style_loss(feats, self._state[style_size], weights))
        return result


def evaluate(style: StyleInfo, videos: list[Path], frames: int = 60, size: tuple[int, int] | None = None,
             baseline: StyleInfo | None = None, style_image: Path | None = None, vgg_weights: Path | None = None,
             provider: str = "cpu", vgg_losses: bool = True, steady: float = 0.0) -> dict:
    """All metrics for every clip, as a JSON-ready dict."""
    size = size or style.inference_size or INFERENCE_SIZE
    size = (round_to(size[0], 8), round_to(size[1], 8))
    models = {style.name: OnnxStyle(style, provider)}
    if baseline is not None:
        models[baseline.name if baseline.name != style.name else f"{baseline.name} (baseline)"] = OnnxStyle(baseline, provider)
    scorer = VGGScorer(style_image, vgg_weights, "" if vgg_losses else "style and content losses skipped (--no-vgg)")
    painting = None
    if style_image is not None:
        from camstyle.training.data import load_style_image

        painting = load_style_image(Path(style_image), PAINTING_SIZE).astype(np.float32) / 255
    clips = []
    for video in videos:
        source = read_clip(video, frames, size)
        flows = [flow.pair_flow(prev, cur) for prev, cur in zip(source, source[1:])]
        src = [f.astype(np.float32) / 255 for f in source]
        picked = evenly(len(src), VGG_FRAMES)
        sample = [src[i] for i in picked]
        results = {"source": {"warping_error": warping_error(src, flows)}}
        greys = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in source] if steady > 0 else []
        for name, model in models.items():
            outputs = [model(f) for f in src]
            if steady > 0:
                steadier = Steadier(steady)
                outputs = [steadier(grey, out) for grey, out in zip(greys, outputs)]
            sample_outputs = [outputs[i] for i in picked]
            metrics = {"warping_error": warping_error(outputs, flows), "noise_sensitivity": noise_sensitivity(model, sample),
                       "shift_sensitivity": shift_sensitivity(model, sample),
                       "blown_highlights": blown_highlights(sample_outputs, sample)}
            if painting is not None:
                metrics.update(palette_ratios(sample_outputs, painting))
            if scorer.ready():
                metrics.update(scorer.scores(sample_outputs, sample, model.style.meta.get("recipe", {})))
            results[name] = metrics
        clips.append({"clip": str(video), "frames": len(source), "results": results})
    notes = [f"warping error (Lai et al. 2018): {flow.FLOW_NAME} on the source frames, Ruder et al. occlusion mask, "
             "RGB in [0, 1]; lower is steadier, the source row is the camera's own",
             "noise sensitivity: mean absolute output change for N(0, 2/255) input noise, RGB in [0, 1]",
             "shift sensitivity: mean absolute change of the output, aligned, when the input moves 1, 2 or 4 px "
             "across or down; 0 for a network that paints the same strokes on a moved picture",
             "blown highlights: share of the source's bright subject (luminance >= 120/255, not clipped) "
             "rendered pure white; '-' where the clip has none"]
    if steady > 0:
        notes.append(f"steadying {steady:g} on every network's output, as `camstyle run --steady {steady:g}` publishes it")
    if painting is not None:
        notes.append("contrast and colourfulness: the output's luminance standard deviation and Hasler-Suesstrunk "
                     "colourfulness as ratios to the painting's; near 1 keeps the painting's look, far below 1 is a wash")
    if scorer.note:
        notes.append(scorer.note)
    if "vgg" in scorer._state:
        notes.append(f"style and content losses: the training definitions with the VGG16 from {scorer._state['vgg'].source}")
    return {"style": style.name, "baseline": baseline.name if baseline else None, "size": list(size), "steady": steady,
            "flow": flow.FLOW_NAME, "clips": clips, "notes": notes}

"""Frames in, stylized frames out, through a style's ONNX network.

The network runs on a reduced copy of the frame (inference size, multiples of 8, the
output's aspect) and its result is scaled back up (guided by the camera frame, see
camstyle.stylize.upscale) and blended with the camera frame by the strength. Switching style never
stalls: the new network loads on a background thread while the old one keeps working, then
the two cross-fade for a moment. The inference size may change between any two frames
(camstyle.stylize.autosize decides it); the steadier's memory is rescaled, so nothing jumps.
"""

from __future__ import annotations

import contextlib
import re
import statistics
import threading
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from camstyle.stylize import providers as providers_mod
from camstyle.stylize.autosize import BASE_MULTIPLE, fit_size, round_to
from camstyle.errors import ModelError
from camstyle.stylize.steady import DEFAULT_STEADY, Steadier
from camstyle.stylize.styles import StyleInfo
from camstyle.stylize.upscale import GuidedUpscaler

CROSSFADE_S = 0.3


def inference_shape(requested: tuple[int, int], output: tuple[int, int], multiple: int = BASE_MULTIPLE) -> tuple[int, int]:
    """The largest size with the output's aspect inside `requested`, in multiples of 8 (or `multiple`)."""
    return fit_size(requested, output, multiple)


def downscale(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`frame` at the smaller (width, height) `size`, anti-aliased.

    OpenCV's area resize is fast only for whole factors (5-10 ms from 720p to 320x184 on one
    core, 0.4 ms to 640x360): halve by area while the frame is at least twice the size, then
    the last step, at most 2x, bilinear. Within a grey level or so of one area resize.
    """
    width, height = size
    while frame.shape[1] >= 2 * width and frame.shape[0] >= 2 * height:
        frame = cv2.resize(frame, (frame.shape[1] // 2, frame.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if (frame.shape[1], frame.shape[0]) == (width, height):
        return frame
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)


def mend_border(image: np.ndarray) -> np.ndarray:
    """Copy each edge's second row or column of pixels over its first, in place, and return `image`.

    The `sharp_fine` networks' last convolution is zero-padded (a padding copy at full resolution
    costs more than that convolution), so they paint their outermost ring of pixels against black:
    2-10x the difference between any other two neighbouring pixels on every bundled style, a line
    around the picture once it is scaled up to the output size. The ring's neighbours are painted
    from real pixels. Harmless on networks without the flaw: one pixel of the edge is repeated."""
    if image.shape[0] > 2 and image.shape[1] > 2:
        image[0], image[-1] = image[1], image[-2]
        image[:, 0], image[:, -1] = image[:, 1], image[:, -2]
    return image


def session_options(threads: int = 0):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads or providers_mod.default_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Idle inference threads that spin steal the CPU that capture and publishing need on a
    # two-core laptop; sleeping costs well under a millisecond per frame.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _ort_reason(exc: Exception) -> str:
    """onnxruntime's error without its status codes and repeated file path."""
    text = str(exc).strip()
    if "INVALID_PROTOBUF" in text or "Protobuf parsing failed" in text:
        return "the file is damaged or truncated"
    line = text.splitlines()[0] if text else type(exc).__name__
    line = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", line)
    line = re.sub(r"^Load model from .*? failed:", "", line).strip()
    return line[:160].rstrip(".") or type(exc).__name__


def _dim(value) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


class StyleModel:
    """One style network in an onnxruntime session, checked against the style convention."""

    def __init__(self, source: str | Path | bytes, name: str, providers: list[str] | None = None,
                 threads: int = 0, check_size: tuple[int, int] = (64, 64), size_multiple: int = BASE_MULTIPLE):
        import onnxruntime as ort

        providers_mod.quiet_onnxruntime()
        self.name = name
        self.size_multiple = max(1, int(size_multiple))
        self.providers_requested = providers or ["CPUExecutionProvider"]
        where = "" if isinstance(source, bytes) else f" ({source})"
        if not isinstance(source, bytes) and not Path(source).is_file():
            raise ModelError(f"The model of style '{name}' is missing{where}.",
                             "Reinstall the style, or delete its .json so it is no longer listed.")
        try:
            self.session = ort.InferenceSession(source if isinstance(source, bytes) else str(source),
                                                session_options(threads),
                                                providers=providers_mod.session_providers(self.providers_requested))
        except Exception as exc:
            raise ModelError(f"The model of style '{name}' is corrupt or not an ONNX model{where}: {_ort_reason(exc)}.",
                             "Reinstall or re-export the style (`camstyle export`), or delete it.") from None
        self.provider = providers_mod.describe(self.session.get_providers())
        self._validate(where)
        self.fixed_size = self._fixed_size()
        self.run(np.zeros((check_size[1], check_size[0], 3), np.uint8), check=True)

    def _validate(self, where: str) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        wrong = (f"Style '{self.name}'{where} is not a style network: it must take one float32 "
                 "[1, 3, height, width] RGB image and return one of the same shape")
        hint = "Export the style with `camstyle export`, which writes the right shape."
        if len(inputs) != 1 or not outputs:
            raise ModelError(f"{wrong} (it has {len(inputs)} inputs and {len(outputs)} outputs).", hint)
        spec, out = inputs[0], outputs[0]
        if spec.type != "tensor(float)":
            raise ModelError(f"{wrong} (its input is {spec.type}).", hint)
        for label, shape in (("input", spec.shape), ("output", out.shape)):
            if shape is not None and (len(shape) != 4 or _dim(shape[1]) not in (None, 3)):
                raise ModelError(f"{wrong} (its {label} has shape {list(shape)}).", hint)
        self.input_name, self.output_name = spec.name, out.name

    def _fixed_size(self) -> tuple[int, int] | None:
        """(width, height) when the network only accepts one size (exported without dynamic axes)."""
        shape = self.session.get_inputs()[0].shape
        height, width = _dim(shape[2]), _dim(shape[3])
        return (width, height) if height and width else None

    def run(self, small_bgr: np.ndarray, check: bool = False) -> np.ndarray:
        """Stylize a small BGR uint8 image; returns BGR uint8 of the same size."""
        height, width = small_bgr.shape[:2]
        if self.fixed_size and (width, height) != self.fixed_size:
            small_bgr = cv2.resize(small_bgr, self.fixed_size, interpolation=cv2.INTER_AREA)
        elif width % self.size_multiple or height % self.size_multiple:  # a size another style chose
            fitting = (round_to(width, self.size_multiple), round_to(height, self.size_multiple))
            small_bgr = cv2.resize(small_bgr, fitting, interpolation=cv2.INTER_AREA)
        blob = cv2.dnn.blobFromImage(small_bgr, scalefactor=1 / 255.0, swapRB=True)  # [1,3,h,w] RGB float32
        try:
            result = self.session.run([self.output_name], {self.input_name: blob})[0]
        except Exception as exc:
            if not check:
                raise
            raise ModelError(f"Style '{self.name}' fails to run on a {width}x{height} image: "
                             f"{_ort_reason(exc)}.",
                             "Export the style with dynamic height and width (`camstyle export`).") from None
        if result.ndim != 4 or result.shape[:2] != (1, 3):
            raise ModelError(f"Style '{self.name}' returned shape {list(result.shape)} instead of [1, 3, height, width].",
                             "Export the style with `camstyle export`, which writes the right shape.")
        rgb = result[0]
        np.clip(rgb, 0.0, 1.0, out=rgb)
        rgb *= 255.0
        rgb += 0.5
        planes = rgb.astype(np.uint8)
        out = mend_border(cv2.merge([planes[2], planes[1], planes[0]]))
        if out.shape[:2] != (height, width):
            out = cv2.resize(out, (width, height), interpolation=cv2.INTER_LINEAR)
        return out


def keep_colours(styled: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Luminance of the stylized image with the chroma of the original (YCrCb)."""
    styled_y = cv2.cvtColor(styled, cv2.COLOR_BGR2YCrCb)
    original_ycc = cv2.cvtColor(original, cv2.COLOR_BGR2YCrCb)
    original_ycc[..., 0] = styled_y[..., 0]
    return cv2.cvtColor(original_ycc, cv2.COLOR_YCrCb2BGR)


class Stylizer:
    """The per-frame stylizing step plus background style switching.

    process() runs on the pipeline's stylize thread; the other methods may be called from
    any thread (hotkeys, the control channel).
    """

    def __init__(self, look, providers: list[str] | None = None, threads: int = 0,
                 inference_size: tuple[int, int] = (320, 180), output_size: tuple[int, int] = (1280, 720),
                 size_multiple: int = BASE_MULTIPLE, crossfade_s: float = CROSSFADE_S,
                 on_message: Callable[[str], None] | None = None):
        """`look` is the [style] section (camstyle.config.StyleConfig): its strength, steady,
        guided_upscale, preserve_colors and mirror are the starting values of the attributes of
        those names, which any thread may change later. The caller closes the stylizer."""
        self.providers = providers or ["CPUExecutionProvider"]
        self.threads = threads
        self.output_size = tuple(output_size)
        self.size_multiple = size_multiple
        # Read once per frame by the stylize thread; set from any thread (a tuple is swapped whole).
        self.inference_size = inference_shape(tuple(inference_size), self.output_size, size_multiple)
        self.guided_upscale = look.guided_upscale
        self._upscaler = GuidedUpscaler()
        self.strength = float(look.strength)
        self.preserve_colors = look.preserve_colors
        self.mirror = look.mirror
        self.steadier = Steadier(DEFAULT_STEADY)  # runs on the stylize thread; `steady` may be set from any thread
        self.crossfade_s = crossfade_s
        self.on_message = on_message or (lambda text: None)
        # (network in use, network faded out from or None, fade start): replaced as a whole so
        # the stylize thread always sees a consistent pair.
        self._active: tuple[StyleModel | None, StyleModel | None, float] = (None, None, 0.0)
        self._active_style: StyleInfo | None = None
        self._lock = threading.Lock()
        self.steady = look.steady
        self._wanted: StyleInfo | None = None
        self._loader: threading.Thread | None = None
        self.load_errors: dict[str, str] = {}  # style name -> why it failed to load (until it loads)
        self._failed_at: dict[str, float] = {}  # style name -> when (time.time()) it failed to load

    # -- style management -------------------------------------------------------------------

    @property
    def model(self) -> StyleModel | None:
        return self._active[0]

    @property
    def style(self) -> str:
        """The style being switched to, or the one in use."""
        with self._lock:
            wanted = self._wanted
        if wanted is not None:
            return wanted.name
        return self.model.name if self.model else ""

    @property
    def steady(self) -> float:
        """How much of the motion-warped previous frame is kept (0 = off; see camstyle.stylize.steady)."""
        return self.steadier.hold

    @steady.setter
    def steady(self, value: float | str) -> None:
        """A level for every style, or "auto": each style's own (StyleInfo.steady), the current one's now."""
        self._steady_setting = value
        with self._lock:
            style = self._active_style
        self.steadier.hold = float(value) if value != "auto" else style.steady if style else DEFAULT_STEADY

    @property
    def steady_auto(self) -> bool:
        return self._steady_setting == "auto"

    def _took(self, style: StyleInfo) -> None:
        """`style` is now the one painted: under auto its steadying follows."""
        self._active_style = style
        if self.steady_auto:
            self.steadier.hold = style.steady

    @property
    def fading(self) -> bool:
        """A style cross-fade is running (two networks per frame: not a time to judge speed by)."""
        return self._active[1] is not None

    @property
    def provider(self) -> str:
        return self.model.provider if self.model else providers_mod.describe(self.providers)

    def _load(self, style: StyleInfo) -> StyleModel:
        return StyleModel(style.model_path, style.name, self.providers, self.threads, check_size=self.inference_size,
                          size_multiple=style.size_multiple)

    def load(self, style: StyleInfo) -> None:
        """Load a style now (at start-up): errors reach the caller."""
        self._active = (self._load(style), None, 0.0)
        with self._lock:
            self._took(style)

    def request_style(self, style: StyleInfo) -> None:
        """Switch to `style` without stalling frames; the latest request wins."""
        with self._lock:
            if self.model is not None and self.model.name == style.name:
                self._wanted = None  # back to the current style: cancel a pending switch
                return
            self._wanted = style
            if self._loader is None or not self._loader.is_alive():
                self._loader = threading.Thread(target=self._load_wanted, name="camstyle-style-loader", daemon=True)
                self._loader.start()

    def _load_wanted(self) -> None:
        while True:
            with self._lock:
                style = self._wanted
            if style is None:
                return
            try:
                model = self._load(style)
                error = None
            except Exception as exc:  # keep the current style; tell the user
                model, error = None, getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            with self._lock:
                if self._wanted is not style:
                    continue  # superseded while loading
                self._wanted = None
                if model is not None:
                    self._active = (model, self.model, time.perf_counter())
                    self._took(style)
                    self.load_errors.pop(style.name, None)
                else:
                    self.load_errors[style.name] = error
                    self._failed_at[style.name] = time.time()
            if error:
                self.on_message(f"style '{style.name}' could not be loaded: {error}")
            else:
                self.on_message(f"style {style.name}")
            return

    def known_broken(self, style: StyleInfo) -> bool:
        """Whether `style` failed to load and its model file has not changed since."""
        failed_at = self._failed_at.get(style.name)
        if style.name not in self.load_errors or failed_at is None:
            return False
        try:
            return style.model_path.stat().st_mtime <= failed_at
        except OSError:
            return True

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait for a background style load to finish (tests, benchmarks)."""
        loader = self._loader
        if loader is not None:
            loader.join(timeout)
            return not loader.is_alive()
        return True

    # -- per frame ---------------------------------------------------------------------------

    def process(self, frame: np.ndarray, passthrough: bool = False) -> np.ndarray:
        """Camera frame (BGR, output size) -> published frame (BGR, output size)."""
        if self.mirror:
            frame = cv2.flip(frame, 1)
        active = self._active
        model, fade_from, fade_start = active
        strength = min(1.0, max(0.0, self.strength))
        if passthrough or model is None or strength <= 0.0:
            self.steadier.reset()  # what it holds is stale once styling resumes
            return frame
        if fade_from is not None:
            progress = (time.perf_counter() - fade_start) / self.crossfade_s if self.crossfade_s > 0 else 1.0
            if progress >= 1.0:
                with self._lock:
                    if self._active is active:
                        self._active = (model, None, 0.0)  # release the old network
                fade_from = None
        else:
            progress = 1.0
        size = self.inference_size
        self.steadier.rescale(size)  # a new size: carry what it holds over, scaled
        return self._stylize(frame, size, model, fade_from, progress, strength, self.steadier, self._upscaler)

    def _stylize(self, frame: np.ndarray, size: tuple[int, int], model: StyleModel, fade_from: StyleModel | None,
                 progress: float, strength: float, steadier: Steadier, upscaler: GuidedUpscaler) -> np.ndarray:
        small = downscale(frame, size)
        styled = model.run(small)
        if fade_from is not None:
            styled = cv2.addWeighted(styled, progress, fade_from.run(small), 1.0 - progress, 0.0)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        if self.steady > 0:
            steadier.hold = self.steady
            steadied = steadier(grey, styled.astype(np.float32))
            styled = cv2.convertScaleAbs(steadied)  # rounds and saturates to uint8 in one pass
        else:
            steadier.reset()
        if self.preserve_colors:  # after the fade: luminance is linear, so once is enough
            styled = keep_colours(styled, small)
        out_w, out_h = self.output_size
        if (styled.shape[1], styled.shape[0]) != (out_w, out_h):
            if self.guided_upscale:
                styled = upscaler(styled, grey, cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
            else:
                styled = cv2.resize(styled, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
        if strength < 1.0:
            cv2.addWeighted(styled, strength, frame, 1.0 - strength, 0.0, dst=styled)
        return styled

    def measure(self, size: tuple[int, int], runs: int = 7, warmup: int = 2) -> float:
        """Median milliseconds of one frame's stylizing at `size` with the current style and
        settings (steadying and upscaling included), on a moving synthetic picture; 0 without
        a style. Uses its own steadier, so the live one is untouched; any thread may call it.
        The first `warmup` runs are not counted: a new size allocates (ONNX Runtime's buffers,
        the flow's pyramid, the upscaler's), and the steadier has nothing to warp at first."""
        model = self.model
        if model is None:
            return 0.0
        out_w, out_h = self.output_size
        rng = np.random.default_rng(0)
        base = cv2.GaussianBlur(rng.integers(0, 256, (out_h, out_w + warmup + runs + 2, 3), dtype=np.uint8), (0, 0), 2)
        steadier, upscaler = Steadier(self.steady), GuidedUpscaler()
        times = []
        for i in range(warmup + runs):
            frame = np.ascontiguousarray(base[:, i:i + out_w])
            start = time.perf_counter()
            self._stylize(frame, size, model, None, 1.0, 1.0, steadier, upscaler)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    def close(self) -> None:
        with self._lock:
            self._wanted = None
        with contextlib.suppress(Exception):
            self.wait_idle(5.0)
        self._active = (None, None, 0.0)

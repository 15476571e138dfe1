"""Style discovery and the on-disk style format shared by the runtime and training.

A style is three files with the same stem in a styles folder:
  NAME.onnx  the transform network: input float32 [1, 3, H, W] RGB in 0..1 with dynamic H, W
             (multiples of 8 are always safe), output float32 [1, 3, H, W] RGB in about 0..1
  NAME.json  metadata (see REQUIRED_KEYS and write_style)
  NAME.jpg   an optional sample of its output, for galleries
Styles in the user's styles folder override bundled ones of the same name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from camstyle import atomic, paths
from camstyle.errors import ModelError
from camstyle.stylize.steady import DEFAULT_STEADY, MAX_STEADY

FORMAT_VERSION = 1
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
REQUIRED_KEYS = ("name",)


@dataclass(frozen=True)
class StyleInfo:
    name: str
    model_path: Path
    meta: dict = field(default_factory=dict, compare=False, hash=False)
    sample_path: Path | None = None
    origin: str = "bundled"  # "bundled" or "user"

    @property
    def title(self) -> str:
        return str(self.meta.get("title") or self.name.replace("_", " ").title())

    @property
    def artist(self) -> str:
        return str(self.meta.get("artist") or "")

    @property
    def inference_size(self) -> tuple[int, int] | None:
        """Recommended (width, height) for real-time inference, if the style names one."""
        size = self.meta.get("inference_size")
        if isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size):
            return int(size[0]), int(size[1])
        return None

    @property
    def steady(self) -> float:
        """The steadying this style is published with under `steady = "auto"`: its .json's
        "steady" (0..MAX_STEADY), for a style whose strokes shimmer more than the camera at the
        default, else DEFAULT_STEADY."""
        value = self.meta.get("steady")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= MAX_STEADY:
            return float(value)
        return DEFAULT_STEADY

    @property
    def size_multiple(self) -> int:
        """What the network's height and width must be multiples of (8 when the style does not say)."""
        for where in (self.meta, self.meta.get("architecture_config")):
            value = where.get("size_multiple") if isinstance(where, dict) else None
            if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 256:
                return value
        return 8


def validate_name(name: str) -> str:
    if not NAME_PATTERN.match(name or ""):
        raise ModelError(f"'{name}' is not a valid style name.",
                         "Use lower-case letters, digits, '-' and '_' (up to 64 characters), e.g. --name starry_night.")
    return name


def style_dirs() -> list[tuple[Path, str]]:
    """Folders searched for styles, lowest priority first."""
    return [(paths.bundled_styles_dir(), "bundled"), (paths.user_styles_dir(), "user")]


def read_metadata(json_path: Path) -> dict:
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"Style metadata {json_path} is unreadable: {exc}.",
                         "Re-export the style with `camstyle export`, or delete the file.") from None
    if not isinstance(meta, dict):
        raise ModelError(f"Style metadata {json_path} is not a JSON object.", "Re-export the style with `camstyle export`.")
    return meta


FIRST_STYLE = "starry_night"  # started with when no style is named, where installed


def in_start_order(styles: list[StyleInfo]) -> list[StyleInfo]:
    """`styles` with FIRST_STYLE first, the rest as they were: with no style named, CamStyle
    starts on a style of the current network rather than on whichever sorts first."""
    return sorted(styles, key=lambda style: style.name != FIRST_STYLE)


def discover_styles(dirs: list[tuple[Path, str]] | None = None) -> list[StyleInfo]:
    """All styles, sorted by name; a style whose metadata is broken is still listed (its model may run)."""
    found: dict[str, StyleInfo] = {}
    for folder, origin in dirs if dirs is not None else style_dirs():
        if not folder.is_dir():
            continue
        for model in sorted(folder.glob("*.onnx")):
            name = model.stem
            meta_path = model.with_suffix(".json")
            try:
                meta = read_metadata(meta_path) if meta_path.exists() else {"name": name}
            except ModelError:
                meta = {"name": name, "broken_metadata": True}
            sample = next((p for p in (model.with_suffix(".jpg"), model.with_suffix(".png")) if p.exists()), None)
            found[name] = StyleInfo(name=name, model_path=model, meta=meta, sample_path=sample, origin=origin)
    return [found[k] for k in sorted(found)]


def style_problem(style: StyleInfo) -> str | None:
    """Why a style cannot be used (its network does not load or has the wrong shape, or its
    metadata is unreadable), or None when it is fine. Loads the network once (onnxruntime)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4
    try:
        session = ort.InferenceSession(str(style.model_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for missing and corrupt files
        return f"does not load ({str(exc).splitlines()[0][:160]})"
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or not outputs:
        return f"has {len(inputs)} inputs and {len(outputs)} outputs, a style has one of each"
    for what, tensor in (("input", inputs[0]), ("output", outputs[0])):
        shape = list(tensor.shape or [])
        if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
            return f"{what} shape {shape} is not [1, 3, H, W]"
    if style.meta.get("broken_metadata"):
        return f"metadata {style.model_path.with_suffix('.json').name} is unreadable"
    return None


def find_style(name: str, dirs: list[tuple[Path, str]] | None = None) -> StyleInfo:
    styles = discover_styles(dirs)
    for style in styles:
        if style.name == name:
            return style
    available = ", ".join(s.name for s in styles) or "none installed"
    raise ModelError(f"Unknown style '{name}'.",
                     f"Available styles: {available}. Train one with `camstyle train PAINTING --name {name}`.")


def write_style(dest_dir: Path, name: str, onnx_bytes: bytes, meta: dict, sample_jpeg: bytes | None = None) -> StyleInfo:
    """Install a style atomically: the model and sample first, the metadata last."""
    validate_name(name)
    meta = {**meta, "name": name, "format": FORMAT_VERSION}
    dest_dir = Path(dest_dir)
    model_path = dest_dir / f"{name}.onnx"
    atomic.write_bytes(model_path, onnx_bytes)
    sample_path = None
    if sample_jpeg is not None:
        sample_path = dest_dir / f"{name}.jpg"
        atomic.write_bytes(sample_path, sample_jpeg)
    atomic.write_text(dest_dir / f"{name}.json", json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return StyleInfo(name=name, model_path=model_path, meta=meta, sample_path=sample_path, origin="user")

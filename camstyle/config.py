"""CamStyle settings: one TOML file, validated strictly so a typo is reported, not ignored.

Every key is optional; a missing key keeps its default and a missing file means all
defaults. Unknown sections or keys, wrong types and out-of-range values raise a
ConfigError that names the key, the file and the allowed values. Command-line flags go
through Config.with_overrides() and the same checks.
"""

from __future__ import annotations

import dataclasses
import difflib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from camstyle import atomic, paths
from camstyle.actions import HOTKEY_ACTIONS
from camstyle.errors import ConfigError
from camstyle.publish.outputs import OUTPUT_KINDS
from camstyle.stylize.providers import CHOICES as PROVIDER_CHOICES
from camstyle.stylize.steady import MAX_STEADY

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

CAMERA_SOURCES_HELP = '"auto", "demo", a camera index like "0", a device like "/dev/video0" or a video file'
MAX_SIZE = 8192
MIN_INFERENCE_SIDE, MAX_INFERENCE_SIDE = 8, 4096
INFERENCE_SIZE_HELP = '"auto" or a size like "640x360"'
# Keys that older versions had; a file that still has them gets told what replaced them.
REPLACED_KEYS = {("style", "inference_width"): "style.inference_size",
                 ("style", "inference_height"): "style.inference_size"}


class _Invalid(ValueError):
    """A value is unacceptable; the text completes "KEY = VALUE in FILE: ..."."""


# --------------------------------------------------------------------------- checks

def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("must be true or false")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid('must be a string in double quotes, e.g. "text"')
    return value


def _whole(low: int, high: int, multiple_of: int = 1) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        wanted = f"a whole number from {low} to {high}" + (f" that is a multiple of {multiple_of}" if multiple_of > 1 else "")
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high or value % multiple_of:
            raise _Invalid(f"must be {wanted}")
        return value
    return check


def _number(low: float, high: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise _Invalid(f"must be a number from {low:g} to {high:g}")
        return float(value)
    return check


def _steady(value: Any) -> float | str:
    if value == "auto":
        return value
    try:
        return _number(0, MAX_STEADY)(value)
    except _Invalid:
        raise _Invalid(f'must be "auto" or a number from 0 to {MAX_STEADY:g}') from None


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise _Invalid("must be one of " + ", ".join(f'"{o}"' for o in options))
        return value
    return check


def _camera_source(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(f"must be {CAMERA_SOURCES_HELP}")
    return value.strip()


def parse_inference_size(value: Any) -> str | tuple[int, int]:
    """"auto", or (width, height) from "640x360" / "640×360"; ValueError for anything else."""
    text = value.strip().lower() if isinstance(value, str) else None
    if text == "auto":
        return "auto"
    parts = text.replace("×", "x").split("x") if text else []
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"must be {INFERENCE_SIZE_HELP}")
    width, height = int(parts[0]), int(parts[1])
    if not all(MIN_INFERENCE_SIDE <= side <= MAX_INFERENCE_SIDE for side in (width, height)):
        raise ValueError(f"must be {INFERENCE_SIZE_HELP}, each side from {MIN_INFERENCE_SIDE} to {MAX_INFERENCE_SIDE}")
    return width, height


def steady_option(text: str) -> float | str:
    """A --steady value as argparse reads it: "auto" or a number (its range is checked with the
    config's other values)."""
    import argparse

    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not valid: give auto or a number from 0 (off) to {MAX_STEADY:g}") from None


def inference_size_option(text: str | None) -> str | tuple[int, int] | None:
    """An --inference-size value: None when not given, "auto" or (width, height); one clear
    message for anything else."""
    if text is None:
        return None
    try:
        return parse_inference_size(text)
    except ValueError:
        raise ConfigError(f"--inference-size {text} is not a size.",
                          "Give auto, or width x height, e.g. --inference-size 640x360.") from None


def _inference_size(value: Any) -> str:
    try:
        size = parse_inference_size(value)
    except ValueError as exc:
        raise _Invalid(str(exc)) from None
    return size if size == "auto" else f"{size[0]}x{size[1]}"


def _style_name(value: Any) -> str:
    from camstyle.stylize.styles import NAME_PATTERN

    if not isinstance(value, str) or (value and not NAME_PATTERN.match(value)):
        raise _Invalid('must be a style name like "starry_night" (see `camstyle styles`), or "" for the default (starry_night, else the first by name)')
    return value


# Key names pynput's keyboard.Key knows on every desktop platform. Validation cannot import
# pynput itself: its backend needs a live display at import time, and `camstyle config`
# must work over SSH. tests/test_hotkeys_x11.py checks this parser against HotKey.parse.
HOTKEY_KEY_NAMES = frozenset(
    "alt alt_l alt_r alt_gr backspace caps_lock cmd cmd_l cmd_r ctrl ctrl_l ctrl_r delete down end enter esc "
    "home left page_down page_up right shift shift_l shift_r space tab up media_play_pause media_volume_mute "
    "media_volume_down media_volume_up media_previous media_next insert menu num_lock pause print_screen "
    "scroll_lock".split() + [f"f{i}" for i in range(1, 21)]
)
_MODIFIERS = {"alt": "alt", "alt_l": "alt", "alt_r": "alt", "alt_gr": "alt_gr", "cmd": "cmd", "cmd_l": "cmd",
              "cmd_r": "cmd", "ctrl": "ctrl", "ctrl_l": "ctrl", "ctrl_r": "ctrl", "shift": "shift",
              "shift_l": "shift", "shift_r": "shift"}


def parse_hotkey(combo: str) -> frozenset[str]:
    """The keys of a pynput hotkey string ("<ctrl>+<alt>+n"), with the grammar of HotKey.parse.

    Returns canonical key tokens (modifiers merged left/right, letters lower-case) so
    that two spellings of the same combination compare equal. Raises ValueError.
    """
    parts, start = [], 0
    for i, char in enumerate(combo):
        if char == "+" and i != start:
            parts.append(combo[start:i])
            start = i + 1
    if start == len(combo):
        raise ValueError(combo)
    parts.append(combo[start:])

    tokens = []
    for part in parts:
        if len(part) == 1:
            tokens.append(part.lower())
        elif len(part) > 2 and part[0] == "<" and part[-1] == ">":
            name = part[1:-1].lower()
            if name in _MODIFIERS:
                tokens.append(_MODIFIERS[name])
            elif name in HOTKEY_KEY_NAMES:
                tokens.append(f"<{name}>")
            elif part[1:-1].isdigit():
                tokens.append(f"<vk{int(part[1:-1])}>")
            else:
                raise ValueError(part)
        else:
            raise ValueError(part)
    if len(set(tokens)) != len(tokens):
        raise ValueError(combo)
    return frozenset(tokens)


def _hotkey(value: Any) -> str:
    """A global hotkey, or "" to leave that action unbound."""
    if value == "":
        return value
    reason = 'must be a key combination like "<ctrl>+<alt>+n" (pynput syntax), or "" for none'
    if not isinstance(value, str):
        raise _Invalid(reason)
    try:
        keys = parse_hotkey(value)
    except ValueError:
        raise _Invalid(reason) from None
    plain = keys - set(_MODIFIERS.values())
    if not plain:
        raise _Invalid("needs a key besides the modifiers, e.g. \"<ctrl>+<alt>+n\"")
    if not keys & {"ctrl", "alt", "alt_gr", "cmd"} and any(len(k) == 1 or k in ("<space>", "<enter>", "<tab>", "<backspace>") for k in plain):
        raise _Invalid("must include <ctrl>, <alt> or <cmd>: a plain typing key would fire while you type")
    return value


# --------------------------------------------------------------------------- schema

@dataclass(frozen=True)
class Setting:
    default: Any
    check: Callable[[Any], Any]
    help: str


def setting(default: Any, check: Callable[[Any], Any], help: str = "") -> Any:
    """A section field: its default (written here once), its check and its help for the default file."""
    return dataclasses.field(default=default, metadata={"check": check, "help": help})


@dataclass(frozen=True)
class CameraConfig:
    """The physical camera CamStyle reads"""
    source: str = setting("auto", _camera_source, '"auto" = first working camera, else the built-in demo clip; "demo";\n'
                                                  'a camera index like "0"; a device like "/dev/video0"; or a video file')
    width: int = setting(1280, _whole(1, MAX_SIZE), "Resolution and frame rate asked of the camera (it picks its nearest mode)")
    height: int = setting(720, _whole(1, MAX_SIZE))
    fps: int = setting(30, _whole(1, 120))
    mjpg: bool = setting(True, _boolean, "Ask for MJPG: most USB cameras only reach 720p at 30 fps that way")


@dataclass(frozen=True)
class StyleConfig:
    """The look"""
    name: str = setting("", _style_name, 'Style to start with ("" = starry_night where installed, else the first by name; list them with `camstyle styles`)')
    strength: float = setting(1.0, _number(0, 1), "Blend of stylized and camera image: 0 = camera only, 1 = full style")
    inference_size: str = setting("auto", _inference_size,
                                  'Size the network runs at: "auto" = the largest this machine keeps up with, measured\n'
                                  'at start and lowered while the machine is busy; or a fixed size like "640x360"\n'
                                  "(larger is finer but slower; fitted to the output's shape in multiples of 8)")
    guided_upscale: bool = setting(True, _boolean, "Bring the camera's outlines back crisp when scaling the style up to the output size")
    steady: float | str = setting("auto", _steady, "Steadying: how much of the previous frame, moved along with the motion,\n"
                                                   "is kept to calm the strokes' shimmer where the picture moves; more where it stands\n"
                                                   f'still (0 = off, at most {MAX_STEADY}); "auto" = what each style asks for (0.5 unless\n'
                                                   "its .json names more: styles whose strokes shimmer more than the camera)")
    preserve_colors: bool = setting(False, _boolean, "Keep the camera's colours and take only the brush strokes from the style")
    mirror: bool = setting(False, _boolean, "Flip the image horizontally")


@dataclass(frozen=True)
class OutputConfig:
    """Where the stylized video goes"""
    kind: str = setting("auto", _choice(OUTPUT_KINDS), '"auto" = the CamStyle virtual camera if it can be opened, else a preview window;\n'
                                                       '"virtualcam", "preview", "record" (to record_path) or "null" (benchmarks)')
    device: str = setting("", _text, 'Virtual camera device, e.g. "/dev/video10" ("" = find the CamStyle camera)')
    width: int = setting(1280, _whole(1, MAX_SIZE), "Size and frame rate of the published video")
    height: int = setting(720, _whole(1, MAX_SIZE))
    fps: int = setting(30, _whole(1, 120))
    record_path: str = setting("", _text, 'Video file written when kind = "record"')


@dataclass(frozen=True)
class RuntimeConfig:
    """Inference"""
    provider: str = setting("auto", _choice(PROVIDER_CHOICES),
                            'ONNX Runtime execution provider ("auto" = fastest that works; see `camstyle doctor`)')
    threads: int = setting(0, _whole(0, 256), "CPU threads for inference (0 = automatic)")


HotkeysConfig = dataclasses.make_dataclass("HotkeysConfig", [
    ("enabled", bool, setting(True, _boolean, "Global hotkeys (X11, Windows, macOS with Accessibility permission). On Wayland bind\n"
                                              "`camstyle ctl next`, `camstyle ctl strength +0.1`, ... to desktop shortcuts instead.\n"
                                              'Key syntax: "<ctrl>+<alt>+n", "<cmd>+<shift>+<f9>"; "" leaves an action unbound')),
    # One setting per action that camstyle.actions gives a hotkey, with that row's default and help.
    *[(action.hotkey.setting, str, setting(action.hotkey.default, _hotkey, action.help[:1].upper() + action.help[1:]))
      for action in HOTKEY_ACTIONS]], frozen=True)
HotkeysConfig.__module__, HotkeysConfig.__doc__ = __name__, "Global hotkeys"


SECTION_TYPES = {"camera": CameraConfig, "style": StyleConfig, "output": OutputConfig,
                 "runtime": RuntimeConfig, "hotkeys": HotkeysConfig}
# The schema the file is checked against, read off the sections above.
SCHEMA: dict[str, dict[str, Setting]] = {
    name: {f.name: Setting(f.default, f.metadata["check"], f.metadata["help"]) for f in dataclasses.fields(section)}
    for name, section in SECTION_TYPES.items()}
SECTION_HELP = {name: section.__doc__ for name, section in SECTION_TYPES.items()}


@dataclass(frozen=True)
class Config:
    """Effective settings. `path` is the file they came from; `from_file` is False when it does not exist."""

    camera: CameraConfig = CameraConfig()
    style: StyleConfig = StyleConfig()
    output: OutputConfig = OutputConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    hotkeys: HotkeysConfig = HotkeysConfig()
    path: Path | None = dataclasses.field(default=None, compare=False)
    from_file: bool = dataclasses.field(default=False, compare=False)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {section: dataclasses.asdict(getattr(self, section)) for section in SCHEMA}

    def get(self, dotted_key: str) -> Any:
        section, key = _split_key(dotted_key, where="")
        return getattr(getattr(self, section), key)

    def with_overrides(self, overrides: Mapping[str, Any], where: str = "on the command line") -> "Config":
        """A copy with "section.key" values replaced (command-line flags); a None value means "not given"."""
        values = self.as_dict()
        for dotted_key, value in overrides.items():
            if value is None:
                continue
            section, key = _split_key(dotted_key, where)
            values[section][key] = _check(section, key, value, where)
        _check_hotkey_clashes(values["hotkeys"], where)
        return _build(values, self.path, self.from_file)


def _split_key(dotted_key: str, where: str) -> tuple[str, str]:
    section, _, key = dotted_key.partition(".")
    if section not in SCHEMA or key not in SCHEMA[section]:
        known = [f"{s}.{k}" for s in SCHEMA for k in SCHEMA[s]]
        close = difflib.get_close_matches(dotted_key, known, n=1)
        raise ConfigError(f"Unknown setting {dotted_key}" + (f" {where}" if where else "") + ".",
                          f"Did you mean {close[0]}?" if close else "Known settings: " + ", ".join(known))
    return section, key


def toml_value(value: Any) -> str:
    """How a value is written in TOML, for messages and the default file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{...}"
    return repr(value)


def _check(section: str, key: str, value: Any, where: str) -> Any:
    """Validate one value; `where` completes the message: "in /path/config.toml", "on the command line"."""
    try:
        return SCHEMA[section][key].check(value)
    except _Invalid as exc:
        default = f"{section}.{key} = {toml_value(SCHEMA[section][key].default)}"
        raise ConfigError(f"{section}.{key} = {toml_value(value)} {where}: {exc}.",
                          f"Correct it (the default is {default}), then check with `camstyle config`."
                          if where.startswith("in ") else "Run the command again with a valid value.") from None


def _check_hotkey_clashes(hotkeys: dict[str, Any], where: str) -> None:
    seen: dict[frozenset[str], str] = {}
    for key, combo in hotkeys.items():
        if key == "enabled" or not combo:
            continue
        keys = parse_hotkey(combo)
        if keys in seen:
            raise ConfigError(f"hotkeys.{key} = {toml_value(combo)} {where}: same keys as hotkeys.{seen[keys]}.",
                              "Give each action its own key combination, or \"\" to leave one unbound.")
        seen[keys] = key


def _build(values: dict[str, dict[str, Any]], path: Path | None, from_file: bool) -> Config:
    sections = {name: SECTION_TYPES[name](**values[name]) for name in SCHEMA}
    return Config(**sections, path=path, from_file=from_file)


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate the config file (default: paths.config_file()); a missing file gives defaults."""
    path = Path(path) if path is not None else paths.config_file()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Config(path=path, from_file=False)
    except IsADirectoryError:
        raise ConfigError(f"Config file {path} is a folder.", "Remove it, or run `camstyle config --init`.") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read config file {path}: {exc.strerror or exc}.",
                          "Check its permissions, or remove it to use the defaults.") from None
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"Config file {path} is not UTF-8 text.", "Save it as UTF-8, or recreate it with `camstyle config --init --force`.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}.",
                          "Fix that line (strings need double quotes, e.g. name = \"starry_night\"), "
                          "or start over with `camstyle config --init --force`.") from None
    return _from_document(document, path)


def _from_document(document: dict[str, Any], path: Path) -> Config:
    where = f"in {path}"
    values = Config().as_dict()
    for section, table in document.items():
        if section not in SCHEMA:
            close = difflib.get_close_matches(section, SCHEMA, n=1)
            raise ConfigError(f"Unknown section [{section}] {where}.",
                              f"Did you mean [{close[0]}]?" if close else "Known sections: " + ", ".join(f"[{s}]" for s in SCHEMA))
        if not isinstance(table, dict):
            raise ConfigError(f"{section} = {toml_value(table)} {where}: must be a section [{section}] with settings below it.",
                              "See `camstyle config --init` for the layout.")
        for key, value in table.items():
            if (section, key) in REPLACED_KEYS:
                raise ConfigError(f"{section}.{key} {where} is no longer a setting: {REPLACED_KEYS[section, key]} replaced it.",
                                  f'Remove it and set {REPLACED_KEYS[section, key]} = "auto" (or a size like "640x360").')
            if key not in SCHEMA[section]:
                close = difflib.get_close_matches(key, SCHEMA[section], n=1)
                raise ConfigError(f"Unknown key {section}.{key} {where}.",
                                  f"Did you mean {section}.{close[0]}?" if close else
                                  f"Keys of [{section}]: " + ", ".join(SCHEMA[section]))
            values[section][key] = _check(section, key, value, where)
    _check_hotkey_clashes(values["hotkeys"], where)
    return _build(values, path, True)


def default_config_text() -> str:
    """The default settings as a commented TOML file (generated from SCHEMA, so it cannot drift)."""
    lines = ["# CamStyle settings.",
             "# Every key is optional: a missing one keeps the default shown here.",
             "# Check this file with `camstyle config`; command-line flags override it.", ""]
    for section, settings in SCHEMA.items():
        lines.append(f"# {SECTION_HELP[section]}")
        lines.append(f"[{section}]")
        for key, setting in settings.items():
            lines.extend(f"# {line}" for line in setting.help.splitlines())
            lines.append(f"{key} = {toml_value(setting.default)}")
        lines.append("")
    return "\n".join(lines)


def write_default_config(path: str | Path | None = None, force: bool = False) -> Path:
    """Write the commented default file atomically; refuse to replace an existing one unless forced."""
    path = Path(path) if path is not None else paths.config_file()
    if path.exists() and not force:
        raise ConfigError(f"Config file {path} already exists; it was left unchanged.",
                          "Use `camstyle config --init --force` to replace it with the defaults.")
    atomic.write_text(path, default_config_text())
    return path

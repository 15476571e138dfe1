"""Config: defaults, strict validation that names the bad key, overrides, and the `camstyle config` command."""

from __future__ import annotations

import dataclasses
import errno
import os

import pytest

from camstyle import config, paths
from camstyle.cli import main
from camstyle.config import Config, load_config, parse_hotkey
from camstyle.errors import ConfigError, StorageError

tomllib = config.tomllib


def write(text: str):
    path = paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_file_gives_the_documented_defaults():
    cfg = load_config()
    assert cfg.path == paths.config_file() and not cfg.from_file
    assert (cfg.camera.source, cfg.camera.width, cfg.camera.height, cfg.camera.fps, cfg.camera.mjpg) == ("auto", 1280, 720, 30, True)
    assert (cfg.style.name, cfg.style.strength, cfg.style.inference_size, cfg.style.guided_upscale) == ("", 1.0, "auto", True)
    assert (cfg.style.preserve_colors, cfg.style.mirror) == (False, False)
    assert (cfg.output.kind, cfg.output.device, cfg.output.width, cfg.output.height, cfg.output.fps, cfg.output.record_path) == \
        ("auto", "", 1280, 720, 30, "")
    assert (cfg.runtime.provider, cfg.runtime.threads) == ("auto", 0)
    assert cfg.hotkeys.enabled is True
    assert (cfg.hotkeys.next_style, cfg.hotkeys.prev_style, cfg.hotkeys.strength_up, cfg.hotkeys.strength_down,
            cfg.hotkeys.pause, cfg.hotkeys.mirror, cfg.hotkeys.privacy) == (
        "<ctrl>+<alt>+n", "<ctrl>+<alt>+b", "<ctrl>+<alt>+<up>", "<ctrl>+<alt>+<down>",
        "<ctrl>+<alt>+s", "<ctrl>+<alt>+m", "<ctrl>+<alt>+o")


def test_dataclass_defaults_match_the_schema():
    for section, settings in config.SCHEMA.items():
        fields = {f.name: f.default for f in dataclasses.fields(config.SECTION_TYPES[section])}
        assert fields == {key: s.default for key, s in settings.items()}, section


def test_default_file_text_is_commented_and_parses_to_the_defaults():
    text = config.default_config_text()
    assert text.count("#") > 20
    parsed = tomllib.loads(text)
    assert {s: set(t) for s, t in parsed.items()} == {s: set(k) for s, k in config.SCHEMA.items()}
    assert load_config(write(text)) == Config()
    assert load_config().from_file


def test_partial_file_keeps_other_defaults():
    cfg = load_config(write('[style]\nstrength = 0.5\nname = "mosaic"\n[output]\nkind = "null"\n'))
    assert cfg.style.strength == 0.5 and isinstance(cfg.style.strength, float)
    assert cfg.style.name == "mosaic" and cfg.output.kind == "null"
    assert cfg.camera == config.CameraConfig() and cfg.style.inference_size == "auto"


def test_strength_message_names_key_value_file_and_range():
    path = write("[style]\nstrength = 1.7\n")
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert caught.value.message == f"style.strength = 1.7 in {path}: must be a number from 0 to 1."
    assert "default is style.strength = 1.0" in caught.value.hint


@pytest.mark.parametrize("section, key, value, reason", [
    ("style", "strength", "-0.1", "from 0 to 1"),
    ("style", "strength", '"high"', "from 0 to 1"),
    ("style", "steady", "0.95", "from 0 to 0.9"),
    ("style", "steady", "\"fast\"", "\"auto\" or a number"),
    ("style", "inference_size", '"big"', '"auto" or a size like "640x360"'),
    ("style", "inference_size", '"640x0"', "each side from 8 to 4096"),
    ("style", "inference_size", "640", '"auto" or a size like "640x360"'),
    ("style", "guided_upscale", '"yes"', "true or false"),
    ("style", "name", '"Starry Night"', "style name"),
    ("style", "mirror", '"yes"', "true or false"),
    ("camera", "fps", "0", "from 1 to 120"),
    ("output", "fps", "121", "from 1 to 120"),
    ("camera", "width", "-5", "whole number"),
    ("camera", "height", "720.0", "whole number"),
    ("camera", "mjpg", "1", "true or false"),
    ("camera", "source", '""', '"auto", "demo"'),
    ("output", "kind", '"file"', '"auto", "virtualcam", "preview", "null", "record"'),
    ("output", "device", "10", "string"),
    ("runtime", "provider", '"opencl"', '"tensorrt", "cuda", "directml", "coreml", "cpu"'),
    ("runtime", "threads", "-1", "from 0 to 256"),
    ("hotkeys", "enabled", '"on"', "true or false"),
    ("hotkeys", "next_style", '"<ctrl>+<nope>"', "key combination"),
    ("hotkeys", "pause", '"ctrl+alt+p"', "key combination"),
    ("hotkeys", "mirror", '"m"', "<ctrl>, <alt> or <cmd>"),
    ("hotkeys", "privacy", '"<ctrl>+<alt>"', "besides the modifiers"),
])
def test_each_bad_value_is_reported_with_its_key(section, key, value, reason):
    path = write(f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as caught:
        load_config()
    message = caught.value.message
    assert message.startswith(f"{section}.{key} = ") and str(path) in message
    assert reason in message


def test_inference_size_is_auto_or_a_size_and_old_keys_say_what_replaced_them():
    assert load_config(write('[style]\ninference_size = "640X360"\n')).style.inference_size == "640x360"
    assert load_config(write('[style]\ninference_size = " Auto "\n')).style.inference_size == "auto"
    assert config.parse_inference_size("auto") == "auto" and config.parse_inference_size("960×540") == (960, 540)
    for bad in ("", "640x", "x360", "-640x360", "640x360x2", "6.5x3", None, 640):
        with pytest.raises(ValueError):
            config.parse_inference_size(bad)
    path = write("[style]\ninference_width = 640\n")
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert caught.value.message == (f"style.inference_width in {path} is no longer a setting: "
                                    "style.inference_size replaced it.")
    assert 'style.inference_size = "auto"' in caught.value.hint
    with pytest.raises(ConfigError, match="on the command line: must be"):
        config.Config().with_overrides({"style.inference_size": "huge"})


def test_unknown_section_and_key_are_named_with_a_suggestion():
    path = write("[sytle]\nstrength = 0.5\n")
    with pytest.raises(ConfigError, match=r"Unknown section \[sytle\]") as caught:
        load_config()
    assert str(path) in caught.value.message and "[style]" in caught.value.hint

    write("[camera]\nwidht = 640\n")
    with pytest.raises(ConfigError, match=r"Unknown key camera\.widht") as caught:
        load_config()
    assert "camera.width" in caught.value.hint


def test_a_value_where_a_section_belongs_is_reported():
    write('style = "mosaic"\n')
    with pytest.raises(ConfigError, match=r"style = \"mosaic\" in .*must be a section \[style\]"):
        load_config()


def test_toml_syntax_error_names_the_line():
    path = write("[style]\nstrength = 0.5\nname = mosaic\n")
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert str(path) in caught.value.message and "not valid TOML" in caught.value.message
    assert "line 3" in caught.value.message


def test_unreadable_encoding_is_a_config_error():
    path = paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'[style]\nname = "\xff"\n')
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config()


def test_two_actions_on_the_same_keys_are_refused():
    write('[hotkeys]\npause = "<alt>+<ctrl>+N"\n')
    with pytest.raises(ConfigError, match=r"hotkeys\.pause = .*same keys as hotkeys\.next_style"):
        load_config()
    assert load_config(write('[hotkeys]\nnext_style = ""\npause = "<ctrl>+<alt>+n"\n')).hotkeys.next_style == ""


def test_parse_hotkey_canonical_form():
    assert parse_hotkey("<ctrl>+<alt>+n") == parse_hotkey("<alt_l>+<CTRL_R>+N") == frozenset({"ctrl", "alt", "n"})
    assert parse_hotkey("<ctrl>++") == frozenset({"ctrl", "+"})
    assert parse_hotkey("<cmd>+<shift>+<f9>") == frozenset({"cmd", "shift", "<f9>"})
    for bad in ("", "<ctrl>+", "<ctrl>+<ctrl>", "<ctrl>+ab", "<>", "<ctrl>+<nope>"):
        with pytest.raises(ValueError):
            parse_hotkey(bad)


def test_overrides_are_validated_like_the_file():
    cfg = load_config(write("[style]\nstrength = 0.5\n"))
    changed = cfg.with_overrides({"style.strength": 0.25, "output.kind": "null", "camera.source": None})
    assert changed.style.strength == 0.25 and changed.output.kind == "null"
    assert changed.camera.source == "auto" and changed.path == cfg.path
    assert cfg.style.strength == 0.5, "the original is unchanged"
    assert changed.get("output.kind") == "null"

    with pytest.raises(ConfigError) as caught:
        cfg.with_overrides({"style.strength": 1.7})
    assert caught.value.message == "style.strength = 1.7 on the command line: must be a number from 0 to 1."
    with pytest.raises(ConfigError, match="Unknown setting style.strenght") as caught:
        cfg.with_overrides({"style.strenght": 0.3})
    assert "style.strength" in caught.value.hint
    with pytest.raises(ConfigError, match="same keys as hotkeys.next_style"):
        cfg.with_overrides({"hotkeys.mirror": "<ctrl>+<alt>+n"})


def test_init_writes_atomically_and_refuses_to_overwrite():
    path = config.write_default_config()
    assert path == paths.config_file() and path.read_text() == config.default_config_text()
    path.write_text("[style]\nstrength = 0.3\n")
    with pytest.raises(ConfigError, match="already exists") as caught:
        config.write_default_config()
    assert "--force" in caught.value.hint
    assert path.read_text() == "[style]\nstrength = 0.3\n"
    config.write_default_config(force=True)
    assert load_config() == Config()
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.toml"], "no temporary files left behind"


def test_init_on_a_full_disk_keeps_the_old_file(monkeypatch):
    path = write("[style]\nstrength = 0.3\n")

    def disk_full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(StorageError, match="Disk full"):
        config.write_default_config(force=True)
    assert path.read_text() == "[style]\nstrength = 0.3\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.toml"]


# ------------------------------------------------------------------ the `camstyle config` command

def test_config_command_path_init_show(capsys):
    assert main(["config", "--path"]) == 0
    assert capsys.readouterr().out.strip() == str(paths.config_file())

    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "not created yet" in out and "style.strength" in out and "<ctrl>+<alt>+n" in out

    assert main(["config", "--init"]) == 0
    assert paths.config_file().exists()
    capsys.readouterr()
    assert main(["config", "--init"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["config", "--init", "--force"]) == 0

    write('[style]\nstrength = 0.4\n[output]\nkind = "preview"\n')
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "valid" in out and "0.4" in out and '"preview"' in out and "changed" in out


def test_config_command_exits_non_zero_naming_the_key(capsys):
    write("[style]\nstrength = 1.7\n")
    assert main(["config"]) == 2
    captured = capsys.readouterr()
    assert "style.strength = 1.7" in captured.err and "from 0 to 1" in captured.err
    assert "Traceback" not in captured.err + captured.out

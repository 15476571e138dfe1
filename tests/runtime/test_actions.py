"""The actions table (camstyle.actions) and every place that reads it."""

from __future__ import annotations

import argparse
import ast
import dataclasses
from pathlib import Path

import pytest

from camstyle import actions, config
from camstyle.actions import ACTIONS, CTL_ACTIONS, HOTKEY_ACTIONS
from camstyle.control import dashboard, hotkeys
from camstyle.config import Config
from camstyle.engine.controller import Controller
from camstyle.errors import CamStyleError

PACKAGE = Path(__file__).resolve().parents[2] / "camstyle"


def test_every_action_reaches_its_controller_handler_with_its_value(monkeypatch):
    controller = Controller(Config())
    controller.stylizer = object()  # past "still starting"; the handlers below are stand-ins
    calls = []
    for action in ACTIONS:
        assert callable(getattr(Controller, action.handler, None)), action.name
        monkeypatch.setattr(controller, action.handler,
                            lambda *args, _handler=action.handler: calls.append((_handler, args)))
    monkeypatch.setattr(controller, "status", lambda: {})
    for action in ACTIONS:
        calls.clear()
        controller.dispatch(action.name.upper(), "given")
        expected = (action.preset,) if action.preset is not None else ("given",) if action.value else ()
        assert calls == [(action.handler, expected)], action.name


def test_unknown_actions_and_early_actions_are_refused():
    controller = Controller(Config())
    with pytest.raises(CamStyleError, match="still starting"):
        controller.dispatch("next")
    assert controller.dispatch("status")["style"] == ""
    controller.stylizer = object()
    with pytest.raises(CamStyleError, match="Unknown action 'explode'") as caught:
        controller.dispatch("explode")
    assert caught.value.hint == "Use one of: " + ", ".join(actions.NAMES) + "."


def _ctl_parser() -> argparse.ArgumentParser:
    from camstyle.cli import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices["ctl"]


def test_ctl_offers_the_table_s_ctl_actions_with_their_help():
    from camstyle.commands import ctl

    choices = next(a for a in _ctl_parser()._actions if a.dest == "action").choices
    assert list(choices) == [a.name for a in CTL_ACTIONS] == \
        "next prev style strength steady size pause mirror privacy status quit".split()
    assert set(ctl.NEEDS_VALUE) == {a.name for a in CTL_ACTIONS if a.value} == {"style", "strength", "steady", "size"}
    description = _ctl_parser().description
    for action in CTL_ACTIONS:
        assert f"camstyle ctl {action.name}" in description and action.help in description


def test_config_hotkeys_are_the_table_s_hotkey_settings():
    settings = {a.hotkey.setting: a.hotkey.default for a in HOTKEY_ACTIONS}
    assert settings == {"next_style": "<ctrl>+<alt>+n", "prev_style": "<ctrl>+<alt>+b",
                        "strength_up": "<ctrl>+<alt>+<up>", "strength_down": "<ctrl>+<alt>+<down>",
                        "pause": "<ctrl>+<alt>+s", "mirror": "<ctrl>+<alt>+m", "privacy": "<ctrl>+<alt>+o"}
    schema = {key: s.default for key, s in config.SCHEMA["hotkeys"].items() if key != "enabled"}
    fields = {f.name: f.default for f in dataclasses.fields(config.HotkeysConfig) if f.name != "enabled"}
    assert schema == fields == settings
    assert hotkeys.bindings_from_config(config.HotkeysConfig()) == {a.name: a.hotkey.default for a in HOTKEY_ACTIONS}
    for action in HOTKEY_ACTIONS:
        assert f"`{actions.ctl_command(action)}`" in hotkeys.SHORTCUT_ADVICE


def test_dashboard_keys_and_help_come_from_the_table():
    assert dashboard.KEY_ACTIONS == {key: a.name for a in ACTIONS if a.keys for key in a.keys.keys}
    labels = [label for _, label in dashboard.KEY_HELP]
    assert labels == list(dict.fromkeys(a.keys.label for a in ACTIONS if a.keys))
    assert dict((label, keys) for keys, label in dashboard.KEY_HELP)["steady"] == "[/]"


def test_hotkey_actions_have_a_ctl_form():
    assert actions.ctl_command(actions.BY_NAME["strength_up"]) == "camstyle ctl strength +0.1"
    assert actions.ctl_command(actions.BY_NAME["steady_down"]) == "camstyle ctl steady -0.1"
    assert all(actions.ctl_command(a) for a in HOTKEY_ACTIONS)


# Lowest first; a module may import from its own layer and the layers below it only.
LAYERS = [{"errors", "paths", "atomic", "frames", "stats"}, {"capture", "stylize", "publish", "actions"},
          {"config"}, {"engine"}, {"control"}, {"system"}, {"commands", "cli", "__main__", "__init__"}]


def test_imports_only_go_down_the_layers():
    rank = {part: i for i, layer in enumerate(LAYERS) for part in layer}
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        part = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        assert part in rank, f"{part} has no layer"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [f"{node.module}.{alias.name}" for alias in node.names] if node.module == "camstyle" \
                    else [node.module]
            else:
                continue
            for name in names:
                if (name.split(".")[0] == "torch" or name.startswith("camstyle.training")) and part != "commands":
                    wrong.append(f"{path.relative_to(PACKAGE.parent)} imports {name}: only training code may")
                target = name.split(".")[1] if name.startswith("camstyle.") else None
                if target in rank and rank[target] > rank[part]:
                    wrong.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert wrong == []

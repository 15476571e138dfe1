"""Every test runs against a private temporary home: config, styles and sockets never touch the user's."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# tests/helpers holds the fakes and model builders the tests import by bare name
sys.path.insert(0, str(Path(__file__).parent / "helpers"))


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    for var, sub in (("HOME", ""), ("XDG_CONFIG_HOME", ".config"), ("XDG_DATA_HOME", ".local/share"),
                     ("XDG_CACHE_HOME", ".cache"), ("XDG_RUNTIME_DIR", "run")):
        path = home / sub if sub else home
        path.mkdir(parents=True, exist_ok=True)
        if var == "XDG_RUNTIME_DIR":
            path.chmod(0o700)
        monkeypatch.setenv(var, str(path))
    monkeypatch.delenv("CAMSTYLE_DEBUG", raising=False)
    return home

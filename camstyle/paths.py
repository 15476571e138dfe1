"""Where CamStyle keeps its files, per OS conventions (platformdirs).

Linux honours XDG_CONFIG_HOME / XDG_DATA_HOME / XDG_RUNTIME_DIR, which is also how tests
point CamStyle at a temporary home.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import platformdirs

APP_NAME = "camstyle"


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def config_file() -> Path:
    return config_dir() / "config.toml"


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def user_styles_dir() -> Path:
    """Styles trained by `camstyle train` or added by hand."""
    return data_dir() / "styles"


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def bundled_styles_dir() -> Path:
    """Styles shipped with CamStyle: the repository's styles/ folder, installed as package data."""
    try:
        import camstyle.bundled_styles as pkg  # mapped onto styles/ by pyproject.toml

        locations = list(getattr(pkg, "__path__", []))
        if locations:
            return Path(locations[0])
    except ImportError:
        pass
    return Path(__file__).resolve().parent.parent / "styles"


def control_socket_path() -> Path:
    """The local control channel of a running daemon, reachable by the same user only."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    # XDG_RUNTIME_DIR is the session's own (resolved: it may be a link); the shared temporary
    # folder's camstyle-UID is checked, never followed, when the daemon starts (camstyle/control/channel.py).
    base = Path(runtime).resolve() if runtime and Path(runtime).is_dir() else Path(tempfile.gettempdir()) / f"camstyle-{_user_id()}"
    return base / "camstyle.sock"


def _user_id() -> str:
    getuid = getattr(os, "getuid", None)
    return str(getuid()) if getuid else os.environ.get("USERNAME", "user")

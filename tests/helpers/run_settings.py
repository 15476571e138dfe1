"""A run's Config and RunOptions from short keyword arguments, for tests that start a Controller."""

from __future__ import annotations

from camstyle.config import Config
from camstyle.engine.assembly import RunOptions

KEYS = {"source": "camera.source", "style": "style.name", "strength": "style.strength",
        "inference_size": "style.inference_size", "guided_upscale": "style.guided_upscale", "steady": "style.steady",
        "preserve_colors": "style.preserve_colors", "mirror": "style.mirror", "output": "output.kind",
        "device": "output.device", "fps": "output.fps", "record_path": "output.record_path",
        "provider": "runtime.provider", "threads": "runtime.threads"}
OPTIONS = {"unattended", "max_frames", "overwrite", "virtualcam_backend"}


def run_settings(output_size: tuple[int, int] | None = None, camera_size: tuple[int, int] | None = None,
                 **values) -> tuple[Config, RunOptions]:
    """run_settings(style="swap", output="null", output_size=(64, 36), inference_size=(64, 36))."""
    options = {key: values.pop(key) for key in list(values) if key in OPTIONS}
    overrides = {KEYS[key]: value for key, value in values.items()}
    if isinstance(overrides.get("style.inference_size"), tuple):
        overrides["style.inference_size"] = "{}x{}".format(*overrides["style.inference_size"])
    if output_size:
        overrides.update({"output.width": output_size[0], "output.height": output_size[1]})
    if camera_size:
        overrides.update({"camera.width": camera_size[0], "camera.height": camera_size[1]})
    return Config().with_overrides(overrides), RunOptions(**options)

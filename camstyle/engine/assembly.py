"""Opening a run's parts before its threads start: the inference provider, the styles, the
size ladder, the stylizer with its first style and start-up inference size, the outputs and
the source.

open_parts() either returns every part open or raises with what it opened closed again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from camstyle.config import Config, parse_inference_size
from camstyle.errors import ModelError
from camstyle.stats import OtherProcessesLoad
from camstyle.stylize import autosize
from camstyle.stylize import styles as styles_mod

if TYPE_CHECKING:
    from camstyle.capture.base import Source
    from camstyle.publish.outputs import Output
    from camstyle.stylize.stylizer import Stylizer

STYLES_HINT = ("Train one with `camstyle train PAINTING --name NAME`, or copy a style's .onnx and .json "
               "into the folder `camstyle styles` shows.")
NO_STYLES_NOTICE = "No styles are installed: passing the camera through unstyled. " + STYLES_HINT


@dataclass
class Parts:
    """A run's open parts; whoever receives them owns them and closes source, outputs and stylizer."""

    source: Source
    outputs: list[Output]
    stylizer: Stylizer  # its first style loaded, if there is one
    styles: list[styles_mod.StyleInfo]
    rungs: list[tuple[int, int]]  # the size ladder, smallest first
    sizer: autosize.SizeGovernor
    size_measured: dict[tuple[int, int], float] = field(default_factory=dict)  # start-up stylize ms per size


@dataclass(frozen=True)
class RunOptions:
    """How a run was started: what it needs beyond the settings (camstyle.config.Config)."""

    unattended: bool = False  # started at login or as a service: never plays the demo, waits for a camera
    max_frames: int = 0  # stop after this many published frames (0 = run until stopped)
    overwrite: bool = False  # a recording may replace an existing file (else it takes a numbered name)
    virtualcam_backend: str | None = None  # a pyvirtualcam backend name (tests register their own)


def open_parts(config: Config, options: RunOptions, style_dirs: list[tuple[Path, str]] | None,
               notify: Callable[[str], None], source: Source | None = None, outputs: list[Output] | None = None,
               capture_factory: Callable | None = None) -> Parts:
    """Open what a run needs, in the caller's thread; notices go to `notify`, from this thread
    or from the one that loads the first style.

    `source` and `outputs`, when given, are already open and are used as they are. The
    outputs open first, so that an unwritable recording or a missing device fails before the
    camera is taken; the first style loads on a thread while the source opens, as both take a
    while. Anything the user must fix raises a CamStyleError; on any failure the parts opened
    here are closed again (the given source and outputs stay open, the caller's to close).
    """
    from camstyle.capture import choose
    from camstyle.publish.outputs import open_outputs
    from camstyle.stylize.stylizer import Stylizer, inference_shape

    output_size = (config.output.width, config.output.height)
    setting = parse_inference_size(config.style.inference_size)  # "auto" or (width, height)
    opened_source = opened_outputs = stylizer = None
    try:
        provider_names = _providers(config, notify)
        styles = styles_mod.discover_styles(style_dirs)
        multiple = autosize.lcm_multiple(*(style.size_multiple for style in styles))
        rungs = autosize.ladder(output_size, multiple)
        pinned = None if setting == "auto" else inference_shape(setting, output_size, multiple)
        stylizer = Stylizer(config.style, provider_names, config.runtime.threads, pinned or rungs[0],
                            output_size, multiple, on_message=notify)
        wanted = styles_mod.find_style(config.style.name, style_dirs) if config.style.name else None
        if outputs is None:
            outputs, notices = open_outputs(config.output, options.virtualcam_backend, options.overwrite)
            opened_outputs = outputs
            for notice in notices:
                notify(notice)
        loaded: dict = {}

        def load_first_style() -> None:
            try:
                if wanted is not None:
                    stylizer.load(wanted)
                else:
                    _load_first_working_style(stylizer, styles_mod.in_start_order(styles), notify)
                loaded["size"] = _start_size(stylizer, rungs, setting, config.output.fps)
            except BaseException as exc:  # raised below, in the caller's thread
                loaded["error"] = exc

        loader = threading.Thread(target=load_first_style, name="camstyle-first-style")
        loader.start()
        try:
            if source is None:
                source = opened_source = choose.open_source(config.camera, capture_factory,
                                                            unattended=options.unattended)
        finally:
            loader.join()
        if "error" in loaded:
            raise loaded["error"]
        if source.notice:
            notify(source.notice)
    except BaseException:
        if opened_source is not None:
            opened_source.close()
        for output in opened_outputs or []:
            output.close(clean=False)
        if stylizer is not None:
            stylizer.close()
        raise
    sizer, measured = loaded["size"]
    return Parts(source, outputs, stylizer, styles, rungs, sizer, measured)


def _providers(config: Config, notify: Callable[[str], None]) -> list[str]:
    """The ONNX Runtime providers to use, best first; a GPU whose provider fails is worth a notice."""
    from camstyle.stylize import providers

    names = providers.select_providers(config.runtime.provider)
    if config.runtime.provider == "auto" and names[0] == "CPUExecutionProvider":
        # A GPU is there but its provider fails (missing CUDA/cuDNN): worth saying once.
        for name, works, detail in providers.probe_providers():
            if not works and name != "cpu" and "no NVIDIA driver" not in detail:
                notify(f"the {name} provider cannot run here ({detail}); using the CPU - see `camstyle doctor`")
    import cv2

    # A stylizing step runs the network, then OpenCV (flow, remaps, upscaling): the two take
    # turns, so OpenCV may use the same cores as inference. On two cores that takes a few
    # milliseconds off a 512x288 step (docs/research/inference-size.md).
    cv2.setNumThreads(providers.default_threads())
    return names


def _load_first_working_style(stylizer: Stylizer, styles: list[styles_mod.StyleInfo],
                              notify: Callable[[str], None]) -> None:
    """No style named: the first one that loads, in start order; a broken one is skipped with a notice."""
    if not styles:
        notify(NO_STYLES_NOTICE)
        return
    problems = []
    for style in styles:
        try:
            stylizer.load(style)
        except ModelError as exc:
            problems.append(exc)
            notify(f"skipping style '{style.name}': {exc.message}")
            continue
        return
    raise ModelError(f"None of the installed styles can be loaded ({len(problems)} tried).", problems[0].hint)


def _start_size(stylizer: Stylizer, rungs: list[tuple[int, int]], setting, fps: float
                ) -> tuple[autosize.SizeGovernor, dict[tuple[int, int], float]]:
    """The size governor and the first inference size (applied to the stylizer): the configured
    size, or (auto) the largest ladder size whose stylize time, measured now with the loaded
    style, fits the budget (on the CPU started a rung below, until the running pipeline
    confirms it: autosize.start_rungs). Also returns what was measured, per size."""
    budget = autosize.budget_ms(fps)
    measured: dict[tuple[int, int], float] = {}
    others = OtherProcessesLoad()
    if setting != "auto":
        size = stylizer.inference_size
        sizer = autosize.SizeGovernor(rungs, budget, pinned=size, others=others,
                                      pinned_reason=f"fixed at {size[0]}x{size[1]} by the inference_size setting")
    elif stylizer.model is None:
        sizer = autosize.SizeGovernor(rungs, budget, reason="no style to measure", others=others)
    else:
        gpu = autosize.is_gpu(stylizer.provider)
        pick, measured = autosize.choose(rungs, stylizer.measure, budget, gpu=gpu)
        start, confirm = autosize.start_rungs(pick, gpu)
        rung = rungs[pick]
        reason = f"measured at start: {rung[0]}x{rung[1]} stylizes in {measured[rung]:.0f} ms, budget {budget:.0f} ms"
        if confirm is not None:
            reason += f"; from {rungs[start][0]}x{rungs[start][1]} until the running time confirms it"
        sizer = autosize.SizeGovernor(rungs, budget, start, autosize.expected_times(rungs, measured),
                                      reason=reason, confirm=confirm, others=others)
    stylizer.inference_size = sizer.size
    return sizer, measured

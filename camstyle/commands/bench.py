"""Measure how fast CamStyle runs on this machine.

Four parts: the whole pipeline (demo clip -> stylizer -> no output at the configured output
size and frame rate): published fps, capture-to-publish latency, dropped frames, memory, the
time to the first stylized frame and the inference size it ran at; the style network alone
(milliseconds per frame at that size, per style); the first style at every size of the
inference-size ladder (network alone, and a whole stylizing step with steadying and
upscaling) with the size "auto" would pick; and the steadying step alone.
With no style installed, a network with the cost of the default architecture (random
weights, in the form export writes) stands in.
"""

from __future__ import annotations

import argparse
import json

from camstyle.stylize import providers

HELP = "measure style speed and whole-pipeline fps/latency on this machine"

SYNTHETIC = "synthetic"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--style", metavar="NAME", help="benchmark only this style")
    parser.add_argument("--seconds", type=float, default=10.0, metavar="S", help="length of the pipeline run (default 10)")
    parser.add_argument("--provider", choices=providers.CHOICES,
                        help="ONNX Runtime execution provider (default: from the config)")
    parser.add_argument("--inference-size", metavar="auto|WxH", help="size the network runs at (default: from the config)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--config", metavar="FILE", help="config file to use instead of the default one")


def time_model(model, size: tuple[int, int], max_runs: int = 40, max_seconds: float = 3.0) -> dict:
    """Median and p95 milliseconds of model.run on a size[0] x size[1] frame (after a warm-up)."""
    import time

    import numpy as np

    from camstyle.stats import percentile

    frame = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    for _ in range(2):
        model.run(frame)
    times = []
    deadline = time.perf_counter() + max_seconds
    while len(times) < max_runs and (len(times) < 5 or time.perf_counter() < deadline):
        start = time.perf_counter()
        model.run(frame)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"median_ms": round(percentile(times, 50), 2), "p95_ms": round(percentile(times, 95), 2), "runs": len(times)}


def time_steadier(size: tuple[int, int], hold: float, runs: int = 40) -> dict:
    """Median and p95 milliseconds of one steadying step on a panning picture of `size`."""
    import time

    import numpy as np

    from camstyle.stats import percentile
    from camstyle.stylize.steady import Steadier

    rng = np.random.default_rng(0)
    wide = rng.integers(0, 256, (size[1], size[0] + runs + 2), dtype=np.uint8)
    styled = rng.uniform(0, 255, (size[1], size[0], 3)).astype(np.float32)
    steadier, times = Steadier(hold or 0.5), []
    for i in range(runs + 2):
        grey = np.ascontiguousarray(wide[:, i:i + size[0]])
        start = time.perf_counter()
        steadier(grey, styled)
        if i >= 2:  # the first step only remembers the frame
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"hold": hold, "median_ms": round(percentile(times, 50), 2), "p95_ms": round(percentile(times, 95), 2)}


def run_pipeline(cfg, style_dirs, seconds: float) -> dict:
    """Run demo -> stylizer -> null output for `seconds`; the run's statistics."""
    import time

    from camstyle.engine.controller import Controller
    from camstyle.stats import peak_rss_mb

    controller = Controller(cfg, style_dirs=style_dirs)
    cpu0 = time.process_time()
    controller.start()
    try:
        wall0 = time.perf_counter()
        controller.wait(seconds)
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
    finally:
        controller.stop()
    status = controller.final_status
    span = controller.metrics.publish_span()
    frames_out = status["frames_out"]
    return {
        "style": status["style"], "source": status["source"], "seconds": round(wall, 2),
        "output_size": status["output_size"], "inference_size": status["inference_size"],
        "size_changes": controller.size_history(),
        "fps_target": cfg.output.fps, "steady": status["steady"],
        "fps_out": round((frames_out - 1) / span, 2) if span > 0 else 0.0,
        "fps_styled": round(status["frames_styled"] / wall, 2), "fps_in": round(status["frames_in"] / wall, 2),
        "latency_ms": status["latency_ms"], "stage_ms": status["stage_ms"], "dropped": status["dropped"],
        "frames_in": status["frames_in"], "frames_out": frames_out,
        "first_frame_s": status["first_frame_s"], "cpu_percent": round(100 * cpu / wall, 1),
        "rss_mb": status["rss_mb"], "rss_peak_mb": round(peak_rss_mb(), 1),
    }


def run(args: argparse.Namespace) -> int:
    import os
    import tempfile
    from pathlib import Path

    from camstyle.config import inference_size_option, load_config
    from camstyle.errors import ConfigError
    from camstyle.stylize.styles import discover_styles, find_style, in_start_order

    if args.seconds <= 0:
        raise ConfigError(f"--seconds {args.seconds:g} must be more than 0.")
    inference_size_option(args.inference_size or None)
    cfg = load_config(args.config).with_overrides({
        "camera.source": "demo", "output.kind": "null", "output.record_path": "", "style.mirror": False,
        "runtime.provider": args.provider, "style.inference_size": args.inference_size})
    styles = [find_style(args.style)] if args.style else in_start_order(discover_styles())
    with tempfile.TemporaryDirectory(prefix="camstyle-bench-") as scratch:
        style_dirs = None
        if not styles:
            from camstyle.stylize.architectures import DEFAULT_ARCHITECTURE
            from camstyle.stylize.onnx_graphs import default_model
            from camstyle.stylize.styles import write_style

            styles = [write_style(Path(scratch), SYNTHETIC, default_model(),
                                  {"title": f"Synthetic ({DEFAULT_ARCHITECTURE} architecture, random weights)"})]
            style_dirs = [(Path(scratch), "bench")]
        # The pipeline first, so that its start-up time includes probing providers.
        pipeline = run_pipeline(cfg.with_overrides({"style.name": styles[0].name}), style_dirs, args.seconds)
        start_size = tuple(pipeline["size_changes"][0]["size"]) if pipeline["size_changes"] else None
        results = _time_models(styles, cfg, start_size)
        results["ladder"] = _time_ladder(styles[0], cfg)
        results["steadier"] = time_steadier(tuple(results["inference_size"]), pipeline["steady"])
    results.update(pipeline=pipeline, synthetic=styles[0].name == SYNTHETIC and style_dirs is not None,
                   cpu_count=os.cpu_count())
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        _print_tables(results)
    return 0


def _time_ladder(style, cfg) -> dict:
    """Model ms and whole stylizing ms of `style` at every ladder size, and auto's pick from them."""
    from camstyle.stylize import autosize, providers
    from camstyle.stylize.stylizer import StyleModel, Stylizer

    names = providers.select_providers(cfg.runtime.provider)
    multiple = autosize.lcm_multiple(style.size_multiple)
    output_size = (cfg.output.width, cfg.output.height)
    rungs = autosize.ladder(output_size, multiple)
    stylizer = Stylizer(cfg.style, names, cfg.runtime.threads, rungs[0], output_size, multiple)
    stylizer.load(style)
    model = StyleModel(style.model_path, style.name, names, cfg.runtime.threads, check_size=rungs[0],
                       size_multiple=style.size_multiple)
    budget = autosize.budget_ms(cfg.output.fps)
    rows = []
    for rung in rungs:
        rows.append({"size": list(rung), "model_ms": time_model(model, rung, max_runs=15, max_seconds=1.5)["median_ms"],
                     "stylize_ms": round(stylizer.measure(rung), 2)})
    measured = {tuple(r["size"]): r["stylize_ms"] for r in rows}
    index, _ = autosize.choose(rungs, measured.__getitem__, budget, gpu=autosize.is_gpu(stylizer.provider))
    stylizer.close()
    return {"style": style.name, "provider": providers.describe(names), "budget_ms": round(budget, 2),
            "fits_ms": round(autosize.START_AT * budget, 2), "guided_upscale": cfg.style.guided_upscale,
            "rows": rows, "auto_pick": list(rungs[index])}


def _time_models(styles, cfg, size: tuple[int, int] | None = None) -> dict:
    import time

    from camstyle.config import parse_inference_size
    from camstyle.stylize import providers
    from camstyle.stylize.stylizer import StyleModel, inference_shape

    names = providers.select_providers(cfg.runtime.provider)
    wanted = parse_inference_size(cfg.style.inference_size)
    if size is None:
        size = inference_shape(wanted, (cfg.output.width, cfg.output.height)) if wanted != "auto" else (320, 184)
    threads = cfg.runtime.threads or providers.default_threads()
    models = []
    for style in styles:
        start = time.perf_counter()
        model = StyleModel(style.model_path, style.name, names, threads, check_size=size, size_multiple=style.size_multiple)
        load_ms = (time.perf_counter() - start) * 1000
        models.append({"style": style.name, "provider": model.provider, "inference_size": list(size),
                       "load_ms": round(load_ms, 1), **time_model(model, size)})
        del model
    return {"provider": providers.describe(names), "threads": threads, "inference_size": list(size),
            "providers": [{"name": n, "works": w, "detail": d} for n, w, d in providers.probe_providers()],
            "models": models}


def autosize_share() -> str:
    from camstyle.stylize.autosize import START_AT

    return f"{START_AT:.0%}"


def _print_tables(results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    size = "x".join(map(str, results["inference_size"]))
    console.print(f"Style network alone: {results['provider']}, {results['threads']} threads, {size}",
                  style="italic", markup=False)
    table = Table()
    for column in ("style", "median ms", "p95 ms", "max fps", "load ms"):
        table.add_column(column, justify="left" if column == "style" else "right")
    for m in results["models"]:
        label = m["style"] + (" (no style installed: a stand-in of the same cost)" if results["synthetic"] else "")
        table.add_row(label, f"{m['median_ms']:.1f}", f"{m['p95_ms']:.1f}",
                      f"{1000 / m['median_ms']:.1f}" if m["median_ms"] else "-", f"{m['load_ms']:.0f}")
    console.print(table)
    lad = results["ladder"]
    console.print(f"\nInference-size ladder: {lad['style']} on {lad['provider']}; a whole stylizing step (steadying, "
                  f"{'guided' if lad['guided_upscale'] else 'plain'} upscaling) fits at <= {lad['fits_ms']:.1f} ms "
                  f"({autosize_share()} of the {lad['budget_ms']:.1f} ms budget)", style="italic", markup=False)
    table = Table()
    for column in ("size", "model ms", "stylize ms", ""):
        table.add_column(column, justify="left" if column == "size" else "right")
    for row in lad["rows"]:
        pick = "auto picks this" if row["size"] == lad["auto_pick"] else ""
        table.add_row("x".join(map(str, row["size"])), f"{row['model_ms']:.1f}", f"{row['stylize_ms']:.1f}", pick)
    console.print(table)
    from camstyle.stylize.autosize import is_gpu

    if not is_gpu(lad["provider"]):
        console.print("A run starts a size below the pick and takes it once the running stylize time confirms "
                      "it fits (capture and publishing share the cores).", markup=False)
    st = results["steadier"]
    console.print(f"Steadying step alone: {st['median_ms']:.1f} ms median, {st['p95_ms']:.1f} ms p95 "
                  f"({'on at ' + format(st['hold'], 'g') if st['hold'] else 'off in the config; timed at 0.5'})",
                  markup=False)
    p = results["pipeline"]
    steady = f"steady {p['steady']:g}" if p["steady"] else "steady off"
    console.print(f"\nWhole pipeline: {p['source']} -> {p['style']} ({steady}) -> null output, "
                  f"{'x'.join(map(str, p['output_size']))} at {p['fps_target']:g} fps for {p['seconds']:g} s",
                  style="italic", markup=False)
    table = Table()
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("published fps", f"{p['fps_out']:.1f}"),
        ("stylized fps", f"{p['fps_styled']:.1f}"),
        ("source fps", f"{p['fps_in']:.1f}"),
        ("latency p50 / p95", f"{p['latency_ms']['p50']:.0f} / {p['latency_ms']['p95']:.0f} ms"),
        ("dropped frames", str(p["dropped"])),
        ("inference size", " -> ".join("x".join(map(str, c["size"])) for c in p["size_changes"]) or
         "x".join(map(str, p["inference_size"]))),
        ("first stylized frame", f"{p['first_frame_s']:.2f} s" if p["first_frame_s"] is not None else "-"),
        ("CPU", f"{p['cpu_percent']:.0f} %"),
        ("memory (RSS, peak)", f"{p['rss_mb']:.0f} MB, {p['rss_peak_mb']:.0f} MB"),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)

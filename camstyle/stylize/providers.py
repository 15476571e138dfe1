"""ONNX Runtime execution providers: which ones really work here, and which to use.

onnxruntime lists every provider it was built with, whether or not the driver and libraries
behind it exist, and on failure prints pages of errors and quietly falls back to the CPU.
So each listed provider is probed by running a tiny model on it with its output silenced,
and only providers that produced the right answer are used.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

from camstyle.errors import ConfigError, DeviceError

# (name used in config and on the command line, onnxruntime's name), best first.
PROVIDERS = [
    ("tensorrt", "TensorrtExecutionProvider"),
    ("cuda", "CUDAExecutionProvider"),
    ("directml", "DmlExecutionProvider"),
    ("coreml", "CoreMLExecutionProvider"),
    ("cpu", "CPUExecutionProvider"),
]
ORT_NAMES = dict(PROVIDERS)
SHORT_NAMES = {ort_name: name for name, ort_name in PROVIDERS}
CHOICES = ("auto",) + tuple(name for name, _ in PROVIDERS)

_probe_lock = threading.Lock()
_probe_results: list[tuple[str, bool, str]] | None = None
_dlls_preloaded = False


def quiet_onnxruntime() -> None:
    """Only errors from onnxruntime's own logger; CamStyle reports what matters itself."""
    import onnxruntime as ort

    ort.set_default_logger_severity(3)


@contextlib.contextmanager
def captured_native_output() -> Iterator[io.StringIO]:
    """Send everything written to stdout/stderr, by Python or by native libraries, to a buffer.

    Native libraries write to file descriptors 1 and 2 directly, so those are pointed at a
    temporary file for the duration. Use only while no other thread prints (start-up probes).
    """
    buffer = io.StringIO()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved: list[tuple[int, int]] = []
    sink = tempfile.TemporaryFile(mode="w+b")
    try:
        for fd in (1, 2):
            try:
                saved.append((fd, os.dup(fd)))
                os.dup2(sink.fileno(), fd)
            except OSError:
                continue
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            yield buffer
    finally:
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)
        sink.seek(0)
        buffer.write(sink.read().decode("utf-8", "replace"))
        sink.close()


def _nvidia_driver_present() -> bool:
    """Whether CUDA and TensorRT can possibly work: loading them without a driver costs
    hundreds of MB and seconds for nothing."""
    if sys.platform.startswith("linux"):
        return Path("/proc/driver/nvidia/version").exists() or Path("/dev/nvidiactl").exists()
    if sys.platform == "win32":
        import ctypes.util

        return ctypes.util.find_library("nvcuda") is not None
    return False


def _preload_cuda_libraries() -> None:
    """Let onnxruntime find CUDA/cuDNN from the nvidia-* Python packages, if installed."""
    global _dlls_preloaded
    if _dlls_preloaded:
        return
    _dlls_preloaded = True
    import onnxruntime as ort

    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:
        with contextlib.suppress(Exception):
            preload()


def provider_options(name: str) -> dict:
    """Options that make a provider behave well for a long-running camera (ORT names)."""
    if name == "TensorrtExecutionProvider":
        from camstyle import paths

        cache = paths.cache_dir() / "tensorrt"
        with contextlib.suppress(OSError):
            cache.mkdir(parents=True, exist_ok=True)
        # Building an engine takes a while; cache it so only the first start of a style pays.
        return {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache), "trt_fp16_enable": True}
    if name == "CUDAExecutionProvider":
        return {"cudnn_conv_algo_search": "HEURISTIC"}
    return {}


def session_providers(names: list[str]) -> list[tuple[str, dict]]:
    """`names` (ORT names) with their options, ready for InferenceSession(providers=...)."""
    return [(name, provider_options(name)) for name in names]


def _last_error_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not set(line.strip()) <= {"*"}]
    for line in reversed(lines):
        if "error" in line.lower() or "fail" in line.lower():
            # onnxruntime's lines carry a long source location prefix; keep the message.
            return line.split(" : ")[-1].split("with error: ")[-1][:200]
    return lines[-1][:200] if lines else ""


def _probe_one(ort_name: str) -> tuple[bool, str]:
    import numpy as np
    import onnxruntime as ort

    from camstyle.stylize.onnx_graphs import probe_model

    if ort_name in ("CUDAExecutionProvider", "TensorrtExecutionProvider"):
        if not _nvidia_driver_present():
            return False, "no NVIDIA driver found"
        _preload_cuda_libraries()
    options = ort.SessionOptions()
    options.log_severity_level = 4
    x = np.random.default_rng(0).random((1, 3, 8, 8), dtype=np.float32)
    start = time.perf_counter()
    with captured_native_output() as out:
        try:
            session = ort.InferenceSession(probe_model(), options, providers=session_providers([ort_name]))
            used = session.get_providers()
            y = session.run(None, {"input": x})[0] if used and used[0] == ort_name else None
        except Exception as exc:  # a provider failing to load is an answer, not a crash
            return False, _last_error_line(str(exc)) or type(exc).__name__
    if y is None:
        return False, _last_error_line(out.getvalue()) or "onnxruntime fell back to the CPU"
    if y.shape != x.shape or not np.allclose(y, x, atol=1e-2):
        return False, "ran, but returned wrong results"
    return True, f"ran a test model in {(time.perf_counter() - start) * 1000:.0f} ms"


def probe_providers(refresh: bool = False) -> list[tuple[str, bool, str]]:
    """[(name, works, detail)] for every provider this onnxruntime build offers, best first.

    Each is tried by really running a one-node model; results are kept for the process.
    """
    global _probe_results
    with _probe_lock:
        if _probe_results is None or refresh:
            import onnxruntime as ort

            quiet_onnxruntime()
            available = set(ort.get_available_providers())
            results = []
            for name, ort_name in PROVIDERS:
                if ort_name in available:
                    works, detail = _probe_one(ort_name)
                    results.append((name, works, detail))
            _probe_results = results
        return list(_probe_results)


def select_providers(preference: str = "auto") -> list[str]:
    """onnxruntime provider names to create sessions with, best first, CPU always last.

    "auto" takes every provider that works; naming one that does not work is an error
    rather than a silent fall back, because the user asked for it.
    """
    preference = (preference or "auto").strip().lower()
    if preference not in CHOICES:
        raise ConfigError(f"Unknown provider '{preference}'.", f"Use one of: {', '.join(CHOICES)}.")
    if preference == "cpu":
        return ["CPUExecutionProvider"]
    results = probe_providers()
    working = [ORT_NAMES[name] for name, works, _ in results if works and name != "cpu"]
    if preference == "auto":
        return working + ["CPUExecutionProvider"]
    for name, works, detail in results:
        if name == preference:
            if works:
                return [ORT_NAMES[name], "CPUExecutionProvider"]
            raise DeviceError(f"The {preference} provider does not work on this machine: {detail}.",
                              "Use --provider auto to let CamStyle pick the best one that works; "
                              "`camstyle doctor` lists what each provider needs.")
    raise DeviceError(f"This onnxruntime build has no {preference} provider.",
                      "Use --provider auto, or install the onnxruntime package built for it "
                      "(onnxruntime-gpu for CUDA/TensorRT, onnxruntime-directml on Windows).")


def default_threads() -> int:
    """CPU threads for inference: the cores this process may use (2 on a small laptop)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def describe(ort_names: list[str]) -> str:
    """A short human name for the provider doing the work, e.g. 'cuda' or 'cpu'."""
    return SHORT_NAMES.get(ort_names[0], ort_names[0]) if ort_names else "cpu"

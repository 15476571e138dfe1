"""A stand-in for the pipeline's Controller with the same dispatch() contract, for control tests."""

from __future__ import annotations

import threading
import time

from camstyle.errors import CamStyleError


class FakeController:
    """Follows the Controller contract: dispatch(action, value) -> status dict, CamStyleError for bad input."""

    def __init__(self, styles=("mosaic", "starry_night", "udnie")):
        self.styles = list(styles)
        self.calls: list[tuple[str, str | None]] = []
        self.called = threading.Condition()
        self.state = {"style": self.styles[0], "strength": 1.0, "steady": 0.5, "paused": False, "mirror": False, "privacy": False}
        self.slow_seconds = 0.0

    def status(self) -> dict:
        return {
            **self.state, "styles": list(self.styles), "provider": "CPUExecutionProvider", "source": "demo",
            "output": "null", "fps_in": 30.0, "fps_out": 29.87, "latency_ms": {"p50": 23.14, "p95": 31.42},
            "stage_ms": {"capture": 2.1, "infer": 15.3, "publish": 3.0}, "dropped": 4, "frames_in": 1234,
            "frames_out": 1230, "input_size": [1280, 720], "inference_size": [320, 180], "output_size": [1280, 720],
            "cpu_percent": 43.0, "others_cpu_cores": 1.04, "uptime_s": 723.0, "message": "",
        }

    def dispatch(self, action: str, value: str | None = None) -> dict:
        with self.called:
            self.calls.append((action, value))
            self.called.notify_all()
        state = self.state
        if action in ("next", "prev"):
            step = 1 if action == "next" else -1
            state["style"] = self.styles[(self.styles.index(state["style"]) + step) % len(self.styles)]
        elif action == "style":
            if value not in self.styles:
                raise CamStyleError(f"Unknown style '{value}'.", "Available styles: " + ", ".join(self.styles) + ".")
            state["style"] = value
        elif action.startswith(("strength", "steady")):
            key, high = ("strength", 1.0) if action.startswith("strength") else ("steady", 0.9)
            value = {"_up": "+0.1", "_down": "-0.1"}.get(action[len(key):], value)
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise CamStyleError(f"{key.capitalize()} {value!r} is not a number.", "Give a level, +0.1 or -0.1.") from None
            state[key] = round(min(high, max(0.0, state[key] + number if value[0] in "+-" else number)), 3)
        elif action in ("pause", "mirror", "privacy"):
            state[{"pause": "paused"}.get(action, action)] = not state[{"pause": "paused"}.get(action, action)]
        elif action == "crash":
            raise RuntimeError("simulated bug")
        elif action == "slow":
            time.sleep(self.slow_seconds)
        elif action not in ("status", "quit"):
            raise CamStyleError(f"Unknown action '{action}'.")
        return self.status()

    def wait_for(self, action: str, timeout: float) -> bool:
        """True once dispatch(action) has been called, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self.called:
            while not any(a == action for a, _ in self.calls):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.called.wait(left)
        return True

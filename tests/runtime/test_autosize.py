"""The inference-size ladder, the start-up pick and the runtime governor, on fake clocks and timings."""

from __future__ import annotations

import math

import pytest

from camstyle.stylize import autosize
from camstyle.stylize.autosize import SizeGovernor, choose, expected_times, ladder


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_ladder_runs_from_320_wide_to_the_output_in_multiples_of_8_with_its_aspect():
    rungs = ladder((1280, 720))
    assert rungs[0] == (320, 184) and rungs[-1] == (1280, 720)
    assert (640, 360) in rungs and rungs == sorted(rungs)
    for w, h in rungs:
        assert w % 8 == 0 and h % 8 == 0 and abs(w / h - 16 / 9) < 0.05
    costs = [w * h for w, h in rungs]
    assert all(1.1 < b / a < 1.6 for a, b in zip(costs, costs[1:])), "each rung costs a little more than the last"
    assert ladder((1920, 1080))[-1] == (1920, 1080)
    assert ladder((64, 36)) == [(64, 40)], "an output under 320 wide is its own single rung"


def test_ladder_respects_a_networks_own_size_multiple():
    multiple = autosize.lcm_multiple(16, 8)
    assert multiple == 16 and autosize.lcm_multiple(12) == 24 and autosize.lcm_multiple() == 8
    for w, h in ladder((1280, 720), multiple):
        assert w % 16 == 0 and h % 16 == 0


def test_start_pick_is_the_largest_size_that_fits_and_stops_measuring_past_it():
    rungs = ladder((1280, 720))
    times = {size: size[0] * size[1] / 4000 for size in rungs}  # 320x184 = 14.7 ms, 448x256 = 28.7 ms
    asked = []

    def cost(size):
        asked.append(size)
        return times[size]

    index, measured = choose(rungs, cost, budget=30.0, start_at=0.85)  # fits at <= 25.5 ms
    assert rungs[index] == (384, 216)
    assert asked == rungs[:3], "measuring stops at the first size that does not fit"
    assert measured == {size: times[size] for size in rungs[:3]}
    assert choose(rungs, cost, budget=5.0)[0] == 0, "nothing fits: the smallest size"
    assert choose(rungs, cost, budget=1000.0)[0] == len(rungs) - 1


def test_on_a_gpu_the_output_size_is_tried_first():
    rungs = ladder((1280, 720))
    asked = []

    def cost(size):
        asked.append(size)
        return 4.0

    index, _ = choose(rungs, cost, budget=23.0, gpu=True)
    assert rungs[index] == (1280, 720) and asked == [(1280, 720)]
    assert autosize.is_gpu("cuda") and autosize.is_gpu("tensorrt") and not autosize.is_gpu("cpu")


def test_expected_times_scale_unmeasured_sizes_by_pixels():
    rungs = [(320, 184), (640, 360), (1280, 720)]
    expected = expected_times(rungs, {(320, 184): 10.0})
    assert expected[0] == 10.0 and expected[1] == pytest.approx(10.0 * 640 * 360 / (320 * 184))
    assert expected_times(rungs, {(320, 184): 10.0, (640, 360): 50.0})[1] == 50.0


def test_expected_times_fit_a_fixed_part_from_two_measured_sizes():
    """Upscaling to the output size costs the same at every rung: scaling the whole time by
    pixels would overestimate the next rung and keep the governor below a size that fits."""
    rungs = ladder((1280, 720))
    cost = {size: 4.0 + size[0] * size[1] / 8000 for size in rungs}
    measured = {rungs[0]: cost[rungs[0]], rungs[1]: cost[rungs[1]]}
    expected = expected_times(rungs, measured)
    assert expected[:2] == [cost[rungs[0]], cost[rungs[1]]]
    assert expected[2:] == pytest.approx([cost[size] for size in rungs[2:]])
    by_pixels = cost[rungs[1]] * rungs[2][0] * rungs[2][1] / (rungs[1][0] * rungs[1][1])
    assert expected[2] < by_pixels
    falling = expected_times(rungs, {rungs[0]: 12.0, rungs[1]: 11.0})  # noise: no negative slope
    assert falling[2] == pytest.approx(12.0 * rungs[2][0] * rungs[2][1] / (rungs[0][0] * rungs[0][1]))


RUNGS = [(320, 184), (384, 216), (448, 256), (512, 288)]
EXPECTED = [10.0, 14.0, 19.0, 25.0]  # idle stylize ms per rung
BUDGET = 23.0


def drive(governor: SizeGovernor, clock: FakeClock, seconds: float, ms_at, fps: float = 30.0) -> list[tuple[float, tuple]]:
    """Feed `seconds` of frames whose stylize time is ms_at(rung index, time); the changes made."""
    changes = []
    end = clock.now + seconds
    while clock.now < end:
        clock.now += 1 / fps
        size = governor.observe(ms_at(governor.index, clock.now))
        if size is not None:
            changes.append((round(clock.now, 2), size))
    return changes


def make(index=2, clock=None) -> tuple[SizeGovernor, FakeClock]:
    clock = clock or FakeClock()
    return SizeGovernor(RUNGS, BUDGET, index, EXPECTED, clock=clock), clock


def test_steps_down_within_a_second_when_the_window_is_slow_and_far_enough_to_fit():
    governor, clock = make(index=2)
    assert drive(governor, clock, 5.0, lambda i, t: EXPECTED[i]) == [], "idle and fitting: it stays"
    start = clock.now
    changes = drive(governor, clock, 3.0, lambda i, t: EXPECTED[i] * 1.6)  # a competing load
    assert changes and changes[0][0] - start <= 1.0
    assert governor.size == (320, 184), "19 ms x 1.6 = 30 ms: two rungs down, where it fits with room"
    assert "stepped down" in governor.reason and "budget 23 ms" in governor.reason


def test_steps_back_up_after_a_calm_period_and_no_sooner():
    governor, clock = make(index=0)
    changes = drive(governor, clock, autosize.CALM_S - 0.5, lambda i, t: EXPECTED[i])
    assert changes == [], "not before the calm period"
    changes = drive(governor, clock, 20.0, lambda i, t: EXPECTED[i])
    assert [size for _, size in changes] == [(384, 216), (448, 256)], "then a rung at a time, up to 19 ms of 23"
    gaps = [b[0] - a[0] for a, b in zip([(100.0, None)] + changes, changes)]
    assert all(gap >= autosize.CALM_S for gap in gaps)
    assert "stepped up" in governor.reason


def test_a_load_at_the_boundary_does_not_make_it_oscillate():
    governor, clock = make(index=1)

    # The machine is such that rung 2 is over budget but its prediction from rung 1 says it fits
    # (the network scales worse than its pixels): the worst case for hysteresis.
    def ms_at(index, t):
        return {0: 9.0, 1: 12.0, 2: 24.0, 3: 32.0}[index]

    changes = drive(governor, clock, 300.0, ms_at)
    ups = [c for c in changes if c[1] == (448, 256)]
    assert len(ups) == 1, f"tried the rung above {len(ups)} times in 5 minutes"
    assert governor.size == (384, 216) and len(changes) == 2, "one try, then it knows the rung's real cost"
    # A lighter load later makes the rung above fit, and it is taken again.
    changes = drive(governor, clock, 120.0, lambda i, t: {0: 5.0, 1: 7.0, 2: 14.0, 3: 19.0}[i])
    assert governor.index >= 2


def test_recovers_to_the_idle_size_after_a_load_ends():
    governor, clock = make(index=2)
    drive(governor, clock, 2.0, lambda i, t: EXPECTED[i])
    load_from, load_to = clock.now, clock.now + 30.0
    changes = drive(governor, clock, 45.0, lambda i, t: EXPECTED[i] * (1.7 if load_from <= t < load_to else 1.0))
    assert governor.size == (448, 256), "back at the idle size"
    back = [t for t, size in changes if size == (448, 256)]
    assert back and back[-1] - load_to <= 10.0


def test_a_load_that_arrives_just_after_a_climb_does_not_keep_it_low():
    """Leaving a rung soon after climbing to it must not be blamed on the rung when the machine
    got busier: the rung below, timed after the step down, is as slow, so nothing is corrected."""
    governor, clock = make(index=1)
    changes = drive(governor, clock, autosize.CALM_S + 1.0, lambda i, t: EXPECTED[i])
    assert governor.index == 2, "climbed to the idle size"
    load_from = changes[0][0] + 0.8
    load_to = load_from + 30.0
    changes = drive(governor, clock, 50.0, lambda i, t: EXPECTED[i] * (1.7 if load_from <= t < load_to else 1.0))
    assert governor.index == 2, "back at the idle size"
    back = [t for t, size in changes if size == RUNGS[2]]
    assert back and back[-1] - load_to <= 10.0


def test_pin_and_free():
    governor, clock = make(index=1)
    assert governor.pin((640, 360), "fixed by ctl size") == (640, 360)
    assert not governor.auto and governor.size == (640, 360) and governor.reason == "fixed by ctl size"
    assert drive(governor, clock, 5.0, lambda i, t: 200.0) == [], "a fixed size is never changed"
    assert governor.free("automatic again") == (512, 288), "free: from the ladder size nearest the fixed one"
    assert governor.auto and governor.reason == "automatic again"
    history = governor.history()
    assert [h["size"] for h in history] == [[384, 216], [640, 360], [512, 288]]
    assert history[1]["from"] == [384, 216] and history[0]["from"] is None and history[0]["reason"] == "start"


def test_a_short_window_of_few_frames_decides_nothing():
    governor, clock = make(index=2)
    clock.now += 1.0
    for _ in range(autosize.MIN_SAMPLES - 1):
        clock.now += 0.05
        assert governor.observe(500.0) is None
    governor.forget_window()
    clock.now += 0.05
    assert governor.observe(500.0) is None, "just after a change or a forget, frames are not judged"


def test_start_up_pick_is_started_a_rung_below_on_the_cpu_and_taken_at_once_on_a_gpu():
    assert autosize.start_rungs(2, gpu=False) == (1, 2)
    assert autosize.start_rungs(0, gpu=False) == (0, None), "nothing below the smallest size"
    assert autosize.start_rungs(5, gpu=True) == (5, None)


def test_the_pick_is_confirmed_within_two_seconds_when_the_running_time_fits():
    clock = FakeClock()
    governor = SizeGovernor(RUNGS, BUDGET, 1, EXPECTED, clock=clock, confirm=2)
    changes = drive(governor, clock, 2.0, lambda i, t: EXPECTED[i])
    assert [size for _, size in changes] == [RUNGS[2]] and changes[0][0] - 100.0 <= 2.0
    assert "confirmed the start-up pick" in governor.reason
    changes = drive(governor, clock, autosize.CALM_S - 0.2, lambda i, t: EXPECTED[i] * 0.5)
    assert changes == [], "later climbs wait the usual calm period"


def test_a_pick_the_running_pipeline_cannot_hold_is_never_taken():
    """Timed alone the pick fits; beside capture and publishing every rung takes 1.25x as long,
    so the pick would be over: the governor stays a rung below instead of overshooting."""
    clock = FakeClock()
    governor = SizeGovernor(RUNGS, BUDGET, 1, EXPECTED, clock=clock, confirm=2)
    assert drive(governor, clock, 30.0, lambda i, t: EXPECTED[i] * 1.25) == []
    assert governor.size == RUNGS[1]


def test_a_pick_that_proves_dearer_than_predicted_is_left_for_the_rung_below_not_two():
    """The start-up pick is confirmed from the rung below and then takes far more than predicted
    (the running pipeline costs it more than its pixels say). Scaled by the prediction, the rung
    below looks over UP_AT of the budget, yet it held a moment ago: one rung down, not two."""
    clock = FakeClock()
    governor = SizeGovernor(RUNGS, BUDGET, 1, EXPECTED, clock=clock, confirm=2)
    real = {0: 10.0, 1: 14.0, 2: 29.0, 3: 40.0}
    changes = drive(governor, clock, 30.0, lambda i, t: real[i])
    assert [size for _, size in changes] == [RUNGS[2], RUNGS[1]], changes
    assert governor.size == RUNGS[1]


def test_a_correction_learnt_under_a_load_is_let_go_when_the_load_ends():
    """A load that leaves the pipeline's slack at the smaller rung alone but makes the larger one
    dear: the failed climb under it teaches a correction the rung below cannot see the end of.
    The other processes' CPU use can: once it falls, the rung is tried again within seconds."""
    idle = {0: 10.0, 1: 14.0, 2: 19.0, 3: 30.0}
    loaded = {0: 10.0, 1: 14.5, 2: 27.0, 3: 40.0}

    def run(others_idle, others_loaded):
        """5 s idle, then 30 s of the load, then 15 s idle; others_*: what the other processes use."""
        clock = FakeClock()
        load = {"from": clock.now + 5.0, "to": clock.now + 35.0}

        def busy(t):
            return load["from"] <= t < load["to"]

        governor = SizeGovernor(RUNGS, BUDGET, 2, EXPECTED[:3] + [30.0], clock=clock,
                                others=lambda: others_loaded if busy(clock.now) else others_idle)
        changes = drive(governor, clock, 50.0, lambda i, t: (loaded if busy(t) else idle)[i])
        return governor, changes, load["to"]

    governor, changes, load_to = run(0.1, 1.0)
    under_load = [size for t, size in changes if t < load_to]
    assert under_load.count(RUNGS[2]) >= 1, "it climbed back under the load and had to leave again"
    assert governor.size == RUNGS[2], "back at the idle size"
    back = [t for t, size in changes if size == RUNGS[2]][-1]
    assert back - load_to <= 10.0
    assert "the load that made it leave this size is gone" in governor.history()[-1]["reason"]

    # Where the other processes' use is unknown (throughout, or while the lesson was learnt) or does
    # not fall, the lesson stays (no oscillation).
    for others_idle, others_loaded in ((None, None), (0.4, 0.4), (0.0, None)):
        governor, changes, load_to = run(others_idle, others_loaded)
        assert governor.size == RUNGS[1] and not [t for t, size in changes if t >= load_to]


def test_a_boundary_rung_is_not_retried_while_the_other_processes_use_as_much():
    """The other processes' use wobbling by less than UNDO_CORES does not let the lesson go."""
    clock = FakeClock()
    governor = SizeGovernor(RUNGS, BUDGET, 1, EXPECTED, clock=clock,
                            others=lambda: 0.6 + 0.2 * math.sin(clock.now))
    changes = drive(governor, clock, 300.0, lambda i, t: {0: 9.0, 1: 12.0, 2: 24.0, 3: 32.0}[i])
    assert [size for _, size in changes] == [RUNGS[2], RUNGS[1]]


def test_one_slow_window_after_a_rung_held_does_not_cost_the_rung_for_good():
    """Climbed to the idle size, it held for 8 s, then one window ran slow (a hiccup nothing
    else on the machine explains): it steps down, and comes back after a doubled calm period."""
    governor, clock = make(index=1)
    changes = drive(governor, clock, autosize.CALM_S + 1.0, lambda i, t: EXPECTED[i])
    assert governor.index == 2
    hiccup = changes[0][0] + 8.0
    changes = drive(governor, clock, 20.0, lambda i, t: 28.0 if hiccup <= t < hiccup + 0.7 else EXPECTED[i])
    sizes = [size for _, size in changes]
    assert sizes == [RUNGS[1], RUNGS[2]], changes
    assert changes[1][0] - changes[0][0] <= 2 * autosize.CALM_S + 1.0


def test_hiccups_that_keep_coming_are_tried_less_and_less_often():
    """A slow window 8 s after every climb: the tries thin out to one a minute."""
    governor, clock = make(index=1)
    at_top_since = [None]

    def ms_at(index, t):
        if index != 2:
            at_top_since[0] = None
            return EXPECTED[index]
        if at_top_since[0] is None:
            at_top_since[0] = t
        return 28.0 if t - at_top_since[0] > 8.0 else EXPECTED[index]

    ups = [t for t, size in drive(governor, clock, 600.0, ms_at) if size == RUNGS[2]]
    gaps = [b - a for a, b in zip(ups, ups[1:])]
    assert len(ups) <= 12 and gaps[-1] >= autosize.MAX_CALM_S, gaps
    assert all(b >= a - 0.5 for a, b in zip(gaps, gaps[1:])), gaps

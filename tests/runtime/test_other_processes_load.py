"""The CPU other programs take, as the size governor reads it (stats.OtherProcessesLoad)."""

from __future__ import annotations

import builtins
import os
import sys
from collections import namedtuple

from camstyle.stats import OtherProcessesLoad

Machine = namedtuple("Machine", "user nice system idle iowait irq softirq steal guest guest_nice")
Own = namedtuple("Own", "user system children_user children_system")


class FakePsutil:
    """A machine whose counters the test sets."""

    def __init__(self):
        self.machine = Machine(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        self.own = Own(0, 0, 0, 0)

    def cpu_times(self):
        return self.machine

    def Process(self):  # noqa: N802  (psutil's name)
        return self.FakeProcess(self)

    class FakeProcess:
        def __init__(self, machine):
            self.machine = machine

        def cpu_times(self):
            return self.machine.own


def test_counts_what_other_processes_used_not_this_one(monkeypatch):
    fake = FakePsutil()
    monkeypatch.setitem(sys.modules, "psutil", fake)
    now = [10.0]
    load = OtherProcessesLoad(clock=lambda: now[0])
    # 2 s later: the machine was busy 3 s in all (guest time is inside user time), 1.2 of them ours.
    fake.machine = Machine(2.0, 0, 1.0, 1.0, 0.0, 0, 0, 0, 0.5, 0)
    fake.own = Own(1.0, 0.2, 0, 0)
    now[0] = 12.0
    assert abs(load() - (3.0 - 1.2) / 2.0) < 1e-9
    # Next 1 s: only this process was busy.
    fake.machine = Machine(2.8, 0, 1.0, 2.2, 0.0, 0, 0, 0, 0.5, 0)
    fake.own = Own(1.8, 0.2, 0, 0)
    now[0] = 13.0
    assert load() == 0.0


def test_no_figure_without_psutil_or_when_reading_fails(monkeypatch):
    real_import = builtins.__import__

    def no_psutil(name, *args, **kwargs):
        if name == "psutil":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "psutil", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_psutil)
    assert OtherProcessesLoad()() is None
    monkeypatch.setattr(builtins, "__import__", real_import)

    fake = FakePsutil()
    monkeypatch.setitem(sys.modules, "psutil", fake)
    load = OtherProcessesLoad()

    def broken():
        raise OSError("counters gone")
    fake.cpu_times = broken
    assert load() is None


def test_the_real_counters_give_a_figure_within_the_machine():
    load = OtherProcessesLoad()
    sum(i * i for i in range(200_000))
    cores = load()
    assert cores is not None and 0.0 <= cores <= (os.cpu_count() or 1) + 0.5

"""Timing that holds on a busy machine: CPU-time clocks, repeats, the machine's load.

Wall time follows whatever else runs: on the 2-core benchmark machine, with two
busy-loop processes beside it, a SetFit model's wall-clock p95 latency doubled and its
throughput fell by a third or more (and 10-65× with the old 2-thread default, when
spinning OpenMP threads fought for the cores). The CPU time a run's own threads use is
almost unmoved by sharing, so a local model is timed on this process's CPU clock
(`time.process_time`: every thread of the process, so work handed to a tokenizer's
threads counts too) at a fixed thread count, several times, and the median is kept.
What CPU time cannot correct is flagged instead: ``noise_reasons`` names a spread
between repeats above `NOISY_SPREAD`, hypervisor steal above `NOISY_STEAL` (the VM's
cores were lent to another guest), or a process that got under `NOISY_CPU_SHARE` of a
core (shared caches then slow the work itself). A model that waits on a server (an LLM
API) is timed on the wall clock, as its latency really is the wait.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# Repeats that disagree by more than this share of their median are not one figure.
NOISY_SPREAD = 0.25
# Share of the machine's CPU time stolen by the hypervisor during a probe.
NOISY_STEAL = 0.10
# Share of wall time this process was on a CPU while timed on the CPU clock.
NOISY_CPU_SHARE = 0.34

_PROC_STAT = Path("/proc/stat")


def cpu_clock() -> float:
    """Seconds of CPU time used by this process (all its threads)."""
    return time.process_time()


def wall_clock() -> float:
    """Seconds on a monotonic wall clock."""
    return time.perf_counter()


@dataclass
class Timed:
    """One timed block: seconds on the chosen clock, and the wall seconds beside them."""

    seconds: float
    wall_seconds: float


def timed(work: Callable[[], Any], clock: Callable[[], float]) -> Timed:
    """Run ``work`` once; its duration on ``clock`` and on the wall clock."""
    wall, started = wall_clock(), clock()
    work()
    return Timed(clock() - started, wall_clock() - wall)


def spread(values: list[float]) -> float:
    """(max - min) / median of repeated measurements; 0 for fewer than two."""
    if len(values) < 2:
        return 0.0
    median = float(np.median(values))
    return float((max(values) - min(values)) / median) if median > 0 else 0.0


def _cpu_jiffies() -> tuple[int, int] | None:
    """(total, steal) jiffies of all CPUs since boot, from /proc/stat; None elsewhere."""
    try:
        with _PROC_STAT.open(encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    return sum(values), (values[7] if len(values) > 7 else 0)


@dataclass
class MachineLoad:
    """Context manager recording how busy the machine was while it was open: the 1-minute
    load average at its start (None where the OS has none), the share of CPU time the
    hypervisor stole, and the share of wall time this process spent on a CPU."""

    load_1m: float | None = None
    steal_share: float | None = None
    cpu_share: float | None = None
    _start: dict[str, Any] = field(default_factory=dict, repr=False)

    def __enter__(self) -> MachineLoad:
        try:
            self.load_1m = round(os.getloadavg()[0], 2)
        except (AttributeError, OSError):
            self.load_1m = None
        self._start = {"jiffies": _cpu_jiffies(), "cpu": cpu_clock(), "wall": wall_clock()}
        return self

    def __exit__(self, *exc: object) -> None:
        wall = wall_clock() - self._start["wall"]
        if wall > 0:
            self.cpu_share = round((cpu_clock() - self._start["cpu"]) / wall, 3)
        before, after = self._start["jiffies"], _cpu_jiffies()
        if before is not None and after is not None and after[0] > before[0]:
            self.steal_share = round((after[1] - before[1]) / (after[0] - before[0]), 4)

    def to_dict(self) -> dict[str, Any]:
        """The readings, JSON-ready."""
        return {"load_1m": self.load_1m, "steal_share": self.steal_share,
                "cpu_share": self.cpu_share}


def noise_reasons(spreads: dict[str, float], load: MachineLoad, *, cpu_clock_used: bool,
                  cores: int) -> list[str]:
    """Why figures measured under ``load`` with these repeat ``spreads`` (figure name ->
    spread) cannot be trusted; empty when they can. Repeats that disagree count only on
    a contended machine (more runnable work than ``cores``, counting this process, or a
    wall-clock measurement): on a quiet one the spread is the model's own (a garbage
    collection, a long text), which the median already absorbs."""
    contended = (load.load_1m is not None and load.load_1m > cores) or not cpu_clock_used
    reasons = [f"{name} varied {value:.0%} across repeats (load average {load.load_1m})"
               for name, value in spreads.items() if contended and value > NOISY_SPREAD]
    if load.steal_share is not None and load.steal_share > NOISY_STEAL:
        reasons.append(f"the hypervisor stole {load.steal_share:.0%} of the CPU time")
    if cpu_clock_used and load.cpu_share is not None and load.cpu_share < NOISY_CPU_SHARE:
        reasons.append(f"the probe got {load.cpu_share:.0%} of a core (load average "
                       f"{load.load_1m})")
    return reasons

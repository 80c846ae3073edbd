"""Probes: what a candidate costs to run, measured on this machine.

Units are in the names: seconds, items per second, milliseconds, MiB, tokens per item.

**Peak memory.** Every run shares one process (so frozen-backbone embeddings stay cached
across runs, and a backbone loads once). The process-wide high-water mark
(``ru_maxrss``) only ever grows, so it would charge every run with the largest one
before it. On Linux we therefore reset the kernel's peak-RSS counter (write ``5`` to
``/proc/self/clear_refs``) at the start of each run and read ``VmHWM`` from
``/proc/self/status`` at its end: the exact peak resident memory *during this run*,
with no sampling gaps. It still includes what the process already held (Python, torch,
the shared backbone, cached vectors), which a deployment of the model would hold too,
more or less. Where that reset is unavailable (macOS, restricted /proc) a background
thread samples RSS with psutil every 10 ms instead (can miss spikes shorter than that);
``peak_memory_method`` in the environment says which was used.

**Embedding cache.** Quality predictions may reuse cached embeddings, but timings must
not: a cache hit would make a frozen-embedding model look thousands of times faster
than it will be in production, so inference is timed inside
``embedding_cache.bypassed()``. Fitting reuses cached vectors by default (a benchmark
fits the same texts for many budgets and seeds): ``train_seconds`` of a frozen-embedding
run then excludes encoding texts an earlier run already encoded. Training is a one-off
cost of cents; set ``measure.cache_train_embeddings: false`` for exact train times.

**Tokens (LLM families).** A family that pays per token fills the per-item extras
``input_tokens`` and ``output_tokens`` of its `Predictions`; the probe reports their means
over the test split.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from whichmodel.predictions import Predictions

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


# -- peak memory -------------------------------------------------------------------------
def _vm_hwm_mib() -> float | None:
    try:
        match = re.search(r"VmHWM:\s+(\d+)\s+kB", _STATUS.read_text())
    except OSError:
        return None
    return int(match.group(1)) / 1024 if match else None


def _reset_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _vm_hwm_mib() is not None


class PeakMemory:
    """Context manager measuring the peak RSS (MiB) of this process while it is open."""

    def __init__(self, interval_s: float = 0.01) -> None:
        self.interval_s = interval_s
        self.peak_mib: float | None = None
        self.method = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        if _reset_peak():
            self.method = "linux VmHWM reset per run"
            return self
        try:
            import psutil
        except ImportError:
            self.method = "ru_maxrss (process-wide, monotonic)"
            return self
        self.method = f"psutil RSS sampling every {self.interval_s * 1000:g} ms"
        proc = psutil.Process()
        self.peak_mib = proc.memory_info().rss / 2**20

        def sample() -> None:
            while not self._stop.wait(self.interval_s):
                self.peak_mib = max(self.peak_mib or 0.0, proc.memory_info().rss / 2**20)

        self._thread = threading.Thread(target=sample, name="whichmodel-rss", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.method.startswith("linux"):
            self.peak_mib = _vm_hwm_mib()
        elif self._thread is not None:
            self._stop.set()
            self._thread.join()
            import psutil

            self.peak_mib = max(self.peak_mib or 0.0, psutil.Process().memory_info().rss / 2**20)
        else:
            import resource
            import sys

            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            self.peak_mib = peak / 2**20 if sys.platform == "darwin" else peak / 1024


# -- embedding cache -----------------------------------------------------------------------
@contextlib.contextmanager
def uncached_embeddings() -> Iterator[None]:
    """Within this block frozen-body embeddings are computed afresh (honest timings)."""
    from whichmodel.backbones import embedding_cache

    with embedding_cache.bypassed():
        yield


# -- inference --------------------------------------------------------------------------------
@dataclass
class InferenceProbe:
    """What `probe_inference` measured; ``predictions`` are those of the test split."""

    predictions: Predictions
    throughput_items_per_s: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    input_tokens_per_item: float | None = None
    output_tokens_per_item: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def proba(self) -> np.ndarray:
        """The test split's probabilities (columns follow the model's classes)."""
        return self.predictions.proba


def probe_inference(model: Any, texts: Sequence[str], *, batch_size: int = 32,
                    latency_samples: int = 50, repeats: int = 3, threads: int = 1,
                    throughput_items: int = 512, min_pass_seconds: float = 0.25
                    ) -> InferenceProbe:
    """Predict ``texts`` (the quality pass), then time batches and single-item calls, all
    through one `Predictor`, the loop every other inference path uses.

    The quality pass predicts every text once, embedding cache bypassed; its `Predictions`
    are returned for the metrics, so the test split is predicted once. Timing then runs
    at ``threads`` torch/BLAS threads, on this process's CPU clock for a local model and
    on the wall clock for an API model (`whichmodel.bench.timing`), ``repeats`` times,
    keeping the median: throughput over the first ``throughput_items`` texts in batches
    of ``batch_size``, latency as ``latency_samples`` one-item calls cycling through the
    texts (p50/p95 in ms). A throughput pass goes round the sample until it has taken
    ``min_pass_seconds`` (a few milliseconds of work are mostly timer and cache noise).
    A local model's items/s are those of the machine running one
    ``threads``-thread worker per usable core (the CPU-clock rate × workers), how a CPU
    deployment serves. Tokens per item are the means of the per-item ``input_tokens`` /
    ``output_tokens`` extras, when the family fills them. ``extra["measurement"]`` says
    how it was measured, the machine's load meanwhile, and why the figures are noisy
    (``noise``), if they are.
    """
    from whichmodel.bench.timing import (
        MachineLoad,
        cpu_clock,
        noise_reasons,
        spread,
        timed,
        wall_clock,
    )
    from whichmodel.predictor import Predictor
    from whichmodel.threads import limited_threads, usable_cores, wait_policy

    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    texts = list(texts)
    predictor = Predictor(model, batch_size=batch_size)
    if not texts:
        return InferenceProbe(predictor.predict([]), None, None, None)
    predictions: list[Predictions] = []
    quality_pass = timed(lambda: predictions.append(predictor.predict(texts, use_cache=False)),
                         wall_clock)
    on_cpu_clock = not getattr(model, "api_model_", None)
    clock = cpu_clock if on_cpu_clock else wall_clock
    sample = texts[:max(1, throughput_items)]
    one = Predictor(model, batch_size=1)
    rates, p50s, p95s = [], [], []
    with limited_threads(threads), MachineLoad() as load:
        predictor.predict(sample[:batch_size], use_cache=False)  # warm-up at this count
        for _ in range(repeats):
            rate = _items_per_second(predictor, sample, clock, min_pass_seconds)
            if rate is not None:
                rates.append(rate)
            latencies_ms = [_one_call_ms(one, texts[i % len(texts)], clock)
                            for i in range(latency_samples)]
            if latencies_ms:
                p50s.append(float(np.percentile(latencies_ms, 50)))
                p95s.append(float(np.percentile(latencies_ms, 95)))
    workers = max(1, usable_cores() // threads) if on_cpu_clock else 1
    spreads = {"throughput": spread(rates), "p95 latency": spread(p95s)}
    noise = noise_reasons(spreads, load, cpu_clock_used=on_cpu_clock, cores=usable_cores())
    probe = InferenceProbe(
        predictions=predictions[0],
        throughput_items_per_s=float(np.median(rates)) * workers if rates else None,
        latency_p50_ms=float(np.median(p50s)) if p50s else None,
        latency_p95_ms=float(np.median(p95s)) if p95s else None,
    )
    probe.extra["measurement"] = {
        "clock": "process CPU time" if on_cpu_clock else "wall",
        "threads": threads, "workers": workers, "repeats": repeats,
        "throughput_items": len(sample), "wait_policy": wait_policy(),
        "throughput_spread": round(spreads["throughput"], 4),
        "latency_p95_spread": round(spreads["p95 latency"], 4),
        "quality_pass_wall_items_per_s": (round(len(texts) / quality_pass.wall_seconds, 2)
                                          if quality_pass.wall_seconds > 0 else None),
        **load.to_dict(), "noisy": bool(noise), "noise": noise,
    }
    for name in ("input_tokens", "output_tokens"):
        values = predictions[0].extra(name)
        if values is not None:
            setattr(probe, f"{name}_per_item", float(np.mean(values)))
    return probe


def measured_probe(model: Any, texts: Sequence[str], measure: Any) -> InferenceProbe:
    """`probe_inference` with a spec's `MeasureSpec` settings (the bench and
    ``--remeasure`` measure alike)."""
    return probe_inference(model, texts, batch_size=measure.batch_size,
                           latency_samples=measure.latency_samples, repeats=measure.repeats,
                           threads=measure.threads, throughput_items=measure.throughput_items)


def set_speed(record: Any, probe: InferenceProbe) -> None:
    """Copy the probe's speed figures onto a ledger row, rounded as the ledger keeps them."""
    for name, digits in (("throughput_items_per_s", 2), ("latency_p50_ms", 3),
                         ("latency_p95_ms", 3)):
        value = getattr(probe, name)
        setattr(record, name, None if value is None else round(float(value), digits))


def _items_per_second(predictor: Any, sample: list[str], clock: Any,
                      min_seconds: float) -> float | None:
    """Items per second on ``clock``: whole passes over ``sample`` until ``min_seconds``
    of wall time have gone by (wall, so a model that waits without computing ends too)."""
    from whichmodel.bench.timing import wall_clock

    items, started, wall = 0, clock(), wall_clock()
    while True:
        predictor.predict(sample, use_cache=False)
        items += len(sample)
        if wall_clock() - wall >= min_seconds:
            seconds = clock() - started
            return items / seconds if seconds > 0 else None


def _one_call_ms(predictor: Any, text: str, clock: Any) -> float:
    """Milliseconds of one single-item prediction on ``clock``, cache bypassed."""
    started = clock()
    predictor.predict([text], use_cache=False)
    return (clock() - started) * 1000


def timed_fit(model: Any, texts: Sequence[str], labels: Sequence[Any]) -> float:
    """Fit ``model`` and return the wall-clock seconds it took (perf_counter)."""
    started = time.perf_counter()
    model.fit(texts, labels)
    return time.perf_counter() - started

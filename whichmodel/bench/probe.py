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
over the test split (items whose server reported no usage left out).

**Remote models.** A model that calls an endpoint (``api_model_``: a priced API;
``remote_endpoint_``: any server) is timed on the wall clock. One that records each
item's ``latency_ms`` (the ``llm`` family) is not timed again after its quality pass:
every call would be paid for (or replayed from its answer cache, which times nothing). Its
throughput is the quality pass's items per wall-clock second at its own concurrency, its
latency the per-item ``latency_ms`` of the calls made in that pass (`remote_probe`). A
slow local family may cap the timed items with the class attributes
``probe_throughput_items`` and ``probe_latency_samples``. When the predictions carry
``answer_status`` (LLMs), ``measurement["answers"]`` counts each status, so the ledger
row says how many items were unparseable or failed.
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
    (``noise``), if they are. A remote model whose predictions record ``latency_ms`` is
    measured from the quality pass alone (`remote_probe`); a model's
    ``probe_throughput_items`` / ``probe_latency_samples`` cap those two arguments.
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
    on_cpu_clock = not is_remote(model)
    if not on_cpu_clock and predictions[0].extra("latency_ms") is not None:
        return remote_probe(model, predictions[0], quality_pass.wall_seconds)
    clock = cpu_clock if on_cpu_clock else wall_clock
    throughput_items = min(throughput_items,
                           getattr(model, "probe_throughput_items", None) or throughput_items)
    latency_samples = min(latency_samples,
                          getattr(model, "probe_latency_samples", None) or latency_samples)
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
    _set_tokens_and_answers(probe)
    return probe


def is_remote(model: Any) -> bool:
    """Whether ``model`` predicts by calling an endpoint (an API or a server)."""
    return bool(getattr(model, "api_model_", None) or getattr(model, "remote_endpoint_", None))


def remote_probe(model: Any, predictions: Predictions, wall_seconds: float) -> InferenceProbe:
    """Speed of a remote model from its one quality pass, without calling it again.

    Latency p50/p95: the ``latency_ms`` of the items answered by a call in this pass (not
    replayed from a cache); when every item was replayed, the latencies recorded when
    they were first answered (``latency_source`` says which). Throughput: items per
    wall-clock second of the pass at the model's ``max_concurrency``; when some items
    were replayed (instant), ``max_concurrency`` × 1000 / the mean latency instead.
    """
    n = len(predictions)
    latency = predictions.extra("latency_ms")
    cached = predictions.extra("cached")
    status = predictions.extra("answer_status")
    answered = np.ones(n, bool) if status is None else status != "failed"
    replayed = np.zeros(n, bool) if cached is None else cached.astype(bool)
    concurrency = max(1, int(getattr(model, "max_concurrency", 1) or 1))
    p50 = p95 = rate = None
    source = "none"
    if latency is not None:
        latency = latency.astype(float)
        live = answered & ~replayed & np.isfinite(latency)
        kept = live if live.any() else answered & np.isfinite(latency)
        source = ("calls of this pass" if live.any() else
                  "recorded when first answered (every item came from the answer cache)")
        if kept.any():
            p50 = float(np.percentile(latency[kept], 50))
            p95 = float(np.percentile(latency[kept], 95))
        if replayed.any() and kept.any() and np.mean(latency[kept]) > 0:
            rate = concurrency * 1000.0 / float(np.mean(latency[kept]))
    if rate is None and not replayed.any() and wall_seconds > 0:
        rate = n / wall_seconds
    probe = InferenceProbe(predictions, rate, p50, p95)
    probe.extra["measurement"] = {
        "clock": "wall", "method": "remote: the quality pass, calls not repeated",
        "concurrency": concurrency, "repeats": 1, "items": n,
        "cached_items": int(replayed.sum()),
        "throughput_source": ("wall clock of the quality pass" if not replayed.any() else
                              "concurrency / mean latency (cached items take no time)"),
        "latency_source": source, "noisy": False, "noise": [],
    }
    _set_tokens_and_answers(probe)
    return probe


def _set_tokens_and_answers(probe: InferenceProbe) -> None:
    """Mean tokens per item (where reported) and, for LLMs, the count of each answer
    status in ``measurement["answers"]``."""
    predictions = probe.predictions
    for name in ("input_tokens", "output_tokens"):
        values = predictions.extra(name)
        if values is not None:
            values = values.astype(float)
            finite = values[np.isfinite(values)]
            if finite.size:
                setattr(probe, f"{name}_per_item", float(np.mean(finite)))
    status = predictions.extra("answer_status")
    if status is not None:
        names, counts = np.unique(status.astype(str), return_counts=True)
        answers = {"ok": 0, "unparseable": 0, "failed": 0}
        answers.update({str(k): int(v) for k, v in zip(names, counts)})
        probe.extra.setdefault("measurement", {})["answers"] = answers


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


def timed_fit(model: Any, texts: Sequence[str], labels: Sequence[Any], *,
              classes: Sequence[Any] | None = None, **fit_options: Any) -> float:
    """Fit ``model`` and return the wall-clock seconds it took (perf_counter);
    ``classes`` (the label set) is passed on when given (a zero-shot fit needs it), and so
    is every other option that is not None: ``unlabelled_texts`` (the pool a distilled
    model's teacher labels, inside the time), ``slot_tags`` (joint and dual)."""
    options = {name: value for name, value in fit_options.items() if value is not None}
    if classes is not None:
        options["classes"] = classes
    started = time.perf_counter()
    model.fit(texts, labels, **options)
    return time.perf_counter() - started

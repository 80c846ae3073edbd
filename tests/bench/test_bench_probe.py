"""Probes: per-run peak memory, uncached timings, token counters."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from whichmodel.bench.probe import PeakMemory, probe_inference
from whichmodel.predictions import Predictions


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM reset is Linux-only")
def test_peak_memory_is_per_run_not_process_wide():
    with PeakMemory() as big:
        block = np.ones(200 * 2**20, dtype=np.uint8)  # 200 MiB, touched
        del block
    with PeakMemory() as small:
        pass
    assert big.method.startswith("linux")
    assert big.peak_mib is not None and small.peak_mib is not None
    # a process-wide high-water mark (ru_maxrss) would report the same for both
    assert big.peak_mib - small.peak_mib > 150


class _CountingModel:
    """Fills per-item token extras in its `Predictions`, as an LLM family would."""

    classes_ = ["a", "b"]

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict_proba(self, texts):
        self.calls.append(len(texts))
        return np.tile([0.25, 0.75], (len(texts), 1))

    def predictions(self, texts):
        tokens = np.array([len(t.split()) * 5 for t in texts])  # "text 7": 10 tokens
        return Predictions(self.classes_, self.predict_proba(texts),
                           extras={"input_tokens": tokens,
                                   "output_tokens": np.full(len(texts), 2)})


def test_probe_inference_batches_warms_up_and_counts_tokens():
    model = _CountingModel()
    texts = [f"text {i}" for i in range(50)]
    probe = probe_inference(model, texts, batch_size=16, latency_samples=7)
    assert probe.proba.shape == (50, 2)
    assert probe.predictions.labels == ["b"] * 50
    assert model.calls == [16] + [16, 16, 16, 2] + [1] * 7  # warm-up, batches, latency
    assert probe.throughput_items_per_s and probe.throughput_items_per_s > 0
    assert 0 < probe.latency_p50_ms <= probe.latency_p95_ms
    # tokens per item: the mean of the per-item extras of the timed pass
    assert probe.input_tokens_per_item == 10 and probe.output_tokens_per_item == 2
    assert probe.predictions.extra("input_tokens").tolist() == [10] * 50


def test_ordinary_models_report_no_tokens():
    probe = probe_inference(_PlainModel(), ["x", "y"], batch_size=2, latency_samples=1)
    assert probe.input_tokens_per_item is None and probe.predictions.extras == {}


class _PlainModel:
    classes_ = ["a", "b"]

    def predict_proba(self, texts):
        return np.tile([0.6, 0.4], (len(texts), 1))

"""Probes: per-run peak memory, uncached timings, token counters."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from whichmodel.bench.probe import PeakMemory, probe_inference, token_usage


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
    """Exposes the optional token protocol, as an LLM family would."""

    classes_ = ["a", "b"]

    def __init__(self) -> None:
        self.token_usage_ = {"input_tokens": 0, "output_tokens": 0}
        self.calls: list[int] = []

    def predict_proba(self, texts):
        self.calls.append(len(texts))
        self.token_usage_["input_tokens"] += 10 * len(texts)
        self.token_usage_["output_tokens"] += 2 * len(texts)
        return np.tile([0.25, 0.75], (len(texts), 1))


def test_probe_inference_batches_warms_up_and_counts_tokens():
    model = _CountingModel()
    texts = [f"text {i}" for i in range(50)]
    probe = probe_inference(model, texts, batch_size=16, latency_samples=7)
    assert probe.proba.shape == (50, 2)
    assert model.calls == [16] + [16, 16, 16, 2] + [1] * 7  # warm-up, batches, latency
    assert probe.throughput_items_per_s and probe.throughput_items_per_s > 0
    assert 0 < probe.latency_p50_ms <= probe.latency_p95_ms
    # tokens per item over the timed pass only (warm-up and latency calls excluded)
    assert probe.input_tokens_per_item == 10 and probe.output_tokens_per_item == 2


def test_token_usage_absent_for_ordinary_models():
    assert token_usage(object()) is None

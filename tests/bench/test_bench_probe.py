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
    probe = probe_inference(model, texts, batch_size=16, latency_samples=7, repeats=2,
                            throughput_items=40, min_pass_seconds=0)
    assert probe.proba.shape == (50, 2)
    assert probe.predictions.labels == ["b"] * 50
    # the quality pass, a warm-up batch, then per repeat 40 texts in batches and 7 singles
    assert model.calls == [16, 16, 16, 2] + [16] + ([16, 16, 8] + [1] * 7) * 2
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


class _SleepingModel(_PlainModel):
    """Waits without computing, as a model calling a server does; records torch threads."""

    def __init__(self, api_model: str | None = None) -> None:
        self.api_model_ = api_model
        self.threads: list[int] = []

    def predict_proba(self, texts):
        import time

        import torch

        self.threads.append(torch.get_num_threads())
        time.sleep(0.02)
        return super().predict_proba(texts)


def test_local_models_are_timed_on_the_cpu_clock_and_api_models_on_the_wall():
    import torch

    local, api = _SleepingModel(), _SleepingModel(api_model="gpt-x")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        fast = probe_inference(local, ["x"] * 4, batch_size=2, latency_samples=3, threads=1)
        slow = probe_inference(api, ["x"] * 4, batch_size=2, latency_samples=3, threads=1)
        assert torch.get_num_threads() == 2  # restored after the probe
    finally:
        torch.set_num_threads(before)
    # sleeping costs no CPU: a local model's latency is its computation, not the wait
    assert fast.latency_p95_ms < 10 <= slow.latency_p95_ms
    assert fast.extra["measurement"]["clock"] == "process CPU time"
    assert slow.extra["measurement"]["clock"] == "wall"
    assert slow.extra["measurement"]["workers"] == 1
    # the quality pass runs at the process's threads, the timed calls at the fixed count
    assert local.threads[:2] == [2, 2] and set(local.threads[2:]) == {1}


class _UnsteadyModel(_PlainModel):
    """Every other pair of batch calls (one timed pass of 4 texts at batch 2) burns 20
    times the CPU: repeats that cannot agree."""

    def __init__(self) -> None:
        self.passes = 0

    def predict_proba(self, texts):
        import time

        if len(texts) > 1:
            self.passes += 1
        spin = 0.002 * (20 if (self.passes // 2) % 2 else 1)
        end = time.process_time() + spin
        while time.process_time() < end:
            pass
        return super().predict_proba(texts)


def test_repeats_that_disagree_are_recorded_and_count_as_noise_only_under_contention():
    from whichmodel.bench.timing import MachineLoad, noise_reasons

    probe = probe_inference(_UnsteadyModel(), ["x", "y", "z", "w"], batch_size=2,
                            latency_samples=2, repeats=3, min_pass_seconds=0)
    measurement = probe.extra["measurement"]
    assert measurement["throughput_spread"] > 0.5  # fast, 20× slower, fast: 0.95
    assert set(measurement) >= {"load_1m", "steal_share", "cpu_share", "threads",
                                "wait_policy", "noisy", "noise"}
    spreads = {"throughput": measurement["throughput_spread"], "p95 latency": 0.1}
    quiet = MachineLoad(load_1m=1.0, steal_share=0.0, cpu_share=0.98)
    busy = MachineLoad(load_1m=3.2, steal_share=0.0, cpu_share=0.6)
    assert noise_reasons(spreads, quiet, cpu_clock_used=True, cores=2) == []
    reasons = noise_reasons(spreads, busy, cpu_clock_used=True, cores=2)
    assert len(reasons) == 1 and reasons[0].startswith("throughput varied")
    stolen = MachineLoad(load_1m=1.0, steal_share=0.3, cpu_share=0.98)
    assert "stole 30%" in noise_reasons({}, stolen, cpu_clock_used=True, cores=2)[0]
    starved = MachineLoad(load_1m=6.0, steal_share=0.0, cpu_share=0.2)
    assert "20% of a core" in noise_reasons({}, starved, cpu_clock_used=True, cores=2)[0]

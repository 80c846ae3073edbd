"""A choice of several models (a cascade's `Stage`s) priced stage by stage."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from whichmodel.costs import Scenario, cost_of, total_cost_at_volumes
from whichmodel.costs.drivers import CostDrivers, Stage
from whichmodel.costs.model import deployed_latency_p95_ms

FIRST = CostDrivers(family="tfidf", n_labels=100, train_seconds=3600.0,
                    throughput_items_per_s=1000.0, latency_p95_ms=5.0)
SECOND = CostDrivers(family="setfit", n_labels=100, train_seconds=7200.0,
                     throughput_items_per_s=10.0, latency_p95_ms=100.0)


def staged(share: float, second: CostDrivers = SECOND) -> SimpleNamespace:
    return SimpleNamespace(candidate="cascade: a → b", budget="τ=0.5",
                           drivers=CostDrivers(family="cascade", n_labels=100),
                           stages=(Stage("a", FIRST, 1.0), Stage("b", second, share)))


def test_each_stage_is_priced_at_its_share_of_the_volume(prices):
    # cpu: $0.10/h, 730 h -> $73 per instance-month; the second's capacity is
    # 10 items/s × 3600 × 730 = 26,280,000 items per instance-month
    cost = cost_of(staged(0.3), Scenario(volume_per_month=1e8, hardware="cpu"), prices)
    assert cost.annotation_usd == pytest.approx(50.0)  # the choice's own 100 labels
    assert cost.training_usd == pytest.approx(0.10 + 0.20)  # both stages trained
    # first: 1 instance for 1e8; second: ceil(3e7 / 2.628e7) = 2 instances
    assert cost.instances == 3
    assert cost.inference_usd_per_month == pytest.approx(3 * 73.0)
    assert cost.self_hosted and cost.hardware == "cpu"
    assert any(note.startswith("b, 30.0% of items: inference") for note in cost.notes)
    # a stage that sees almost nothing still runs its always-on instance
    assert cost_of(staged(0.001), Scenario(volume_per_month=1e8, hardware="cpu"),
                   prices).instances == 2
    totals = total_cost_at_volumes(staged(0.3), Scenario(hardware="cpu"), prices,
                                   np.array([1e8]))
    assert totals[0] == pytest.approx(cost.total_usd)


def test_an_api_stage_pays_tokens_of_its_share_only(prices):
    api = CostDrivers(family="llm", api_model="cheap", input_tokens_per_item=1000.0,
                      output_tokens_per_item=10.0, latency_p95_ms=400.0)
    cost = cost_of(staged(0.25, api), Scenario(volume_per_month=1e6, hardware="cpu"), prices)
    per_item = (1000 * 1.0 + 10 * 4.0) / 1e6
    assert cost.inference_usd_per_month == pytest.approx(73.0 + 0.25 * 1e6 * per_item)
    assert not cost.self_hosted and cost.hardware == "cpu + cheap" and cost.instances == 1


def test_latency_adds_a_later_stage_once_more_than_5_percent_reach_it(prices):
    on_cpu, on_gpu = Scenario(hardware="cpu"), Scenario(hardware="gpu")
    assert deployed_latency_p95_ms(staged(0.3), on_cpu, prices) == pytest.approx(105.0)
    # on the gpu: tfidf 2× faster, setfit 10× (the family speed factors)
    assert deployed_latency_p95_ms(staged(0.3), on_gpu, prices) == pytest.approx(12.5)
    assert deployed_latency_p95_ms(staged(0.04), on_cpu, prices) == pytest.approx(5.0)
    single = SimpleNamespace(candidate="x", budget="all", drivers=SECOND)
    assert deployed_latency_p95_ms(single, on_gpu, prices) == pytest.approx(10.0)

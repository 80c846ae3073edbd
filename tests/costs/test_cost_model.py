"""Each cost formula against a hand-computed case (the arithmetic is in the comments).

A small catalogue with round numbers keeps the arithmetic checkable by eye:
cpu $0.10/h speed 1; gpu $1.00/h speed 10 (tfidf 2); $0.50 per label; API "cheap" at
$1 / $4 per million input / output tokens. A month is 730 h.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from pydantic import ValidationError

from whichmodel.bench.record import RunRecord
from whichmodel.bench.spec import CandidateSpec
from whichmodel.costs import (
    HOURS_PER_MONTH,
    Scenario,
    break_even_volume,
    break_even_volumes,
    cost_of,
    load_prices,
    total_cost_at_volumes,
)
from whichmodel.costs.model import api_tier_of
from whichmodel.costs.prices import Prices
from whichmodel.errors import DataError, SpecError, UsageError


def run(**fields) -> RunRecord:
    base = dict(key="k", dataset="d", candidate="c", family="setfit", settings={},
                budget="8/class", seed=0, n_labels=100, train_seconds=3600.0,
                throughput_items_per_s=100.0, accuracy=0.9)
    base.update(fields)
    return RunRecord(**base)


def scenario(**fields) -> Scenario:
    return Scenario(**{"volume_per_month": 1e6, "horizon_months": 12, "hardware": "cpu",
                       **fields})


def test_month_is_730_hours():
    assert HOURS_PER_MONTH == 730.0  # 8760 h / 12


def test_self_hosted_at_the_always_on_floor(prices):
    cost = cost_of(run(), scenario(), prices)
    # annotation = 100 labels × $0.50 = $50
    assert cost.annotation_usd == pytest.approx(50.0)
    # training = 3600 s / speed 1 / 3600 × $0.10/h = $0.10
    assert cost.training_usd == pytest.approx(0.10)
    # capacity = 100 items/s × 1 × 3600 × 730 = 262,800,000 items per instance-month
    # 1e6 items < capacity -> 1 instance -> 730 h × $0.10 = $73.00 per month (the floor)
    assert cost.instances == 1
    assert cost.inference_usd_per_month == pytest.approx(73.0)
    # over 12 months: 12 × 73 = 876; total = 50 + 0.10 + 876 = 926.10
    assert cost.inference_usd == pytest.approx(876.0)
    assert cost.total_usd == pytest.approx(926.10)
    assert cost.self_hosted and cost.hardware == "cpu" and cost.training_hardware == "cpu"
    assert any("262,800,000 items per instance-month" in n for n in cost.notes)


def test_self_hosted_grows_whole_instances(prices):
    cost = cost_of(run(), scenario(volume_per_month=6e8), prices)
    # 6e8 / 2.628e8 = 2.28 -> ceil -> 3 instances × 730 h × $0.10 = $219 per month
    assert cost.instances == 3
    assert cost.inference_usd_per_month == pytest.approx(219.0)
    # exactly one instance's capacity still fits in one instance
    exact = cost_of(run(), scenario(volume_per_month=262_800_000), prices)
    assert exact.instances == 1


def test_speed_factor_scales_training_and_inference(prices):
    cost = cost_of(run(), scenario(hardware="gpu"), prices)
    # training on gpu: 3600 s / 10 / 3600 × $1.00 = $0.10
    assert cost.training_usd == pytest.approx(0.10)
    # capacity 100 × 10 × 3600 × 730 = 2.628e9; 1 instance × 730 × $1.00 = $730 per month
    assert cost.inference_usd_per_month == pytest.approx(730.0)
    big = cost_of(run(), scenario(hardware="gpu", volume_per_month=3e9), prices)
    assert big.instances == 2  # 3e9 / 2.628e9 = 1.14 -> 2


def test_family_speed_factor(prices):
    # tfidf on gpu runs at 2x, not 10x: capacity 100 × 2 × 3600 × 730 = 525,600,000
    cost = cost_of(run(family="tfidf"), scenario(hardware="gpu", volume_per_month=6e8), prices)
    assert cost.instances == 2  # 6e8 / 5.256e8 = 1.14 -> 2
    # training: 3600 s / 2 / 3600 × $1.00 = $0.50
    assert cost.training_usd == pytest.approx(0.50)


def test_training_hardware_differs_from_deployment(prices):
    cost = cost_of(run(), scenario(training_hardware="gpu"), prices)
    # trained on gpu: 3600 / 10 / 3600 × $1.00 = $0.10; served on cpu: $73 per month
    assert cost.training_usd == pytest.approx(0.10)
    assert cost.training_hardware == "gpu" and cost.inference_usd_per_month == pytest.approx(73)
    long = cost_of(run(train_seconds=36_000), scenario(training_hardware="gpu"), prices)
    assert long.training_usd == pytest.approx(1.0)  # 36000 / 10 / 3600 × $1.00
    # tfidf is only 2× faster on the gpu, so the training machine shows in the price:
    # 36000 / 2 / 3600 × $1.00 = $5.00 on the gpu, against 36000 / 3600 × $0.10 = $1.00 on cpu
    tfidf = run(family="tfidf", train_seconds=36_000)
    assert cost_of(tfidf, scenario(training_hardware="gpu"), prices).training_usd == \
        pytest.approx(5.0)
    assert cost_of(tfidf, scenario(), prices).training_usd == pytest.approx(1.0)


def test_api_inference_is_tokens_times_prices_with_no_floor(prices):
    llm = run(n_labels=40, train_seconds=0.0, throughput_items_per_s=None, api_model="cheap",
              input_tokens_per_item=500, output_tokens_per_item=5)
    cost = cost_of(llm, scenario(), prices)
    # per item = (500 × $1 + 5 × $4) / 1e6 = $0.00052; × 1e6 items = $520 per month
    assert cost.inference_usd_per_month == pytest.approx(520.0)
    # annotation 40 × 0.5 = 20; training 0; inference 12 × 520 = 6240; total 6260
    assert cost.total_usd == pytest.approx(6260.0)
    assert not cost.self_hosted and cost.instances is None and cost.hardware == "cheap"
    # no floor: 0 items cost nothing to serve
    [total_at_zero] = total_cost_at_volumes(llm, scenario(), prices, [0])
    assert total_at_zero == pytest.approx(cost.annotation_usd + cost.training_usd)


def test_horizon_multiplies_only_inference(prices):
    one = cost_of(run(), scenario(horizon_months=1), prices)
    two = cost_of(run(), scenario(horizon_months=2), prices)
    assert two.total_usd - one.total_usd == pytest.approx(73.0)  # one more month of $73
    assert two.annotation_usd == one.annotation_usd and two.training_usd == one.training_usd


def test_total_cost_at_volumes_matches_cost_of(prices):
    volumes = [0, 1e6, 6e8]
    totals = total_cost_at_volumes(run(), scenario(), prices, volumes)
    # fixed 50.10; then 12 × 73 (1 instance) or 12 × 219 (3 instances)
    assert isinstance(totals, np.ndarray)
    np.testing.assert_allclose(totals, [50.1 + 876, 50.1 + 876, 50.1 + 12 * 219])
    for volume, total in zip(volumes[1:], totals[1:]):  # 0 is on the curve, not a scenario
        assert cost_of(run(), scenario(volume_per_month=volume), prices).total_usd == \
            pytest.approx(total)


def test_break_even_api_versus_self_hosted(prices):
    llm = run(n_labels=40, train_seconds=0.0, api_model="cheap",
              input_tokens_per_item=500, output_tokens_per_item=5)
    # API: 20 + 12 × 0.00052 V;  self-hosted: 50.10 + 876 while V <= 2.628e8
    # 0.00624 V = 906.10  ->  V = 145,208.33 items per month
    volume = break_even_volume(llm, run(), scenario(), prices)
    assert volume == pytest.approx(906.10 / 0.00624, rel=1e-6)
    assert break_even_volume(run(), llm, scenario(), prices) == pytest.approx(volume, rel=1e-6)


def test_break_even_at_an_instance_step(prices):
    slow = run(n_labels=0, train_seconds=0.0)                  # 876 × instances
    fast = run(n_labels=100, train_seconds=0.0, throughput_items_per_s=1e4)  # 50 + 876
    # slow is cheaper until it needs a 2nd instance at 2.628e8 items per month
    volume = break_even_volume(slow, fast, scenario(), prices)
    assert volume == pytest.approx(262_800_000, rel=1e-6)
    # from then on slow costs >= 1752 > 926.10, and fast only needs a 2nd instance at
    # 2.628e10: exactly one crossing below 1e10
    assert len(break_even_volumes(slow, fast, scenario(), prices, high=1e10)) == 1


def test_no_break_even_when_one_dominates(prices):
    # same machine and speed, 100 more labels: always $50 dearer
    assert break_even_volume(run(), run(n_labels=200), scenario(), prices) is None
    assert break_even_volume(run(), run(), scenario(), prices) is None  # equal everywhere


def test_missing_measurements_and_unknown_prices_are_clear_errors(prices):
    with pytest.raises(DataError, match="no measured throughput"):
        cost_of(run(throughput_items_per_s=None), scenario(), prices)
    with pytest.raises(DataError, match="tokens per item were not measured"):
        cost_of(run(api_model="cheap"), scenario(), prices)
    with pytest.raises(SpecError, match="no price for API model 'gpt-9'"):
        cost_of(run(api_model="gpt-9", input_tokens_per_item=1, output_tokens_per_item=1),
                scenario(), prices)
    with pytest.raises(SpecError, match="unknown hardware 'tpu'"):
        cost_of(run(), scenario(hardware="tpu"), prices)
    with pytest.raises(UsageError, match="volume_per_month must be more than 0 items a month"):
        cost_of(run(), scenario(volume_per_month=-1), prices)
    with pytest.raises(UsageError, match="horizon_months must be more than 0 and at most 1200"):
        cost_of(run(), scenario(horizon_months=0), prices)


def test_unmeasured_training_is_free_and_says_so(prices):
    cost = cost_of(run(train_seconds=None), scenario(), prices)
    assert cost.training_usd == 0.0
    assert any("not measured" in n for n in cost.notes)


def test_shipped_catalogue_prices_a_real_case():
    prices = load_prices()
    cost = cost_of(run(), scenario(hardware="cpu-small"), prices)
    hw = prices.hardware["cpu-small"]
    assert cost.inference_usd_per_month == pytest.approx(730 * hw.usd_per_hour)
    assert cost.annotation_usd == pytest.approx(100 * prices.usd_per_label)


# --- API price tiers: standard (synchronous) and batch -------------------------------

def _with_batch(prices: Prices, usd_in: float = 0.5, usd_out: float = 2.0) -> Prices:
    """The test catalogue with a batch tier for "cheap": $0.50 / $2 per million tokens."""
    data = prices.model_dump()
    data["llm_api"]["cheap"].update(usd_per_million_input_tokens_batch=usd_in,
                                    usd_per_million_output_tokens_batch=usd_out)
    return Prices.model_validate(data)


def _llm(**fields) -> RunRecord:
    return run(**{"candidate": "llm", "budget": "0/class", "n_labels": 40,
                  "train_seconds": 0.0, "throughput_items_per_s": None, "api_model": "cheap",
                  "input_tokens_per_item": 500, "output_tokens_per_item": 5, **fields})


def test_batch_tier_is_priced_at_the_batch_prices_when_asked(prices):
    prices = _with_batch(prices)
    standard = cost_of(_llm(), scenario(), prices)
    batch = cost_of(_llm(), scenario(), prices, api_tier="batch")
    # per item = (500 × $0.50 + 5 × $2) / 1e6 = $0.00026; × 1e6 items = $260 per month
    assert batch.inference_usd_per_month == pytest.approx(260.0)
    # annotation 40 × 0.5 = 20; training 0; inference 12 × 260 = 3120; total 3140
    assert batch.total_usd == pytest.approx(3140.0)
    assert batch.inference_usd_per_month == pytest.approx(standard.inference_usd_per_month / 2)
    assert any("API cheap (batch tier)" in n and "$0.5/$2 per M" in n for n in batch.notes)
    assert any("API cheap (standard tier)" in n for n in standard.notes)
    # the default is the standard tier, and saying so changes nothing
    assert cost_of(_llm(), scenario(), prices, api_tier="standard") == standard
    [at_volume] = total_cost_at_volumes(_llm(), scenario(), prices, [1e6], api_tier="batch")
    assert at_volume == pytest.approx(batch.total_usd)


def test_the_tier_can_come_with_the_choice(prices):
    prices = _with_batch(prices)
    llm = _llm()
    assert api_tier_of(llm) == "standard"  # rows carry no tier yet: standard
    batched = SimpleNamespace(drivers=llm.drivers, candidate="llm", budget="0/class",
                              api_tier="batch")
    assert api_tier_of(batched) == "batch"
    assert cost_of(batched, scenario(), prices).inference_usd_per_month == pytest.approx(260.0)
    # an explicit tier wins over the choice's
    assert cost_of(batched, scenario(), prices, api_tier="standard"
                   ).inference_usd_per_month == pytest.approx(520.0)
    # half the token price: the break-even against self-hosted moves out twice as far
    # API: 20 + 12 × 0.00026 V;  self-hosted: 926.10 while V <= 2.628e8 -> V = 906.10 / 0.00312
    volume = break_even_volume(batched, run(), scenario(), prices)
    assert volume == pytest.approx(906.10 / 0.00312, rel=1e-6)


def test_batch_tier_for_a_model_without_batch_prices_is_refused(prices):
    with pytest.raises(SpecError) as err:
        cost_of(_llm(), scenario(), prices, api_tier="batch")
    message = str(err.value)
    assert "prices.llm_api.cheap: API model 'cheap' has no batch price" in message
    assert "add usd_per_million_input_tokens_batch and usd_per_million_output_tokens_batch" \
        in message
    assert "api_tier: standard" in message and "\n" not in message
    with pytest.raises(SpecError, match="api_tier: must be one of 'standard', 'batch'"):
        cost_of(_llm(), scenario(), _with_batch(prices), api_tier="cheapest")


def test_the_tier_does_nothing_for_a_self_hosted_candidate(prices):
    assert cost_of(run(), scenario(), prices, api_tier="batch") == cost_of(run(), scenario(),
                                                                         prices)


def test_shipped_catalogue_batch_tier_halves_an_api_bill():
    prices = load_prices()
    for model in ("gpt-6-luna", "claude-haiku-5-5", "gemini-2.5-flash-lite", "gpt-oss-20b"):
        llm = _llm(api_model=model)
        standard = cost_of(llm, scenario(hardware="cpu-small"), prices)
        batch = cost_of(llm, scenario(hardware="cpu-small"), prices, api_tier="batch")
        assert batch.inference_usd_per_month == pytest.approx(
            standard.inference_usd_per_month / 2), model
    with pytest.raises(SpecError, match="'llama-3.1-8b-instruct' has no batch price"):
        cost_of(_llm(api_model="llama-3.1-8b-instruct"), scenario(hardware="cpu-small"),
                prices, api_tier="batch")


def test_candidate_spec_names_its_api_tier():
    assert CandidateSpec(name="llm", family="tfidf").api_tier == "standard"
    assert CandidateSpec(name="llm", family="tfidf", api_tier="batch").api_tier == "batch"
    with pytest.raises(ValidationError, match="api_tier"):
        CandidateSpec(name="llm", family="tfidf", api_tier="flex")

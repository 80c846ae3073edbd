"""A model trained on an LLM teacher's labels (family ``distilled``): the teacher's tokens
are a one-time cost at its API price, inside training; a local teacher's compute is
already in the train seconds. Prices from the round-number test catalogue."""

from __future__ import annotations

import pytest

from whichmodel.bench.ledger import Ledger
from whichmodel.bench.record import RunRecord
from whichmodel.costs import cost_of, total_cost_at_volumes
from whichmodel.costs.drivers import TEACHER_DRIVERS, CostDrivers, Stage
from whichmodel.costs.scenario import Scenario
from whichmodel.errors import DataError, SpecError

SCENARIO = Scenario(volume_per_month=1e6, horizon_months=12, hardware="cpu")
DISTILLED = CostDrivers(family="distilled", n_labels=20, train_seconds=36.0,
                        throughput_items_per_s=1e4, teacher_input_tokens=2e6,
                        teacher_output_tokens=1e5, teacher_api_model="cheap")


def test_the_teachers_tokens_are_priced_once_inside_training(prices):
    cost = cost_of(DISTILLED, SCENARIO, prices)
    usd_in, usd_out = prices.api_rates("cheap")
    labelling = (2e6 * usd_in + 1e5 * usd_out) / 1e6
    assert cost.teacher_labelling_usd == pytest.approx(labelling) == pytest.approx(2.4)
    assert cost.training_usd == pytest.approx(36 / 3600 * 0.10 + labelling)
    assert cost.annotation_usd == pytest.approx(20 * prices.usd_per_label)
    assert cost.self_hosted and cost.hardware == "cpu"  # the student serves, not the API
    assert cost.inference_usd_per_month == pytest.approx(730 * 0.10)
    note = next(n for n in cost.notes if n.startswith("teacher labelling: "))
    assert "2,000,000 input + 100,000 output tokens of API cheap (standard tier)" in note
    # one-off: the same at every volume, as the totals over volumes say
    low, high = total_cost_at_volumes(DISTILLED, SCENARIO, prices, [1.0, 2.0])
    assert low == pytest.approx(cost.total_usd) and high == pytest.approx(low)


def test_a_local_teacher_costs_only_its_train_seconds(prices):
    local = CostDrivers(**{**DISTILLED.to_dict(), "teacher_api_model": None})
    cost = cost_of(local, SCENARIO, prices)
    assert cost.teacher_labelling_usd == 0
    assert cost.training_usd == pytest.approx(36 / 3600 * 0.10)
    assert any("inside the measured train seconds" in n for n in cost.notes)
    plain = CostDrivers(family="tfidf", n_labels=20, train_seconds=36.0,
                        throughput_items_per_s=1e4)
    assert not any("teacher" in n for n in cost_of(plain, SCENARIO, prices).notes)


def test_a_teacher_without_a_price_or_tokens_is_refused_naming_it(prices):
    unpriced = CostDrivers(**{**DISTILLED.to_dict(), "teacher_api_model": "gpt-none"})
    with pytest.raises(SpecError, match="no price for API model 'gpt-none'"):
        cost_of(unpriced, SCENARIO, prices)
    untold = CostDrivers(**{**DISTILLED.to_dict(), "teacher_output_tokens": None})
    with pytest.raises(DataError, match="teacher's tokens were not recorded"):
        cost_of(untold, SCENARIO, prices)


def test_a_cascade_pays_for_the_teacher_of_its_distilled_stage(prices):
    class Cascade:
        candidate, budget = "tfidf→distilled", "20"
        drivers = CostDrivers(family="cascade", n_labels=20)
        stages = (Stage("tfidf", CostDrivers(family="tfidf", train_seconds=0.0,
                                             throughput_items_per_s=1e4)),
                  Stage("distilled", DISTILLED, 0.3))

    cost = cost_of(Cascade(), SCENARIO, prices)
    assert cost.teacher_labelling_usd == pytest.approx(2.4)
    assert cost.training_usd == pytest.approx(36 / 3600 * 0.10 + 2.4)
    assert any(n.startswith("teacher labelling (distilled): ") for n in cost.notes)


def test_seeds_average_the_teachers_tokens_and_keep_its_model():
    other = CostDrivers(**{**DISTILLED.to_dict(), "teacher_input_tokens": 4e6})
    mean = CostDrivers.mean([DISTILLED, other])
    assert mean.teacher_input_tokens == 3e6 and mean.teacher_output_tokens == 1e5
    assert mean.teacher_api_model == "cheap"


def test_a_ledger_row_keeps_the_teacher_drivers(tmp_path):
    record = RunRecord(key="k", dataset="d", candidate="distilled", family="distilled",
                       settings={"teacher": {"backend": "api"}}, budget="0", seed=0,
                       n_labels=0, train_seconds=36.0, throughput_items_per_s=1e4,
                       teacher_input_tokens=2e6, teacher_output_tokens=1e5,
                       teacher_api_model="cheap")
    with Ledger(tmp_path / "runs.sqlite") as ledger:
        ledger.write(record)
    with Ledger(tmp_path / "runs.sqlite") as ledger:
        (row,) = ledger.records()
    assert {name: getattr(row.drivers, name) for name in TEACHER_DRIVERS} == {
        "teacher_input_tokens": 2e6, "teacher_output_tokens": 1e5,
        "teacher_api_model": "cheap"}

"""`CostDrivers`: a run's measured cost figures as one object, averaged over seeds and
priced without any layer copying them field by field."""

from __future__ import annotations

import pytest

from whichmodel.bench.record import RunRecord
from whichmodel.choose import summarize
from whichmodel.costs import cost_of
from whichmodel.costs.drivers import DRIVER_FIELDS, CostDrivers
from whichmodel.costs.scenario import Scenario


def _run(seed: int, **drivers) -> RunRecord:
    return RunRecord(key=f"k{seed}", dataset="d", candidate="c", family="tfidf", settings={},
                     budget="all", seed=seed, accuracy=0.9, n_labels=100, **drivers)


def test_a_choice_averages_each_driver_over_the_seeds_that_measured_it():
    runs = [_run(0, train_seconds=2.0, throughput_items_per_s=100.0, latency_p95_ms=None),
            _run(1, train_seconds=4.0, throughput_items_per_s=300.0, latency_p95_ms=10.0)]
    assert runs[0].drivers == CostDrivers(family="tfidf", n_labels=100, train_seconds=2.0,
                                          throughput_items_per_s=100.0)
    (summary,) = summarize(runs)
    assert summary.drivers.train_seconds == 3.0
    assert summary.drivers.throughput_items_per_s == 200.0
    assert summary.drivers.latency_p95_ms == 10.0  # the seed that measured it
    assert summary.n_labels == 100 and summary.api_model is None
    data = summary.to_dict()  # choose --json keeps the flat names
    assert {name: data[name] for name in DRIVER_FIELDS} == summary.drivers.to_dict()


def test_the_cost_model_prices_drivers_of_a_row_a_summary_or_the_object_itself(prices):
    run = _run(0, train_seconds=36.0, throughput_items_per_s=100.0)
    scenario = Scenario(volume_per_month=1e6, hardware="cpu")
    by_row = cost_of(run, scenario, prices)
    by_summary = cost_of(summarize([run])[0], scenario, prices)
    by_drivers = cost_of(run.drivers, scenario, prices)
    assert by_row.total_usd == by_summary.total_usd == by_drivers.total_usd
    assert by_row.annotation_usd == pytest.approx(100 * 0.5)  # $0.50 a label
    assert by_row.training_usd == pytest.approx(36 / 3600 * 0.10)
    with pytest.raises(ValueError, match="no runs"):
        CostDrivers.mean([])

"""Scenario checks itself: one rule per field, one error kind naming the field."""

from __future__ import annotations

import math

import numpy as np
import pytest

from whichmodel.costs.scenario import (
    MAX_HORIZON_MONTHS,
    MAX_VOLUME_PER_MONTH,
    Scenario,
    ScenarioError,
    check_scenario,
)
from whichmodel.errors import UsageError, WhichmodelError
from whichmodel.metrics import metric_names

# (field, values it takes, values it refuses): the rules `Scenario` documents.
RULES = [
    ("volume_per_month", [1e-3, 1, MAX_VOLUME_PER_MONTH],
     [0, -1, MAX_VOLUME_PER_MONTH * 1.01, math.inf, math.nan, "5e6", True, None]),
    ("horizon_months", [0.5, 12, MAX_HORIZON_MONTHS],
     [0, -1, MAX_HORIZON_MONTHS + 1, math.inf, math.nan, "12"]),
    ("min_quality", [None, 0, 0.5, 1], [-0.01, 1.01, math.nan, "0.9", False]),
    ("max_latency_p95_ms", [None, 0.1, 1e6], [0, -3, math.inf, math.nan, "50"]),
    ("label_budget", [None, 0, 1, 1000, 1000.0], [-1, 2.5, math.inf, "100", True]),
    ("cost_tie", [0, 0.01, 0.99], [1, -0.01, math.nan, None]),
    ("hardware", ["cpu-small", "t4"], ["", "  ", None, 3]),
    ("training_hardware", [None, "t4"], ["", 3]),
    ("metric", metric_names(bar=True), ["f1", "ece", "", None]),
]


@pytest.mark.parametrize(("field", "good", "bad"), RULES, ids=[r[0] for r in RULES])
def test_each_field_takes_its_range_and_refuses_the_rest(field, good, bad):
    for value in good:
        assert Scenario(**{field: value}) is not None
    for value in bad:
        with pytest.raises(ScenarioError) as err:
            Scenario(**{field: value})
        assert err.value.field == field
        assert str(err.value).startswith(f"{field} must be "), str(err.value)
        assert "\n" not in str(err.value) and "--" not in str(err.value)  # no CLI flags


def test_label_budget_zero_is_a_budget_and_whole_floats_become_ints():
    assert Scenario(label_budget=0).label_budget == 0
    scenario = Scenario(label_budget=1e3, volume_per_month=np.float32(5e6))
    assert scenario.label_budget == 1000 and type(scenario.label_budget) is int
    assert type(scenario.volume_per_month) is float


def test_error_is_a_usage_error_and_can_be_said_with_another_name():
    with pytest.raises(ScenarioError) as err:
        Scenario(label_budget=-1)
    assert isinstance(err.value, UsageError) and isinstance(err.value, WhichmodelError)
    said = err.value.message_for("--label-budget")
    assert said == str(err.value).replace("label_budget", "--label-budget", 1)
    assert said.endswith(", got -1")


def test_metric_names_come_from_the_registry_with_a_suggestion():
    with pytest.raises(ScenarioError, match=r"got 'macro_f' \(did you mean 'macro_f1'\?\)"):
        Scenario(metric="macro_f")
    with pytest.raises(ScenarioError) as err:
        Scenario(metric="ece")  # registered, but no bar may be set on it
    assert all(name in str(err.value) for name in metric_names(bar=True))


def test_reassigned_fields_are_checked_again():
    scenario = Scenario()
    scenario.label_budget = -5
    with pytest.raises(ScenarioError, match="label_budget must be"):
        check_scenario(scenario)

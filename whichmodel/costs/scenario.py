"""The deployment scenario a recommendation is made for: volume, horizon, constraints.

`Scenario` checks itself when it is made, and is the one place the rules live: the spec's
``scenario:`` section and the `choose`/`report` flags both build one and only say where
a bad value came from (``scenario.label_budget``, ``--label-budget``). A bad value is a
`ScenarioError` naming the field.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

from whichmodel.errors import UsageError, did_you_mean, quote

# Bounds a scenario must stay within. 1e15 items a month is ~400 million a second, far
# past any deployment; beyond it (1e308, inf) totals overflow and print as "$inf".
MAX_VOLUME_PER_MONTH = 1e15
MAX_HORIZON_MONTHS = 1200.0  # a century


class ScenarioError(UsageError):
    """A scenario field has a value no recommendation can be made for.

    ``field`` is the `Scenario` field; the message reads ``<name> must be <rule>, got
    <value>``, and `message_for` puts another name in front (a spec's
    ``scenario.<field>``, a command's ``--flag``), so each caller speaks its own terms.
    """

    def __init__(self, field: str, rule: str, value: Any, hint: str = "") -> None:
        self.field, self.rule, self.value, self.hint = field, rule, value, hint
        super().__init__(self.message_for(field))

    def message_for(self, name: str) -> str:
        """The message with ``name`` for the field."""
        return f"{name} must be {self.rule}, got {_shown(self.value)}{self.hint}"


@dataclass
class Scenario:
    """What the team needs. Volumes are items per month; money is US dollars.

    Every field is checked on creation (`ScenarioError`, naming the field):

    - ``volume_per_month``: more than 0, at most `MAX_VOLUME_PER_MONTH`;
    - ``horizon_months``: more than 0, at most `MAX_HORIZON_MONTHS`;
    - ``metric``: a metric of `whichmodel.metrics` a bar may be set on;
    - ``min_quality``: None or from 0 to 1;
    - ``max_latency_p95_ms``: None or a finite number of milliseconds more than 0;
    - ``label_budget``: None or a whole number of labels, **0 or more**: a budget of 0 is
      a real one, met only by candidates that need no labels (zero-shot LLMs);
    - ``hardware``: a non-empty name (whether the price table has it is checked against
      the prices, which a scenario does not hold); ``training_hardware``: None or one;
    - ``cost_tie``: a fraction from 0 up to (not including) 1;
    - ``confidence``: None, or a level between 0 and 1 (exclusive): the quality bar must
      then hold for the lower bound of that bootstrap interval of the winner's test
      score, not only for its point estimate.
    """

    volume_per_month: float = 1e6
    horizon_months: float = 12.0
    metric: str = "accuracy"                 # a name in whichmodel.metrics (bar=True)
    min_quality: float | None = None         # e.g. 0.9 on ``metric``
    max_latency_p95_ms: float | None = None
    label_budget: int | None = None          # most labels the team can pay for
    hardware: str = "cpu-small"              # deployment hardware key in prices.yaml
    training_hardware: str | None = None     # None: train on the deployment hardware
    # Totals within this fraction of the cheapest count as equal and the better model wins:
    # measured seconds vary by more than 1% between runs, so a cheaper-by-a-hair loser of
    # quality is noise, not a saving.
    cost_tie: float = 0.01
    confidence: float | None = None

    def __post_init__(self) -> None:
        check_scenario(self)


def check_scenario(scenario: Scenario) -> None:
    """Check every field of ``scenario`` (see `Scenario`) and store numbers as plain
    floats and ints; raises `ScenarioError` for the first bad one. Run on creation and
    again by the cost model, as the fields may be reassigned."""
    s = scenario
    s.volume_per_month = _number(
        "volume_per_month", s.volume_per_month, 0, MAX_VOLUME_PER_MONTH,
        f"more than 0 items a month and at most {MAX_VOLUME_PER_MONTH:,.0f} (far past any "
        "deployment)")
    s.horizon_months = _number(
        "horizon_months", s.horizon_months, 0, MAX_HORIZON_MONTHS,
        f"more than 0 and at most {MAX_HORIZON_MONTHS:g} months (a century)")
    _check_metric(s.metric)
    if s.min_quality is not None:
        s.min_quality = _number("min_quality", s.min_quality, 0, 1,
                                "from 0 to 1 (a share, such as 0.9)", low_open=False)
    if s.max_latency_p95_ms is not None:
        s.max_latency_p95_ms = _number("max_latency_p95_ms", s.max_latency_p95_ms, 0,
                                       math.inf, "more than 0 ms")
    if s.label_budget is not None:
        s.label_budget = _whole("label_budget", s.label_budget,
                                "a whole number of labels, 0 or more (0: only candidates "
                                "that need no labels, such as zero-shot LLMs)")
    _check_name("hardware", s.hardware)
    if s.training_hardware is not None:
        _check_name("training_hardware", s.training_hardware)
    s.cost_tie = _number("cost_tie", s.cost_tie, 0, 1,
                         "a fraction from 0 up to (not including) 1, such as 0.01 for "
                         "within 1% of the cheapest total (0: strictly the cheapest)",
                         low_open=False, high_open=True)
    if s.confidence is not None:
        s.confidence = _number("confidence", s.confidence, 0, 1,
                               "a level between 0 and 1, such as 0.95", high_open=True)


def _number(field: str, value: Any, low: float, high: float, rule: str, *,
            low_open: bool = True, high_open: bool = False) -> float:
    """``value`` as a float when it is a finite real number inside the bounds, else a
    `ScenarioError` (saying "a number" first when it is not one)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ScenarioError(field, f"a number {rule}", value)
    number = float(value)
    above = number > low if low_open else number >= low
    below = number < high if high_open else number <= high
    if not (above and below and math.isfinite(number)):
        raise ScenarioError(field, rule, value)
    return number


def _whole(field: str, value: Any, rule: str) -> int:
    """``value`` as an int when it is a whole number >= 0 (``1e3`` from YAML counts)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ScenarioError(field, rule, value)
    number = float(value)
    if not (math.isfinite(number) and number.is_integer() and number >= 0):
        raise ScenarioError(field, rule, value)
    return int(value)


def _check_metric(name: Any) -> None:
    from whichmodel.metrics import metric_names

    names = metric_names(bar=True)
    if not isinstance(name, str) or name not in names:
        hint = did_you_mean(name, names) if isinstance(name, str) else ""
        raise ScenarioError("metric", f"one of {', '.join(names)} (the metrics a bar may "
                                      "be set on)", name, hint)


def _check_name(field: str, name: Any) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ScenarioError(field, "a hardware name from the price table (prices.yaml)", name)


def _shown(value: Any) -> str:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return quote(value)

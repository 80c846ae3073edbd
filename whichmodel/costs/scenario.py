"""The deployment scenario a recommendation is made for: volume, horizon, constraints."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

from whichmodel.errors import UsageError, quote

# Bounds a scenario must stay within. 1e15 items a month is ~400 million a second, far
# past any deployment; beyond it (1e308, inf) totals overflow and print as "$inf".
MAX_VOLUME_PER_MONTH = 1e15
MAX_HORIZON_MONTHS = 1200.0  # a century


@dataclass
class Scenario:
    """What the team needs. Volumes are items per month; money is US dollars."""

    volume_per_month: float = 1e6
    horizon_months: float = 12.0
    metric: str = "accuracy"                 # "accuracy" or "macro_f1"
    min_quality: float | None = None         # e.g. 0.9 on ``metric``
    max_latency_p95_ms: float | None = None
    label_budget: int | None = None          # most labels the team can pay for
    hardware: str = "cpu-small"              # deployment hardware key in prices.yaml
    training_hardware: str | None = None     # None: train on the deployment hardware
    # Totals within this fraction of the cheapest count as equal and the better model wins:
    # measured seconds vary by more than 1% between runs, so a cheaper-by-a-hair loser of
    # quality is noise, not a saving.
    cost_tie: float = 0.01

    def __post_init__(self) -> None:
        check_scenario(self)


def check_scenario(scenario: Scenario) -> None:
    """Refuse a volume or horizon that is not a number, negative, not finite or absurd
    (`UsageError`); run on construction and again by the cost model, as the fields may
    be reassigned."""
    volume, months = scenario.volume_per_month, scenario.horizon_months
    for name, value in (("volume", volume), ("horizon", months)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise UsageError(f"{name} must be a number, got {quote(value)}")
    if volume < 0:
        raise UsageError(f"volume must be >= 0 items per month, got {volume}")
    if not volume <= MAX_VOLUME_PER_MONTH:  # also NaN
        raise UsageError(f"volume must be a finite number of items per month up to "
                         f"{MAX_VOLUME_PER_MONTH:,.0f}, got {volume:g}")
    if not months > 0:
        raise UsageError(f"horizon must be > 0 months, got {months}")
    if not months <= MAX_HORIZON_MONTHS:
        raise UsageError(f"horizon must be at most {MAX_HORIZON_MONTHS:g} months (a "
                         f"century), got {months:g}")

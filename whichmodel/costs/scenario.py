"""The deployment scenario a recommendation is made for: volume, horizon, constraints."""

from __future__ import annotations

from dataclasses import dataclass


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

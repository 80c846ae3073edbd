"""The winner, chosen on validation, confirmed on test: its test score with a bootstrap
interval, and whether the scenario's bar holds there.

Choosing on the test split would bias the winner's score upward (of dozens of choices, the
one that drew the luckiest test sample wins), and a choice just above the bar often fails
it on new data. So `whichmodel.choose.recommend` decides on validation scores, and this
module scores the winner, once, on test: the point estimate (mean over seeds) and its
interval over test items and seeds (`whichmodel.intervals`), from the predictions the bench
stored. With a scenario ``confidence`` the bar must hold for the interval's lower bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from whichmodel.predictions import Predictions

if TYPE_CHECKING:
    from whichmodel.choose import Recommendation


@dataclass
class Confirmation:
    """The winner, chosen on validation, scored on test: the point estimate (mean over
    seeds), its ``level`` bootstrap interval over test items and seeds, and whether the
    scenario's bar holds there (on the interval's lower bound when the scenario asks for a
    ``confidence``, else on the point). ``bar_holds`` is None without a bar."""

    metric: str
    test_quality: float
    low: float
    high: float
    level: float
    n_items: int
    n_seeds: int
    validation_quality: float | None = None
    bar: float | None = None
    bar_on: str = "point estimate"
    bar_holds: bool | None = None
    # A cascade's share of test items sent to its second model (mean over seeds), from
    # its predictions' ``escalated`` extra; None for a single model.
    escalated_share: float | None = None

    def sentence(self) -> str:
        """One line a user reads, e.g. "On test: accuracy 0.912 (95% interval 0.901 to
        0.922, 3,080 items × 3 seeds); the 0.900 bar holds on its lower bound."""
        text = (f"On test: {self.metric} {self.test_quality:.3f} ({self.level:.0%} interval "
                f"{self.low:.3f} to {self.high:.3f}, {self.n_items:,} items × "
                f"{self.n_seeds} seed{'s' if self.n_seeds != 1 else ''})")
        if self.escalated_share is not None:
            text += f"; {self.escalated_share:.1%} of the items went to its second model"
        if self.bar_holds is None:
            return text + "."
        verdict = "holds" if self.bar_holds else "does NOT hold"
        return f"{text}; the {self.bar:.3f} bar {verdict} on its {self.bar_on}."


def confirm_on_test(rec: Recommendation, runs: Sequence[Predictions], y_true: Sequence[Any],
                    *, level: float | None = None) -> Recommendation:
    """``rec`` with its winner's test score confirmed: the interval from ``runs`` (the
    winner's stored test predictions, one per seed) and the test labels. ``level``
    defaults to the scenario's ``confidence``, else 0.95."""
    from whichmodel.intervals import bootstrap_interval

    if rec.winner is None:
        return rec
    s, scenario = rec.winner.summary, rec.scenario
    level = level or scenario.confidence or 0.95
    low, high = bootstrap_interval(runs, y_true, scenario.metric, level=level)
    bar = scenario.min_quality
    point = s.test_quality(scenario.metric)
    on_bound = scenario.confidence is not None
    from whichmodel.metrics import get_metric

    holds = None if bar is None else get_metric(scenario.metric).meets(
        low if on_bound else point, bar)
    shares = [float(np.mean(r.extras["escalated"])) for r in runs
              if "escalated" in r.extras and len(r)]
    rec.confirmation = Confirmation(
        scenario.metric, point, low, high, level, len(y_true), len(runs),
        s.quality(scenario.metric) if s.selected_on == "validation" else None, bar,
        "lower bound" if on_bound else "point estimate", holds,
        float(np.mean(shares)) if shares and len(shares) == len(runs) else None)
    return rec

"""The bootstrap interval of every quality figure the report shows, per choice and split.

A mean over seeds says nothing of how far it could move on other items: two choices
0.004 apart on 300 test items are a coin toss, and the report should say so wherever it
prints a quality figure, not only for the winner. The intervals come from the per-item
predictions the bench stored in the ledger (`whichmodel.bench.ledger.read_evidence`),
over items and seeds (`whichmodel.intervals.bootstrap_intervals`), computed once per
choice and split; the winner's interval on test is the one its `Confirmation` already
holds. Rows from an older whichmodel have no stored predictions: their choices get no
interval, and the report shows the point figure alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_LEVEL = 0.95


@dataclass
class ChoiceIntervals:
    """``level`` bootstrap intervals by (choice label, split, metric), and how many items
    each split they were computed on has. Empty (falsy; `get` answers None) when the
    ledger holds no stored predictions, or the report was given no ledger."""

    level: float = DEFAULT_LEVEL
    by_choice: dict[tuple[str, str, str], tuple[float, float]] = field(default_factory=dict)
    n_items: dict[str, int] = field(default_factory=dict)

    def get(self, summary: Any, split: str, metric: str) -> tuple[float, float] | None:
        """(low, high) of ``metric`` of the choice ``summary`` on ``split``, or None."""
        return self.by_choice.get((summary.label, split, metric))

    def has(self, summary: Any, split: str) -> bool:
        """Whether any figure of the choice ``summary`` on ``split`` has an interval."""
        return any(key[:2] == (summary.label, split) for key in self.by_choice)

    def __bool__(self) -> bool:
        return bool(self.by_choice)


def choice_intervals(rec: Any, records: Sequence[Any], ledger: str | Path, *,
                     test_metrics: Sequence[str], level: float | None = None
                     ) -> ChoiceIntervals:
    """The intervals of every choice of ``rec``: ``test_metrics`` on test, and the
    scenario's metric on validation for choices made on validation.

    ``records`` are the runs ``rec`` was made from (they say each choice's experiment),
    ``ledger`` the file holding their stored predictions. ``level`` defaults to the
    confirmation's (the scenario's ``confidence``), else 0.95, so the winner's interval
    on test is the confirmation's, not a second one.
    """
    from whichmodel.bench.record import experiment_of
    from whichmodel.intervals import bootstrap_intervals

    confirmation = rec.confirmation if rec.winner is not None else None
    if level is None:
        level = (confirmation.level if confirmation is not None
                 else rec.scenario.confidence or DEFAULT_LEVEL)
    out = ChoiceIntervals(level)
    experiments = {r.key: experiment_of(r) for r in records}
    metric = rec.scenario.metric
    for split in ("test", "validation"):
        summaries = [v.summary for v in rec.verdicts
                     if split == "test" or v.summary.selected_on == "validation"]
        for s, labels, runs in _evidence(ledger, split, summaries, experiments):
            wanted = ([m for m in dict.fromkeys(test_metrics) if m in s.quality_means]
                      if split == "test" else [metric])
            if split == "test" and _is_confirmed(confirmation, rec, s, metric, level,
                                                 len(labels)):
                out.by_choice[(s.label, split, metric)] = (confirmation.low,
                                                           confirmation.high)
                wanted = [m for m in wanted if m != metric]
            found = bootstrap_intervals(runs, labels, wanted, level=level) if wanted else {}
            for name, interval in found.items():
                if interval is not None and not any(map(math.isnan, interval)):
                    out.by_choice[(s.label, split, name)] = interval
            out.n_items[split] = len(labels)
    return out


def _evidence(ledger: str | Path, split: str, summaries: Sequence[Any],
              experiments: dict[str, str]) -> list[tuple[Any, list[Any], list[Any]]]:
    """(choice, true labels of ``split``, its runs' stored predictions there) for the
    choices whose every run stored them on the same items (a cascade's, held by its
    summary, computed from its two models' stored predictions). One read of the ledger per
    experiment when every run did, one per choice when some did not (an older ledger
    that newer runs were added to)."""
    from whichmodel.bench.ledger import read_evidence

    by_experiment: dict[str, list[Any]] = {}
    out = []
    for s in summaries:
        derived = (getattr(s, "evidence", None) or {}).get(split)
        if derived is not None:  # a cascade: its predictions, computed from its models'
            out.append((s, derived[0], derived[1]))
            continue
        experiment = experiments.get(s.run_keys[0]) if s.run_keys else None
        if experiment is not None:
            by_experiment.setdefault(experiment, []).append(s)
    for experiment, choices in by_experiment.items():
        keys = [key for s in choices for key in s.run_keys]
        labels, runs = read_evidence(ledger, experiment, keys, split)
        if labels is None:
            continue  # no labels stored for this split: nothing to score against
        if runs is not None:
            found = iter(runs)
            pairs = [(s, [next(found) for _ in s.run_keys]) for s in choices]
        else:
            pairs = [(s, read_evidence(ledger, experiment, s.run_keys, split)[1])
                     for s in choices]
        for s, own in pairs:
            if own is not None and all(len(r) == len(labels) for r in own):
                out.append((s, labels, own))
    return out


def _is_confirmed(confirmation: Any, rec: Any, summary: Any, metric: str, level: float,
                  n_items: int) -> bool:
    """Whether the winner's `Confirmation` is this choice's ``metric`` on test at
    ``level``: then its interval is shown rather than computed again."""
    return (confirmation is not None and summary.label == rec.winner.summary.label
            and confirmation.metric == metric and confirmation.level == level
            and confirmation.n_items == n_items
            and confirmation.n_seeds == (len(summary.run_keys) or summary.n_runs))


def interval_text(interval: tuple[float, float] | None) -> str:
    """``[0.901, 0.922]``, or nothing without an interval."""
    if interval is None:
        return ""
    return f"[{interval[0]:.3f}, {interval[1]:.3f}]"

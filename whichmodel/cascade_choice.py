"""Cascades as choices of `choose`: derived from stored predictions, τ chosen on validation.

A cascade of two benchmarked choices (`whichmodel.route`) needs no training and no model
call: the bench stored each run's per-item predictions on validation and test, so the
cascade's predictions at any threshold τ are computed from those of its two models.
`derive_cascades` does that for a bounded set of pairs and returns each as a
`CascadeSummary`, a `CandidateSummary` that `recommend` prices and judges like any other
choice ("cascade: A → B @ τ=0.83"), with its share escalated, its quality, its cost.

The rules, each a choice of this module:

* **Pairs**: a first model on the Pareto frontier of the plain choices (validation quality
  against total cost at the scenario), the `MAX_FIRSTS` of those cheapest to run per
  item; for each, the `MAX_SECONDS` best choices on validation that cost more per item at
  the scenario volume and score better. At most 3 × 2 = 6 cascades, swept on ~50 τ each.
* **Seeds**: the seeds both choices ran (their runs on the same seed are paired); each
  figure is the mean over them. Both must have stored predictions on validation and test.
* **τ**: on the validation split only, from `threshold_grid` (0, the quantiles of the
  first's confidences, all-escalated), leaving out τ where nothing or everything is
  escalated (that is one of the two models alone, at the price of both): the cheapest τ
  (total at the scenario volume) whose quality meets the bar — without a bar, the
  second model's own validation quality — and whose projected p95 latency meets the
  limit; of those within the scenario's cost tie of the cheapest, the best. When no τ
  meets them, the best-quality τ (which then fails, with its shortfall). Test only
  confirms: the cascade's test score is computed at that τ.
* **Labels** (annotation): both models trained on samples of the same training split.
  At the same budget and seed the two samples are the same rows (the bench draws them
  by budget and seed, not by candidate), so the cascade needs the larger of the two
  counts; at different budgets the samples are drawn apart and may overlap in any way,
  so it is priced at the sum, an upper bound.
* **Training**: both. **Inference**: the first at the whole volume, the second at the
  share escalated (a self-hosted second runs at least one always-on instance; an API
  second pays the tokens of escalated items, measured on them when its predictions carry
  per-item tokens), as `whichmodel.costs.model` prices `Stage`s.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from whichmodel.costs.drivers import CostDrivers, Stage
from whichmodel.costs.model import cost_of, deployed_latency_p95_ms
from whichmodel.errors import DataError
from whichmodel.predictions import Predictions
from whichmodel.route import (
    CascadeError,
    SweepPoint,
    cascade_predictions,
    sweep,
    threshold_grid,
)
from whichmodel.summary import CandidateSummary

MAX_FIRSTS = 3
MAX_SECONDS = 2
GRID_POINTS = 50

# (run keys, split) -> (true labels of the split, stored predictions of each run), None
# for what the ledger lacks: `whichmodel.bench.ledger.read_evidence` of one experiment.
Evidence = Callable[[Sequence[str], str], "tuple[list[Any] | None, list[Predictions] | None]"]


@dataclass
class CascadeSummary(CandidateSummary):
    """A cascade of two choices at threshold τ, as a choice: quality (mean ± std over the
    seeds both ran) on validation, where τ was chosen, and on test; its `stages` (what the
    cost model prices) and its share of items escalated on each split; the sweep over τ
    on validation with the total at each τ (what the report plots); and the cascade's
    per-item predictions on both splits (what the confirmation and intervals read)."""

    first: CandidateSummary | None = None
    second: CandidateSummary | None = None
    threshold: float = 0.0
    escalated_share: float = 0.0                     # on validation, mean over seeds
    test_escalated_share: float | None = None
    stages: tuple[Stage, ...] = ()
    sweep: list[SweepPoint] = field(default_factory=list, repr=False)
    sweep_total_usd: list[float] = field(default_factory=list, repr=False)
    # split -> (true labels, the cascade's predictions per seed)
    evidence: dict[str, tuple[list[Any], list[Predictions]]] = field(
        default_factory=dict, repr=False)
    test_reports: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the summary's fields and what makes it a cascade."""
        data = super().to_dict()
        data["cascade"] = {
            "first": self.first.label if self.first else None,
            "second": self.second.label if self.second else None,
            "threshold": self.threshold, "escalated_share": self.escalated_share,
            "test_escalated_share": self.test_escalated_share,
            "sweep": [{"threshold": p.threshold, "escalated_share": p.escalated_share,
                       "quality": dict(p.quality), "total_usd": usd}
                      for p, usd in zip(self.sweep, self.sweep_total_usd)]}
        return data


def is_cascade(summary: Any) -> bool:
    """Whether ``summary`` is a cascade's (derived, with no runs of its own)."""
    return isinstance(summary, CascadeSummary)


def cascade_labels(first: CandidateSummary, second: CandidateSummary) -> float:
    """Labels a cascade needs (see the module's rule): the larger count at one budget,
    the sum at two."""
    if first.budget == second.budget:
        return max(first.n_labels, second.n_labels)
    return first.n_labels + second.n_labels


def cascade_drivers(first: CostDrivers, second: CostDrivers, share: float,
                    n_labels: float) -> CostDrivers:
    """The cascade's figures as one `CostDrivers`, for tables and exports (its cost is
    priced from its stages): train seconds of both; items/s of both on one machine (the
    first's alone with an API second); p50 latency plus the second's when more than half
    the items reach it, p95 when more than 5% do; memory of both loaded; tokens per item
    of the second times the share (``second``'s are per escalated item)."""
    def plus(a: float | None, b: float | None, weight: float = 1.0) -> float | None:
        return None if a is None and b is None else (a or 0.0) + weight * (b or 0.0)

    throughput = first.throughput_items_per_s
    if throughput and not second.api_model and second.throughput_items_per_s:
        throughput = 1.0 / (1.0 / throughput + share / second.throughput_items_per_s)
    return CostDrivers(
        family="cascade", n_labels=float(n_labels),
        train_seconds=plus(first.train_seconds, second.train_seconds),
        throughput_items_per_s=throughput, batch_size=first.batch_size,
        latency_p50_ms=plus(first.latency_p50_ms,
                            second.latency_p50_ms if share > 0.5 else None),
        latency_p95_ms=plus(first.latency_p95_ms,
                            second.latency_p95_ms if share > 0.05 else None),
        peak_rss_mib=plus(first.peak_rss_mib, second.peak_rss_mib),
        input_tokens_per_item=plus(first.input_tokens_per_item,
                                   second.input_tokens_per_item, share),
        output_tokens_per_item=plus(first.output_tokens_per_item,
                                    second.output_tokens_per_item, share))


@dataclass
class _Priced:
    """A cascade at one τ as the cost model sees it: stages and drivers."""

    candidate: str
    budget: str
    drivers: CostDrivers
    stages: tuple[Stage, ...]


def _priced(first: CandidateSummary, second: CandidateSummary, point: SweepPoint) -> _Priced:
    share = point.escalated_share
    tokens = {f"{k}_per_item": v for k, v in point.second_per_escalated.items()
              if k in ("input_tokens", "output_tokens")}
    escalated = dataclasses.replace(second.drivers, **tokens)  # measured on escalated items
    stages = (Stage(first.label, first.drivers, 1.0), Stage(second.label, escalated, share))
    drivers = cascade_drivers(first.drivers, escalated, share, cascade_labels(first, second))
    return _Priced(f"cascade: {first.label} → {second.label}", f"τ={point.threshold:.4g}",
                   drivers, stages)


def cascade_pairs(summaries: Sequence[CandidateSummary], scenario: Any, prices: Any
                  ) -> list[tuple[CandidateSummary, CandidateSummary]]:
    """The (first, second) pairs to derive cascades of (see the module's rule)."""
    from whichmodel.frontier import pareto_front
    from whichmodel.metrics import get_metric

    metric = get_metric(scenario.metric)
    plain, totals, per_item = [], {}, {}
    for s in summaries:
        if is_cascade(s) or s.selected_on != "validation" or math.isnan(s.quality(metric.name)):
            continue
        try:
            cost = cost_of(s, scenario, prices)
        except DataError:  # not priceable (no throughput measured): recommend says so
            continue
        plain.append(s)
        totals[id(s)] = cost.total_usd
        per_item[id(s)] = cost.inference_usd_per_month / float(scenario.volume_per_month)

    def signed(s: CandidateSummary) -> float:
        q = s.quality(metric.name)
        return q if metric.higher_is_better else -q

    front = pareto_front(plain, signed, lambda s: totals[id(s)])
    pairs = []
    firsts = 0
    for first in sorted(front, key=lambda s: (per_item[id(s)], -signed(s))):
        seconds = sorted((s for s in plain if per_item[id(s)] > per_item[id(first)] * (1 + 1e-9)
                          and signed(s) > signed(first)),
                         key=lambda s: (-signed(s), per_item[id(s)], s.label))[:MAX_SECONDS]
        if not seconds:
            continue
        pairs += [(first, second) for second in seconds]
        firsts += 1
        if firsts == MAX_FIRSTS:
            break
    return pairs


def derive_cascades(summaries: Sequence[CandidateSummary], scenario: Any, prices: Any,
                    evidence: Evidence) -> list[CascadeSummary]:
    """Cascades of the pairs `cascade_pairs` picks, each at the τ chosen on validation
    (see the module's rule), from the runs' stored predictions (``evidence``). A pair
    without stored validation and test predictions on common seeds, or whose models
    score different classes, gives none."""
    cache: dict[tuple[tuple[str, ...], str], Any] = {}

    def runs(summary: CandidateSummary, seeds: list[int], split: str) -> Any:
        keys = tuple(k for seed, k in zip(summary.seeds, summary.run_keys) if seed in seeds)
        if (keys, split) not in cache:
            cache[(keys, split)] = evidence(list(keys), split)
        return cache[(keys, split)]

    out = []
    for first, second in cascade_pairs(summaries, scenario, prices):
        seeds = sorted(set(first.seeds) & set(second.seeds))
        if not seeds:
            continue
        found = {split: (runs(first, seeds, split), runs(second, seeds, split))
                 for split in ("validation", "test")}
        if not all(_usable(*pair) for pair in found.values()):
            continue
        try:
            derived = _derive(first, second, seeds, found, scenario, prices)
        except CascadeError:
            continue  # different classes, or multi-label at different thresholds
        if derived is not None:
            out.append(derived)
    return out


def _usable(first: Any, second: Any) -> bool:
    (labels, runs_a), (labels_b, runs_b) = first, second
    return (labels is not None and runs_a is not None and runs_b is not None
            and labels == labels_b and all(len(r) == len(labels) for r in runs_a + runs_b))


def _derive(first: CandidateSummary, second: CandidateSummary, seeds: list[int],
            found: dict[str, Any], scenario: Any, prices: Any) -> CascadeSummary | None:
    """The cascade of one pair at the τ chosen on validation, scored on both splits."""
    from whichmodel.evaluate import evaluate_predictions
    from whichmodel.metrics import get_metric, score
    from whichmodel.summary import _mean_std

    metric = get_metric(scenario.metric)
    (labels_v, first_v), (_, second_v) = found["validation"]
    points = sweep(first_v, second_v, labels_v, threshold_grid(first_v, GRID_POINTS),
                   metrics=[metric.name])
    priced = [_priced(first, second, p) for p in points]
    totals = [cost_of(p, scenario, prices).total_usd for p in priced]
    chosen = _choose_threshold(points, priced, totals, first, second, scenario, prices)
    if chosen is None:
        return None
    point, cost_view = points[chosen], priced[chosen]
    cascades = {split: [cascade_predictions(a, b, point.threshold)
                        for a, b in zip(found[split][0][1], found[split][1][1])]
                for split in ("validation", "test")}
    labels_t = found["test"][0][0]
    reports = [evaluate_predictions(labels_t, p) for p in cascades["test"]]
    test_scores = [score(p, labels_t, report=r) for p, r in zip(cascades["test"], reports)]
    summary = CascadeSummary(
        candidate=cost_view.candidate, family="cascade", budget=cost_view.budget,
        n_runs=len(seeds), seeds=list(seeds), drivers=cost_view.drivers,
        noise=[f"{part.label}: {reason}" for part in (first, second) for reason in part.noise],
        first=first, second=second, threshold=point.threshold,
        escalated_share=point.escalated_share,
        test_escalated_share=float(np.mean([np.mean(p.extras["escalated"])
                                            for p in cascades["test"]])),
        stages=cost_view.stages, sweep=points, sweep_total_usd=totals,
        evidence={"validation": (labels_v, cascades["validation"]),
                  "test": (labels_t, cascades["test"])},
        test_reports=reports)
    summary.quality_means, summary.quality_stds = _mean_std(test_scores)
    summary.validation_means, summary.validation_stds = _mean_std(
        [score(p, labels_v) for p in cascades["validation"]])
    for name in ("accuracy", "macro_f1"):
        if name in summary.quality_means:
            setattr(summary, name, summary.quality_means[name])
            setattr(summary, f"{name}_std", summary.quality_stds[name])
    summary.ece = summary.quality_means.get("ece")
    return summary


def _choose_threshold(points: list[SweepPoint], priced: list[_Priced], totals: list[float],
                      first: CandidateSummary, second: CandidateSummary, scenario: Any,
                      prices: Any) -> int | None:
    """Index of the τ chosen on validation (see the module's rule); None when every τ
    escalates nothing or everything."""
    from whichmodel.metrics import get_metric

    metric = get_metric(scenario.metric)
    bar = scenario.min_quality if scenario.min_quality is not None \
        else second.quality(metric.name)
    limit = scenario.max_latency_p95_ms
    inner = [i for i, p in enumerate(points) if 0.0 < p.escalated_share < 1.0
             and metric.name in p.quality]
    if not inner:
        return None

    def quality(i: int) -> float:
        return points[i].quality[metric.name]

    def meets(i: int) -> bool:
        if not metric.meets(quality(i), bar):
            return False
        if limit is None:
            return True
        latency = deployed_latency_p95_ms(priced[i], scenario, prices)
        return latency is None or latency <= limit  # unmeasured: `recommend` says so

    def better(i: int) -> tuple[float, float]:  # higher is better, then cheaper
        q = quality(i)
        return (q if metric.higher_is_better else -q, -totals[i])

    passing = [i for i in inner if meets(i)]
    if not passing:
        return max(inner, key=better)
    cheapest = min(totals[i] for i in passing)
    ceiling = cheapest * (1 + max(0.0, scenario.cost_tie)) + 0.005
    return max((i for i in passing if totals[i] <= ceiling), key=better)

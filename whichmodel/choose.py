"""From ledger rows to a recommendation: the cheapest choice that meets every constraint.

A *choice* is a candidate trained at one label budget ("setfit-minilm @ 8/class"): its
runs over seeds are summarised (mean ± std), priced with `whichmodel.costs`, and checked
against the scenario's bar (minimum quality, maximum p95 latency, labelling budget).
The winner is the cheapest that passes; every other choice says which constraint it
failed or how much more it costs. When nothing passes, the closest choices say what
would have to change. Pareto frontier and switch volumes come from `whichmodel.frontier`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from whichmodel.bench.record import RunRecord
from whichmodel.confirm import Confirmation, confirm_on_test
from whichmodel.costs.model import (
    CostBreakdown,
    cost_of,
    deployed_latency_p95_ms,
    deployment_speed_factor,
    total_cost_at_volumes,
)
from whichmodel.costs.prices import Prices
from whichmodel.costs.scenario import Scenario
from whichmodel.errors import DataError, UsageError
from whichmodel.frontier import (
    learning_curve,
    pareto_front,
    smallest_budget_meeting,
    switch_points,
    switch_stretches,
    volume_past,
)
from whichmodel.metrics import get_metric, metric_names
from whichmodel.summary import CandidateSummary, summarize

__all__ = ["CandidateSummary", "Confirmation", "Recommendation", "Verdict", "confirm_on_test",
           "cost_vs_winner", "learning_curve", "recommend", "smallest_budget_meeting",
           "summarize"]

CLOSEST_COUNT = 3


@dataclass
class Verdict:
    """One choice judged against the scenario. `failed` holds one sentence per
    constraint missed; `extra_usd_vs_winner` is its total minus the winner's (USD)."""

    summary: CandidateSummary
    cost: CostBreakdown
    qualifies: bool
    failed: list[str] = field(default_factory=list)
    extra_usd_vs_winner: float | None = None
    latency_p95_ms: float | None = None      # projected on the deployment hardware
    shortfall: float = 0.0                   # normalised distance to the bar; 0 = meets it
    what_would_have_to_change: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.summary.label

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"label": self.label, "candidate": self.summary.candidate,
                "budget": self.summary.budget, "qualifies": self.qualifies,
                "failed": list(self.failed), "extra_usd_vs_winner": self.extra_usd_vs_winner,
                "latency_p95_ms": self.latency_p95_ms, "shortfall": self.shortfall,
                "what_would_have_to_change": list(self.what_would_have_to_change),
                "summary": self.summary.to_dict(), "cost": self.cost.to_dict()}


@dataclass
class Recommendation:
    """The answer to "which one, and what will it cost?" for one scenario."""

    scenario: Scenario
    winner: Verdict | None
    verdicts: list[Verdict]                          # qualifying by total, then the rest
    pareto: list[CandidateSummary]                   # quality vs total cost, cheapest first
    switch_volumes: list[tuple[float, str, str]]     # (items/month, from label, to label)
    closest: list[Verdict]                           # only when nothing qualifies
    prices_date: str
    currency: str = "USD"
    # The winner's test score with its interval, added by `confirm_on_test` (it needs the
    # stored predictions, which records alone do not hold).
    confirmation: Confirmation | None = None
    # The winner's kept model folder (`whichmodel.bench.kept`: its median seed's run), and
    # the experiment's test file and label field, added by `Question.confirm`.
    winner_model: str | None = None
    winner_data: dict[str, Any] = field(default_factory=dict)

    def why(self) -> str | None:
        """One sentence on why the winner wins: against the next cheapest qualifying
        choice, the cost component that differs most (and the instance counts when that is
        inference); None without a winner."""
        w, metric = self.winner, self.scenario.metric
        if w is None:
            return None
        rivals = sorted((v for v in self.verdicts if v.qualifies and v is not w),
                        key=lambda v: v.cost.total_usd)
        if not rivals:
            return (f"{w.label} wins because it is the only one of {len(self.verdicts)} "
                    "choices that meets every constraint.")
        r = rivals[0]
        saved = r.cost.total_usd - w.cost.total_usd
        if saved < -0.5:
            return (f"{w.label} wins on {metric} within the {self.scenario.cost_tie:.0%} cost "
                    f"tie: {r.label} is ${-saved:,.0f} cheaper but scores "
                    f"{r.summary.quality(metric):.3f} against {w.summary.quality(metric):.3f}.")
        if saved < 0.5:  # tied to the dollar: quality (or the order) decided
            ahead = w.summary.quality(metric) - r.summary.quality(metric)
            return (f"{w.label} wins because it meets every constraint at the lowest total, "
                    f"${w.cost.total_usd:,.0f}, tied to the dollar with {r.label}"
                    + (f", and scores higher on {metric} ({w.summary.quality(metric):.3f} "
                       f"against {r.summary.quality(metric):.3f})" if ahead > 0 else "")
                    + ".")
        parts = {"labels": r.cost.annotation_usd - w.cost.annotation_usd,
                 "training": r.cost.training_usd - w.cost.training_usd,
                 "inference": r.cost.inference_usd - w.cost.inference_usd}
        part = max(parts, key=lambda k: abs(parts[k]))
        how = {"labels": f"it needs {w.summary.n_labels:,.0f} labels against "
                         f"{r.summary.n_labels:,.0f}",
               "training": "it trains faster", "inference": _serves(w.summary)}[part]
        mine, theirs = w.cost.instances, r.cost.instances
        if part == "inference" and mine and theirs:
            how += f" ({_instances(mine)} against {theirs:,})"
        elif mine and mine == theirs:
            verb = "carries" if mine == 1 else "carry"
            how += f", and at this volume {_instances(mine)} {verb} either"
        return (f"{w.label} wins because it is the cheapest of the {len(rivals) + 1} choices "
                f"that meet every constraint, ${saved:,.0f} less than {r.label}: {how}.")

    def headline(self) -> str:
        """The recommendation in one sentence, with its total cost."""
        s = self.scenario
        where = (f"at {s.volume_per_month:,.0f} items/month over {s.horizon_months:g} months "
                 f"(list prices as of {self.prices_date})")
        if self.winner is None:
            if not self.closest:
                return f"No candidate meets every constraint {where}."
            best = self.closest[0]
            return (f"No candidate meets every constraint {where}; closest is {best.label} "
                    f"({'; '.join(best.failed)}).")
        w, c = self.winner, self.winner.cost
        quality = w.summary.quality(s.metric)
        cheaper = self.cheaper_within_tie()
        tie = (f" It is within {s.cost_tie:.0%} of the cheapest qualifying choice "
               f"({min(cheaper, key=lambda v: v.cost.total_usd).label}) and better on "
               f"{s.metric}." if cheaper else "")
        on = f" on {w.summary.selected_on}" if w.summary.selected_on == "validation" else ""
        return (f"Deploy {w.label}: {s.metric} {quality:.3f}{on}, ${c.total_usd:,.0f} total "
                f"{where} = annotation ${c.annotation_usd:,.0f} + training "
                f"${c.training_usd:,.0f} + "
                f"inference ${c.inference_usd:,.0f}.{tie}")

    def noisy(self) -> list[CandidateSummary]:
        """The choices whose speed figures were measured noisy (on a machine too busy
        for CPU time and repeats to correct): their latency and cost may be off."""
        return [v.summary for v in self.verdicts if v.summary.noise]

    def to_dict(self) -> dict[str, Any]:
        """One JSON-ready object (non-finite numbers become null)."""
        metric = self.scenario.metric
        return _json_safe({
            "headline": self.headline(), "scenario": asdict(self.scenario),
            "prices_date": self.prices_date, "currency": self.currency,
            "winner": ({**self.winner.to_dict(), **self._winner_evidence()}
                       if self.winner else None),
            "confirmation": asdict(self.confirmation) if self.confirmation else None,
            "verdicts": [v.to_dict() for v in self.verdicts],
            "pareto": [{"label": s.label, "candidate": s.candidate, "budget": s.budget,
                        "quality": s.quality(metric), "total_usd": self.total_usd_of(s)}
                       for s in self.pareto],
            "switch_volumes": [{"volume_per_month": v, "from": a, "to": b}
                               for v, a, b in self.switch_volumes],
            "closest": [v.to_dict() for v in self.closest]})

    def _winner_evidence(self) -> dict[str, Any]:
        """The winner's scores on the split it was chosen on and on test, and the test
        interval when `confirm_on_test` added it."""
        s, metric = self.winner.summary, self.scenario.metric
        c = self.confirmation
        return {"selected_on": s.selected_on,
                "validation_quality": (s.quality(metric) if s.selected_on == "validation"
                                       else None),
                "test_quality": s.test_quality(metric),
                "test_interval": [c.low, c.high] if c is not None else None,
                "model_path": self.winner_model,
                # a cascade: its two models' kept folders and τ, for `whichmodel route`
                "route": self.winner_data.get("route")}

    def cheaper_within_tie(self) -> list[Verdict]:
        """Qualifying choices cheaper than the winner (by more than rounding), which lost
        to it on quality inside the cost tie band; empty when the winner is the cheapest."""
        return [v for v in self.verdicts if v.qualifies and (v.extra_usd_vs_winner or 0) < -0.5]

    def total_usd_of(self, summary: CandidateSummary) -> float:
        """Total cost (USD, over the horizon) of one summary in this recommendation."""
        return next(v.cost.total_usd for v in self.verdicts if v.summary is summary)


def describe_switches(switches: Sequence[tuple[float, str, str]],
                      cost_at: Callable[[str, float], float] | None = None) -> list[str]:
    """Sentences for the switch volumes, with back-and-forth stretches summarised.

    Self-hosted costs are step functions (whole instances), so choices of nearly equal
    throughput trade places at every instance step; listing each trade is true but useless.
    Any stretch where the cheapest returns to a choice it had left (two, three or more
    choices taking turns) of three or more switches becomes one sentence
    (`whichmodel.frontier.switch_stretches`).

    With `cost_at` (label, monthly volume -> total USD over the horizon, from
    `whichmodel.costs.total_cost_at_volumes`), each switch is said with both totals at
    the whole volume it states, just past the switch: "X becomes cheaper than Y from N
    items/month (X $a, Y $b there)". Every figure is one the cost model computed at N.
    """
    sentences = []
    for start, end in switch_stretches(switches):
        volume, old, new = switches[end - 1]
        if end - start == 1:
            sentences.append(f"Above {volume:,.0f} items/month the cheapest qualifying choice "
                             f"switches from {old} to {new}." if cost_at is None
                             else _cheaper_from(volume, old, new, cost_at) + ".")
            continue
        cheapest = [switches[start][1]] + [b for _, _, b in switches[start:end]]
        taking_turns = list(dict.fromkeys(cheapest))
        names = (" and ".join(taking_turns) if len(taking_turns) == 2
                 else ", ".join(taking_turns[:-1]) + f" and {taking_turns[-1]}")
        first = switches[start][0] if cost_at is None else math.ceil(switches[start][0])
        last = volume if cost_at is None else math.ceil(volume)
        ending = (f"ending with {new}" if cost_at is None
                  else "ending as " + _cheaper_from(volume, old, new, cost_at))
        sentences.append(
            f"From {first:,.0f} to {last:,.0f} items/month the cheapest alternates between "
            f"{names} ({end - start} switches: their costs stay within one instance step of "
            f"each other), {ending}.")
    return sentences


def _cheaper_from(volume: float, old: str, new: str,
                  cost_at: Callable[[str, float], float]) -> str:
    """``"new becomes cheaper than old from N items/month (new $a, old $b there)"``, N the
    first whole volume from the switch on where the cost model says so (`volume_past`);
    ``"new costs the same as old from N items/month ($a each there)"`` for a switch to an
    equal total."""
    at = volume_past(volume, lambda n: cost_at(new, n), lambda n: cost_at(old, n))
    a, b = cost_at(new, at), cost_at(old, at)
    shown = f"{at:,.0f}" if at == math.floor(at) else f"{at:,.2f}"
    if a == b:
        return (f"{new} costs the same as {old} from {shown} items/month "
                f"({_distinct_usd(a, b)[0]} each there)")
    usd_a, usd_b = _distinct_usd(a, b)
    return (f"{new} becomes cheaper than {old} from {shown} items/month "
            f"({new} {usd_a}, {old} {usd_b} there)")


def _distinct_usd(a: float, b: float) -> tuple[str, str]:
    """Two totals in dollars (whole dollars from $100, else cents), with more decimals
    when that would show two different totals as the same figure."""
    digits = 0 if max(abs(a), abs(b)) >= 100 else 2
    while True:
        shown = (f"${a:,.{digits}f}", f"${b:,.{digits}f}")
        if shown[0] != shown[1] or a == b or digits >= 6:
            return shown
        digits = max(digits + 1, 2)


def recommend(records_or_summaries: Sequence[RunRecord] | Sequence[CandidateSummary],
              scenario: Scenario, prices: Prices) -> Recommendation:
    """Judge every choice against `scenario` at its volume and pick the cheapest that
    meets every constraint. Raises `DataError` when there is nothing to choose from.

    Summaries may include cascades (`whichmodel.cascade_choice.CascadeSummary`), which
    need the ledger's stored predictions: `Question.recommend` derives and adds them."""
    items = list(records_or_summaries)
    summaries = summarize(items) if items and isinstance(items[0], RunRecord) else items
    if not summaries:
        raise DataError("no successful runs to choose from; run `whichmodel bench SPEC.yaml` "
                        "first (failed runs are not candidates)")
    metric = get_metric(scenario.metric)
    if not metric.bar:
        raise UsageError(f"metric {metric.name!r} cannot carry a quality bar; metrics that "
                         f"can: {', '.join(metric_names(bar=True))}")
    verdicts = [_judge(s, scenario, prices) for s in summaries]
    passing = _rank_passing([v for v in verdicts if v.qualifies], scenario)
    others = sorted((v for v in verdicts if not v.qualifies), key=lambda v: v.cost.total_usd)
    winner = passing[0] if passing else None
    if winner is not None:
        for verdict in verdicts:
            verdict.extra_usd_vs_winner = verdict.cost.total_usd - winner.cost.total_usd
    closest: list[Verdict] = []
    if winner is None:
        closest = sorted(others, key=lambda v: (v.shortfall, v.cost.total_usd))[:CLOSEST_COUNT]
        for verdict in closest:
            verdict.what_would_have_to_change = _what_would_change(verdict, summaries, scenario)
    cost_by_id = {id(v.summary): v.cost.total_usd for v in verdicts}
    pareto = pareto_front(summaries, lambda s: s.quality(scenario.metric),
                          lambda s: cost_by_id[id(s)])

    def totals(verdict: Verdict, volumes: np.ndarray) -> np.ndarray:
        return total_cost_at_volumes(verdict.summary, scenario, prices, volumes)

    switches = [(volume, a.label, b.label) for volume, a, b in switch_points(passing, totals)]
    return Recommendation(scenario=scenario, winner=winner, verdicts=passing + others,
                          pareto=pareto, switch_volumes=switches, closest=closest,
                          prices_date=prices.date, currency=prices.currency)


def _rank_passing(passing: list[Verdict], scenario: Scenario) -> list[Verdict]:
    """Qualifying verdicts, winner first, then by total cost.

    The winner is the best-quality choice whose total is within ``scenario.cost_tie`` of
    the cheapest (equal quality: the cheaper one), so a cent of measured-seconds noise never
    costs a point of accuracy.
    """
    if not passing:
        return []
    by_cost = sorted(passing, key=lambda v: (v.cost.total_usd,
                                             -v.summary.quality(scenario.metric)))
    ceiling = by_cost[0].cost.total_usd * (1 + max(0.0, scenario.cost_tie)) + 0.005
    tied = [v for v in by_cost if v.cost.total_usd <= ceiling]
    winner = max(tied, key=lambda v: (v.summary.quality(scenario.metric), -v.cost.total_usd))
    return [winner] + [v for v in by_cost if v is not winner]


def cost_vs_winner(verdict: Verdict, scenario: Scenario) -> str:
    """How a qualifying choice's total compares with the winner's, in words."""
    extra = verdict.extra_usd_vs_winner or 0.0
    if abs(extra) < 0.5:
        return "costs the same"
    if extra > 0:
        return f"costs ${extra:,.0f} more"
    return (f"costs ${-extra:,.0f} less, within the {scenario.cost_tie:.0%} cost tie, "
            f"at lower {scenario.metric}")


def _judge(summary: CandidateSummary, scenario: Scenario, prices: Prices) -> Verdict:
    """Price one choice and check it against each constraint (sentences + shortfall)."""
    cost = cost_of(summary, scenario, prices)
    failed: list[str] = []
    shortfall = 0.0
    metric, bar = scenario.metric, scenario.min_quality
    quality = summary.quality(metric)
    if math.isnan(quality):  # e.g. slot_f1 of a family that predicts no slots
        failed.append(f"{metric} not measured")
        shortfall += math.inf
    elif bar is not None:
        if quality < bar:
            failed.append(f"{metric} {quality:.3f} < {bar:.3f}")
            # the gap as a share of the error rate the bar allows: 0.87 vs 0.90 is 0.3
            shortfall += (bar - quality) / (1 - bar) if bar < 1 else bar - quality
    latency = deployed_latency_p95_ms(summary, scenario, prices)  # a cascade: by stage
    speed = deployment_speed_factor(summary, scenario, prices)
    limit = scenario.max_latency_p95_ms
    if limit is not None:
        where = f" (projected on {scenario.hardware})" if speed not in (None, 1.0) else ""
        if latency is None:
            failed.append("p95 latency not measured")
            shortfall += 1.0
        elif latency > limit:
            noisy = (" (measured noisy: " + summary.noise[0] + ")") if summary.noise else ""
            failed.append(f"p95 latency {latency:,.0f} ms > {limit:,.0f} ms{where}{noisy}")
            shortfall += (latency - limit) / limit if limit > 0 else latency
    budget = scenario.label_budget
    if budget is not None and summary.n_labels > budget:
        failed.append(f"needs {summary.n_labels:,.0f} labels, budget is {budget:,}")
        shortfall += (summary.n_labels - budget) / budget if budget > 0 else summary.n_labels
    return Verdict(summary=summary, cost=cost, qualifies=not failed, failed=failed,
                   latency_p95_ms=latency, shortfall=shortfall)


def _what_would_change(verdict: Verdict, summaries: Sequence[CandidateSummary],
                       scenario: Scenario) -> list[str]:
    """Concrete changes that would let `verdict`'s choice qualify, one per failure."""
    s, metric, bar = verdict.summary, scenario.metric, scenario.min_quality
    changes: list[str] = []
    quality = s.quality(metric)
    if bar is not None and not math.isnan(quality) and quality < bar:
        gap = math.ceil((bar - quality) * 1000 - 1e-9) / 1000
        changes.append(f"needs +{gap:.3f} {metric}, or lower min_quality to "
                       f"{math.floor(quality * 1000 + 1e-9) / 1000:.3f}")
        more = smallest_budget_meeting(summaries, s.candidate, metric, bar)
        if more is not None:
            changes.append(f"{more.label} reaches {metric} {more.quality(metric):.3f} with "
                           f"{more.n_labels:,.0f} labels")
    limit, latency = scenario.max_latency_p95_ms, verdict.latency_p95_ms
    if limit is not None and latency is not None and latency > limit:
        changes.append(f"latency {latency:,.0f} ms > {limit:,.0f} ms: raise "
                       f"max_latency_p95_ms to {math.ceil(latency):,} or deploy on faster "
                       "hardware")
    budget = scenario.label_budget
    if budget is not None and s.n_labels > budget:
        changes.append(f"needs {s.n_labels:,.0f} labels, budget is {budget:,}: raise "
                       f"label_budget to {math.ceil(s.n_labels):,}")
    return changes


def _serves(summary: CandidateSummary) -> str:
    """Why a choice's inference costs less: a cascade sends only a share of its items
    to its second model."""
    share, second = getattr(summary, "escalated_share", None), getattr(summary, "second", None)
    if share is None or second is None:
        return "it serves faster"
    return f"it sends only {share:.0%} of the items to {second.label}"


def _instances(n: int) -> str:
    return f"{n:,} always-on instance{'s' if n != 1 else ''}"


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value

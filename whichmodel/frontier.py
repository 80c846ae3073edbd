"""Trade-off geometry behind `choose`: Pareto frontier, switch volumes, learning curves.

Kept apart from `whichmodel.choose` so each reads in one sitting. The functions work on
anything shaped like `CandidateSummary` (``candidate``, ``n_labels``, ``quality(metric)``,
`quality_std(metric)`) and take costs as callables, so they know nothing about prices.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:
    from whichmodel.summary import CandidateSummary

T = TypeVar("T")

# Volumes (items per month) over which a recommendation's switch points are looked for.
SWITCH_RANGE = (1e2, 1e10)


# Two totals closer than this count as the same cost on the Pareto frontier: half a cent,
# or 0.05% of the larger (half a dollar at $1,000). Below that the difference is measured
# training seconds worth fractions of a cent, shown as the same figure everywhere.
COST_TIE_USD = 0.005
COST_TIE_SHARE = 5e-4


def same_cost(a: float, b: float, *, usd: float = COST_TIE_USD,
              share: float = COST_TIE_SHARE) -> bool:
    """Whether two totals tie: within ``usd`` dollars or ``share`` of the larger."""
    return abs(a - b) <= max(usd, share * max(abs(a), abs(b)))


def pareto_front(items: Sequence[T], quality: Callable[[T], float],
                 cost: Callable[[T], float], *, cost_tie_usd: float = COST_TIE_USD,
                 cost_tie_share: float = COST_TIE_SHARE) -> list[T]:
    """Items no other item dominates, cheapest first.

    An item is dominated when another costs at most as much and is at least as good,
    and is strictly better on one of the two. Totals that tie (`same_cost`: within half a
    cent, or 0.05% of the larger) count as equal costs, so of tied totals only the best
    quality stays; of items tied on both, the cheaper (then the earlier in `items`) stays.
    An item with unknown (NaN) quality or cost is never on the frontier.
    """
    points = [(i, item, float(quality(item)), float(cost(item)))
              for i, item in enumerate(items)]
    points = [p for p in points if not (math.isnan(p[2]) or math.isnan(p[3]))]

    def dominates(p: tuple, q: tuple) -> bool:  # does p dominate q?
        (i, _, qp, cp), (j, _, qq, cq) = p, q
        if i == j or qp < qq:
            return False
        if same_cost(cp, cq, usd=cost_tie_usd, share=cost_tie_share):
            return qp > qq or (cp, i) < (cq, j)  # equal quality: one stays, the cheaper
        return cp < cq

    front = [p for p in points if not any(dominates(other, p) for other in points)]
    front.sort(key=lambda p: (p[3], -p[2], p[0]))
    return [item for _, item, _, _ in front]


def switch_points(items: Sequence[T], totals: Callable[[T, np.ndarray], np.ndarray],
                  low: float = SWITCH_RANGE[0], high: float = SWITCH_RANGE[1],
                  points_per_decade: int = 200) -> list[tuple[float, T, T]]:
    """Monthly volumes where the cheapest of `items` changes: ``(volume, from, to)``.

    `totals(item, volumes)` gives the total cost at each volume. The cheapest item is
    found on a log grid (200 points a decade: 1.2% apart); every grid interval whose ends
    have different cheapest items is searched again on a finer grid inside it, down to a
    relative width of 1e-12, so a third item cheapest for a stretch narrower than the
    interval (between two instance steps) is found too, and ``volume`` is where the new
    one is already the cheapest. A stretch narrower than the grid with the same item
    cheapest at both ends is not seen. Ties go to the earlier item in `items`.
    """
    if len(items) < 2:
        return []
    lo_log, hi_log = math.log(low), math.log(high)
    n = int(round((math.log10(high) - math.log10(low)) * points_per_decade)) + 1

    def cheapest(log_volumes: np.ndarray) -> np.ndarray:
        volumes = np.exp(log_volumes)
        return np.argmin(np.vstack([totals(item, volumes) for item in items]), axis=0)

    switches: list[tuple[float, T, T]] = []

    def search(log_volumes: np.ndarray, which: np.ndarray) -> None:
        for i in np.flatnonzero(which[1:] != which[:-1]):
            a, b = float(log_volumes[i]), float(log_volumes[i + 1])
            if b - a <= 1e-12:
                switches.append((math.exp(b), items[int(which[i])], items[int(which[i + 1])]))
                continue
            inner = np.linspace(a, b, 17)
            inside = cheapest(inner[1:-1])
            search(inner, np.concatenate([[which[i]], inside, [which[i + 1]]]))

    grid = np.linspace(lo_log, hi_log, n)
    search(grid, cheapest(grid))
    return switches


def switch_stretches(switches: Sequence[tuple[float, str, str]]) -> list[tuple[int, int]]:
    """``(start, end)`` index ranges of `switches` to describe as one: ``end == start + 1``
    for a switch of its own, longer for churn.

    Self-hosted costs are step functions (whole instances), so choices of nearly equal
    throughput trade places at every instance step. Any stretch where the cheapest returns
    to a choice it had left (two, three or more choices taking turns) spanning three or
    more switches is churn: ``switches[start:end]`` fold into one.
    """
    if not switches:
        return []
    cheapest = [switches[0][1]] + [new for _, _, new in switches]  # before/after each switch
    last_seen: dict[str, int] = {}
    returns: list[tuple[int, int]] = []
    for position, label in enumerate(cheapest):
        if label in last_seen:
            returns.append((last_seen[label], position))
        last_seen[label] = position
    spans: list[list[int]] = []
    for start, end in sorted(returns):
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    churn = {start: end for start, end in spans if end - start >= 3}
    stretches, position = [], 0
    while position < len(switches):
        end = churn.get(position, position + 1)
        stretches.append((position, end))
        position = end
    return stretches


def volume_past(volume: float, new: Callable[[float], float], old: Callable[[float], float],
                tries: int = 16) -> float:
    """The volume at which to state a switch from `old` to `new` (each: monthly volume
    -> total), so a sentence can quote that volume and the two totals there.

    The first whole number of items per month from ``ceil(volume)`` on (of the next
    `tries`) where `new` is cheaper; else the first where it is no dearer (a switch to an
    equal cost, which ties give to the earlier choice); else ``volume`` itself, the switch
    as found, where `new` is the cheapest.
    """
    start = math.ceil(volume)
    for better in (lambda n: new(n) < old(n), lambda n: new(n) <= old(n)):
        for n in range(start, start + tries):
            if better(float(n)):
                return float(n)
    return float(volume)


def learning_curve(summaries: Sequence[CandidateSummary], candidate: str,
                   metric: str) -> list[tuple[float, float, float]]:
    """``(n_labels, mean quality, std over seeds)`` for one candidate, fewest labels
    first: quality bought per label. Budgets without that metric are left out."""
    points = []
    for summary in summaries:
        if summary.candidate != candidate:
            continue
        mean = summary.quality(metric)
        if math.isnan(mean):
            continue
        std = summary.quality_std(metric)
        points.append((float(summary.n_labels), mean, 0.0 if math.isnan(std) else std))
    return sorted(points)


def smallest_budget_meeting(summaries: Sequence[CandidateSummary], candidate: str,
                            metric: str, min_quality: float) -> CandidateSummary | None:
    """The candidate's summary with the fewest labels whose mean `metric` reaches
    `min_quality`; None when no budget does. Seeds' spread is not taken into account:
    look at `CandidateSummary.quality_std` before trusting a budget that only just makes it."""
    meeting = [s for s in summaries
               if s.candidate == candidate and s.quality(metric) >= min_quality]
    return min(meeting, key=lambda s: s.n_labels, default=None)

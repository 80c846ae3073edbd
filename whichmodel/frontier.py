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
    from whichmodel.choose import CandidateSummary

T = TypeVar("T")

# Volumes (items per month) over which a recommendation's switch points are looked for.
SWITCH_RANGE = (1e2, 1e10)


def pareto_front(items: Sequence[T], quality: Callable[[T], float],
                 cost: Callable[[T], float]) -> list[T]:
    """Items no other item beats on both axes (higher quality, lower cost), cheapest
    first. An item with unknown (NaN) quality or cost is never on the frontier."""
    points = [(item, quality(item), cost(item)) for item in items]
    points = [p for p in points if not (math.isnan(p[1]) or math.isnan(p[2]))]
    front = []
    for item, q, c in points:
        dominated = any(q2 >= q and c2 <= c and (q2 > q or c2 < c) for _, q2, c2 in points)
        if not dominated:
            front.append((c, -q, item))
    front.sort(key=lambda t: (t[0], t[1]))
    return [item for _, _, item in front]


def switch_points(items: Sequence[T], totals: Callable[[T, np.ndarray], np.ndarray],
                  low: float = SWITCH_RANGE[0], high: float = SWITCH_RANGE[1],
                  points_per_decade: int = 50) -> list[tuple[float, T, T]]:
    """Monthly volumes where the cheapest of `items` changes: ``(volume, from, to)``.

    `totals(item, volumes)` gives the total cost at each volume. The cheapest item is
    found on a log grid; each change between neighbouring grid points is refined by
    bisection (log space) on the cost difference of the two items involved. Ties go to
    the earlier item in `items`.
    """
    if len(items) < 2:
        return []
    grid = np.logspace(math.log10(low), math.log10(high),
                       int(round((math.log10(high) - math.log10(low)) * points_per_decade)) + 1)
    table = np.vstack([totals(item, grid) for item in items])
    cheapest = np.argmin(table, axis=0)
    switches = []
    for i in np.flatnonzero(cheapest[1:] != cheapest[:-1]):
        old, new = items[int(cheapest[i])], items[int(cheapest[i + 1])]

        def new_not_cheaper(volume: float, old: T = old, new: T = new) -> bool:
            at = np.array([volume])
            return bool(totals(new, at)[0] >= totals(old, at)[0])

        lo, hi = math.log(grid[i]), math.log(grid[i + 1])
        for _ in range(60):
            mid = (lo + hi) / 2
            if new_not_cheaper(math.exp(mid)):
                lo = mid
            else:
                hi = mid
        switches.append((math.exp(hi), old, new))
    return switches


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

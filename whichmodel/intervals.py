"""Bootstrap intervals of a quality metric, from stored per-item predictions.

Why a bootstrap: a test split of a few hundred items gives a score that moves by points
with the sample, and a choice just above the bar often fails it on new data. Resampling
the test items (and the seeds, when there are several) with replacement and recomputing
the metric says how far the score could move; the interval is the central ``level`` share
of those recomputed scores (the percentile method).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from whichmodel.metrics import correct, get_metric
from whichmodel.predictions import Predictions

N_RESAMPLES = 1000


def bootstrap_interval(runs: Sequence[Predictions], y_true: Sequence[Any], metric: str, *,
                       level: float = 0.95, n_resamples: int = N_RESAMPLES,
                       seed: int = 0) -> tuple[float, float]:
    """(low, high) of the ``level`` interval of the seed-mean of ``metric``.

    ``runs`` are the predictions of one choice's seeds on the same items, ``y_true``
    their labels. Each resample draws items with replacement (the same items for every
    seed, as the seeds saw the same test set) and, with several seeds, the seeds too.
    """
    if not runs:
        raise ValueError("no runs to bootstrap")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    truth = np.asarray(list(y_true), dtype=object)
    n = len(truth)
    if any(len(r) != n for r in runs):
        raise ValueError("every run must have predicted the same items")
    rng = np.random.default_rng(seed)
    fast = _accuracy_hits(runs, truth) if metric == "accuracy" else None
    compute = get_metric(metric).compute
    scores = np.empty(n_resamples)
    for b in range(n_resamples):
        items = rng.integers(0, n, n)
        seeds = rng.integers(0, len(runs), len(runs)) if len(runs) > 1 else [0]
        if fast is not None:
            scores[b] = float(np.mean([fast[s][items].mean() for s in seeds]))
        else:
            scores[b] = float(np.mean([compute(runs[s].subset(items), list(truth[items]))
                                       for s in seeds]))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(scores, [tail, 100 - tail])
    return float(low), float(high)


def _accuracy_hits(runs: Sequence[Predictions], truth: np.ndarray) -> list[np.ndarray]:
    """Per run, 1.0 where the item is right (`metrics.correct`): accuracy of a resample is
    then a mean over indices, a thousand times faster than recomputing."""
    return [correct(run, list(truth)).astype(float) for run in runs]

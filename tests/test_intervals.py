"""Bootstrap intervals: the fast path (draw counts × per-item facts) scores every resample
as recomputing the metric on it would, the draws are those bootstrap intervals always
made, and a Banking77-size choice is bootstrapped in well under a second."""

from __future__ import annotations

import time

import numpy as np
import pytest

from whichmodel.intervals import (
    bootstrap_interval,
    bootstrap_intervals,
    recomputed_scores,
    resample_scores,
    resamples,
)
from whichmodel.metrics import correct
from whichmodel.predictions import Predictions

METRICS = ["accuracy", "macro_f1", "micro_f1", "ece"]


def _single_label(n: int, n_classes: int, n_runs: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    classes = [f"c{i}" for i in range(n_classes)]
    truth = [classes[i] for i in rng.integers(0, n_classes, n)]
    truth[0] = "never-predicted"  # a true label no run knows: a class of its own, F1 0
    runs = [Predictions(classes, rng.dirichlet(np.ones(n_classes) * 0.3, n))
            for _ in range(n_runs)]
    return runs, truth


def _multi_label(n: int, n_classes: int, n_runs: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    classes = [f"c{i}" for i in range(n_classes)]
    truth = [[c for c in classes if rng.random() < 0.3] for _ in range(n)]
    runs = [Predictions(classes, rng.random((n, n_classes)), multi_label=True)
            for _ in range(n_runs)]
    return runs, truth


@pytest.mark.parametrize("make, n_runs", [(_single_label, 1), (_single_label, 3),
                                          (_multi_label, 2)])
def test_fast_scores_are_the_metric_recomputed_on_each_resample(make, n_runs) -> None:
    runs, truth = make(50, 6, n_runs)
    draws = resamples(len(truth), n_runs, 100, seed=3)
    fast = resample_scores(runs, truth, METRICS, draws)
    for metric in METRICS:
        slow = recomputed_scores(runs, truth, metric, draws)
        if slow is None:  # micro-F1 of single-label runs, ECE of multi-label ones
            assert fast[metric] is None, metric
            continue
        assert fast[metric].shape == (100, n_runs)
        np.testing.assert_allclose(fast[metric], slow, rtol=0, atol=1e-12, err_msg=metric)


def _accuracy_interval_as_before(runs, truth, level=0.95, n_resamples=1000, seed=0):
    """The accuracy fast path as bootstrap_interval computed it before the counts."""
    rng = np.random.default_rng(seed)
    hits = [correct(run, truth).astype(float) for run in runs]
    scores = np.empty(n_resamples)
    for b in range(n_resamples):
        items = rng.integers(0, len(truth), len(truth))
        seeds = rng.integers(0, len(runs), len(runs)) if len(runs) > 1 else [0]
        scores[b] = float(np.mean([hits[s][items].mean() for s in seeds]))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(scores, [tail, 100 - tail])
    return float(low), float(high)


@pytest.mark.parametrize("n_runs", [1, 2, 3])
def test_accuracy_interval_is_unchanged(n_runs) -> None:
    runs, truth = _single_label(80, 5, n_runs, seed=n_runs)
    assert bootstrap_interval(runs, truth, "accuracy") == _accuracy_interval_as_before(
        runs, truth)
    assert bootstrap_interval(runs, truth, "accuracy", level=0.8, seed=7) == \
        _accuracy_interval_as_before(runs, truth, level=0.8, seed=7)


def test_several_metrics_are_each_what_one_would_give() -> None:
    runs, truth = _single_label(60, 4, 2)
    together = bootstrap_intervals(runs, truth, ["accuracy", "macro_f1", "ece", "micro_f1"],
                                   level=0.9)
    for metric in ("accuracy", "macro_f1", "ece"):
        low, high = together[metric]
        assert low <= high
        assert (low, high) == bootstrap_interval(runs, truth, metric, level=0.9)
    assert together["micro_f1"] is None  # single-label: micro-F1 is accuracy


def test_refusals() -> None:
    runs, truth = _single_label(20, 3, 2)
    with pytest.raises(ValueError, match="no runs"):
        bootstrap_interval([], truth, "accuracy")
    with pytest.raises(ValueError, match="level"):
        bootstrap_interval(runs, truth, "accuracy", level=1.0)
    with pytest.raises(ValueError, match="same items"):
        bootstrap_interval([runs[0], runs[1].subset(range(10))], truth, "accuracy")
    with pytest.raises(ValueError, match="does not apply"):
        bootstrap_interval(runs, truth, "micro_f1")


def test_a_banking77_size_choice_is_bootstrapped_fast() -> None:
    # 3,080 test items × 77 classes × 3 seeds: recomputing macro-F1 from subsets took
    # tens of seconds; a report bootstraps three metrics of every choice.
    runs, truth = _single_label(3080, 77, 3)
    resamples(3080, 3)  # the draws, made once per report and shared by every choice
    started = time.perf_counter()
    found = bootstrap_intervals(runs, truth, ["accuracy", "macro_f1", "ece"])
    assert time.perf_counter() - started < 2.0  # about 0.05 s on 2 cores
    assert all(low < high for low, high in found.values())

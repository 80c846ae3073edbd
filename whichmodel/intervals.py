"""Bootstrap intervals of a quality metric, from stored per-item predictions.

Why a bootstrap: a test split of a few hundred items gives a score that moves by points
with the sample, and a choice just above the bar often fails it on new data. Resampling
the test items (and the seeds, when there are several) with replacement and recomputing
the metric says how far the score could move; the interval is the central ``level`` share
of those recomputed scores (the percentile method).

Why it is fast: a resample of items is a vector of counts (how often each item was
drawn), and accuracy, macro/micro-F1 and ECE are sums over items of per-item facts (right
or not, true and predicted class, confidence bin). So one matrix product, counts
(resamples × items) by facts (items × columns), scores every resample of every seed at
once: the report bootstraps three metrics of every choice in a fraction of a second each,
where recomputing macro-F1 from a `Predictions.subset` took seconds. The draws depend only
on the number of items and seeds and the random seed, so every choice of a report is
resampled on the same draws, made once. Any other registered metric is recomputed per
resample from `Predictions.subset`, on those same draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from whichmodel.metrics import correct, get_metric
from whichmodel.predictions import Predictions

N_RESAMPLES = 1000
_ECE_BINS = 15  # as `whichmodel.evaluate.expected_calibration_error`
_FAST = ("accuracy", "macro_f1", "micro_f1", "ece")


def bootstrap_interval(runs: Sequence[Predictions], y_true: Sequence[Any], metric: str, *,
                       level: float = 0.95, n_resamples: int = N_RESAMPLES,
                       seed: int = 0) -> tuple[float, float]:
    """(low, high) of the ``level`` interval of the seed-mean of ``metric``.

    ``runs`` are the predictions of one choice's seeds on the same items, ``y_true``
    their labels. Each resample draws items with replacement (the same items for every
    seed, as the seeds saw the same test set) and, with several seeds, the seeds too.
    A `ValueError` when ``metric`` does not apply to these predictions (ECE of a
    multi-label model, micro-F1 of a single-label one).
    """
    found = bootstrap_intervals(runs, y_true, [metric], level=level,
                                n_resamples=n_resamples, seed=seed)[metric]
    if found is None:
        raise ValueError(f"{metric} does not apply to these predictions")
    return found


def bootstrap_intervals(runs: Sequence[Predictions], y_true: Sequence[Any],
                        metrics: Sequence[str], *, level: float = 0.95,
                        n_resamples: int = N_RESAMPLES,
                        seed: int = 0) -> dict[str, tuple[float, float] | None]:
    """`bootstrap_interval` of each of ``metrics``, from the same resamples (so each is
    what `bootstrap_interval` gives for it alone); None for a metric that does not apply
    to these predictions."""
    if not runs:
        raise ValueError("no runs to bootstrap")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    truth = y_true if hasattr(y_true, "truth") else list(y_true)  # keep slot truth
    n = len(truth)
    if any(len(r) != n for r in runs):
        raise ValueError("every run must have predicted the same items")
    for name in metrics:
        get_metric(name)  # an unknown name is a UsageError with a did-you-mean
    draws = resamples(n, len(runs), n_resamples, seed)
    per_run = resample_scores(runs, truth, metrics, draws)
    tail = (1 - level) / 2 * 100
    out: dict[str, tuple[float, float] | None] = {}
    for name in metrics:
        scores = per_run[name]
        if scores is None:
            out[name] = None
            continue
        # each resample's score: the mean over the seeds it drew, on the items it drew
        means = np.take_along_axis(scores, draws.seeds, axis=1).mean(axis=1)
        low, high = np.percentile(means, [tail, 100 - tail])
        out[name] = (float(low), float(high))
    return out


@dataclass(frozen=True)
class Resamples:
    """``n_resamples`` draws of ``n_items`` items and ``n_seeds`` seeds, with
    replacement: ``counts[b, i]`` is how often resample ``b`` drew item ``i`` (float32,
    exact: whole numbers up to 2**24), ``seeds[b]`` the seeds it drew (indices into the
    runs). Read-only: one object is shared by every caller with the same arguments."""

    n_items: int
    n_seeds: int
    seed: int
    counts: np.ndarray
    seeds: np.ndarray

    @cached_property
    def counts64(self) -> np.ndarray:
        """`counts` in float64, for sums of non-whole numbers (ECE's confidences)."""
        out = self.counts.astype(np.float64)
        out.setflags(write=False)
        return out

    def items(self) -> np.ndarray:
        """Every resample's drawn item indices, in drawing order (resamples × items):
        what a metric recomputed from `Predictions.subset` needs."""
        return _draw(self.n_items, self.n_seeds, len(self.counts), self.seed)[0]


@lru_cache(maxsize=4)  # a report asks for the test and validation splits, over and over
def resamples(n_items: int, n_seeds: int, n_resamples: int = N_RESAMPLES,
              seed: int = 0) -> Resamples:
    """The draws `bootstrap_interval` makes for ``n_items`` items and ``n_seeds`` seeds
    (cached: the same for every choice of one ledger)."""
    items, seeds = _draw(n_items, n_seeds, n_resamples, seed)
    counts = np.empty((n_resamples, n_items), dtype=np.float32 if n_items < 2 ** 24
                      else np.float64)
    for b in range(n_resamples):
        counts[b] = np.bincount(items[b], minlength=n_items)
    counts.setflags(write=False)
    seeds.setflags(write=False)
    return Resamples(n_items, n_seeds, seed, counts, seeds)


def _draw(n: int, n_seeds: int, n_resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Items and seeds per resample, drawn in the order bootstrap intervals always drew
    them (items, then seeds, resample by resample), so the intervals are unchanged."""
    rng = np.random.default_rng(seed)
    items = np.empty((n_resamples, n), dtype=np.intp)
    seeds = np.zeros((n_resamples, n_seeds), dtype=np.intp)
    for b in range(n_resamples):
        items[b] = rng.integers(0, n, n)
        if n_seeds > 1:
            seeds[b] = rng.integers(0, n_seeds, n_seeds)
    return items, seeds


def resample_scores(runs: Sequence[Predictions], y_true: Sequence[Any],
                    metrics: Sequence[str], draws: Resamples) -> dict[str, np.ndarray | None]:
    """Per metric, the score of every run on every resample's items (resamples × runs),
    or None where the metric does not apply: by counts for the built-in metrics (see the
    module docstring), recomputed per resample for any other."""
    truth = list(y_true)
    out: dict[str, np.ndarray | None] = {}
    fast = [m for m in metrics if m in _FAST]
    if fast:
        out.update(_by_counts(runs, truth, fast, draws))
    for name in metrics:
        if name not in _FAST:
            out[name] = recomputed_scores(runs, y_true, name, draws)
    return out


def recomputed_scores(runs: Sequence[Predictions], y_true: Sequence[Any], metric: str,
                      draws: Resamples) -> np.ndarray | None:
    """`resample_scores` of one metric the slow way, by computing it on each resample's
    `Predictions.subset`: any registered metric, and the reference the fast path is
    tested against."""
    from whichmodel.metrics import TruthLabels

    found = get_metric(metric)
    if found.truth is not None:  # e.g. slot F1: needs the items' gold slot tags too
        given = getattr(y_true, "truth", {}).get(found.truth)
        if given is None:
            return None
        if metric in _SLOT_COUNTED:
            return _slots_by_counts(runs, list(y_true), given, metric, draws)
        labels = TruthLabels(list(y_true), {found.truth: given})

        def compute(p: Predictions, idx: Any) -> float | None:
            part = labels.subset(idx)
            return found.compute(p, list(part), part.truth[found.truth])
    else:
        plain = np.asarray(list(y_true), dtype=object)

        def compute(p: Predictions, idx: Any) -> float | None:
            return found.compute(p, list(plain[idx]))
    every = np.arange(len(y_true))
    if any(compute(run, every) is None for run in runs):
        return None
    items = draws.items()
    scores = np.empty((len(items), len(runs)))
    for b, drawn in enumerate(items):
        for s, run in enumerate(runs):
            scores[b, s] = compute(run.subset(drawn), drawn)
    return scores


_SLOT_COUNTED = ("intent_accuracy", "slot_f1", "frame_accuracy")


def _slots_by_counts(runs: Sequence[Predictions], truth: list[Any],
                     gold: Sequence[Sequence[str]], metric: str, draws: Resamples
                     ) -> np.ndarray | None:
    """The intent + slot metrics on every resample from per-item counts, as `_by_counts`
    does for accuracy: an item's (correct, predicted, gold) spans and whether its frame
    is right are computed once, a resample's score is the draw counts times them."""
    from whichmodel.metrics import predicted_tags
    from whichmodel.slots import span_counts

    counts, n = draws.counts, len(truth)
    scores = np.empty((len(counts), len(runs)))
    for s, run in enumerate(runs):
        hits = correct(run, truth).astype(np.float64)
        if metric == "intent_accuracy":
            scores[:, s] = counts @ hits / n
            continue
        predicted = predicted_tags(run, [len(g) for g in gold])
        if predicted is None:
            return None
        per_item = np.array([span_counts([g], [p]) for g, p in zip(gold, predicted)],
                            dtype=np.float64).reshape(n, 3)
        if metric == "slot_f1":
            right, spans = counts @ per_item[:, 0], counts @ (per_item[:, 1] + per_item[:, 2])
            scores[:, s] = np.where(spans > 0, 2 * right / np.maximum(spans, 1), 1.0)
        else:  # frame_accuracy: the intent and every span right
            frame = (per_item[:, 0] == per_item[:, 1]) & (per_item[:, 0] == per_item[:, 2])
            scores[:, s] = counts @ (frame & (hits > 0)).astype(np.float64) / n
    return scores


def _by_counts(runs: Sequence[Predictions], truth: list[Any], metrics: Sequence[str],
               draws: Resamples) -> dict[str, np.ndarray | None]:
    """Accuracy, macro/micro-F1 and ECE of every run on every resample, from the draw
    counts times per-item facts: one product per run for the counting metrics (sums of
    whole numbers, so exact), one in float64 for ECE's confidences."""
    multi_label = runs[0].multi_label
    want_f1 = [m for m in metrics if m in ("macro_f1", "micro_f1")]
    applies = {"accuracy": True, "macro_f1": True, "micro_f1": multi_label,
               "ece": not multi_label}
    out: dict[str, np.ndarray | None] = {m: None for m in metrics if not applies[m]}
    todo = [m for m in metrics if applies[m]]
    if not todo:
        return out
    counts, n = draws.counts, len(truth)
    scores = {m: np.empty((len(counts), len(runs))) for m in todo}
    classes, true_matrix = _true_matrix(runs, truth) if want_f1 else (None, None)
    true_counts = (counts @ true_matrix).astype(float) if want_f1 else None  # per class
    for s, run in enumerate(runs):
        hits = correct(run, truth)
        columns = [hits[:, None]]
        if want_f1:
            predicted = _predicted_matrix(run, classes)
            columns += [predicted, predicted & true_matrix.astype(bool)]
        sums = (counts @ np.hstack(columns).astype(counts.dtype)).astype(float)
        if "accuracy" in scores:
            scores["accuracy"][:, s] = sums[:, 0] / n
        if want_f1:
            k = len(classes)
            pred_counts, hit_counts = sums[:, 1:1 + k], sums[:, 1 + k:]
            if "macro_f1" in scores:
                scores["macro_f1"][:, s] = _macro_f1(true_counts, pred_counts, hit_counts)
            if "micro_f1" in scores:
                both = true_counts.sum(axis=1) + pred_counts.sum(axis=1)
                scores["micro_f1"][:, s] = np.divide(
                    2 * hit_counts.sum(axis=1), both, out=np.zeros(len(both)),
                    where=both > 0)
        if "ece" in scores:
            scores["ece"][:, s] = _ece(run, hits, draws.counts64)
    out.update(scores)
    return out


def _true_matrix(runs: Sequence[Predictions], truth: list[Any]) -> tuple[list[Any],
                                                                          np.ndarray]:
    """(classes, items × classes 0/1 matrix of the true labels). The classes are every
    run's, then any true label no run can predict: scored as a class of its own with F1
    0, as `whichmodel.evaluate.classification_metrics` does."""
    classes = list(dict.fromkeys(c for run in runs for c in run.classes))
    known = set(classes)
    rows = truth if runs[0].multi_label else [[label] for label in truth]
    classes += sorted({c for row in rows for c in row} - known, key=str)
    column = {c: i for i, c in enumerate(classes)}
    matrix = np.zeros((len(truth), len(classes)), dtype=np.float32)
    if runs[0].multi_label:
        for i, row in enumerate(rows):
            matrix[i, [column[c] for c in row]] = 1
    elif truth:
        matrix[np.arange(len(truth)), [column[c] for c in truth]] = 1
    return classes, matrix


def _predicted_matrix(run: Predictions, classes: list[Any]) -> np.ndarray:
    """Items × ``classes`` booleans: the labels ``run`` predicts, by its decision rule."""
    where = np.array([classes.index(c) for c in run.classes], dtype=np.intp)
    out = np.zeros((len(run), len(classes)), dtype=bool)
    if run.multi_label:
        out[:, where] = run.proba >= run.threshold
    elif len(run):
        # An all-zero row (an item with no usable answer) predicts no class, as in
        # `decode_labels`: it counts against recall, not as the first class.
        answered = np.flatnonzero(run.proba.max(axis=1) > 0)
        out[answered, where[np.argmax(run.proba[answered], axis=1)]] = True
    return out


def _macro_f1(true_counts: np.ndarray, pred_counts: np.ndarray,
              hit_counts: np.ndarray) -> np.ndarray:
    """Per resample, the mean F1 = 2·TP / (true + predicted) over the classes that occur
    in its true or predicted labels (scikit-learn's macro average)."""
    both = true_counts + pred_counts
    present = both > 0
    f1 = np.divide(2 * hit_counts, both, out=np.zeros(both.shape), where=present)
    n_present = present.sum(axis=1)
    return np.divide(f1.sum(axis=1), n_present, out=np.zeros(len(f1)), where=n_present > 0)


def _ece(run: Predictions, hits: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per resample, ECE = Σ over confidence bins |right − confidence| summed over the
    bin's items, ÷ items (`expected_calibration_error` weighted by the draw counts, in
    float64: ``counts``)."""
    confidence = np.asarray(run.confidence, dtype=float)
    edges = np.linspace(0.0, 1.0, _ECE_BINS + 1)
    bins = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, _ECE_BINS - 1)
    gap = np.zeros((len(run), _ECE_BINS))
    gap[np.arange(len(run)), bins] = hits - confidence
    return np.abs(counts @ gap).sum(axis=1) / len(run)

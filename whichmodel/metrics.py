"""The metric registry: every quality figure whichmodel reports, by name, as data.

A run's quality is a mapping name → value computed here from its stored `Predictions`
and the true labels, so a metric added later (or a confidence threshold, or a cascade)
is scored on old runs without training again. The spec, `choose`, the CLI flags, the
report and the MLflow export read `METRICS` rather than spelling names out.

Why a registry rather than fields: the families still to come report figures today's
fields have no room for (slot F1, out-of-scope recall, cost per correct answer), and
each would otherwise touch every layer that copies ``accuracy`` and ``macro_f1`` by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from whichmodel.errors import UsageError, did_you_mean
from whichmodel.predictions import Predictions

Compute = Callable[..., "float | None"]


@dataclass(frozen=True)
class Metric:
    """One quality figure: how it is computed and how to read it.

    ``compute(predictions, y_true)`` returns a float, or None where the metric does not
    apply (ECE of a multi-label model). A metric with ``truth`` set also needs that
    per-item truth beyond the labels (``"slot_tags"``: the gold BIO tags of every item)
    and is called ``compute(predictions, y_true, truth_values)``; without that truth it
    does not apply. ``bar``: whether a scenario may set a minimum (or, when lower is
    better, a maximum) on it.
    """

    name: str
    higher_is_better: bool
    compute: Compute
    description: str
    bar: bool = True
    truth: str | None = None
    # The built-ins are also keys of the full quality report (`whichmodel.evaluate`):
    # `score` then reads them from one report instead of recomputing each.
    in_report: bool = False

    def better(self, a: float, b: float) -> bool:
        """True when ``a`` is strictly better than ``b``."""
        return a > b if self.higher_is_better else a < b

    def meets(self, value: float, bound: float) -> bool:
        """True when ``value`` is on the good side of ``bound`` (or equal)."""
        return value >= bound if self.higher_is_better else value <= bound


METRICS: dict[str, Metric] = {}


def register_metric(metric: Metric) -> Metric:
    """Add ``metric`` to the registry (a family's own metric, say); returns it."""
    METRICS[metric.name] = metric
    return metric


def get_metric(name: str) -> Metric:
    """The registered metric ``name``, or a `UsageError` with a did-you-mean."""
    try:
        return METRICS[name]
    except KeyError:
        raise UsageError(f"unknown metric {name!r}{did_you_mean(name, METRICS)}; metrics "
                         f"are: {', '.join(metric_names())}") from None


def metric_names(*, bar: bool = False) -> list[str]:
    """Registered names in registration order (only those a bar may be set on: ``bar``)."""
    return [m.name for m in METRICS.values() if m.bar or not bar]


def score(predictions: Predictions, y_true: Sequence[Any],
          names: Sequence[str] | None = None, *,
          report: dict[str, Any] | None = None,
          truth: Mapping[str, Sequence[Any]] | None = None) -> dict[str, float]:
    """``{name: value}`` of every registered metric (or of ``names``) that applies.

    Metrics ``in_report`` are read from one full report (`evaluate_predictions`), built
    here once or passed in by a caller that has it already; the others are computed.
    ``truth`` holds per-item truth beyond the labels (``{"slot_tags": [...]}``) for the
    metrics that need it.
    """
    from whichmodel.evaluate import evaluate_predictions

    if truth is None:
        truth = getattr(y_true, "truth", None)
    y_true = list(y_true)
    if len(y_true) != len(predictions):
        raise ValueError(f"{len(y_true)} true labels for {len(predictions)} predictions")
    out = {}
    for name in names or list(METRICS):
        metric = get_metric(name)
        if metric.in_report:
            if report is None:
                report = evaluate_predictions(y_true, predictions)
            value = report.get(name)
        elif metric.truth is not None:
            given = (truth or {}).get(metric.truth)
            value = None if given is None else metric.compute(predictions, y_true, given)
        else:
            value = metric.compute(predictions, y_true)
        if value is not None:
            out[name] = float(value)
    return out


def truth_of(dataset: Any) -> dict[str, Sequence[Any]]:
    """The per-item truth beyond labels a `Dataset` holds, for `score`'s ``truth``."""
    slot_tags = getattr(dataset, "slot_tags", None)
    return {} if slot_tags is None else {"slot_tags": slot_tags}


class TruthLabels(list):
    """True labels that carry the rest of the items' truth (``truth``: name → one value
    per item, e.g. gold slot tags) to code that passes labels along unread: the ledger's
    stored labels of intent + slot data, read back for intervals and confirmations."""

    def __init__(self, labels: Sequence[Any], truth: Mapping[str, Sequence[Any]]) -> None:
        super().__init__(labels)
        self.truth = {name: list(values) for name, values in truth.items()}

    def subset(self, indices: Sequence[int]) -> TruthLabels:
        """The labels and truth of the items at ``indices``."""
        return TruthLabels([self[i] for i in indices],
                           {n: [v[i] for i in indices] for n, v in self.truth.items()})


# -- the built-in metrics -------------------------------------------------------------------
def correct(p: Predictions, y_true: Sequence[Any]) -> np.ndarray:
    """Per item, True where the prediction is right: the label, or (multi-label) the whole
    label set exactly. Accuracy is its mean; ECE and the bootstrap use it per item."""
    if p.multi_label:
        return np.array([set(t) == set(q) for t, q in zip(y_true, p.labels)], dtype=bool)
    return np.array([t == q for t, q in zip(y_true, p.labels)], dtype=bool)


def _accuracy(p: Predictions, y_true: Sequence[Any]) -> float:
    return float(np.mean(correct(p, y_true)))


def _f1(average: str) -> Compute:
    def compute(p: Predictions, y_true: Sequence[Any]) -> float | None:
        from whichmodel.evaluate import classification_metrics

        if average == "micro" and not p.multi_label:
            return None  # equals accuracy for single-label data
        return classification_metrics(y_true, p.labels, None, p.classes)[f"{average}_f1"]

    return compute


def _ece(p: Predictions, y_true: Sequence[Any]) -> float | None:
    from whichmodel.evaluate import expected_calibration_error

    if p.multi_label:
        return None
    return expected_calibration_error(p.confidence, correct(p, y_true))


register_metric(Metric("accuracy", True, _accuracy,
                       "share of items whose label (multi-label: whole label set) is right",
                       in_report=True))
register_metric(Metric("macro_f1", True, _f1("macro"),
                       "F1 averaged over classes, each class weighing the same",
                       in_report=True))
register_metric(Metric("micro_f1", True, _f1("micro"),
                       "F1 over every (item, label) decision; multi-label only",
                       in_report=True))
register_metric(Metric("ece", False, _ece,
                       "expected calibration error of the top-class confidence (15 bins)",
                       bar=False, in_report=True))


# -- intent + slot metrics (joint and dual families; `whichmodel.slots`) -------------------
def predicted_tags(p: Predictions, n_words: Sequence[int]) -> list[list[str]] | None:
    """Each item's predicted tags, or None when the model predicts no slots. A model
    that gave an item fewer tags than it has words is scored as "O" for the rest."""
    from whichmodel.slots import OUTSIDE, split_tags

    stored = p.extras.get("slot_tags")
    if stored is None:
        return None
    tags = [split_tags(t) for t in stored]
    return [(t + [OUTSIDE] * n)[:n] for t, n in zip(tags, n_words)]


def _slot_f1(p: Predictions, y_true: Sequence[Any], gold: Sequence[Sequence[str]]
             ) -> float | None:
    from whichmodel.slots import slot_f1

    predicted = predicted_tags(p, [len(g) for g in gold])
    return None if predicted is None else slot_f1(gold, predicted)


def _intent_accuracy(p: Predictions, y_true: Sequence[Any], gold: Sequence[Sequence[str]]
                     ) -> float | None:
    return _accuracy(p, y_true)


def _frame_accuracy(p: Predictions, y_true: Sequence[Any], gold: Sequence[Sequence[str]]
                    ) -> float | None:
    from whichmodel.slots import frame_correct

    predicted = predicted_tags(p, [len(g) for g in gold])
    if predicted is None:
        return None
    slots_right = frame_correct(gold, predicted)
    return float(np.mean(correct(p, y_true) & np.array(slots_right, dtype=bool)))


register_metric(Metric("intent_accuracy", True, _intent_accuracy,
                       "share of items whose intent is right (intent + slot data)",
                       truth="slot_tags"))
register_metric(Metric("slot_f1", True, _slot_f1,
                       "micro F1 of slot spans, exact type and boundaries (conlleval)",
                       truth="slot_tags"))
register_metric(Metric("frame_accuracy", True, _frame_accuracy,
                       "share of items whose intent and every slot are right",
                       truth="slot_tags"))

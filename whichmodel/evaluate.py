"""Quality metrics: accuracy, macro-F1, per-class scores, confusion matrix, calibration.

Every candidate is scored by this one function so that numbers in the ledger, the CLI
and the report are comparable. Calibration is the expected calibration error (ECE) of the
top-class confidence over equal-width bins: a model whose 0.9-confidence answers are
right 90% of the time has ECE near 0, which matters for cascades and thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from whichmodel.errors import DataError


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray,
                               n_bins: int = 15) -> float:
    """ECE: sum over bins of |accuracy - mean confidence| weighted by the bin's share."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    if confidence.size == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def evaluate_predictions(y_true: Sequence[Any], predictions: Any) -> dict[str, Any]:
    """All quality metrics of a `whichmodel.predictions.Predictions` against the true
    labels: `classification_metrics` over its labels, probabilities and classes."""
    return classification_metrics(y_true, predictions.labels, predictions.proba,
                                  predictions.classes)


def classification_metrics(y_true: Sequence[Any], y_pred: Sequence[Any],
                           proba: np.ndarray | None = None,
                           classes: Sequence[Any] | None = None) -> dict[str, Any]:
    """All quality metrics for one set of predictions, as a JSON-ready dict.

    Single-label: ``y_true``/``y_pred`` are labels. Multi-label: lists of labels; then
    accuracy is exact-match (subset) accuracy and F1 is macro over labels.
    ``proba`` columns must follow ``classes``; it enables the calibration error.
    Labels in ``y_true`` that are missing from ``classes`` still count as errors, and as
    classes of their own (F1 0) in the per-class scores and macro-F1.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y_true, y_pred = list(y_true), list(y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    if not y_true:
        raise DataError("no rows to evaluate: the evaluation data is empty")
    multi_label = bool(y_true) and isinstance(y_true[0], (list, tuple, set))
    if classes is None:
        seen = ({c for row in y_true + y_pred for c in row} if multi_label
                else set(y_true) | (set(y_pred) - {None}))
        classes = sorted(seen, key=str)
    classes = list(classes)
    # A true label the model cannot predict is a class it gets wholly wrong: it is scored
    # (F1 0) rather than left out, which would flatter macro-F1.
    known = set(classes)
    unseen = {c for row in y_true for c in row} if multi_label else set(y_true)
    classes += sorted(unseen - known, key=str)
    out: dict[str, Any] = {"n": len(y_true), "classes": [str(c) for c in classes]}

    if multi_label:
        from sklearn.preprocessing import MultiLabelBinarizer

        binarizer = MultiLabelBinarizer(classes=classes)
        true_m = binarizer.fit_transform([[c for c in r if c in classes] for r in y_true])
        pred_m = binarizer.transform([[c for c in r if c in classes] for r in y_pred])
        out["accuracy"] = float(np.mean([set(t) == set(p) for t, p in zip(y_true, y_pred)]))
        p, r, f, s = precision_recall_fscore_support(true_m, pred_m, average=None,
                                                     zero_division=0)
        out["micro_f1"] = float(precision_recall_fscore_support(
            true_m, pred_m, average="micro", zero_division=0)[2])
        correct_for_ece = None
        predicted = np.asarray(pred_m).sum(axis=0) > 0
    else:
        out["accuracy"] = float(np.mean([t == q for t, q in zip(y_true, y_pred)]))
        scored_true, scored_pred, scored_labels = y_true, y_pred, classes
        unanswered = sum(q is None for q in y_pred)
        if unanswered:
            # None: an item the model chose no class for (an LLM's unparseable or failed
            # answer). It is wrong (recall of its true class) but predicts no class (no
            # false positive): scored on class ids, None being an id outside them; the
            # confusion matrix leaves those items out, `unanswered` counts them.
            out["unanswered"] = int(unanswered)
            ids = {c: i for i, c in enumerate(classes)}
            scored_true = [ids[t] for t in y_true]
            scored_pred = [-1 if q is None else ids.get(q, -1) for q in y_pred]
            scored_labels = list(range(len(classes)))
        p, r, f, s = precision_recall_fscore_support(scored_true, scored_pred,
                                                     labels=scored_labels, average=None,
                                                     zero_division=0)
        out["confusion"] = confusion_matrix(scored_true, scored_pred,
                                            labels=scored_labels).tolist()
        correct_for_ece = np.array([t == q for t, q in zip(y_true, y_pred)])
        predicted = np.asarray(out["confusion"]).sum(axis=0) > 0

    # Macro over every class that occurs in y_true or y_pred, as scikit-learn's f1_score
    # does: predicting a class the test set never has costs an F1 of 0.
    present = (np.asarray(s) > 0) | predicted
    out["macro_f1"] = float(np.mean(np.asarray(f)[present])) if present.any() else 0.0
    out["per_class"] = {
        str(c): {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                 "support": int(s[i])}
        for i, c in enumerate(classes)
    }
    if proba is not None and correct_for_ece is not None and len(y_true):
        out["ece"] = expected_calibration_error(np.max(proba, axis=1), correct_for_ece)
    return out

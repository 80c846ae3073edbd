"""An item a model gave no answer for (an all-zero probability row, as the llm family
writes for an unparseable or failed answer) is labelled None and counted wrong."""

from __future__ import annotations

import numpy as np
import pytest

from whichmodel.evaluate import evaluate_predictions
from whichmodel.metrics import score
from whichmodel.predictions import Predictions


def _predictions():
    proba = np.array([[0.9, 0.1], [0.0, 0.0], [0.2, 0.8], [0.0, 0.0]])
    return Predictions(["a", "b"], proba, extras={
        "answer_status": np.array(["ok", "unparseable", "ok", "failed"])})


def test_an_all_zero_row_chooses_no_class():
    p = _predictions()
    assert p.labels == ["a", None, "b", None]
    assert p.confidence.tolist() == pytest.approx([0.9, 0.0, 0.8, 0.0])
    assert Predictions.from_bytes(p.to_bytes()).labels == p.labels


def test_metrics_count_an_unanswered_item_as_wrong_without_crashing():
    p = _predictions()
    truth = ["a", "a", "b", "b"]
    quality = score(p, truth)
    assert quality["accuracy"] == 0.5
    report = evaluate_predictions(truth, p)
    assert report["unanswered"] == 2
    # recall 1/2 for each class, precision 1: no class was predicted for the others
    assert report["per_class"]["a"] == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    assert report["macro_f1"] == pytest.approx(2 / 3)
    assert report["confusion"] == [[1, 0], [0, 1]]  # unanswered items left out
    assert 0 <= report["ece"] <= 1


def test_multi_label_rows_of_zeros_stay_empty_label_sets():
    p = Predictions(["a", "b"], np.zeros((1, 2)), multi_label=True)
    assert p.labels == [[]]


def test_bootstrap_f1_counts_an_unanswered_item_as_no_class():
    from whichmodel.intervals import _by_counts, recomputed_scores, resamples

    p, truth = _predictions(), ["a", "a", "b", "b"]
    draws = resamples(len(truth), 1, 50, seed=0)
    fast = _by_counts([p], truth, ["macro_f1"], draws)["macro_f1"]
    slow = recomputed_scores([p], truth, "macro_f1", draws)
    assert np.allclose(fast, slow)

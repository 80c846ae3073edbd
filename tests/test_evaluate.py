"""Metrics checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from whichmodel.evaluate import classification_metrics, expected_calibration_error


def test_single_label_metrics_by_hand():
    y_true = ["a", "a", "b", "b", "c"]
    y_pred = ["a", "b", "b", "b", "a"]
    m = classification_metrics(y_true, y_pred, classes=["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(3 / 5)
    # a: P=1/2 R=1/2 F1=.5; b: P=2/3 R=1 F1=.8; c: P=0 R=0 F1=0 -> macro 1.3/3
    assert m["per_class"]["a"]["f1"] == pytest.approx(0.5)
    assert m["per_class"]["b"]["f1"] == pytest.approx(0.8)
    assert m["macro_f1"] == pytest.approx(1.3 / 3)
    assert m["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert m["n"] == 5


def test_ece_by_hand():
    # bin (0.8, 0.867]: confidences .85 .85, one right -> |0.5 - 0.85| * 2/4
    # bin (0.933, 1.0]: confidences .95 .95, both right -> |1 - 0.95| * 2/4
    ece = expected_calibration_error(np.array([0.85, 0.85, 0.95, 0.95]),
                                     np.array([1, 0, 1, 1]))
    assert ece == pytest.approx(0.35 * 0.5 + 0.05 * 0.5)
    assert expected_calibration_error(np.array([1.0, 1.0]), np.array([1, 1])) == 0.0


def test_ece_from_proba_and_unknown_true_label():
    proba = np.array([[0.9, 0.1], [0.2, 0.8]])
    m = classification_metrics(["a", "zz"], ["a", "b"], proba, classes=["a", "b"])
    assert m["accuracy"] == 0.5  # an unknown true label is an error, not ignored
    # 0.9 right and 0.8 wrong, in different bins: (|1 - 0.9| + |0 - 0.8|) / 2
    assert m["ece"] == pytest.approx(0.45)
    # zz, which the model cannot predict, is a class with F1 0, and so is b, predicted but
    # never true: macro over a (1.0), b (0) and zz (0)
    assert m["per_class"]["zz"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert m["macro_f1"] == pytest.approx(1 / 3)
    assert m["classes"] == ["a", "b", "zz"] and m["confusion"][2] == [0, 1, 0]


def test_multi_label_metrics():
    m = classification_metrics([["a", "b"], ["b"], []], [["a", "b"], ["a"], []],
                               classes=["a", "b"])
    assert m["accuracy"] == pytest.approx(2 / 3)       # exact-match
    # a: P=1/2 R=1 F1=2/3 ; b: P=1 R=1/2 F1=2/3
    assert m["macro_f1"] == pytest.approx(2 / 3)


def test_length_mismatch():
    with pytest.raises(ValueError, match="2 true labels but 1 predictions"):
        classification_metrics(["a", "b"], ["a"])


def test_macro_f1_matches_scikit_learn_including_predicted_only_classes():
    from sklearn.metrics import f1_score

    y_true, y_pred = ["a", "a", "b", "b"], ["a", "c", "b", "b"]
    m = classification_metrics(y_true, y_pred, classes=["a", "b", "c"])
    # c never occurs in y_true but is predicted once: F1 0, and it counts, as in sklearn
    assert m["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    multi_true, multi_pred = [["a"], ["a", "b"]], [["a", "c"], ["b"]]
    m = classification_metrics(multi_true, multi_pred, classes=["a", "b", "c"])
    # a: P 1 R 1/2 F 2/3; b: P 1 R 1 F 1; c: predicted once, never true: F 0
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)


def test_empty_evaluation_is_a_data_error():
    from whichmodel.errors import DataError

    with pytest.raises(DataError, match="no rows to evaluate"):
        classification_metrics([], [])


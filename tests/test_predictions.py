"""`Predictions` and the metric registry: per-item output, stored without pickle, scored by
name."""

from __future__ import annotations

import numpy as np
import pytest

from whichmodel.errors import UsageError
from whichmodel.evaluate import classification_metrics
from whichmodel.metrics import METRICS, Metric, get_metric, metric_names, register_metric, score
from whichmodel.predictions import Predictions


def _random(n=200, k=5, seed=0, **kwargs) -> tuple[Predictions, list[str]]:
    rng = np.random.default_rng(seed)
    classes = [f"c{i}" for i in range(k)]
    proba = rng.dirichlet(np.ones(k) * 0.3, size=n)
    truth = [classes[i] for i in rng.integers(0, k, n)]
    return Predictions(classes, proba, **kwargs), truth


def test_round_trip_keeps_every_decision_and_extra():
    p, _ = _random()
    p.extras = {"input_tokens": np.arange(len(p)), "abstained": np.arange(len(p)) % 3 == 0,
                "slot_tags": [["B-date"] * (i % 4) for i in range(len(p))]}
    back = Predictions.from_bytes(p.to_bytes())
    np.testing.assert_array_equal(back.proba, p.proba)  # float32, exactly
    assert back.labels == p.labels and back.classes == p.classes
    assert back.extra("input_tokens").tolist() == list(range(len(p)))
    assert back.extra("abstained").dtype == bool
    assert back.extras["slot_tags"][5] == ["B-date"]
    with pytest.raises((ValueError, OSError)):
        Predictions.from_bytes(b"not an archive")


def test_subset_concat_and_multi_label_decisions():
    p, _ = _random(n=10, k=3, multi_label=True, threshold=0.3)
    assert all(set(row) <= set(p.classes) for row in p.labels)
    assert p.labels[0] == [c for c, q in zip(p.classes, p.proba[0]) if q >= 0.3]
    parts = [p.subset(range(0, 4)), p.subset(range(4, 10))]
    whole = Predictions.concat(parts)
    np.testing.assert_array_equal(whole.proba, p.proba)
    with pytest.raises(ValueError, match="shape"):
        Predictions(["a", "b"], np.zeros((3, 3)))
    with pytest.raises(ValueError, match="extra 'input_tokens' has 1 values"):
        Predictions(["a", "b"], np.zeros((3, 2)), extras={"input_tokens": [1]})


def test_registry_scores_match_the_full_report():
    p, truth = _random(seed=3)
    full = classification_metrics(truth, p.labels, p.proba, p.classes)
    got = score(p, truth)
    assert set(got) == {"accuracy", "macro_f1", "ece"}  # micro-F1 is for multi-label
    for name in got:
        assert got[name] == pytest.approx(full[name])
    multi, _ = _random(n=50, k=4, seed=4, multi_label=True)
    multi_truth = [[c for c in multi.classes if hash((i, c)) % 2] for i in range(50)]
    assert set(score(multi, multi_truth)) == {"accuracy", "macro_f1", "micro_f1"}


def test_registry_names_directions_and_custom_metrics():
    assert metric_names(bar=True) == ["accuracy", "macro_f1", "micro_f1", "intent_accuracy",
                                      "slot_f1", "frame_accuracy"]
    assert not get_metric("ece").higher_is_better and get_metric("ece").meets(0.05, 0.1)
    with pytest.raises(UsageError, match="did you mean 'macro_f1'"):
        get_metric("macro-f1")
    p, truth = _random(seed=5)
    confident = register_metric(Metric(
        "share_confident", True, lambda pr, _y: float(np.mean(pr.confidence >= 0.5)),
        "share of items with a top-class probability of at least 0.5"))
    try:
        assert score(p, truth)["share_confident"] == pytest.approx(
            float(np.mean(p.proba.max(axis=1) >= 0.5)))
    finally:
        METRICS.pop(confident.name)

"""Every run stores its per-item predictions with its row, so metrics, thresholds and
cascades can be scored later without training again."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from whichmodel.bench.ledger import Ledger, read_predictions, read_records
from whichmodel.bench.record import RunRecord
from whichmodel.bench.runner import build_candidate, load_data, run_benchmark, sample_budget
from whichmodel.bench.spec import load_spec
from whichmodel.errors import WhichmodelError
from whichmodel.metrics import score
from whichmodel.predictions import Predictions
from whichmodel.predictor import Predictor


@pytest.fixture
def benched(banking77_slice, tmp_path):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump({
        "dataset": {"train": str(banking77_slice["train"]),
                    "test": str(banking77_slice["test"]), "text": "text", "label": "category"},
        "budgets": [4, "all"], "seeds": [1, 2],
        "candidates": [{"name": "tfidf", "family": "tfidf"}],
        "measure": {"latency_samples": 3}}))
    spec = load_spec(spec_path)
    ledger = tmp_path / "runs.sqlite"
    run_benchmark(spec, ledger, progress=False)
    return spec, ledger


def _accuracy_above(predictions: Predictions, y_true, threshold: float) -> tuple[float, int]:
    keep = predictions.confidence >= threshold
    labels = np.asarray(predictions.labels, dtype=object)
    truth = np.asarray(y_true, dtype=object)
    return float(np.mean(labels[keep] == truth[keep])), int(keep.sum())


def test_stored_predictions_give_the_recorded_metrics(benched):
    spec, ledger = benched
    test = load_data(spec).test
    ok = [r for r in read_records(ledger) if r.status == "ok"]
    assert len(ok) == 4
    for record in ok:
        stored = read_predictions(ledger, record.key)
        assert len(stored) == len(test) == record.n_test
        assert score(stored, test.labels) == record.quality
        assert record.quality["accuracy"] == record.accuracy and "macro_f1" in record.quality


def test_a_threshold_on_stored_predictions_equals_re_predicting_the_saved_model(benched,
                                                                               tmp_path):
    spec, ledger = benched
    splits = load_data(spec)
    train, test = splits.train, splits.test
    record = next(r for r in read_records(ledger)
                  if r.candidate == "tfidf" and r.budget == "4/class" and r.seed == 2)
    stored = read_predictions(ledger, record.key)

    candidate = next(c for c in spec.candidates if c.name == "tfidf")
    budget = next(b for b in spec.budgets if b.label == "4/class")
    sample = sample_budget(train, budget, 2)
    model = build_candidate(candidate, 2).fit(sample.texts, sample.labels)
    fresh = Predictor(model.save(tmp_path / "model")).predict(test.texts)

    for threshold in (0.0, 0.15, 0.3):
        assert _accuracy_above(stored, test.labels, threshold) == \
            _accuracy_above(fresh, test.labels, threshold)
    assert _accuracy_above(stored, test.labels, 0.3)[1] < len(test)  # the threshold bites


def test_a_failed_run_stores_none_and_says_so(banking77_slice, tmp_path):
    ledger = tmp_path / "runs.sqlite"
    failed = RunRecord(key="k", dataset="d", candidate="c", family="tfidf", settings={},
                       budget="all", seed=0, status="failed", error="ValueError: x")
    with Ledger(ledger) as writer:
        writer.write(failed)
        assert writer.predictions("k") is None
    with pytest.raises(WhichmodelError, match="has no stored predictions"):
        read_predictions(ledger, "k")


def test_row_and_predictions_are_written_together_or_not_at_all(tmp_path, monkeypatch):
    ledger = tmp_path / "runs.sqlite"
    record = RunRecord(key="k", dataset="d", candidate="c", family="tfidf", settings={},
                       budget="all", seed=0, accuracy=1.0)
    good = Predictions(["a", "b"], np.array([[0.9, 0.1]]))

    def broken(self):
        raise OSError("disk full")

    with Ledger(ledger) as writer:
        monkeypatch.setattr(Predictions, "to_bytes", broken)
        with pytest.raises(OSError):
            writer.write(record, {"test": good})
        assert len(writer) == 0
        monkeypatch.undo()
        writer.write(record, {"test": good})
        assert writer.predictions("k").labels == ["a"]


def test_evidence_for_a_confirmation_is_read_in_one_go(benched):
    from whichmodel.bench.ledger import read_evidence, read_labels

    spec, ledger = benched
    records = [r for r in read_records(ledger) if r.status == "ok"]
    experiment = records[0].experiment
    labels, runs = read_evidence(ledger, experiment, [r.key for r in records])
    assert labels == read_labels(ledger, experiment) == load_data(spec).test.labels
    assert [p.proba.tolist() for p in runs] == [
        read_predictions(ledger, r.key).proba.tolist() for r in records]
    assert read_evidence(ledger, experiment, [records[0].key, "no-such-run"])[1] is None
    assert read_evidence(ledger, "no-such-experiment", [])[0] is None

"""Chosen on validation, confirmed on test with an interval: a spec with a validation
split, benched, then `choose --json`."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
import yaml

from whichmodel.bench.ledger import read_labels, read_predictions, read_records
from whichmodel.bench.runner import load_data, run_benchmark
from whichmodel.bench.spec import load_spec
from whichmodel.cli import main
from whichmodel.intervals import bootstrap_interval
from whichmodel.predictions import Predictions


@pytest.fixture(scope="module")
def ledger(banking77_slice, tmp_path_factory):
    folder = tmp_path_factory.mktemp("validation")
    spec = folder / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "dataset": {"train": str(banking77_slice["train"]), "test": str(banking77_slice["test"]),
                    "text": "text", "label": "category", "validation_size": 0.25},
        "budgets": [4, "all"], "seeds": [1, 2],
        "candidates": [{"name": "tfidf", "family": "tfidf"},
                       {"name": "tfidf-c01", "family": "tfidf", "settings": {"C": 0.1}}],
        "measure": {"latency_samples": 3}}))
    path = folder / "runs.sqlite"
    run_benchmark(load_spec(spec), path, progress=False)
    return spec, path


def _choose(*args) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["choose", *map(str, args), "--json"]) == 0
    return json.loads(out.getvalue())


def test_runs_hold_validation_and_test_scores_and_the_labels(ledger):
    spec, path = ledger
    splits = load_data(load_spec(spec))
    assert len(splits.validation) == 40 and len(splits.train) == 120  # 25% of 160
    assert not set(splits.validation.texts) & set(splits.train.texts)  # never in a budget
    records = read_records(path)
    for r in records:
        assert r.n_validation == 40 and set(r.validation_quality) == set(r.quality)
        assert r.n_labels <= 120
    experiment = records[0].experiment
    assert read_labels(path, experiment, "test") == splits.test.labels
    assert read_labels(path, experiment, "validation") == splits.validation.labels


def test_choose_decides_on_validation_and_confirms_on_test(ledger):
    _, path = ledger
    data = _choose(path, "--volume", "1e5")
    winner = data["winner"]
    assert winner["selected_on"] == "validation"
    assert 0 < winner["validation_quality"] <= 1
    low, high = winner["test_interval"]
    assert low <= winner["test_quality"] <= high and high - low > 0.01
    # chosen on validation: the winner is the best on validation among equal-cost choices
    records = read_records(path)
    by_choice: dict = {}
    for r in records:
        by_choice.setdefault((r.candidate, r.budget), []).append(r)
    ok = {k: np.mean([r.validation_quality["accuracy"] for r in v]) for k, v in by_choice.items()}
    assert winner["validation_quality"] == pytest.approx(ok[(winner["candidate"],
                                                             winner["budget"])])
    # the interval is the bootstrap of the stored test predictions of the winner's seeds
    experiment = records[0].experiment
    runs = [read_predictions(path, r.key) for r in by_choice[(winner["candidate"],
                                                             winner["budget"])]]
    assert all(isinstance(p, Predictions) for p in runs)
    assert bootstrap_interval(runs, read_labels(path, experiment), "accuracy") == \
        pytest.approx((low, high))


def test_confidence_puts_the_bar_on_the_lower_bound(ledger):
    _, path = ledger
    first = _choose(path, "--volume", "1e5")["winner"]
    low, point = first["test_interval"][0], first["test_quality"]
    # a bar the winner meets on validation, above its test lower bound, below its test point
    bar = min((low + point) / 2, first["validation_quality"])
    plain = _choose(path, "--volume", "1e5", "--min-accuracy", bar)
    strict = _choose(path, "--volume", "1e5", "--min-accuracy", bar, "--confidence", "0.95")
    for data in (plain, strict):  # the choice is made on validation either way
        assert (data["winner"]["candidate"], data["winner"]["budget"]) == (
            first["candidate"], first["budget"])
    assert plain["confirmation"]["bar_on"] == "point estimate"
    assert plain["confirmation"]["bar_holds"] is (point >= bar)
    assert strict["confirmation"]["bar_on"] == "lower bound"
    assert strict["confirmation"]["bar_holds"] is (low >= bar)
    assert strict["confirmation"]["level"] == 0.95


def test_choose_help_explains_validation_and_confidence(capsys):
    with pytest.raises(SystemExit):
        main(["choose", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Choices are made on the validation split only" in text
    assert "--confidence 0.95 makes that test bar apply to the interval's lower bound" in text

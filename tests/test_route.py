"""Cascades (whichmodel.route): the rule on hand-built predictions, the sweep, and a saved
cascade of real models (tfidf first, embedding second) predicting through Predictor."""

from __future__ import annotations

import json

import numpy as np
import pytest

from whichmodel.errors import UsageError
from whichmodel.models.layout import ModelFileError
from whichmodel.predictions import Predictions
from whichmodel.route import (
    ALL_ESCALATED,
    Cascade,
    CascadeError,
    cascade_predictions,
    confidence_of,
    sweep,
    threshold_grid,
)

CLASSES = ["a", "b", "c"]


def first_and_second() -> tuple[Predictions, Predictions]:
    """Four items; the first model is sure of items 0 and 3 (0.9, 0.8), unsure of 1 and 2
    (0.5, 0.4). The second scores the same classes in another column order, with tokens."""
    first = Predictions(CLASSES, [[0.9, 0.05, 0.05], [0.5, 0.3, 0.2],
                                  [0.3, 0.4, 0.3], [0.1, 0.8, 0.1]],
                        extras={"latency_ms": np.array([1.0, 1.0, 1.0, 1.0])})
    second = Predictions(["c", "b", "a"], [[0.0, 0.0, 1.0], [0.7, 0.2, 0.1],
                                           [0.1, 0.8, 0.1], [0.9, 0.05, 0.05]],
                         extras={"input_tokens": np.array([100, 200, 300, 400]),
                                 "output_tokens": np.array([1, 2, 3, 4]),
                                 "latency_ms": np.array([50.0, 60.0, 70.0, 80.0])})
    return first, second


def test_cascade_takes_the_second_answer_below_the_threshold_exactly():
    first, second = first_and_second()
    joined = cascade_predictions(first, second, 0.6)
    assert joined.extras["escalated"].tolist() == [False, True, True, False]
    assert joined.classes == CLASSES
    # escalated rows are the second's, put back in the first's column order (a, b, c)
    np.testing.assert_array_equal(joined.proba, np.array(
        [[0.9, 0.05, 0.05], [0.1, 0.2, 0.7], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1]],
        dtype=np.float32))
    assert joined.labels == ["a", "c", "b", "b"]
    # tokens only where escalated; latency adds up (the item ran through both)
    assert joined.extras["input_tokens"].tolist() == [0, 200, 300, 0]
    assert joined.extras["output_tokens"].tolist() == [0, 2, 3, 0]
    assert joined.extras["latency_ms"].tolist() == [1.0, 61.0, 71.0, 1.0]


def test_threshold_zero_keeps_every_item_with_the_first_and_above_one_sends_all():
    first, second = first_and_second()
    none = cascade_predictions(first, second, 0.0)
    assert not none.extras["escalated"].any()
    np.testing.assert_array_equal(none.proba, first.proba)
    assert none.extras["input_tokens"].sum() == 0
    everything = cascade_predictions(first, second, ALL_ESCALATED)
    assert everything.extras["escalated"].all()
    assert everything.labels == ["a", "c", "b", "c"]  # the second's own labels
    assert everything.extras["input_tokens"].tolist() == [100, 200, 300, 400]
    # at a confidence equal to the threshold the first still answers
    assert cascade_predictions(first, second, 0.8).extras["escalated"].tolist() == [
        False, True, True, False]


def test_an_all_zero_row_of_the_first_is_always_escalated():
    first = Predictions(CLASSES, [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    second = Predictions(CLASSES, [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    assert confidence_of(first).tolist() == [0.0, 1.0]
    assert cascade_predictions(first, second, 0.01).labels == ["c", "a"]


def test_models_of_other_classes_or_kinds_cannot_form_a_cascade():
    first, _ = first_and_second()
    other = Predictions(["a", "b", "d"], np.full((4, 3), 1 / 3))
    with pytest.raises(CascadeError, match=r"same classes.*only the first: \['c'\].*"
                                           r"only the second: \['d'\]"):
        cascade_predictions(first, other, 0.5)
    multi = Predictions(CLASSES, np.full((4, 3), 0.5), multi_label=True)
    with pytest.raises(CascadeError, match="one kind"):
        cascade_predictions(first, multi, 0.5)
    with pytest.raises(CascadeError, match="different items"):
        cascade_predictions(first, first.subset([0, 1]), 0.5)


def test_multi_label_confidence_is_the_least_certain_decision():
    p = Predictions(CLASSES, [[0.9, 0.1, 0.6], [0.99, 0.02, 0.0]], multi_label=True)
    np.testing.assert_allclose(confidence_of(p), [0.6, 0.98], rtol=1e-6)


def test_sweep_gives_share_quality_and_tokens_per_escalated_item():
    first, second = first_and_second()
    y_true = ["a", "c", "b", "a"]
    points = sweep(first, second, y_true, [0.0, 0.6, ALL_ESCALATED],
                   metrics=["accuracy", "macro_f1"])
    assert [p.escalated_share for p in points] == [0.0, 0.5, 1.0]
    assert [p.quality["accuracy"] for p in points] == [0.5, 0.75, 0.75]
    assert points[0].second_per_escalated == {}
    assert points[1].second_per_escalated["input_tokens"] == 250.0
    assert points[2].second_per_escalated["output_tokens"] == 2.5
    # seeds: the mean over the pairs
    twice = sweep([first, first], [second, second.subset([0, 1, 2, 3])], y_true, [0.6])
    assert twice[0].quality["accuracy"] == 0.75 and twice[0].escalated_share == 0.5


def test_threshold_grid_spans_nothing_to_everything():
    first, _ = first_and_second()
    grid = threshold_grid([first, first], points=10)
    assert grid[0] == 0.0 and grid[-1] == ALL_ESCALATED
    assert grid == sorted(set(grid)) and 0.4 in grid and 0.9 in grid
    assert all(round(t, 4) == t for t in grid)


# -- a saved cascade of real models --------------------------------------------------------
@pytest.fixture(scope="module")
def real_models(banking77_slice, tmp_path_factory):
    """A tfidf (first) and an embedding (second) model trained on the Banking77 slice,
    saved; and the slice's test texts."""
    import torch

    from whichmodel.models.registry import build_classifier

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("route_models")
    train = banking77_slice["train_df"]
    texts, labels = train["text"].tolist(), train["category"].tolist()
    tfidf = build_classifier("tfidf").fit(texts, labels)
    tfidf.input_fields_ = {"text": "text", "label": "category"}
    tfidf.save(folder / "tfidf")
    embedding = build_classifier("embedding").fit(texts, labels)
    embedding.save(folder / "embedding")
    return folder, banking77_slice["test_df"]["text"].tolist()


def test_a_saved_cascade_predicts_through_predictor_as_its_parts_say(real_models):
    from whichmodel.models.registry import load_model
    from whichmodel.predictor import Predictor

    folder, texts = real_models
    first, second = Predictor(folder / "tfidf"), Predictor(folder / "embedding")
    expected_first, expected_second = first.predict(texts), second.predict(texts)
    threshold = float(np.median(expected_first.confidence))
    out = Cascade.compose(folder / "tfidf", folder / "embedding", threshold).save(
        folder / "cascade")
    spec = json.loads((out / "cascade.json").read_text())
    assert spec == {"first": "../tfidf", "second": "../embedding", "threshold": threshold}
    assert json.loads((out / "whichmodel.json").read_text())["family"] == "cascade"

    predictor = Predictor(out, batch_size=7)  # batches the cascade splits further
    got = predictor.predict(texts)
    wanted = cascade_predictions(expected_first, expected_second, threshold)
    np.testing.assert_array_equal(got.extras["escalated"], wanted.extras["escalated"])
    assert 0 < got.extras["escalated"].sum() < len(texts)
    assert got.labels == wanted.labels
    np.testing.assert_allclose(got.proba, wanted.proba, atol=1e-5)
    model = load_model(out)
    assert model.predict(texts[:5]) == wanted.labels[:5]
    assert model.input_fields_["text"] == "text"  # predict needs no --text
    # a pickled Predictor travels as its folder (Ray)
    import pickle

    again = pickle.loads(pickle.dumps(predictor))
    assert again.predict(texts[:3]).labels == wanted.labels[:3]


def test_route_predict_and_evaluate_commands_use_the_saved_cascade(real_models, tmp_path,
                                                                   capsys, banking77_slice):
    import pandas as pd

    from whichmodel.cli import main

    folder, texts = real_models
    out = tmp_path / "cascade"
    assert main(["route", str(folder / "tfidf"), str(folder / "embedding"),
                 "--threshold", "0.5", "--out", str(out)]) == 0
    assert "whichmodel predict" in capsys.readouterr().out
    source = tmp_path / "new.csv"
    pd.DataFrame({"text": texts[:6]}).to_csv(source, index=False)
    target = tmp_path / "labels.csv"
    assert main(["predict", str(out), str(source), "--out", str(target)]) == 0
    written = pd.read_csv(target)
    assert len(written) == 6 and set(written["prediction"]) <= set(
        json.loads((out / "whichmodel.json").read_text())["classes"])
    assert main(["evaluate", str(out), str(banking77_slice["test"]), "--label", "category",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] > 0.5
    # a cascade folder must not go inside one of its models' folders
    assert main(["route", str(folder / "tfidf"), str(folder / "embedding"),
                 "--threshold", "0.5", "--out", str(folder / "tfidf" / "inner")]) == 2
    assert "inside" in capsys.readouterr().err


def test_a_cascade_with_a_missing_part_or_asked_to_train_says_what_to_do(real_models,
                                                                        tmp_path):
    import shutil

    from whichmodel.models.registry import load_model

    folder, _ = real_models
    copy = tmp_path / "first"
    shutil.copytree(folder / "tfidf", copy)
    out = Cascade.compose(copy, folder / "embedding", 0.5).save(tmp_path / "cascade")
    shutil.rmtree(copy)
    with pytest.raises(ModelFileError, match="first model .* is not there"):
        load_model(out)
    with pytest.raises(UsageError, match="whichmodel route"):
        Cascade().fit(["x", "y"], ["a", "b"])
    with pytest.raises(UsageError, match="threshold"):
        Cascade.compose(folder / "tfidf", folder / "embedding", -1)

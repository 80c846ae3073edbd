"""What `fit` and `predict` accept: every family shares these checks through `Classifier`.

TF-IDF stands in for every family here (the checks run before any family code), so the
tests are fast; the inputs are what a pandas or numpy user really passes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from whichmodel.errors import DataError
from whichmodel.models.tfidf import TfidfClassifier

TEXTS = ["card lost", "refund please", "card stolen", "money back", "card blocked",
         "refund now"]


@pytest.mark.parametrize("labels, message", [
    ([1.0, 2.0, float("nan"), 1.0, 2.0, 1.0], r"labels\[2\] is missing \(nan\)"),
    (["a", "b", None, "a", "b", "a"], r"labels\[2\] is missing \(None\)"),
    ([["a"], "b", ["a"], ["b"], ["a"], ["b"]],
     r"labels\[1\] is 'b', but other rows are lists of labels"),
    (["a", ["b"], "a", "b", "a", "b"], r"labels\[0\] is 'a', but other rows are lists"),
    ([["a", None], ["b"], ["a"], ["b"], ["a"], ["b"]], r"labels\[0\] is missing"),
    ([np.array([0, 1])] * 6, r"labels\[0\] is a numpy array"),
    ([[]] * 6, "no row has a label"),
])
def test_bad_labels_name_the_row(labels, message):
    with pytest.raises(DataError, match=message):
        TfidfClassifier().fit(TEXTS, labels)


@pytest.mark.parametrize("texts, message", [
    (["card lost", None] + TEXTS[2:], r"texts\[1\] is None \(NoneType\), not a string"),
    ([float("nan")] + TEXTS[1:], r"texts\[0\] is nan \(float\)"),
    ([5] + TEXTS[1:], r"texts\[0\] is 5 \(int\)"),
])
def test_texts_that_are_not_strings_are_refused(texts, message):
    with pytest.raises(DataError, match=message):
        TfidfClassifier().fit(texts, ["card", "refund"] * 3)


def test_predict_refuses_bytes_and_missing_texts():
    model = TfidfClassifier().fit(TEXTS, ["card", "refund"] * 3)
    with pytest.raises(TypeError, match="single bytes"):
        model.predict(b"card lost")
    with pytest.raises(DataError, match=r"texts\[1\] is None"):
        model.predict(["card", None])
    assert model.predict(pd.Series(["card gone", "refund please"], index=[7, 3])) == \
        ["card", "refund"]


def test_numeric_classes_in_numeric_order():
    model = TfidfClassifier().fit(TEXTS, pd.Series([10, 2, 10, 1, 10, 2]))
    assert model.classes_ == [1, 2, 10] and all(type(c) is int for c in model.classes_)
    proba = model.predict_proba(["card lost"])
    assert model.predict(["card lost"]) == [model.classes_[int(proba.argmax())]] == [10]


def test_multi_label_rows_may_be_tuples_or_sets():
    labels = [("card",), {"refund"}, ["card", "urgent"], frozenset({"refund"}), ["card"],
              ("refund", "urgent")]
    model = TfidfClassifier().fit(TEXTS, labels)
    assert model.multi_label_ and model.classes_ == ["card", "refund", "urgent"]


def test_scikit_learn_model_selection_works_on_texts():
    from sklearn.base import clone, is_classifier
    from sklearn.model_selection import GridSearchCV, cross_val_score

    texts = TEXTS * 4
    labels = ["card", "refund"] * 12
    model = TfidfClassifier(C=1.0)
    assert is_classifier(model)
    assert clone(model).get_params() == model.get_params()
    scores = cross_val_score(model, texts, labels, cv=3)
    assert len(scores) == 3 and min(scores) == 1.0  # the two intents share no word
    search = GridSearchCV(model, {"C": [0.1, 10.0], "ngram_max": [1, 2]}, cv=3).fit(texts,
                                                                                   labels)
    assert search.best_params_["C"] in (0.1, 10.0)
    assert search.best_estimator_.predict(["my card is lost"]) == ["card"]
    assert model.fit(texts, labels).score(["card stolen", "money back"],
                                          ["card", "card"]) == 0.5


@pytest.fixture
def saved(tmp_path):
    model = TfidfClassifier().fit(TEXTS, ["card", "refund", "card", "refund", "card", "other"])
    return model, model.save(tmp_path / "model")


def _edit_meta(folder, change):
    import json

    path = folder / "whichmodel.json"
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize("change, message", [
    (lambda m: m["classes"].pop(), r"lists 2 classes, but the head scores 3"),
    (lambda m: m.update(multi_label=True), r"multi-label classes, but the head scores 3"),
    (lambda m: m.pop("settings"), r"field 'settings' is missing or not a dict"),
    (lambda m: m["settings"].update(C="abc"), r"settings do not fit family 'tfidf' \(tfidf: C"),
    (lambda m: m["settings"].update(backbone="x"), r"settings do not fit family 'tfidf'"),
    (lambda m: m.update(family="forest"), r"family 'forest', which this whichmodel does not"),
])
def test_a_damaged_model_file_is_a_clear_error(saved, change, message):
    from whichmodel.models.base import ModelFileError, load_model

    _, folder = saved
    _edit_meta(folder, change)
    with pytest.raises(ModelFileError, match=message):
        load_model(folder)


def test_model_file_that_is_not_json_or_given_directly(saved):
    from whichmodel.models.base import Classifier, ModelFileError, load_model

    model, folder = saved
    reloaded = Classifier.load(folder / "whichmodel.json")  # the file itself: its folder
    assert reloaded.predict(TEXTS) == model.predict(TEXTS)
    (folder / "whichmodel.json").write_text("{not json")
    with pytest.raises(ModelFileError, match=r"whichmodel.json is not valid JSON"):
        load_model(folder)

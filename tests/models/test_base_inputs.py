"""What `fit` and `predict` accept: every family shares these checks through `Classifier`.

TF-IDF stands in for every family here (the checks run before any family code), so the
tests are fast; the inputs are what a pandas or numpy user really passes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from whichmodel.errors import DataError
from whichmodel.models.base import Classifier
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
    from whichmodel.models.layout import ModelFileError
    from whichmodel.models.registry import load_model

    _, folder = saved
    _edit_meta(folder, change)
    with pytest.raises(ModelFileError, match=message):
        load_model(folder)


def test_model_file_that_is_not_json_or_given_directly(saved):
    from whichmodel.models.layout import ModelFileError
    from whichmodel.models.registry import load_model

    model, folder = saved
    reloaded = Classifier.load(folder / "whichmodel.json")  # the file itself: its folder
    assert reloaded.predict(TEXTS) == model.predict(TEXTS)
    (folder / "whichmodel.json").write_text("{not json")
    with pytest.raises(ModelFileError, match=r"whichmodel.json is not valid JSON"):
        load_model(folder)


# -- fit(..., classes=...): the label set known up front -----------------------------------
class NameMatcher(Classifier):
    """A toy family that scores a class by whether its name is in the text: it needs no
    examples, as a zero-shot LLM family does, so it declares unseen classes supported."""

    family = "name-matcher"
    supports_unseen_classes = True

    def _fit(self, texts, y, eval_texts, eval_y):
        self.fitted_on_ = len(texts)

    def _predict_proba(self, texts):
        hits = np.array([[1.0 + (str(c) in t) for c in self.classes_] for t in texts])
        return hits / hits.sum(axis=1, keepdims=True)


def test_given_classes_are_the_columns_in_the_given_order(tmp_path):
    from whichmodel.models.registry import load_model

    labels = ["card", "refund"] * 3
    model = TfidfClassifier().fit(TEXTS, labels, classes=np.array(["refund", "card"]))
    assert model.classes_ == ["refund", "card"] and all(type(c) is str for c in model.classes_)
    proba = model.predict_proba(["card lost", "refund please"])
    assert proba[0, 1] > proba[0, 0] and proba[1, 0] > proba[1, 1]  # column 0 is "refund"
    assert model.predict(["card lost", "refund please"]) == ["card", "refund"]
    loaded = load_model(model.save(tmp_path / "m"))
    assert loaded.classes_ == ["refund", "card"]
    np.testing.assert_array_equal(loaded.predict_proba(TEXTS), model.predict_proba(TEXTS))
    # The same data without classes: sorted classes, the same model with columns swapped.
    np.testing.assert_allclose(TfidfClassifier().fit(TEXTS, labels).predict_proba(TEXTS),
                               model.predict_proba(TEXTS)[:, ::-1], atol=1e-6)


def test_multi_label_with_given_classes():
    labels = [["card"], ["refund"], ["card", "urgent"], ["refund"], ["card"], ["refund"]]
    model = TfidfClassifier().fit(TEXTS, labels, classes=["urgent", "refund", "card"])
    assert model.multi_label_ and model.classes_ == ["urgent", "refund", "card"]
    assert model.predict_proba(TEXTS).shape == (6, 3)


@pytest.mark.parametrize("labels, message", [
    (["card", "refund", "card", "other", "card", "refund"],
     r"labels\[3\] is 'other', which is not one of the classes given \('card', 'refund'\)"),
    ([["card"], ["refund"], ["card", "lost"], ["refund"], ["card"], ["refund"]],
     r"labels\[2\] is 'lost', which is not one of the classes given"),
    ([1, 2, 1, 2, 1, 2], r"labels\[0\] is 1, which is not one of the classes given"),
])
def test_a_label_outside_the_given_classes_names_the_row(labels, message):
    with pytest.raises(DataError, match=message):
        TfidfClassifier().fit(TEXTS, labels, classes=["card", "refund"])


def test_a_class_without_examples_needs_a_family_that_supports_it():
    labels = ["card", "refund"] * 3
    with pytest.raises(DataError, match=r"class 'lost' has no training examples \(1 of the 3 "
                                        r"classes given have none\); TfidfClassifier needs"):
        TfidfClassifier().fit(TEXTS, labels, classes=["card", "lost", "refund"])
    with pytest.raises(DataError, match="class 'urgent' has no training examples"):
        TfidfClassifier().fit(TEXTS, [[c] for c in labels], classes=["card", "refund", "urgent"])
    with pytest.raises(DataError, match="cannot fit on zero examples"):
        TfidfClassifier().fit([], [], classes=["card", "refund"])
    # A family that declares it: unseen classes, and even no examples at all.
    model = NameMatcher().fit(TEXTS[:2], ["card", "card"], classes=["card", "refund", "lost"])
    assert model.classes_ == ["card", "refund", "lost"] and model.fitted_on_ == 2
    assert model.predict(["my card", "a refund", "lost it"]) == ["card", "refund", "lost"]
    zero_shot = NameMatcher().fit([], [], classes=["refund", "card"])
    assert zero_shot.classes_ == ["refund", "card"] and not zero_shot.multi_label_
    assert zero_shot.predict(["card gone"]) == ["card"]
    with pytest.raises(DataError, match="cannot fit on zero examples"):
        NameMatcher().fit([], [])  # without classes there is nothing to learn the set from


@pytest.mark.parametrize("classes, error, message", [
    (["card", "refund", "card"], DataError, r"classes\[2\] \('card'\) is listed twice"),
    (["card", None], DataError, r"classes\[1\] is None; a class is a label name"),
    (["card", float("nan")], DataError, r"classes\[1\] is nan"),
    (["card", ["refund"]], DataError, r"classes\[1\] is \['refund'\]"),
    (["card", True], DataError, r"classes\[1\] is True"),
    ([], DataError, "classes is empty"),
    ("card", TypeError, "got a single str; wrap it in a list"),
    (["card"], DataError, r"need at least 2 classes to train, classes= lists only \['card'\]"),
])
def test_bad_classes_are_refused(classes, error, message):
    with pytest.raises(error, match=message):
        NameMatcher().fit(TEXTS[:2], ["card", "card"], classes=classes)

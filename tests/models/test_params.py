"""Settings as scikit-learn sees them: `get_params(deep=True)` reaches into a classifier
held as a setting (``name__sub``), `set_params` sets into it, and `clone` rebuilds it, so
a meta-model (a cascade of two classifiers, say) composes like any scikit-learn one."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from whichmodel.errors import SettingError
from whichmodel.models.base import Classifier
from whichmodel.models.tfidf import TfidfClassifier

TEXTS = ["card lost", "refund please", "card stolen", "money back", "card blocked",
         "refund now"] * 4
LABELS = ["card", "refund"] * 12


class Blend(Classifier):
    """A toy meta-model: the weighted mean of two classifiers' probabilities."""

    family = "blend"

    def __init__(self, *, first: Classifier | None = None, second: Classifier | None = None,
                 weight: float = 0.5) -> None:
        self.first = first
        self.second = second
        self.weight = weight

    def _fit(self, texts, y, eval_texts, eval_y):
        labels = [self.classes_[i] for i in y]
        for model in (self.first, self.second):
            model.fit(texts, labels, classes=self.classes_)

    def _predict_proba(self, texts):
        return (self.weight * self.first.predict_proba(texts)
                + (1 - self.weight) * self.second.predict_proba(texts))


def blend() -> Blend:
    return Blend(first=TfidfClassifier(C=1.0), second=TfidfClassifier(ngram_max=1), weight=0.3)


def test_deep_params_name_the_settings_of_inner_classifiers():
    model = blend()
    shallow = model.get_params(deep=False)
    assert shallow == {"first": model.first, "second": model.second, "weight": 0.3}
    deep = model.get_params()  # deep=True, scikit-learn's default
    assert deep["first__C"] == 1.0 and deep["second__ngram_max"] == 1
    assert deep["first"] is model.first and deep["weight"] == 0.3
    assert set(deep) == set(shallow) | {f"{name}__{sub}" for name in ("first", "second")
                                        for sub in TfidfClassifier().get_params()}
    # A family without inner classifiers: deep or not, the same settings.
    assert TfidfClassifier().get_params() == TfidfClassifier().get_params(deep=False)
    assert "__" not in repr(model) and "weight=0.3" in repr(model)


def test_set_params_reaches_into_inner_classifiers():
    model = blend()
    assert model.set_params(first__C=0.25, second__min_df=2, weight=0.9) is model
    assert model.first.C == 0.25 and model.second.min_df == 2 and model.weight == 0.9
    # A new inner classifier is set first, then its own settings.
    new = TfidfClassifier()
    model.set_params(first__ngram_max=3, first=new)
    assert model.first is new and new.ngram_max == 3
    with pytest.raises(SettingError, match=r"TfidfClassifier has no setting 'colour'"):
        model.set_params(first__colour="red")
    with pytest.raises(SettingError, match=r"Blend has no setting 'third__C'; settings are: "
                                           "first, second, weight"):
        model.set_params(third__C=1.0)
    with pytest.raises(SettingError, match=r"cannot set 'weight__C': setting 'weight' is 0.9, "
                                           "which has no settings of its own"):
        model.set_params(weight__C=1.0)


def test_clone_and_grid_search_compose_a_meta_model():
    from sklearn.model_selection import GridSearchCV

    model = blend().fit(TEXTS, LABELS)
    copy = clone(model)
    assert copy.first is not model.first and copy.second is not model.second
    assert copy.get_params()["first__C"] == 1.0 and copy.weight == 0.3
    assert not hasattr(copy, "classes_") and not hasattr(copy.first, "classes_")
    search = GridSearchCV(blend(), {"first__C": [0.1, 10.0], "weight": [0.2, 0.8]}, cv=3)
    search.fit(TEXTS, LABELS)
    assert search.best_params_["first__C"] in (0.1, 10.0)
    assert search.best_estimator_.predict(["my card is lost"]) == ["card"]
    np.testing.assert_allclose(search.best_estimator_.predict_proba(TEXTS).sum(axis=1), 1.0,
                               rtol=1e-6)

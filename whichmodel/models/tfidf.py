"""TF-IDF + logistic regression: the baseline every other candidate must beat.

It trains in about a second on CPU and serves thousands of items per second, so on
cost it is hard to beat; it is weak when labels are few or phrasing varies. The
vectoriser's vocabulary and idf weights are stored as JSON/safetensors, the head as
arrays (`LinearHead`), so loading never unpickles.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from whichmodel.models.base import Classifier
from whichmodel.models.linear_head import LinearHead
from whichmodel.models.setting_checks import check_flag, check_logistic_head, check_whole

VOCABULARY_FILE = "vocabulary.json"
IDF_FILE = "idf.safetensors"


class TfidfClassifier(Classifier):
    """Word n-gram TF-IDF features + logistic regression.

    Settings: ``ngram_max`` (largest word n-gram), ``min_df`` (drop terms seen in fewer
    documents), ``max_features`` (vocabulary cap), ``sublinear_tf`` (log term counts),
    ``C`` (inverse L2 strength of the head), ``class_weight`` ("balanced" or None),
    ``threshold`` (multi-label decision threshold), ``seed``.
    """

    family = "tfidf"

    def __init__(self, *, ngram_max: int = 2, min_df: int = 1,
                 max_features: int | None = 200_000, sublinear_tf: bool = True,
                 C: float = 10.0, class_weight: str | None = None, max_iter: int = 2000,
                 threshold: float = 0.5, seed: int = 0) -> None:
        self.ngram_max = ngram_max
        self.min_df = min_df
        self.max_features = max_features
        self.sublinear_tf = sublinear_tf
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.threshold = threshold
        self.seed = seed

    def check_settings(self) -> None:
        check_whole("tfidf", "ngram_max", self.ngram_max, 1)
        check_whole("tfidf", "min_df", self.min_df, 1)  # a count: a float is a share
        check_whole("tfidf", "max_features", self.max_features, 1, none_ok=True)
        check_flag("tfidf", "sublinear_tf", self.sublinear_tf)
        check_logistic_head("tfidf", self)

    def _vectorizer(self, vocabulary: dict[str, int] | None = None):
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(ngram_range=(1, self.ngram_max), min_df=self.min_df,
                               max_features=self.max_features, sublinear_tf=self.sublinear_tf,
                               vocabulary=vocabulary, dtype=np.float32)

    def _fit(self, texts, y, eval_texts, eval_y) -> None:
        self.vectorizer_ = self._vectorizer()
        features = self.vectorizer_.fit_transform(texts)
        self.head_ = LinearHead.fit(features, y, multi_label=self.multi_label_, c=self.C,
                                    max_iter=self.max_iter, class_weight=self.class_weight,
                                    seed=self.seed)

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        return self.head_.proba(self.vectorizer_.transform(texts))

    def _save_state(self, directory: Path) -> None:
        from safetensors.numpy import save_file

        vocabulary = {term: int(i) for term, i in self.vectorizer_.vocabulary_.items()}
        (directory / VOCABULARY_FILE).write_text(json.dumps(vocabulary, ensure_ascii=False),
                                                 encoding="utf-8")
        save_file({"idf": self.vectorizer_.idf_.astype(np.float32)}, str(directory / IDF_FILE))
        self.head_.save(directory)

    def _load_state(self, directory: Path) -> None:
        from safetensors.numpy import load_file

        from whichmodel.models.layout import ModelFileError

        vocabulary = json.loads((directory / VOCABULARY_FILE).read_text(encoding="utf-8"))
        idf = load_file(str(directory / IDF_FILE))["idf"]
        self.head_ = LinearHead.load(directory)
        ids = sorted(vocabulary.values()) if isinstance(vocabulary, dict) else None
        if ids != list(range(len(idf))) or self.head_.coef.shape[1] != len(idf):
            raise ModelFileError(
                f"{directory}: {VOCABULARY_FILE}, {IDF_FILE} and the head do not fit together "
                f"({len(vocabulary)} terms, {len(idf)} idf weights, "
                f"{self.head_.coef.shape[1]} head features); retrain the model or restore "
                "the folder")
        if not np.isfinite(idf).all():
            raise ModelFileError(f"{directory / IDF_FILE}: NaN or infinite idf weights; "
                                 "retrain the model or restore the folder")
        self.vectorizer_ = self._vectorizer(vocabulary)
        self.vectorizer_.idf_ = idf

"""The classifier template every family follows.

Why a template base class rather than a bare protocol: label encoding, multi-label
handling, timing, the data hash and the save layout are the same for every family, and
getting any of them subtly different per family (label order above all) is exactly the
class of bug the reference `setfit` library shipped. Families implement four hooks:

    _fit(texts, y, eval_texts, eval_y)   y: int class ids (n,) or a 0/1 matrix (n, k)
    _predict_proba(texts) -> (n, k)      columns follow classes_
    _save_state(directory)               safetensors / JSON only, never pickle
    _load_state(directory)               and check what was read (shapes, NaN)

and `predict` is always derived from `predict_proba` here, so the two cannot disagree.

The family registry lives in `whichmodel.models.registry`, the saved folder in
`whichmodel.models.layout`; their names are re-exported here, where callers first found
them.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from whichmodel.errors import DataError, SettingError, WhichmodelError, quote
from whichmodel.models.inputs import (
    as_texts,
    checked_classes,
    checked_labels,
    class_order,
    native,
    shown_classes,
)
from whichmodel.models.layout import (
    FORMAT_VERSION,
    MODEL_FILE,
    ModelFileError,
    check_model_files,
    check_save_target,
    data_hash,
    foreign_files,
    library_versions,
    model_card,
    model_directory,
    model_files,
    model_meta,
    read_model_meta,
    write_model,
)
from whichmodel.models.registry import (
    available_families,
    build_classifier,
    family_settings,
    get_family,
    load_model,
    register_family,
)

__all__ = [
    "FORMAT_VERSION", "MODEL_FILE", "Classifier", "ModelFileError", "NotFittedError",
    "available_families", "build_classifier", "check_model_files", "check_save_target",
    "data_hash", "family_settings", "foreign_files", "get_family", "library_versions",
    "load_model", "model_directory", "model_files", "read_model_meta", "register_family",
]


class NotFittedError(RuntimeError):
    """Raised when predict/save is called before fit."""


class Classifier:
    """Base of every whichmodel family: scikit-learn style, with a safe save layout.

    Subclasses declare their settings as keyword arguments of ``__init__`` and only
    store them there. Learned state ends in ``_``.
    """

    family: ClassVar[str] = ""
    # Whether `fit` uses an evaluation split (to early-stop); the others ignore it.
    uses_eval_split: ClassVar[bool] = False
    # Whether `fit(..., classes=...)` may name classes that have no training example (a
    # zero-shot LLM reads class names; a head fitted on examples cannot score them).
    supports_unseen_classes: ClassVar[bool] = False

    # -- scikit-learn parameter protocol ------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return [p.name for p in sig.parameters.values() if p.name != "self" and p.kind in kinds]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor settings (what the benchmark runner clones from).

        As in scikit-learn, ``deep`` also lists the settings of a setting that has its
        own (a classifier inside a meta-model) as ``name__sub``, so `set_params`, grids
        and `sklearn.base.clone` reach into it.
        """
        out: dict[str, Any] = {}
        for name in self._param_names():
            value = getattr(self, name)
            out[name] = value
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{sub}", v)
                           for sub, v in value.get_params(deep=True).items())
        return out

    def set_params(self, **params: Any) -> Classifier:
        """Change settings in place; ``name__sub`` sets ``sub`` of the setting ``name``.

        Unknown names raise, as in scikit-learn; plain names are set before nested ones,
        so ``inner=model, inner__C=1.0`` sets ``C`` of the new ``model``.
        """
        valid = set(self._param_names())
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, delimiter, sub = key.partition("__")
            if name not in valid:
                raise SettingError(f"{type(self).__name__} has no setting {key!r}; "
                                   f"settings are: {', '.join(sorted(valid))}", setting=key)
            if delimiter:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            inner = getattr(self, name)
            if not hasattr(inner, "set_params") or isinstance(inner, type):
                key = f"{name}__{next(iter(sub_params))}"
                raise SettingError(f"{type(self).__name__}: cannot set {key!r}: setting "
                                   f"{name!r} is {quote(inner)}, which has no settings of "
                                   "its own", setting=key)
            inner.set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({args})"

    def score(self, texts: Sequence[str], labels: Sequence[Any]) -> float:
        """Accuracy (exact match when multi-label): scikit-learn's default score, so
        `GridSearchCV` and `cross_val_score` work on a whichmodel classifier as they are."""
        predicted = self.predict(texts)
        labels = list(labels)
        if len(labels) != len(predicted):
            raise ValueError(f"got {len(predicted)} texts but {len(labels)} labels")
        if self.multi_label_:
            hits = [set(p) == set(t) for p, t in zip(predicted, labels)]
        else:
            hits = [p == native(t) for p, t in zip(predicted, labels)]
        return float(np.mean(hits)) if hits else 0.0

    def __sklearn_tags__(self) -> Any:
        """Tell scikit-learn this is a classifier of raw texts (a list of str, not a matrix),
        so its model-selection tools stratify folds and index rows correctly."""
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags(multi_label=True),
                    input_tags=InputTags(one_d_array=True, two_d_array=False, string=True))

    def check_settings(self) -> None:
        """Raise `SettingError` naming the first setting whose value cannot work.

        `fit` runs it before touching the data, and a bench spec runs it when it is read,
        so a bad value stops in one line instead of as a traceback mid-training. Families
        override it (`whichmodel.models.setting_checks` has the checks).
        """

    # -- public protocol ------------------------------------------------------------------
    def fit(self, texts: Sequence[str], labels: Sequence[Any], *,
            classes: Sequence[Any] | None = None,
            eval_texts: Sequence[str] | None = None,
            eval_labels: Sequence[Any] | None = None) -> Classifier:
        """Learn from ``texts`` and ``labels``; returns self.

        Labels are scalars (single-label) or lists of labels (multi-label). ``classes``,
        when given, is the label set known up front: ``classes_`` is that list, in that
        order, and every label must be one of them; a class without training examples is
        accepted only by families with ``supports_unseen_classes`` (those may then also
        fit on no examples at all). An optional evaluation split is used by families that
        early-stop; labels of it outside ``classes_`` are ignored.
        """
        texts = as_texts(texts)
        labels = list(labels)
        self.check_settings()
        if len(texts) != len(labels):
            raise ValueError(f"got {len(texts)} texts but {len(labels)} labels")
        given = None if classes is None else checked_classes(classes)
        if not texts and (given is None or not self.supports_unseen_classes):
            raise DataError("cannot fit on zero examples")
        self.multi_label_, labels = checked_labels(labels)
        seen = ({c for row in labels for c in row} if self.multi_label_ else set(labels))
        if given is None:
            self.classes_ = class_order(seen)
            if self.multi_label_ and not self.classes_:
                raise DataError("no row has a label: multi-label training needs at least "
                                "one labelled row")
        else:
            self.classes_ = self._given_classes(given, labels, seen)
        if len(self.classes_) < 2 and not self.multi_label_:
            found = "classes= lists" if given is not None else "found"
            raise DataError(f"need at least 2 classes to train, {found} only {self.classes_}; "
                            "add labelled examples of at least one other class")
        y = self._encode(labels)
        eval_y = None
        if eval_texts is not None and eval_labels is not None:
            eval_texts = as_texts(eval_texts)
            eval_y = self._encode(list(eval_labels), ignore_unknown=True)
        started = time.perf_counter()
        self._fit(texts, y, eval_texts, eval_y)
        self.training_ = {
            "train_seconds": round(time.perf_counter() - started, 3),
            "n_examples": len(texts),
            "data_hash": data_hash(texts, labels),
        }
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape (n, len(classes_)); columns follow ``classes_``."""
        self._check_fitted()
        texts = as_texts(texts)
        if not texts:
            return np.zeros((0, len(self.classes_)), dtype=np.float32)
        return np.asarray(self._predict_proba(texts))

    def predict(self, texts: Sequence[str]) -> list[Any]:
        """Labels: argmax of `predict_proba` (lists above ``threshold`` if multi-label)."""
        return self.decode(self.predict_proba(texts))

    def decode(self, proba: np.ndarray) -> list[Any]:
        """Turn a probability matrix into labels, the single rule `predict` uses (and
        `Predictions.labels`: `whichmodel.predictions.decode_labels`)."""
        from whichmodel.predictions import decode_labels

        return decode_labels(proba, self.classes_, bool(getattr(self, "multi_label_", False)),
                             getattr(self, "threshold", 0.5))

    def save(self, directory: str | Path) -> Path:
        """Write the model to ``directory`` atomically (a temp dir renamed into place).

        ``directory`` must be new, empty, or an earlier model (see `check_save_target`).
        """
        self._check_fitted()
        meta = model_meta(family=self.family, settings=_jsonable(self.get_params(deep=False)),
                          classes=self.classes_, multi_label=self.multi_label_,
                          training=getattr(self, "training_", {}),
                          input_fields=getattr(self, "input_fields_", None))
        return write_model(directory, meta, self._save_state, card=self._model_card)

    @classmethod
    def load(cls, directory: str | Path) -> Classifier:
        """Load a model saved by `save`; never unpickles.

        The checks every family shares are made here: ``whichmodel.json`` is valid and
        its settings fit the family, every file it lists is there at its size, any error
        reading the weights becomes a `ModelFileError`, and the loaded state scores as
        many classes as the file lists. `_load_state` checks what only the family knows.
        """
        if not cls.family:  # Classifier.load: whichever family the folder holds
            return load_model(directory)
        directory = model_directory(directory)
        meta = read_model_meta(directory)
        if meta["family"] != cls.family:
            raise ModelFileError(f"{directory} holds a {meta['family']!r} model, "
                                 f"not {cls.family!r}; use whichmodel.load_model()")
        try:
            model = cls(**meta["settings"])
            model.check_settings()
        except (TypeError, SettingError) as err:
            raise ModelFileError(f"{directory}/{MODEL_FILE}: its settings do not fit family "
                                 f"{cls.family!r} ({err})") from None
        model.classes_ = meta["classes"]
        model.multi_label_ = meta["multi_label"]
        model.training_ = meta.get("training", {})
        if isinstance(meta.get("input_fields"), dict):
            model.input_fields_ = meta["input_fields"]
        check_model_files(Path(directory), meta)
        try:
            model._load_state(Path(directory))
        except (WhichmodelError, KeyboardInterrupt, MemoryError):
            raise
        except Exception as err:  # safetensors, JSON, transformers: each its own types
            detail = " ".join(str(err).split())[:300]
            raise ModelFileError(f"{directory}: cannot load the saved weights "
                                 f"({type(err).__name__}: {detail}); the model folder is "
                                 "damaged: retrain the model or restore the folder from a "
                                 "copy") from None
        outputs = model._state_outputs()
        if outputs is not None and outputs != (len(model.classes_), model.multi_label_):
            n, multi = outputs
            raise ModelFileError(
                f"{directory}: {MODEL_FILE} lists {len(model.classes_)} "
                f"{'multi-label ' if model.multi_label_ else ''}classes, but the head "
                f"scores {n}{' multi-label' if multi else ''}; the "
                "model folder is damaged (or edited): save or train it again")
        return model

    # -- hooks for families ------------------------------------------------------------
    def _fit(self, texts: list[str], y: np.ndarray, eval_texts: list[str] | None,
             eval_y: np.ndarray | None) -> None:
        raise NotImplementedError

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def _save_state(self, directory: Path) -> None:
        raise NotImplementedError

    def _load_state(self, directory: Path) -> None:
        raise NotImplementedError

    def _state_outputs(self) -> tuple[int, bool] | None:
        """(columns the loaded state scores, whether multi-label), which `load` checks
        against the classes ``whichmodel.json`` lists; None when there is nothing to
        compare. The default reads a `LinearHead` in ``head_``; a family whose scores come
        from elsewhere (a classification layer, a prompt) overrides it."""
        head = getattr(self, "head_", None)
        return None if head is None else (head.n_classes, head.multi_label)

    def _model_card(self, meta: dict[str, Any]) -> str:
        """The model card's text; a family may add what its users need to know."""
        return model_card(meta)

    # -- helpers ------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "classes_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit()")

    def _given_classes(self, given: list[Any], labels: list[Any], seen: set[Any]) -> list[Any]:
        """``given`` as ``classes_``, once every label is one of them and (unless the family
        supports it) every class has a training example; else a `DataError` naming the
        first row or class that breaks it."""
        known = set(given)
        for i, row in enumerate(labels):
            for label in (row if self.multi_label_ else [row]):
                if label not in known:
                    raise DataError(f"labels[{i}] is {quote(label)}, which is not one of the "
                                    f"classes given ({shown_classes(given)}); fix the label or add "
                                    "it to classes")
        unseen = [c for c in given if c not in seen]
        if unseen and not self.supports_unseen_classes:
            raise DataError(f"class {quote(unseen[0])} has no training examples ({len(unseen)} "
                            f"of the {len(given)} classes given have none); "
                            f"{type(self).__name__} needs examples of every class: label some "
                            "or leave the class out of classes")
        return list(given)

    def _encode(self, labels: list[Any], ignore_unknown: bool = False) -> np.ndarray:
        """Class ids (n,) for single-label, a 0/1 float32 matrix (n, k) for multi-label."""
        index = {c: i for i, c in enumerate(self.classes_)}
        if self.multi_label_:
            y = np.zeros((len(labels), len(self.classes_)), dtype=np.float32)
            for row, label_set in enumerate(labels):
                for c in label_set:
                    if c in index:
                        y[row, index[c]] = 1.0
            return y
        if ignore_unknown:
            return np.array([index.get(c, -1) for c in labels], dtype=np.int64)
        return np.array([index[c] for c in labels], dtype=np.int64)


def _jsonable(value: Any) -> Any:
    """Settings must round-trip through JSON; tuples become lists, numpy numbers Python
    ones (np.int64(3) stays the number 3), anything else its string."""
    return json.loads(json.dumps(
        value, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)))

"""A logistic-regression head fitted by scikit-learn and kept as plain arrays.

Why not keep the scikit-learn object: it can only be persisted by pickling, which a
model file must never require. The learned state of a (multinomial or one-vs-rest)
logistic regression is just ``coef`` (k, d) and ``intercept`` (k,); probabilities are
computed from those arrays by `LinearHead.proba` both right after fitting and after
loading, so a reloaded model predicts bit-for-bit what the fitted one did.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HEAD_WEIGHTS = "head.safetensors"
HEAD_CONFIG = "head.json"


@dataclass
class LinearHead:
    """Linear scores + softmax (single-label) or per-class sigmoid (multi-label)."""

    coef: np.ndarray        # (k, d); k == 1 for a binary single-label problem
    intercept: np.ndarray   # (k,)
    multi_label: bool = False

    @classmethod
    def fit(cls, features: np.ndarray | object, y: np.ndarray, *, multi_label: bool,
            c: float = 1.0, max_iter: int = 1000, class_weight: str | None = None,
            seed: int = 0) -> LinearHead:
        """Fit on dense or sparse features. ``y``: class ids (n,) or a 0/1 matrix (n, k)."""
        from sklearn.linear_model import LogisticRegression

        def new_lr() -> LogisticRegression:
            return LogisticRegression(C=c, max_iter=max_iter, class_weight=class_weight,
                                      random_state=seed)

        if not multi_label:
            model = new_lr().fit(features, y)
            n_classes = int(y.max()) + 1
            if len(model.classes_) != n_classes:
                raise ValueError("every class must appear in the training labels")
            return cls(model.coef_.astype(np.float32), model.intercept_.astype(np.float32))
        coefs, intercepts = [], []
        for j in range(y.shape[1]):
            column = y[:, j]
            if column.min() == column.max():
                # A label that is always (or never) present: a constant score says so.
                coefs.append(np.zeros(features.shape[1], dtype=np.float32))
                intercepts.append(8.0 if column[0] else -8.0)
                continue
            model = new_lr().fit(features, column.astype(int))
            coefs.append(model.coef_[0])
            intercepts.append(float(model.intercept_[0]))
        return cls(np.asarray(coefs, dtype=np.float32),
                   np.asarray(intercepts, dtype=np.float32), multi_label=True)

    @property
    def n_classes(self) -> int:
        """Columns of `proba`: a binary single-label head keeps one row for two classes."""
        rows = self.coef.shape[0]
        return 2 if rows == 1 and not self.multi_label else rows

    def proba(self, features: np.ndarray | object) -> np.ndarray:
        """Probabilities (n, k_classes), float32; columns follow the class ids used in fit."""
        scores = np.asarray(features @ self.coef.T, dtype=np.float64) + self.intercept
        if self.multi_label:
            return (1.0 / (1.0 + np.exp(-scores))).astype(np.float32)
        if self.coef.shape[0] == 1:  # binary: scikit-learn keeps one row for class 1
            p1 = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.stack([1.0 - p1, p1], axis=1).astype(np.float32)
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)

    def save(self, directory: Path) -> None:
        """Write ``head.safetensors`` and ``head.json`` into ``directory``."""
        from safetensors.numpy import save_file

        save_file({"coef": np.ascontiguousarray(self.coef),
                   "intercept": np.ascontiguousarray(self.intercept)},
                  str(directory / HEAD_WEIGHTS))
        (directory / HEAD_CONFIG).write_text(json.dumps({"multi_label": self.multi_label}),
                                             encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> LinearHead:
        """Read a head written by `save`."""
        from safetensors.numpy import load_file

        from whichmodel.models.layout import ModelFileError

        path = directory / HEAD_WEIGHTS
        arrays = load_file(str(path))
        config = json.loads((directory / HEAD_CONFIG).read_text(encoding="utf-8"))
        coef, intercept = arrays.get("coef"), arrays.get("intercept")
        if coef is None or intercept is None or coef.ndim != 2 or intercept.shape != (
                coef.shape[0],):
            raise ModelFileError(f"{path}: the head's weights are missing or do not fit "
                                 "together (coef must be classes × features, intercept one "
                                 "per class); retrain the model or restore the folder")
        if not (np.isfinite(coef).all() and np.isfinite(intercept).all()):
            raise ModelFileError(f"{path}: the head's weights hold NaN or infinite values, so "
                                 "every prediction would be meaningless; retrain the model or "
                                 "restore the folder")
        return cls(coef, intercept, multi_label=bool(config["multi_label"]))

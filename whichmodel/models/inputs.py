"""What `Classifier.fit` and `predict` accept, turned into plain Python values.

Texts must be strings, labels scalars or rows of labels (multi-label), classes label names;
each check fails with a `DataError` naming the first bad row. numpy scalars become Python
values, so that ``classes_`` are what JSON, and therefore save/load, can hold. Numeric
classes sort numerically, others by their text (`class_order`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from whichmodel.errors import DataError, quote


def as_texts(texts: Sequence[str]) -> list[str]:
    """A list of str, or a `DataError` naming the first item that is not text: a None,
    NaN or number silently turned into "None"/"nan"/"5" would be classified as if real."""
    if isinstance(texts, (str, bytes)):
        raise TypeError("expected a sequence of texts, got a single "
                        f"{type(texts).__name__}; wrap it in a list")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):  # np.str_ is a str
            raise DataError(f"texts[{i}] is {text!r} ({type(text).__name__}), not a string; "
                            "drop or fill missing texts before calling whichmodel")
    return [str(t) for t in out]


LABEL_ROW = (list, tuple, set, frozenset)


def is_missing(label: Any) -> bool:
    """None or NaN: a label (or class) that was never filled in."""
    return label is None or (isinstance(label, float) and math.isnan(label))


def checked_labels(labels: list[Any]) -> tuple[bool, list[Any]]:
    """(multi_label, labels as plain Python values), or a `DataError` naming the first bad
    row: a missing label (None, NaN), or single labels mixed with lists of labels.

    numpy scalars (np.int64 labels from a DataFrame column) become Python values, so that
    classes_ are what JSON, and therefore save/load, can hold.
    """
    multi = any(isinstance(row, LABEL_ROW) for row in labels)
    for i, row in enumerate(labels):
        if isinstance(row, np.ndarray):
            raise DataError(f"labels[{i}] is a numpy array; give each row's labels as a "
                            "list of names (indicator matrices are not read)")
        if multi and not isinstance(row, LABEL_ROW):
            raise DataError(f"labels[{i}] is {row!r}, but other rows are lists of labels; "
                            "give every row a list (e.g. [{row!r}])")
        values = row if multi else [row]
        if any(is_missing(native(c)) for c in values):
            raise DataError(f"labels[{i}] is missing ({row!r}); label the row or drop it")
    if multi:
        return True, [[native(c) for c in row] for row in labels]
    return False, [native(c) for c in labels]


def checked_classes(classes: Sequence[Any]) -> list[Any]:
    """``classes`` as plain Python values, or an error naming the first that cannot be a
    class: not a label name (a string or a number), missing, or listed twice."""
    if isinstance(classes, (str, bytes)):
        raise TypeError("expected a sequence of classes, got a single "
                        f"{type(classes).__name__}; wrap it in a list")
    out = [native(c) for c in classes]
    if not out:
        raise DataError("classes is empty; give the label set, or leave classes out to "
                        "take it from the labels")
    seen: set[Any] = set()
    for i, c in enumerate(out):
        if not isinstance(c, (str, int, float)) or isinstance(c, bool) or is_missing(c):
            raise DataError(f"classes[{i}] is {quote(c)}; a class is a label name (a string "
                            "or a number)")
        if c in seen:
            raise DataError(f"classes[{i}] ({quote(c)}) is listed twice; give each class once")
        seen.add(c)
    return out


def class_order(classes: set[Any]) -> list[Any]:
    """Numbers in numeric order (1, 2, 10), anything else by its text, so the column order
    of `predict_proba` is the one a reader expects and never depends on hashing."""
    if all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in classes):
        return sorted(classes)
    return sorted(classes, key=str)


def shown_classes(classes: list[Any], limit: int = 8) -> str:
    """The first ``limit`` classes for a message, and how many more there are."""
    shown = ", ".join(quote(c, limit=40) for c in classes[:limit])
    return shown + (f" and {len(classes) - limit} more" if len(classes) > limit else "")


def native(value: Any) -> Any:
    """A numpy scalar as the Python value it holds; anything else unchanged."""
    return value.item() if isinstance(value, np.generic) else value

"""`Predictions`: what a model said about each item, the one unit of output.

Every inference path (`predict`, `evaluate`, the bench probe, and later the server, Ray
and cascades) produces this, and every metric is computed from it. A family that knows
more than class probabilities fills per-item extras instead of growing side channels on
the classifier: tokens in/out (LLMs), slot tags (joint intent + slot models), an
abstained or escalated flag (out-of-scope detection, cascades), latency.

Stored form (`to_bytes` / `from_bytes`): an ``.npz`` archive (numpy's zip of arrays,
read with ``allow_pickle=False``) holding the probabilities as float32 (so every decision
and threshold is exactly the same on reload), every extra as a plain array, and a JSON
header with the classes and the decision rule. Labels are not stored: they are derived
from the probabilities by the same rule the model used, so a stored run and a
re-prediction can never disagree.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Extras a family may fill, and what they hold (one value per item). Others are allowed
# (a family's own), but these names mean the same everywhere.
KNOWN_EXTRAS = {
    "input_tokens": "prompt tokens sent for the item (LLM families)",
    "output_tokens": "tokens generated for the item (LLM families)",
    "latency_ms": "milliseconds this item took, when measured one by one",
    "abstained": "True when the model declined to answer (out of scope)",
    "escalated": "True when a cascade sent the item to its second model",
    "slot_tags": "BIO tag per word (joint intent + slot families)",
    "answer_status": "'ok', 'unparseable' (the answer named no label) or 'failed' (no "
                     "answer after retries); the row of a non-ok item is all zeros (LLMs)",
    "cached": "True when the answer was replayed from a cache of earlier calls (LLMs)",
}
_FORMAT = "whichmodel-predictions"
_VERSION = 1


@dataclass
class Predictions:
    """Per-item predictions of one model on a list of texts.

    ``proba`` is (n, len(classes)) and its columns follow ``classes``; ``multi_label``
    with ``threshold`` is the decision rule (argmax otherwise). ``extras`` maps a name
    (see `KNOWN_EXTRAS`) to one value per item.
    """

    classes: list[Any]
    proba: np.ndarray
    multi_label: bool = False
    threshold: float = 0.5
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.proba = np.asarray(self.proba, dtype=np.float32)
        if self.proba.ndim != 2 or self.proba.shape[1] != len(self.classes):
            raise ValueError(f"proba has shape {self.proba.shape}, but there are "
                             f"{len(self.classes)} classes")
        for name, values in self.extras.items():
            if len(values) != len(self.proba):
                raise ValueError(f"extra {name!r} has {len(values)} values for "
                                 f"{len(self.proba)} items")

    def __len__(self) -> int:
        return int(self.proba.shape[0])

    @property
    def labels(self) -> list[Any]:
        """The label (or, multi-label, the list of labels) of every item; None for a
        single-label item whose row is all zeros (an LLM that gave no usable answer)."""
        return decode_labels(self.proba, self.classes, self.multi_label, self.threshold)

    @property
    def confidence(self) -> np.ndarray:
        """The top-class probability of every item, float32 (n,)."""
        if not len(self):
            return np.zeros(0, dtype=np.float32)
        return self.proba.max(axis=1)

    def extra(self, name: str) -> np.ndarray | None:
        """The extra ``name`` as an array, or None when the family did not fill it."""
        values = self.extras.get(name)
        return None if values is None else np.asarray(values)

    def subset(self, rows: Sequence[int] | np.ndarray) -> Predictions:
        """The predictions of ``rows`` (in that order)."""
        index = np.asarray(rows, dtype=np.int64)
        return Predictions(list(self.classes), self.proba[index], self.multi_label,
                           self.threshold, {k: _take(v, index) for k, v in self.extras.items()})

    @classmethod
    def concat(cls, parts: Sequence[Predictions]) -> Predictions:
        """One `Predictions` of several batches over the same classes, in order."""
        if not parts:
            raise ValueError("nothing to concatenate")
        first = parts[0]
        names = set(first.extras)
        for part in parts[1:]:
            if part.classes != first.classes or set(part.extras) != names:
                raise ValueError("batches disagree on classes or extras")
        extras = {name: _join([p.extras[name] for p in parts]) for name in names}
        return cls(list(first.classes), np.concatenate([p.proba for p in parts]),
                   first.multi_label, first.threshold, extras)

    # -- storage -----------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """A compressed .npz: probabilities, extras as arrays, a JSON header."""
        header = {"format": _FORMAT, "version": _VERSION, "classes": list(self.classes),
                  "multi_label": self.multi_label, "threshold": self.threshold,
                  "extras": sorted(self.extras)}
        # float32: every decision and threshold is exactly the same on reload.
        arrays: dict[str, np.ndarray] = {"proba": self.proba}
        for name, values in self.extras.items():
            if _is_ragged(values):  # lists per item (slot tags): one JSON string per item
                array = np.asarray([json.dumps(v, default=_plain) for v in values])
                header.setdefault("json_extras", []).append(name)
            else:
                array = np.asarray(values)
            arrays[f"extra.{name}"] = array
        arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Predictions:
        """Inverse of `to_bytes`; never unpickles."""
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            header = json.loads(archive["header"].tobytes().decode("utf-8"))
            if header.get("format") != _FORMAT or header.get("version", 0) > _VERSION:
                raise ValueError("not whichmodel predictions, or from a newer whichmodel")
            extras = {}
            for name in header["extras"]:
                values = archive[f"extra.{name}"]
                if name in header.get("json_extras", []):
                    values = [json.loads(v) for v in values]
                extras[name] = values
            return cls(header["classes"], archive["proba"].astype(np.float32),
                       bool(header["multi_label"]), float(header["threshold"]), extras)


def decode_labels(proba: np.ndarray, classes: Sequence[Any], multi_label: bool,
                  threshold: float = 0.5) -> list[Any]:
    """Labels from probabilities, the one rule every prediction follows: the argmax
    class, or, multi-label, every class at or above ``threshold``.

    A single-label row of zeros (an item a model could not answer: an LLM's unparseable
    or failed answer) gives None rather than the first class, so no class is chosen for
    it silently; metrics count None as wrong."""
    if multi_label:
        return [[c for c, p in zip(classes, row) if p >= threshold] for row in proba]
    if not len(proba):
        return []
    proba = np.asarray(proba)
    answered = proba.max(axis=1) > 0
    return [classes[i] if ok else None for i, ok in zip(np.argmax(proba, axis=1), answered)]


def _is_ragged(values: Any) -> bool:
    """True for one list per item (slot tags): kept as lists, stored as JSON strings."""
    return not isinstance(values, np.ndarray) and any(
        isinstance(v, (list, tuple)) for v in values)


def _take(values: Any, index: np.ndarray) -> Any:
    if _is_ragged(values):
        return [values[i] for i in index]
    return np.asarray(values)[index]


def _join(parts: Sequence[Any]) -> Any:
    if any(_is_ragged(p) for p in parts):
        return [v for p in parts for v in p]
    return np.concatenate([np.asarray(p) for p in parts])


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else str(value)

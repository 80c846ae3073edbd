"""Cascades: a cheap model answers when it is confident, a costlier one otherwise.

A cascade of a *first* and a *second* model at threshold τ sends every item to the first;
an item whose confidence (`confidence_of`) is at least τ keeps the first's answer, the
others are *escalated* to the second and get its answer. τ = 0 keeps every item with the
first; any τ above 1 (`ALL_ESCALATED`) escalates every item.

One rule in three forms, so they never disagree:

* `cascade_predictions(first, second, τ)`: from the stored predictions of two runs on the
  same items — what `choose` derives cascades from, with no training and no model call;
* `sweep`: that over a grid of thresholds (`threshold_grid`), with the share escalated and
  the quality at each — what τ is chosen from, and what the report plots;
* `Cascade`: a saved model (``cascade.json``: the two model folders and τ) whose
  `predictions` runs the first on every item and the second only on the escalated ones,
  so `Predictor`, `whichmodel predict` and `evaluate` use it like any other model.
"""

from __future__ import annotations

import contextvars
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from whichmodel.errors import UsageError, WhichmodelError, quote
from whichmodel.models.base import Classifier
from whichmodel.models.layout import ModelFileError, model_directory
from whichmodel.predictions import Predictions

CASCADE_FILE = "cascade.json"
# A threshold above every confidence (they are at most 1): every item is escalated.
ALL_ESCALATED = 1.01
# Extras that add up over the two models: an escalated item was sent to both, so it cost
# the first's tokens and time and then the second's. The others come from whichever model
# answered the item.
ADDITIVE_EXTRAS = ("input_tokens", "output_tokens", "latency_ms")


class CascadeError(WhichmodelError, ValueError):
    """Two models (or their predictions) that cannot form a cascade."""


def confidence_of(predictions: Predictions) -> np.ndarray:
    """Per item, how sure the model is (float32, 0 to 1): the top-class probability; for a
    multi-label model the least certain of its yes/no decisions, min over classes of
    max(p, 1 − p). An all-zero row (an LLM that gave no answer) has confidence 0, so a
    cascade always escalates it."""
    if not predictions.multi_label or not len(predictions):
        return predictions.confidence
    proba = predictions.proba
    return np.maximum(proba, 1.0 - proba).min(axis=1)


def escalated_by(first: Predictions, threshold: float) -> np.ndarray:
    """Per item, True where the first model's confidence is below ``threshold``."""
    return confidence_of(first) < float(threshold)


def aligned(first: Predictions, second: Predictions) -> Predictions:
    """``second`` with its columns in ``first``'s class order; a `CascadeError` saying what
    differs when the two do not score the same classes the same way."""
    if first.multi_label != second.multi_label:
        kinds = ["multi-label" if p.multi_label else "single-label" for p in (first, second)]
        raise CascadeError(f"a cascade needs two models of one kind: the first is "
                           f"{kinds[0]}, the second {kinds[1]}")
    if first.multi_label and first.threshold != second.threshold:
        raise CascadeError(f"the two multi-label models decide at different thresholds "
                           f"({first.threshold:g} and {second.threshold:g}); a cascade's "
                           "labels must follow one rule")
    if list(first.classes) == list(second.classes):
        return second
    mine, theirs = (set(map(json.dumps, p.classes)) for p in (first, second))
    if mine != theirs:
        only_first = sorted(json.loads(c) for c in mine - theirs)
        only_second = sorted(json.loads(c) for c in theirs - mine)
        raise CascadeError(
            f"the two models of a cascade must score the same classes: the first has "
            f"{len(mine)}, the second {len(theirs)}"
            + (f"; only the first: {quote(only_first[:5])}" if only_first else "")
            + (f"; only the second: {quote(only_second[:5])}" if only_second else ""))
    column = {json.dumps(c): i for i, c in enumerate(second.classes)}
    order = [column[json.dumps(c)] for c in first.classes]
    return Predictions(list(first.classes), second.proba[:, order], second.multi_label,
                       second.threshold, dict(second.extras))


def merge(first: Predictions, answers: Predictions, escalated: np.ndarray) -> Predictions:
    """The cascade's predictions: ``first`` on every item, ``answers`` (the second model's
    predictions of the escalated items only, in item order) where ``escalated``.

    Extras: ``escalated`` per item; `ADDITIVE_EXTRAS` are the first's plus, on escalated
    items, the second's (a missing one counts 0); any other extra both models fill comes
    from the model that answered the item, and one only a single model fills is left out
    (half the items would have no value)."""
    escalated = np.asarray(escalated, dtype=bool)
    rows = np.flatnonzero(escalated)
    if len(escalated) != len(first) or len(rows) != len(answers):
        raise CascadeError(f"{len(answers)} answers of the second model for {len(rows)} "
                           f"escalated items of {len(first)}")
    answers = aligned(first, answers)
    proba = first.proba.copy()
    proba[rows] = answers.proba
    extras: dict[str, Any] = {}
    for name in ADDITIVE_EXTRAS:
        if name in first.extras or name in answers.extras:
            ours, theirs = first.extra(name), answers.extra(name)
            kinds = [a.dtype for a in (ours, theirs) if a is not None]
            total = np.zeros(len(first), dtype=np.result_type(*kinds))
            if ours is not None:
                total += ours
            if theirs is not None:
                total[rows] += theirs
            extras[name] = total
    for name in set(first.extras) & set(answers.extras) - {*ADDITIVE_EXTRAS, "escalated"}:
        values = list(first.extras[name])
        for row, value in zip(rows, answers.extras[name]):
            values[row] = value
        ragged = not isinstance(first.extras[name], np.ndarray)
        extras[name] = values if ragged else np.asarray(values)
    extras["escalated"] = escalated.copy()
    return Predictions(list(first.classes), proba, first.multi_label, first.threshold, extras)


def cascade_predictions(first: Predictions, second: Predictions,
                        threshold: float) -> Predictions:
    """What the cascade of two models at ``threshold`` predicts, from each model's
    predictions of the same items (``second``'s on every item, as the bench stored them):
    the first's answer where its confidence is at least ``threshold``, else the second's.
    The second's tokens (and other `ADDITIVE_EXTRAS`) count on escalated items only."""
    if len(first) != len(second):
        raise CascadeError(f"the two models' predictions are of different items: "
                           f"{len(first)} and {len(second)}")
    second = aligned(first, second)
    escalated = escalated_by(first, threshold)
    return merge(first, second.subset(np.flatnonzero(escalated)), escalated)


@dataclass(frozen=True)
class SweepPoint:
    """The cascade at one threshold: the share of items escalated and the quality
    (metric name -> value), each the mean over the seed pairs swept, and the second
    model's `ADDITIVE_EXTRAS` per escalated item (tokens: what an API second costs), over
    every escalated item of every pair; empty when it fills none or nothing escalates."""

    threshold: float
    escalated_share: float
    quality: dict[str, float] = field(default_factory=dict)
    second_per_escalated: dict[str, float] = field(default_factory=dict)


def threshold_grid(first: Predictions | Sequence[Predictions], points: int = 50) -> list[float]:
    """About ``points`` thresholds, rounded to 4 decimals: 0 (nothing escalated),
    `ALL_ESCALATED` (everything), and between them the quantiles of the first model's
    confidences (all seeds' together), so the grid is dense where its confidences are."""
    runs = [first] if isinstance(first, Predictions) else list(first)
    confidences = np.concatenate([confidence_of(p) for p in runs] or [np.zeros(0)])
    inner = (np.quantile(confidences.astype(np.float64), np.linspace(0, 1, max(points - 2, 2)))
             if len(confidences) else np.zeros(0))
    return sorted({0.0, ALL_ESCALATED} | {round(float(q), 4) for q in inner})


def sweep(first: Predictions | Sequence[Predictions],
          second: Predictions | Sequence[Predictions], y_true: Sequence[Any],
          thresholds: Sequence[float], metrics: Sequence[str] = ("accuracy",)
          ) -> list[SweepPoint]:
    """The cascade at every threshold: share escalated and ``metrics`` (names of
    `whichmodel.metrics`), the mean over the pairs ``first[i]``, ``second[i]`` (one pair
    per seed; a single `Predictions` each is one pair) of the items labelled ``y_true``.

    Each metric is the registry's own computation (`Metric.compute`, what `score` gives
    for it), one metric at a time: the full report `score` builds would cost ~100 ms per
    threshold on 3,000 items."""
    from whichmodel.metrics import get_metric

    firsts = [first] if isinstance(first, Predictions) else list(first)
    seconds = [second] if isinstance(second, Predictions) else list(second)
    if len(firsts) != len(seconds) or not firsts:
        raise CascadeError(f"a sweep needs one second run per first run (seeds paired), "
                           f"got {len(firsts)} and {len(seconds)}")
    truth = getattr(y_true, "truth", None) or {}  # gold slot tags, for slot metrics
    y_true = list(y_true)
    seconds = [aligned(f, s) for f, s in zip(firsts, seconds)]
    chosen = [get_metric(name) for name in metrics]
    points = []
    for threshold in thresholds:
        shares, values = [], {m.name: [] for m in chosen}
        sums: dict[str, float] = {}
        escalated_items = 0
        for f, s in zip(firsts, seconds):
            joined = cascade_predictions(f, s, threshold)
            escalated = joined.extras["escalated"]
            shares.append(float(np.mean(escalated)) if len(joined) else 0.0)
            escalated_items += int(escalated.sum())
            for name in ADDITIVE_EXTRAS:
                if name in s.extras:
                    sums[name] = sums.get(name, 0.0) + float(np.sum(s.extra(name)[escalated]))
            for metric in chosen:
                if metric.truth is None:
                    value = metric.compute(joined, y_true)
                elif metric.truth in truth:
                    value = metric.compute(joined, y_true, truth[metric.truth])
                else:
                    value = None  # that truth is not stored: the metric does not apply
                if value is not None:
                    values[metric.name].append(float(value))
        per_escalated = ({k: v / escalated_items for k, v in sums.items()}
                         if escalated_items else {})
        points.append(SweepPoint(float(threshold), float(np.mean(shares)),
                                 {k: float(np.mean(v)) for k, v in values.items() if v},
                                 per_escalated))
    return points


# -- the saved cascade -----------------------------------------------------------------------
# Folders being loaded in this thread: a cascade whose parts lead back to itself is refused.
_LOADING: contextvars.ContextVar[tuple[Path, ...]] = contextvars.ContextVar(
    "whichmodel-cascade-loading", default=())


class Cascade(Classifier):
    """Two saved models and a threshold: the first answers when its confidence is at least
    ``threshold_``, the second otherwise (`predictions` says which, per item, in the
    ``escalated`` extra). Not trained: composed from two trained models
    (`Cascade.compose`, or ``whichmodel route FIRST SECOND --threshold T --out DIR``),
    saved as ``cascade.json`` ({first, second, threshold}, the folders relative to the
    cascade's own where possible) and loaded by `load_model` like any other family.
    """

    family = "cascade"

    def __init__(self) -> None:  # nothing to set: its state is its two models and τ
        pass

    @classmethod
    def compose(cls, first: str | Path | Classifier, second: str | Path | Classifier,
                threshold: float) -> Cascade:
        """The cascade of ``first`` and ``second`` (model folders, or fitted models:
        those predict but cannot be saved as a cascade) at ``threshold``."""
        model = cls()
        model._set_parts(first, second, threshold)
        return model

    def _set_parts(self, first: Any, second: Any, threshold: float) -> None:
        from whichmodel.models.registry import load_model
        from whichmodel.predictor import Predictor, default_batch_size

        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)) \
                or not np.isfinite(threshold) or threshold < 0:
            raise UsageError(f"a cascade's threshold must be a number of 0 or more (the "
                             f"first model's confidence from which it answers), got "
                             f"{quote(threshold)}")
        folders, models = [], []
        for part in (first, second):
            if isinstance(part, (str, Path)):
                folders.append(model_directory(part).expanduser().resolve())
                models.append(load_model(folders[-1]))
            else:
                folders.append(None)
                models.append(part)
        one, two = models
        for role, model in (("first", one), ("second", two)):
            if not hasattr(model, "classes_"):
                raise CascadeError(f"the {role} model of a cascade is not fitted")
        empty = [Predictions(list(m.classes_), np.zeros((0, len(m.classes_))),
                             bool(getattr(m, "multi_label_", False)),
                             float(getattr(m, "threshold", 0.5))) for m in (one, two)]
        aligned(*empty)  # same classes, same kind, same decision rule
        fields = [getattr(m, "input_fields_", None) or {} for m in (one, two)]
        if fields[0].get("text") and fields[1].get("text") and \
                fields[0]["text"] != fields[1]["text"]:
            raise CascadeError(f"the two models read different text (the first "
                               f"{quote(fields[0]['text'])}, the second "
                               f"{quote(fields[1]['text'])}); a cascade gives both the "
                               "same text")
        self.first_, self.second_, self.threshold_ = one, two, float(threshold)
        self.parts_ = tuple(folders)
        self.classes_ = list(one.classes_)
        self.multi_label_ = bool(getattr(one, "multi_label_", False))
        self.input_fields_ = fields[0] or fields[1] or None
        self.training_ = {"first": getattr(one, "training_", {}),
                          "second": getattr(two, "training_", {})}
        self.batch_size = default_batch_size(one)  # the first sees every item
        self._first, self._second = Predictor(one), Predictor(two)

    @property
    def threshold(self) -> float:
        """The multi-label decision threshold (the first model's; both share it). Not τ:
        that is ``threshold_``."""
        return float(getattr(getattr(self, "first_", None), "threshold", 0.5))

    # -- predicting --------------------------------------------------------------------------
    def predictions(self, texts: Sequence[str]) -> Predictions:
        """`Predictions` of ``texts``: the first model on all, the second on the items
        whose first confidence is below ``threshold_`` (``escalated`` says which)."""
        self._check_fitted()
        texts = list(texts)
        first = self._first.predict(texts)
        escalated = escalated_by(first, self.threshold_)
        rows = np.flatnonzero(escalated)
        return merge(first, self._second.predict([texts[i] for i in rows]), escalated)

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        return self.predictions(texts).proba

    def fit(self, *args: Any, **kwargs: Any) -> Cascade:
        """Not available: a cascade joins two trained models (`compose`)."""
        raise UsageError("a cascade is not trained: it joins two trained models; build one "
                         "with `whichmodel route FIRST_DIR SECOND_DIR --threshold T --out DIR` "
                         "(or Cascade.compose in Python)")

    # -- saving and loading ------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write ``cascade.json``, ``whichmodel.json`` and a model card to ``directory``;
        the two models stay where they are (both must have been given as folders)."""
        from whichmodel.models.layout import check_save_target

        self._check_fitted()
        if None in self.parts_:
            raise UsageError("only a cascade of two saved models can be saved: save each "
                             "model (model.save(DIR)) and compose the cascade of the folders")
        target = check_save_target(directory, reads=self.parts_)
        for part in self.parts_:
            if part in target.parents:
                raise ModelFileError(f"will not save a cascade inside {part}, the folder of "
                                     "one of its models; give another --out")
        return super().save(target)

    def _save_state(self, directory: Path) -> None:
        # `directory` is a temporary sibling of the final folder (`write_model`), so a path
        # relative to it is the same relative to the final folder.
        paths = []
        for part in self.parts_:
            try:
                paths.append(Path(os.path.relpath(part, directory.resolve())).as_posix())
            except ValueError:  # another drive (Windows): no relative path exists
                paths.append(str(part))
        (directory / CASCADE_FILE).write_text(json.dumps(
            {"first": paths[0], "second": paths[1], "threshold": self.threshold_},
            indent=2), encoding="utf-8")

    def _load_state(self, directory: Path) -> None:
        here = directory.expanduser().resolve()
        if here in _LOADING.get():
            raise ModelFileError(f"{directory}: the cascade leads back to itself through "
                                 f"its {CASCADE_FILE}")
        spec = json.loads((directory / CASCADE_FILE).read_text(encoding="utf-8"))
        if not isinstance(spec, dict) or not all(isinstance(spec.get(k), str)
                                                 for k in ("first", "second")):
            raise ModelFileError(f"{directory / CASCADE_FILE}: expected the folders of its "
                                 "first and second models and a threshold; the cascade "
                                 "folder is damaged: save it again with `whichmodel route`")
        parts = []
        for role in ("first", "second"):
            part = (directory / spec[role]).resolve()
            if not part.is_dir():
                raise ModelFileError(f"{directory / CASCADE_FILE}: its {role} model "
                                     f"{spec[role]} is not there ({part}); put it back, or "
                                     "save the cascade again with `whichmodel route`")
            parts.append(part)
        token = _LOADING.set((*_LOADING.get(), here))
        try:
            classes = list(self.classes_)
            self._set_parts(parts[0], parts[1], spec.get("threshold"))
        except UsageError as err:
            raise ModelFileError(f"{directory / CASCADE_FILE}: {err}") from None
        finally:
            _LOADING.reset(token)
        if classes != self.classes_:
            raise ModelFileError(f"{directory}: whichmodel.json lists other classes than its "
                                 "first model scores; save the cascade again")

    def _state_outputs(self) -> tuple[int, bool] | None:
        return len(self.first_.classes_), bool(getattr(self.first_, "multi_label_", False))

    def _model_card(self, meta: dict[str, Any]) -> str:
        families = [getattr(m, "family", "?") for m in (self.first_, self.second_)]
        return ("---\nlibrary_name: whichmodel\ntags:\n- text-classification\n"
                "- whichmodel-cascade\n---\n\n# whichmodel cascade\n\n"
                f"- first: `{families[0]}` model at `{self.parts_[0]}`\n"
                f"- second: `{families[1]}` model at `{self.parts_[1]}`\n"
                f"- threshold: {self.threshold_:g} — the first model answers an item when "
                "its confidence (top-class probability) is at least this, the second "
                "otherwise\n"
                f"- classes ({len(self.classes_)}): "
                f"{', '.join(map(str, self.classes_[:20]))}"
                f"{' …' if len(self.classes_) > 20 else ''}\n\n"
                "Predict with `whichmodel predict THIS_FOLDER INPUT`; the two model folders "
                f"must stay where {CASCADE_FILE} says.\n")

"""`DistilledClassifier`: an LLM labels an unlabelled pool, a small model learns from it.

LLM-as-annotator. The *teacher* is an ``llm``-family model (local or API, built from the
``teacher`` settings through that family); the *student* is any trainable family
(``embedding`` by default, or ``setfit``). ``fit`` takes the human-labelled rows (maybe
none: then ``classes=`` names the label set, as for a zero-shot llm) and a pool of
unlabelled texts:

1. the human rows are the teacher's examples (``shots`` of them per prompt; fewer rows
   than ``shots`` show them all) and part of the student's training set;
2. the teacher labels up to ``pool_size`` pool texts, drawn with ``seed`` (texts a human
   already labelled, and repeats, are not sent: they would be paid for twice);
3. an item the teacher could not answer (an unparseable or failed answer: its row is all
   zeros, `whichmodel.models.llm.answers`) is dropped and counted, never mapped to a
   class; so is one whose top probability is below ``min_confidence``;
4. the student trains on the human labels plus the teacher's.

Inference is the student's alone: ``predict_proba``, latency and throughput are the
student's, and ``api_model_`` is None (it is priced like any self-hosted model). What the
labelling cost is kept as attributes and in the training metadata: ``teacher_items_``
(pool texts sent), ``teacher_kept_``, ``teacher_dropped_``, ``teacher_input_tokens_`` /
``teacher_output_tokens_`` (totals over the pool), ``teacher_api_model_`` (its
``prices.yaml`` key; None for a local teacher or a self-hosted server),
``teacher_seconds_``; ``teacher_answers_`` counts ok, unparseable and failed answers (they
sum to the items) and the ok ones below ``min_confidence``. The cost model prices those
tokens once, at the teacher's API price, on top of training (`whichmodel.costs.model`); a
local teacher's compute is inside the measured train seconds, since ``fit`` includes the
labelling.

Saved layout: ``student/`` (the student's own saved folder, through its family's save and
load), ``distilled.json`` (the teacher's settings — the *name* of its API key's variable,
never a key —, the student's classes, the labelling counts and tokens), plus the base's
``whichmodel.json``. No pickle; loading never needs the teacher (nor its model file).
"""

from __future__ import annotations

import contextvars
import json
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from whichmodel.errors import DataError, SettingError, did_you_mean, quote
from whichmodel.models.base import Classifier, ModelFileError
from whichmodel.models.inputs import as_texts
from whichmodel.models.layout import model_card
from whichmodel.models.setting_checks import check_flag, check_number, check_whole

FAMILY = "distilled"
TEACHER_FAMILY = "llm"
STATE_FILE = "distilled.json"
STUDENT_DIR = "student"
# Families that cannot be a student: this one (a chain of teachers), and those made of
# fitted models rather than trained (a cascade).
_NOT_STUDENTS = (FAMILY, "cascade", "joint", "dual")  # joint, dual: need slot tags
# Set while `load` builds the model from its saved settings: the teacher is not needed to
# predict, so a teacher model file missing on this machine must not refuse the folder.
_LOADING: contextvars.ContextVar[bool] = contextvars.ContextVar("distilled_loading",
                                                                default=False)


class DistilledClassifier(Classifier):
    """A student trained on an LLM teacher's labels of an unlabelled pool (module docstring).

    Settings: ``teacher`` (llm-family settings, e.g. ``{backend: local, shots: 0}``; its
    ``seed`` defaults to this model's); ``student`` ["embedding"]: the student's family;
    ``student_settings`` (its settings; ``seed`` and ``progress_bar`` default to this
    model's); ``pool_size`` [1000]: at most this many unlabelled texts are labelled;
    ``min_confidence`` [0]: teacher labels whose probability is below it are dropped (a
    teacher that gives no probabilities — an API without logprobs — answers with 1);
    ``progress_bar`` [True]; ``seed`` [0]: the pool drawn, and the defaults above.
    ``fit`` needs ``unlabelled_texts=``.
    """

    family = FAMILY
    # Zero human labels are fine: the teacher reads the label names (``classes=``).
    supports_unseen_classes = True
    # The bench runner gives `fit` the train rows outside the label budget as the pool.
    uses_unlabelled_pool: ClassVar[bool] = True

    def __init__(self, *, teacher: Mapping[str, Any] | None = None, student: str = "embedding",
                 student_settings: Mapping[str, Any] | None = None, pool_size: int = 1000,
                 min_confidence: float = 0.0, progress_bar: bool = True,
                 seed: int = 0) -> None:
        self.teacher = teacher
        self.student = student
        self.student_settings = student_settings
        self.pool_size = pool_size
        self.min_confidence = min_confidence
        self.progress_bar = progress_bar
        self.seed = seed

    # -- settings --------------------------------------------------------------------------
    def check_settings(self) -> None:
        check_whole(FAMILY, "pool_size", self.pool_size, 1)
        check_number(FAMILY, "min_confidence", self.min_confidence, at_least=0, at_most=1)
        check_flag(FAMILY, "progress_bar", self.progress_bar)
        check_whole(FAMILY, "seed", self.seed, 0)
        self._teacher_model(self.teacher_settings())
        self._student_model()

    def teacher_settings(self) -> dict[str, Any]:
        """The llm settings the teacher is built from: ``teacher``, with this model's
        ``seed`` where it names none."""
        return {"seed": self.seed, **_mapping(self.teacher, "teacher", "{backend: local}")}

    def _teacher_model(self, settings: dict[str, Any]) -> Classifier:
        return _checked(TEACHER_FAMILY, settings, "teacher",
                        missing_model_ok=_LOADING.get() and settings.get("backend",
                                                                         "local") == "local")

    def _student_model(self) -> Classifier:
        from whichmodel.models.registry import available_families, family_settings

        families = [f for f in available_families(trainable=True) if f not in _NOT_STUDENTS]
        if self.student in _NOT_STUDENTS:
            raise SettingError(f"{FAMILY}: a {self.student} model cannot be the student; "
                               f"choose one of: {', '.join(families)}", setting="student")
        if not isinstance(self.student, str) or self.student not in families:
            hint = did_you_mean(self.student, families) if isinstance(self.student, str) else ""
            raise SettingError(f"{FAMILY}: unknown student {quote(self.student)}{hint}; "
                               f"choose one of: {', '.join(families)}", setting="student")
        settings = _mapping(self.student_settings, "student_settings", "{C: 1.0}")
        params = family_settings(self.student)
        for name in ("seed", "progress_bar"):
            if name in params and name not in settings:
                settings[name] = getattr(self, name)
        return _checked(self.student, settings, "student_settings")

    # -- fit -------------------------------------------------------------------------------
    def fit(self, texts: Sequence[str], labels: Sequence[Any], *,
            classes: Sequence[Any] | None = None,
            unlabelled_texts: Sequence[str] | None = None,
            eval_texts: Sequence[str] | None = None,
            eval_labels: Sequence[Any] | None = None) -> DistilledClassifier:
        """Label up to ``pool_size`` of ``unlabelled_texts`` with the teacher, then train
        the student on ``texts``/``labels`` plus the teacher's labels; returns self.

        ``texts``/``labels`` are the human-labelled rows (none at all with ``classes=``);
        an evaluation split, when given, goes to the student (setfit early-stops on it).
        An empty pool trains the student on the human rows alone.
        """
        self.check_settings()
        if unlabelled_texts is None:
            raise DataError(f"{FAMILY}: fit needs unlabelled_texts=, the pool of texts the "
                            f"{TEACHER_FAMILY} teacher labels for the student (up to "
                            f"pool_size={self.pool_size}); pass the texts you have no labels "
                            "for, or use the student's family on its own")
        try:
            self._pool = as_texts(unlabelled_texts)
        except DataError as err:
            raise DataError(str(err).replace("texts[", "unlabelled_texts[", 1)) from None
        try:
            super().fit(texts, labels, classes=classes, eval_texts=eval_texts,
                        eval_labels=eval_labels)
        finally:
            del self._pool
        self.training_.update({"teacher": self.teacher_report(),
                               "student": {"family": self.student_.family,
                                           "classes": list(self.student_classes_),
                                           **getattr(self.student_, "training_", {})}})
        return self

    def _fit(self, texts, y, eval_texts, eval_y) -> None:
        if self.multi_label_:
            raise DataError(f"{FAMILY}: the {TEACHER_FAMILY} teacher chooses one label per "
                            "text; multi-label data needs another family (tfidf, embedding, "
                            "setfit)")
        human = [self.classes_[i] for i in y.tolist()]
        pool = self._drawn_pool(texts)
        labelled = self._label(pool, texts, human)
        student_texts = list(texts) + [pool[i] for i in labelled]
        student_labels = human + [labelled[i] for i in labelled]
        seen = set(student_labels)
        if len(seen) < 2:
            found = (f"only {quote(next(iter(seen)))}" if seen else "nothing")
            raise DataError(
                f"{FAMILY}: the student has {found} to learn from ({len(texts)} human "
                f"label(s), {len(labelled)} of the teacher's {self.teacher_items_} kept: "
                f"{self._answers_text()}); it needs at least 2 classes: label a few rows, "
                "give a larger pool, lower min_confidence or use a stronger teacher")
        student = self._student_model()
        # A class neither humans nor the teacher gave an example of cannot be scored by a
        # head fitted on examples: it gets probability 0, and the student the classes seen.
        self.student_classes_ = (list(self.classes_) if student.supports_unseen_classes
                                 else [c for c in self.classes_ if c in seen])
        options: dict[str, Any] = {"classes": self.student_classes_}
        if eval_texts is not None and eval_y is not None:
            kept = set(self.student_classes_)
            rows = [(t, self.classes_[i]) for t, i in zip(eval_texts, eval_y.tolist())
                    if i >= 0 and self.classes_[i] in kept]
            options.update(eval_texts=[t for t, _ in rows], eval_labels=[c for _, c in rows])
        student.fit(student_texts, student_labels, **options)
        self.student_ = student
        self.api_model_ = None  # inference is the student's: never an API call
        self._set_columns()

    def _drawn_pool(self, human_texts: list[str]) -> list[str]:
        """Up to ``pool_size`` distinct pool texts no human labelled, drawn with ``seed``
        (kept in pool order)."""
        known = set(human_texts)
        candidates = list(dict.fromkeys(t for t in self._pool if t not in known))
        self.pool_offered_ = len(self._pool)
        if len(candidates) <= self.pool_size:
            return candidates
        rng = np.random.default_rng(self.seed)
        drawn = np.sort(rng.choice(len(candidates), size=self.pool_size, replace=False))
        return [candidates[i] for i in drawn.tolist()]

    def _label(self, pool: list[str], texts: list[str], human: list[Any]) -> dict[int, Any]:
        """The teacher's label of each kept pool item (position → class); sets the
        ``teacher_*_`` attributes."""
        from tqdm.auto import tqdm

        from whichmodel.predictor import Predictor

        settings = self.teacher_settings()
        # With fewer human rows than shots (a zero or small budget), the prompt shows all.
        settings["shots"] = min(int(settings.get("shots", 0)), len(texts))
        self.teacher_settings_ = settings
        teacher = self._teacher_model(settings)
        # Priced by tokens only where the llm family would price its answers by them.
        self.teacher_api_model_ = teacher.api_model if teacher.backend == "api" else None
        self.teacher_items_ = len(pool)
        self.teacher_answers_ = {"ok": 0, "unparseable": 0, "failed": 0,
                                 "below_min_confidence": 0}
        self.teacher_input_tokens_ = self.teacher_output_tokens_ = 0.0
        self.teacher_tokens_unreported_ = 0
        self.teacher_seconds_ = 0.0
        if not pool:
            self.teacher_kept_, self.teacher_dropped_ = 0, 0
            self.teacher_label_counts_ = {}
            return {}
        started = time.perf_counter()
        teacher.fit(texts, human, classes=self.classes_)
        predictor = Predictor(teacher)
        with tqdm(total=len(pool), desc=f"{FAMILY}: teacher labelling", unit="text",
                  disable=not self.progress_bar or len(pool) <= predictor.batch_size) as bar:
            predictions = predictor.predict(pool, on_progress=bar.update)
        self.teacher_seconds_ = round(time.perf_counter() - started, 3)

        proba = predictions.proba
        status = predictions.extra("answer_status")
        status = (np.asarray(["ok"] * len(pool)) if status is None
                  else np.asarray(status).astype(str))
        answered = (status == "ok") & (proba.max(axis=1) > 0)
        confident = proba.max(axis=1) >= float(self.min_confidence)
        keep = answered & confident
        failed = status == "failed"
        # ok + unparseable + failed = the items; an answer with no label is unparseable
        self.teacher_answers_["ok"] = int(answered.sum())
        self.teacher_answers_["unparseable"] = int((~answered & ~failed).sum())
        self.teacher_answers_["failed"] = int(failed.sum())
        self.teacher_answers_["below_min_confidence"] = int((answered & ~confident).sum())
        for name in ("input", "output"):
            tokens = predictions.extra(f"{name}_tokens")
            tokens = (np.zeros(len(pool)) if tokens is None
                      else np.asarray(tokens, dtype=np.float64))
            # Paid even for an unanswered item; an item whose usage the server did not
            # report (NaN) is counted, so a reader knows the total is short.
            setattr(self, f"teacher_{name}_tokens_", float(np.nansum(tokens)))
            self.teacher_tokens_unreported_ = max(self.teacher_tokens_unreported_,
                                                  int(np.isnan(tokens).sum()))
        labels = predictions.labels
        labelled = {i: labels[i] for i in np.flatnonzero(keep).tolist()}
        self.teacher_kept_ = len(labelled)
        self.teacher_dropped_ = len(pool) - len(labelled)
        counts = Counter(labelled.values())
        self.teacher_label_counts_ = {str(c): counts[c] for c in self.classes_ if counts[c]}
        return labelled

    def teacher_report(self) -> dict[str, Any]:
        """What labelling the pool took and gave (JSON-ready): the teacher's settings,
        items sent / kept / dropped and why, tokens in total, API model, seconds."""
        self._check_fitted()
        return {"settings": dict(self.teacher_settings_), "api_model": self.teacher_api_model_,
                "pool_offered": self.pool_offered_, "items": self.teacher_items_,
                "kept": self.teacher_kept_, "dropped": self.teacher_dropped_,
                "answers": dict(self.teacher_answers_),
                "label_counts": dict(self.teacher_label_counts_),
                "input_tokens": self.teacher_input_tokens_,
                "output_tokens": self.teacher_output_tokens_,
                "tokens_unreported": self.teacher_tokens_unreported_,
                "seconds": self.teacher_seconds_}

    def _answers_text(self) -> str:
        return ", ".join(f"{n} {name.replace('_', ' ')}"
                         for name, n in self.teacher_answers_.items() if n) or "no pool"

    # -- predict ---------------------------------------------------------------------------
    def _set_columns(self) -> None:
        index = {json.dumps(c, default=str): i for i, c in enumerate(self.classes_)}
        self._columns = [index[json.dumps(c, default=str)] for c in self.student_classes_]

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        proba = np.asarray(self.student_.predict_proba(texts), dtype=np.float32)
        out = np.zeros((len(texts), len(self.classes_)), dtype=np.float32)
        out[:, self._columns] = proba
        return out

    # -- save / load -----------------------------------------------------------------------
    def _save_state(self, directory: Path) -> None:
        self.student_.save(directory / STUDENT_DIR)
        state = {"format": 1, "student": {"family": self.student_.family,
                                          "classes": list(self.student_classes_)},
                 "teacher": self.teacher_report()}
        (directory / STATE_FILE).write_text(json.dumps(state, ensure_ascii=False, indent=2,
                                                       default=str), encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path) -> Classifier:
        """Load a saved distilled model (the student, and what labelling took); the
        teacher is not loaded, and its model file need not be on this machine."""
        token = _LOADING.set(True)
        try:
            return super().load(directory)
        finally:
            _LOADING.reset(token)

    def _load_state(self, directory: Path) -> None:
        from whichmodel.models.registry import load_model

        state = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
        student = load_model(directory / STUDENT_DIR)
        if student.family != self.student or state["student"]["family"] != self.student:
            raise ModelFileError(f"{directory}/{STUDENT_DIR} holds a {student.family!r} "
                                 f"model, but the settings name student {self.student!r}; "
                                 "the model folder is damaged (or edited): train it again")
        classes = list(state["student"]["classes"])
        if classes != list(student.classes_) or not set(map(str, classes)) <= set(
                map(str, self.classes_)):
            raise ModelFileError(f"{directory}/{STATE_FILE}: the student's classes do not "
                                 "match the model's; the model folder is damaged (or edited)"
                                 ": train it again")
        teacher = state["teacher"]
        self.student_, self.student_classes_ = student, classes
        self.teacher_settings_ = dict(teacher["settings"])
        self.teacher_api_model_ = teacher["api_model"]
        self.pool_offered_ = int(teacher["pool_offered"])
        self.teacher_items_, self.teacher_kept_ = int(teacher["items"]), int(teacher["kept"])
        self.teacher_dropped_ = int(teacher["dropped"])
        self.teacher_answers_ = {str(k): int(v) for k, v in teacher["answers"].items()}
        self.teacher_label_counts_ = {str(k): int(v)
                                      for k, v in teacher["label_counts"].items()}
        self.teacher_input_tokens_ = float(teacher["input_tokens"])
        self.teacher_output_tokens_ = float(teacher["output_tokens"])
        self.teacher_tokens_unreported_ = int(teacher["tokens_unreported"])
        self.teacher_seconds_ = float(teacher["seconds"])
        self.api_model_ = None
        self._set_columns()

    def _state_outputs(self) -> tuple[int, bool] | None:
        return None  # the student's own load checked its head against its classes

    def _model_card(self, meta: dict[str, Any]) -> str:
        teacher = self.teacher_report()
        where = teacher["api_model"] or teacher["settings"].get("model") or "the default"
        return model_card(meta) + (
            f"\n## Labels from a teacher\n\nThe student ({self.student_.family}) learned "
            f"from {meta['training'].get('n_examples', 0)} human labels and "
            f"{teacher['kept']} labels given by an {TEACHER_FAMILY} teacher "
            f"({teacher['settings'].get('backend', 'local')}: {where}) to {teacher['items']} "
            f"unlabelled texts ({teacher['dropped']} dropped: "
            f"{self._answers_text()}); labelling took {teacher['input_tokens']:,.0f} "
            f"input + {teacher['output_tokens']:,.0f} output tokens and "
            f"{teacher['seconds']:,.1f} s. Predictions are the student's alone.\n")


def _mapping(value: Any, name: str, example: str) -> dict[str, Any]:
    """``value`` (a mapping of settings, or None) as a dict, or a `SettingError`."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise SettingError(f"{FAMILY}: {name} must be a mapping of settings, e.g. {example}, "
                           f"got {quote(value)}", setting=name)
    return dict(value)


def _checked(family: str, settings: dict[str, Any], name: str, *,
             missing_model_ok: bool = False) -> Classifier:
    """An unfitted ``family`` classifier of ``settings`` whose values its family accepts;
    a `SettingError` naming ``name.<setting>`` otherwise."""
    from whichmodel.models.registry import get_family

    cls = get_family(family)
    known = cls._param_names()
    for key in settings:
        if key not in known:
            raise SettingError(f"{FAMILY}: {name}: {quote(key)} is not a setting of family "
                               f"{family!r}{did_you_mean(key, known)}; settings are: "
                               f"{', '.join(sorted(known))}", setting=f"{name}.{key}")
    model = cls(**settings)
    try:
        model.check_settings()
    except SettingError as err:
        if missing_model_ok and err.setting == "model":
            return model  # a local teacher's model file: loading never runs the teacher
        raise SettingError(f"{FAMILY}: {name}: {err}",
                           setting=f"{name}.{err.setting}" if err.setting else name) from None
    return model

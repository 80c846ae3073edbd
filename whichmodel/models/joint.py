"""Intent detection with slot filling: the `joint` and `dual` families.

Both read texts, an intent per text and a BIO slot tag per word (a word is a
whitespace-separated token, ``text.split()``; tags are "O", "B-date", "I-date", …), and
predict both. They answer the deployment question "one model or two?":

* ``joint`` (`JointClassifier`): one shared transformer body with an intent head and a
  slot-tagging head, trained on the sum of the two cross-entropies (each a batch mean).
  One forward pass serves both tasks.
* ``dual`` (`DualClassifier`): two single-task models of the same backbone, trained
  apart through the same loop with the same settings: an intent model (body + intent
  head, intent loss only) and a slot model (body + token head, slot loss only).
  Predicting runs both, so its latency and memory are both models'.

Sub-words and words (`whichmodel.models.joint_net`): the fast tokenizer reads the
pre-split words; a word's first sub-token carries its tag in training and gives it at
prediction (argmax), the others are ignored; words cut off by ``max_length`` are "O";
predicted sequences are made valid BIO (an I-x after neither B-x nor I-x becomes B-x).

Everything else is the encoder family's recipe: the shared torch loop
(`whichmodel.models.training`), AdamW with the new heads at their own rate, warm-up then
decay, gradients clipped to norm 1, "auto" steps ``min(30·E, max(3·E, 600))``, seeded
batches and heads. Given an evaluation split (``eval_texts``, ``eval_labels``,
``eval_slot_tags``), early stopping scores the joint model by the mean of intent
accuracy and slot F1 (exact spans, micro-averaged: a model tagging every word "O"
scores 0 there, where token accuracy would credit it with the share of "O" words);
the dual's intent model by intent accuracy, its slot model by slot F1.

`predict_proba` gives intent probabilities as every family does; `predictions` (what the
`Predictor` calls) adds the extra ``slot_tags``: per text one string, its predicted tags
joined by single spaces, one per word ("" for an empty text), a plain unicode array so
stored `Predictions` need no pickle.

Saved layout, JSON and safetensors only (loading needs no hub, the bodies are saved in
full): joint: ``body/`` (a transformers folder: config, weights, tokenizer),
``heads.safetensors`` (``intent.*``, ``slots.*``) and ``joint.json`` (the tag set, the
truncation length, the training log); dual: ``intent/`` and ``slots/``, each a
``body/`` + ``heads.safetensors``, and ``dual.json``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from whichmodel.backbones import DEFAULT_BACKBONE
from whichmodel.errors import DataError, quote
from whichmodel.models.base import Classifier
from whichmodel.models.encoder import AUTO_MAX_EPOCHS, AUTO_MIN_EPOCHS, AUTO_MIN_STEPS
from whichmodel.models.inputs import LABEL_ROW, as_texts, checked_labels
from whichmodel.models.layout import ModelFileError, data_hash, model_card
from whichmodel.models.sentence_body import PRECISIONS
from whichmodel.models.setting_checks import (
    check_choice,
    check_flag,
    check_number,
    check_text,
    check_whole,
)
from whichmodel.predictions import Predictions
from whichmodel.slots import OUTSIDE, check_tag, checked_slot_tags, slot_f1, tag_set, valid_bio


class _IntentSlotClassifier(Classifier):
    """What `JointClassifier` and `DualClassifier` share: settings, `fit`'s slot tags,
    `predictions`, `predict_slots`.

    Settings (defaults in brackets; the dual applies each to both its models):

    * ``backbone`` [all-MiniLM-L6-v2]: a packaged model, a local transformers folder or
      a hub name; any encoder with a fast tokenizer.
    * ``num_epochs`` ["auto"]: passes over the training examples; "auto" is the encoder
      family's rule, ``min(30·E, max(3·E, 600))`` steps with E = ceil(n / batch_size),
      since new heads need hundreds of updates whatever the data size; a number gives
      ``max(1, round(num_epochs × E))`` steps.
    * ``batch_size`` [16]: texts per step and per inference batch.
    * ``learning_rate`` [1e-4]: the pretrained body's peak rate (chosen for MiniLM, as in
      the encoder family); ``head_learning_rate`` [3e-3; None: ``learning_rate``]: the
      new heads'. ``warmup_ratio`` [0.1]; ``weight_decay`` [0.01], on weight matrices only.
    * ``max_length`` [None]: truncation, in tokens; None: the backbone's limit, at most
      256. Words past it are tagged "O".
    * ``early_stopping_patience`` [3]: evaluations without improvement before stopping
      (only with an evaluation split).
    * ``precision`` ["auto"]: "fp32", "bf16" (autocast) or "auto" (bf16 where native).
      ``seed`` [0]. ``device`` [None: CUDA if available, else the CPU].
      ``progress_bar`` [True].
    """

    family = ""
    uses_eval_split = True
    uses_slot_tags = True  # train and bench pass `fit` the data's slot_tags
    log_file = ""

    def __init__(self, *, backbone: str = DEFAULT_BACKBONE, num_epochs: float | str = "auto",
                 batch_size: int = 16, learning_rate: float = 1e-4,
                 head_learning_rate: float | None = 3e-3, warmup_ratio: float = 0.1,
                 weight_decay: float = 0.01, max_length: int | None = None,
                 early_stopping_patience: int = 3, precision: str = "auto", seed: int = 0,
                 device: str | None = None, progress_bar: bool = True) -> None:
        self.backbone = backbone
        self.num_epochs = num_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.head_learning_rate = head_learning_rate
        self.warmup_ratio = warmup_ratio
        self.weight_decay = weight_decay
        self.max_length = max_length
        self.early_stopping_patience = early_stopping_patience
        self.precision = precision
        self.seed = seed
        self.device = device
        self.progress_bar = progress_bar

    # -- settings -------------------------------------------------------------------------
    def check_settings(self) -> None:
        """Fail before any loading, naming the setting and what it accepts."""
        family = self.family
        check_text(family, "backbone", self.backbone)
        if self.num_epochs != "auto":
            check_number(family, "num_epochs", self.num_epochs, above=0,
                         accepts='"auto" or a number > 0')
        for name, least in {"batch_size": 1, "early_stopping_patience": 1, "seed": 0}.items():
            check_whole(family, name, getattr(self, name), least)
        check_number(family, "learning_rate", self.learning_rate, above=0)
        if self.head_learning_rate is not None:
            check_number(family, "head_learning_rate", self.head_learning_rate, above=0,
                         accepts="a number > 0 (or none: learning_rate)")
        check_number(family, "warmup_ratio", self.warmup_ratio, at_least=0, at_most=1)
        check_number(family, "weight_decay", self.weight_decay, at_least=0)
        check_whole(family, "max_length", self.max_length, 2, none_ok=True)
        check_choice(family, "precision", self.precision, PRECISIONS)
        check_text(family, "device", self.device, none_ok=True)
        check_flag(family, "progress_bar", self.progress_bar)

    def n_steps(self, n_examples: int) -> int:
        """Optimizer steps for ``n_examples`` training texts (see ``num_epochs``); the
        dual takes as many for each of its models."""
        per_epoch = math.ceil(n_examples / self.batch_size)
        if self.num_epochs == "auto":
            return min(AUTO_MAX_EPOCHS * per_epoch,
                       max(AUTO_MIN_EPOCHS * per_epoch, AUTO_MIN_STEPS))
        return max(1, round(self.num_epochs * per_epoch))

    # -- fitting --------------------------------------------------------------------------
    def fit(self, texts: Sequence[str], labels: Sequence[Any], *,
            slot_tags: Sequence[Sequence[str]] | None = None,
            classes: Sequence[Any] | None = None,
            eval_texts: Sequence[str] | None = None,
            eval_labels: Sequence[Any] | None = None,
            eval_slot_tags: Sequence[Sequence[str]] | None = None) -> _IntentSlotClassifier:
        """Learn intents from ``labels`` (one per text, single-label) and slots from
        ``slot_tags`` (one BIO tag per word of each text); returns self.

        ``classes`` and the evaluation split work as in every family (`Classifier.fit`);
        an evaluation split needs its slot tags too (``eval_slot_tags``), since early
        stopping scores both tasks. The tag set, sorted with "O" first, is ``slot_tags_``.
        """
        self.check_settings()
        texts = as_texts(texts)
        labels = list(labels)
        if slot_tags is None:
            raise DataError(f"{self.family} needs slot tags: one BIO tag per word of each "
                            "text (fit(texts, intents, slot_tags=...)); read them from a "
                            ".conll file or SLURP, or use the encoder family for intents "
                            "alone")
        rows = checked_slot_tags(texts, slot_tags)
        if any(isinstance(label, LABEL_ROW) for label in labels):
            first = next(i for i, x in enumerate(labels, 1) if isinstance(x, LABEL_ROW))
            raise DataError(f"{self.family} predicts one intent per text, but labels row "
                            f"{first} is a list of labels ({quote(labels[first - 1])}); "
                            "give each text a single intent")
        eval_rows = None
        if eval_texts is not None and eval_labels is not None:
            eval_texts = as_texts(eval_texts)
            if len(list(eval_labels)) != len(eval_texts):
                raise DataError(f"got {len(eval_texts)} eval_texts but "
                                f"{len(list(eval_labels))} eval_labels")
            if eval_slot_tags is None:
                raise DataError(f"{self.family} early-stops on intents and slots: give the "
                                "evaluation split's slot tags too (eval_slot_tags), or no "
                                "evaluation split")
            eval_rows = checked_slot_tags(eval_texts, eval_slot_tags, "eval_slot_tags")
        tags = tag_set(rows)
        if len(tags) < 2:
            raise DataError(f"every slot tag is {OUTSIDE!r}: {self.family} has no slot to "
                            "learn; tag the slots (B-type, I-type), or use the encoder "
                            "family for intents alone")
        self._training_tags = (tags, rows, eval_rows)
        try:
            super().fit(texts, labels, classes=classes, eval_texts=eval_texts,
                        eval_labels=eval_labels)
        finally:
            del self._training_tags
        plain = checked_labels(labels)[1]
        # The data hash covers the slot tags too: the same texts tagged otherwise differ.
        self.training_["data_hash"] = data_hash(
            texts, [[label, " ".join(row)] for label, row in zip(plain, rows)])
        return self

    def _start_fit(self) -> tuple[list[list[int]], list[list[str]] | None]:
        """Set ``slot_tags_``; (training tag ids per word, evaluation tags) for `_fit`."""
        self.slot_tags_, rows, eval_rows = self._training_tags
        index = {tag: i for i, tag in enumerate(self.slot_tags_)}
        return [[index[tag] for tag in row] for row in rows], eval_rows

    def _load_backbone(self) -> tuple[Any, Any]:
        """(body, tokenizer) of ``backbone``; sets ``max_length_``."""
        from whichmodel.models.joint_net import load_backbone, resolved_max_length

        body, tokenizer, path = load_backbone(self.backbone, self.family)
        self.max_length_ = resolved_max_length(body, tokenizer, path, self.max_length,
                                               self.backbone, self.family)
        return body, tokenizer

    def _aligned(self, texts: Sequence[str], tag_ids: Sequence[Sequence[int]] | None = None
                 ) -> Any:
        from whichmodel.models.joint_net import WordAlignedTexts

        return WordAlignedTexts.build(self.tokenizer_, texts, self.max_length_, tag_ids)

    def _evaluator(self, net: Any, eval_texts: list[str] | None, eval_y: np.ndarray | None,
                   eval_rows: list[list[str]] | None, *, intents: bool, slots: bool) -> Any:
        """``evaluate()`` for early stopping: the mean of intent accuracy (on evaluation
        rows whose intent is one of ``classes_``) and slot span F1, for the heads asked;
        None without an evaluation split."""
        from whichmodel.models.joint_net import run

        if not eval_texts or eval_y is None or eval_rows is None:
            return None
        data = self._aligned(eval_texts)
        scored = np.flatnonzero(eval_y >= 0)

        def evaluate() -> float:
            proba, tag_ids = run(net, data, batch_size=self.batch_size,
                                 precision=self.precision, slots=slots)
            scores = []
            if intents and len(scored):
                scores.append(float(np.mean(proba[scored].argmax(axis=1) == eval_y[scored])))
            if slots:
                scores.append(slot_f1(eval_rows, self._tags(tag_ids)))
            return float(np.mean(scores)) if scores else 0.0

        return evaluate

    # -- prediction -----------------------------------------------------------------------
    def predictions(self, texts: Sequence[str]) -> Predictions:
        """`Predictions` of ``texts``: intent probabilities over ``classes_`` and the extra
        ``slot_tags``, per text its predicted tags joined by single spaces (one per word;
        "" for an empty text), as a unicode array so that stored predictions need no
        pickle. The `Predictor` calls this."""
        self._check_fitted()
        texts = as_texts(texts)
        if texts:
            proba, tags = self._outputs(texts)
        else:
            proba, tags = np.zeros((0, len(self.classes_)), np.float32), []
        joined = np.array([" ".join(row) for row in tags], dtype=str)
        return Predictions(list(self.classes_), proba, extras={"slot_tags": joined})

    def predict_slots(self, texts: Sequence[str]) -> list[list[str]]:
        """Predicted BIO tags of ``texts``, one list per text, one tag per word."""
        self._check_fitted()
        texts = as_texts(texts)
        return self._outputs(texts)[1] if texts else []

    def _outputs(self, texts: list[str]) -> tuple[np.ndarray, list[list[str]]]:
        """(intent probabilities (n, k), tags per word of each text)."""
        raise NotImplementedError

    def _tags(self, tag_ids: list[np.ndarray]) -> list[list[str]]:
        names = self.slot_tags_
        return [valid_bio([names[i] for i in row]) for row in tag_ids]

    # -- persistence ----------------------------------------------------------------------
    def _write_log(self, directory: Path) -> None:
        state = {"slot_tags": list(self.slot_tags_), "max_length": int(self.max_length_),
                 "log": getattr(self, "log_", {})}
        (directory / self.log_file).write_text(json.dumps(state, indent=2), encoding="utf-8")

    def _read_log(self, directory: Path) -> None:
        path = directory / self.log_file
        state = json.loads(path.read_text(encoding="utf-8"))
        tags = state.get("slot_tags") if isinstance(state, dict) else None
        if (not isinstance(tags, list) or len(tags) < 2 or tags[0] != OUTSIDE
                or not all(isinstance(t, str) and check_tag(t) is None for t in tags)):
            raise ModelFileError(f"{path}: 'slot_tags' is not a tag set (\"O\" first, then "
                                 "BIO tags); the model folder is damaged: retrain the model "
                                 "or restore the folder")
        self.slot_tags_ = tags
        self.max_length_ = int(state["max_length"])
        self.log_ = state.get("log", {})

    def _check_heads(self, net: Any, folder: Path, *, intents: bool, slots: bool) -> None:
        """A `ModelFileError` unless ``net`` has exactly the heads asked, the slot head
        scoring as many tags as ``slot_tags_`` lists."""
        has = (net.intent is not None, net.slots is not None)
        n_tags = None if net.slots is None else net.slots.out_features
        if has != (intents, slots) or (slots and n_tags != len(self.slot_tags_)):
            raise ModelFileError(f"{folder}: its heads do not match {self.log_file} "
                                 f"({len(self.slot_tags_)} slot tags, heads "
                                 f"{'intent ' if has[0] else ''}{'slots' if has[1] else ''}, "
                                 f"{n_tags} tags); the model folder is damaged: retrain the "
                                 "model or restore the folder")

    def _model_card(self, meta: dict[str, Any]) -> str:
        tags = ", ".join(self.slot_tags_[:20]) + (" …" if len(self.slot_tags_) > 20 else "")
        card = model_card(meta).replace("- text-classification\n",
                                        "- text-classification\n- token-classification\n", 1)
        return card + (f"\nSlot tags ({len(self.slot_tags_)}, BIO, one per whitespace-"
                       f"separated word): {tags}\n\n`model.predict_slots(texts)` gives them; "
                       "`whichmodel.Predictor(folder).predict(texts)` carries them as the "
                       "extra `slot_tags`.\n")


class JointClassifier(_IntentSlotClassifier):
    """One transformer body with an intent head and a BIO slot head, trained on the sum
    of both losses; settings as in `_IntentSlotClassifier`. Early stopping scores the
    mean of intent accuracy and slot span F1."""

    family = "joint"
    log_file = "joint.json"

    def _fit(self, texts, y, eval_texts, eval_y) -> None:
        from whichmodel.models.joint_net import IntentSlotNet, train_net
        from whichmodel.models.training import seeded_rng, usable_device

        tag_ids, eval_rows = self._start_fit()
        # The caller's random state is the same after fit; the heads draw from the seed.
        with seeded_rng(self.seed):
            body, self.tokenizer_ = self._load_backbone()
            self.net_ = IntentSlotNet(body, len(self.classes_), len(self.slot_tags_)).to(
                usable_device(self.family, self.device))
            evaluate = self._evaluator(self.net_, eval_texts, eval_y, eval_rows,
                                       intents=True, slots=True)
            self.log_ = train_net(self.net_, self._aligned(texts, tag_ids), y, settings=self,
                                  evaluate=evaluate, description="joint: fine-tuning")

    def _outputs(self, texts: list[str]) -> tuple[np.ndarray, list[list[str]]]:
        from whichmodel.models.joint_net import run

        proba, tag_ids = run(self.net_, self._aligned(texts), batch_size=self.batch_size,
                             precision=self.precision)
        return proba, self._tags(tag_ids)

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        from whichmodel.models.joint_net import run

        return run(self.net_, self._aligned(texts), batch_size=self.batch_size,
                   precision=self.precision, slots=False)[0]

    def _save_state(self, directory: Path) -> None:
        from whichmodel.models.joint_net import save_net

        save_net(self.net_, self.tokenizer_, directory, self.max_length_)
        self._write_log(directory)

    def _load_state(self, directory: Path) -> None:
        from whichmodel.models.joint_net import load_net
        from whichmodel.models.training import usable_device

        self._read_log(directory)
        self.net_, self.tokenizer_ = load_net(directory, usable_device(self.family,
                                                                       self.device))
        self._check_heads(self.net_, directory, intents=True, slots=True)

    def _state_outputs(self) -> tuple[int, bool]:
        return int(self.net_.intent.out_features), False


class DualClassifier(_IntentSlotClassifier):
    """Two single-task models of the same backbone, trained apart with the same settings:
    an intent model (early-stopped on intent accuracy) and a slot model (on slot span
    F1). Predicting runs both; `predict_proba` only the intent model."""

    family = "dual"
    log_file = "dual.json"
    _parts = ("intent", "slots")

    def _fit(self, texts, y, eval_texts, eval_y) -> None:
        from whichmodel.models.joint_net import IntentSlotNet, train_net
        from whichmodel.models.training import seeded_rng, usable_device

        tag_ids, eval_rows = self._start_fit()
        device = usable_device(self.family, self.device)
        self.log_ = {}
        for part in self._parts:
            intents = part == "intent"
            with seeded_rng(self.seed):  # each model as if trained alone
                body, self.tokenizer_ = self._load_backbone()
                net = IntentSlotNet(body, len(self.classes_) if intents else None,
                                    None if intents else len(self.slot_tags_)).to(device)
                evaluate = self._evaluator(net, eval_texts, eval_y, eval_rows,
                                           intents=intents, slots=not intents)
                data = self._aligned(texts, None if intents else tag_ids)
                self.log_[part] = train_net(net, data, y if intents else None,
                                            settings=self, evaluate=evaluate,
                                            description=f"dual: fine-tuning the {part} model")
            setattr(self, f"{part}_net_", net)

    def _outputs(self, texts: list[str]) -> tuple[np.ndarray, list[list[str]]]:
        from whichmodel.models.joint_net import run

        data = self._aligned(texts)  # both bodies share the backbone's tokenizer
        options = {"batch_size": self.batch_size, "precision": self.precision}
        proba = run(self.intent_net_, data, **options)[0]
        return proba, self._tags(run(self.slots_net_, data, **options)[1])

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        from whichmodel.models.joint_net import run

        return run(self.intent_net_, self._aligned(texts), batch_size=self.batch_size,
                   precision=self.precision)[0]

    def _save_state(self, directory: Path) -> None:
        from whichmodel.models.joint_net import save_net

        for part in self._parts:
            (directory / part).mkdir()
            save_net(getattr(self, f"{part}_net_"), self.tokenizer_, directory / part,
                     self.max_length_)
        self._write_log(directory)

    def _load_state(self, directory: Path) -> None:
        from whichmodel.models.joint_net import load_net
        from whichmodel.models.training import usable_device

        self._read_log(directory)
        device = usable_device(self.family, self.device)
        for part in self._parts:
            net, self.tokenizer_ = load_net(directory / part, device)
            self._check_heads(net, directory / part, intents=part == "intent",
                              slots=part == "slots")
            setattr(self, f"{part}_net_", net)

    def _state_outputs(self) -> tuple[int, bool]:
        return int(self.intent_net_.intent.out_features), False

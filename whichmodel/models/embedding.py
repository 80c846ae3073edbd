"""Frozen sentence embeddings + logistic regression.

The body is never trained, so its embeddings of a text are computed once per process
and shared by every budget, seed and candidate that uses the same backbone (see
`whichmodel.backbones.embedding_cache`). That makes it the cheapest strong baseline to
benchmark, and the bar SetFit has to clear.

The saved model stores the backbone's name, not its weights: a frozen body is identical
to the published one, and the name resolves offline to the packaged copy when installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from whichmodel.backbones import DEFAULT_BACKBONE, embedding_cache
from whichmodel.models.base import Classifier
from whichmodel.models.linear_head import LinearHead
from whichmodel.models.setting_checks import check_logistic_head, check_text, check_whole


class EmbeddingClassifier(Classifier):
    """Sentence-transformers embeddings (L2-normalised) + a logistic-regression head.

    Settings: ``backbone`` (name, hub id or local folder), ``C`` (inverse L2 strength
    of the head), ``class_weight``, ``batch_size`` (encoding batch, items),
    ``threshold`` (multi-label), ``seed``.
    """

    family = "embedding"

    def __init__(self, *, backbone: str = DEFAULT_BACKBONE, C: float = 10.0,
                 class_weight: str | None = None, max_iter: int = 2000,
                 batch_size: int = 64, threshold: float = 0.5, seed: int = 0) -> None:
        self.backbone = backbone
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.threshold = threshold
        self.seed = seed

    def check_settings(self) -> None:
        check_text("embedding", "backbone", self.backbone)
        check_whole("embedding", "batch_size", self.batch_size, 1)
        check_logistic_head("embedding", self)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embeddings (n, dim) from the shared cache of the frozen backbone."""
        return embedding_cache.encode(self.backbone, texts, batch_size=self.batch_size,
                                      show_progress_bar=len(texts) > 2000)

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

"""`Predictor`: a model loaded once, mapping batches of texts to `Predictions`.

It is the one inference loop: `whichmodel predict` and `evaluate` (through
`whichmodel.batch`), the bench's speed probe and the stored predictions of every run go
through it, and the server, Ray Data and cascades will, so they can never drift apart.

* **Batch size**: picked from the model (its own ``batch_size`` setting, else a size
  that suits the family) unless given.
* **Thread-safe**: one lock per predictor around the model call (HF fast tokenizers
  raise "Already borrowed" when two threads share one), and the embedding-cache bypass
  is a per-call option (`use_cache`) held in a context variable, never a process flag.
* **Picklable** when built from a saved folder: the pickle holds the folder and the batch
  size, and the receiving process (a Ray worker) loads the model itself, from JSON and
  safetensors. An in-memory model is not pickled: save it and pass the folder.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from whichmodel.predictions import Predictions

# Items per call when the model has no batch_size setting: sparse linear models are
# fastest on large batches, transformer bodies on moderate ones.
_FAMILY_BATCH = {"tfidf": 1024}
_DEFAULT_BATCH = 64


class Predictor:
    """Predictions for any number of texts from one loaded model.

    ``model`` is a saved model folder (loaded here, once) or a fitted classifier.
    """

    def __init__(self, model: str | Path | Any, *, batch_size: int | None = None) -> None:
        if isinstance(model, (str, Path)):
            from whichmodel.models.base import load_model

            self.model_dir: Path | None = Path(model)
            self.model = load_model(model)
        else:
            self.model_dir = None
            self.model = model
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = int(batch_size or default_batch_size(self.model))
        self._lock = threading.Lock()

    @property
    def classes(self) -> list[Any]:
        """The model's classes: the columns of every `Predictions.proba`."""
        return list(self.model.classes_)

    def predict(self, texts: Sequence[str], *, use_cache: bool = True,
                on_progress: Callable[[int], None] | None = None) -> Predictions:
        """`Predictions` for ``texts``, computed in batches of `batch_size`.

        ``use_cache=False`` encodes every text afresh instead of reusing frozen-body
        embeddings computed earlier in this process (speed probes need that; it affects
        only this call). ``on_progress(n)`` is called after each batch of ``n`` items.
        """
        from whichmodel.backbones import embedding_cache

        texts = list(texts)
        parts = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start:start + self.batch_size]
            with self._lock, embedding_cache.bypassed(not use_cache):
                parts.append(self._predict_batch(batch))
            if on_progress is not None:
                on_progress(len(batch))
        if not parts:
            return self._empty()
        return parts[0] if len(parts) == 1 else Predictions.concat(parts)

    def _predict_batch(self, texts: list[str]) -> Predictions:
        model = self.model
        hook = getattr(model, "predictions", None)
        if callable(hook):  # a family that fills per-item extras (tokens, slots, ...)
            return hook(texts)
        return Predictions(self.classes, np.asarray(model.predict_proba(texts)),
                           multi_label=bool(getattr(model, "multi_label_", False)),
                           threshold=float(getattr(model, "threshold", 0.5)))

    def _empty(self) -> Predictions:
        hook = getattr(self.model, "predictions", None)
        if callable(hook) and getattr(self.model, "uses_slot_tags", False):
            return hook([])  # with its (empty) slot tags, like any other batch
        return Predictions(self.classes, np.zeros((0, len(self.classes)), np.float32),
                           multi_label=bool(getattr(self.model, "multi_label_", False)),
                           threshold=float(getattr(self.model, "threshold", 0.5)))

    # -- pickling (Ray ships predictors to its workers) ------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        if self.model_dir is None:
            raise TypeError("a Predictor built from an in-memory model cannot be pickled: "
                            "save the model (model.save(DIR)) and build Predictor(DIR)")
        return {"model_dir": str(self.model_dir), "batch_size": self.batch_size}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["model_dir"], batch_size=state["batch_size"])  # type: ignore[misc]

    def __repr__(self) -> str:
        source = self.model_dir if self.model_dir is not None else type(self.model).__name__
        return f"Predictor({str(source)!r}, batch_size={self.batch_size})"


def default_batch_size(model: Any) -> int:
    """The model's ``batch_size`` setting, else a size that suits its family."""
    setting = getattr(model, "batch_size", None)
    if isinstance(setting, int) and not isinstance(setting, bool) and setting >= 1:
        return setting
    return _FAMILY_BATCH.get(getattr(model, "family", ""), _DEFAULT_BATCH)

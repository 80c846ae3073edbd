"""The backend protocol and the lookup by name (each backend imported on first use)."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from whichmodel.errors import SettingError, did_you_mean, quote

# Backend name -> "module:Class", imported when first asked for, so a backend's own
# dependencies (onnxruntime, say) load only for the callers that use it.
_BACKENDS: dict[str, str] = {
    "torch": "whichmodel.models.backends.torch_body:TorchBodyBackend",
}


@runtime_checkable
class BodyBackend(Protocol):
    """What a family needs from an inference engine for a sentence-transformer body."""

    @property
    def dimension(self) -> int | None:
        """Length of one embedding (None where the model does not say)."""

    def encode(self, texts: Sequence[str], batch_size: int, *,
               show_progress_bar: bool = False) -> np.ndarray:
        """Embeddings (len(texts), dimension) float32, at most ``batch_size`` texts a
        forward pass; a progress bar (tqdm) when ``show_progress_bar``."""


def available_backends() -> list[str]:
    """Names `get_backend` accepts, sorted."""
    return sorted(_BACKENDS)


def get_backend(name: str, model: Any, **options: Any) -> BodyBackend:
    """The backend called ``name`` for a loaded ``SentenceTransformer`` ``model``.

    ``options`` go to the backend (the torch one takes ``precision`` and ``normalize``).
    An unknown name is a `SettingError` listing the known ones.
    """
    target = _BACKENDS.get(name) if isinstance(name, str) else None
    if target is None:
        hint = did_you_mean(name, _BACKENDS) if isinstance(name, str) else ""
        raise SettingError(f"unknown inference backend {quote(name)}{hint}; known backends: "
                           f"{', '.join(available_backends())}", setting="backend")
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)(model, **options)


def l2_normalized(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` (n, d) scaled to unit length, float32; all-zero rows stay zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.float32(1e-12))

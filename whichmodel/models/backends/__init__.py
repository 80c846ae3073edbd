"""Inference backends for sentence-transformer bodies: one seam for every family that
embeds text.

The `embedding` family (a frozen body, through `whichmodel.backbones.embedding_cache`) and
the `setfit` family (its fine-tuned body) both encode through a backend from
`get_backend`, so their inference speed is measured on the same code path. A backend is
small (`BodyBackend`: ``encode(texts, batch_size)`` and ``dimension``); as in
sentence-transformers (``SentenceTransformer(..., backend="onnx")``), another engine is
one more entry in the lookup, imported only when asked for.

Backends: ``"torch"`` (`TorchBodyBackend`: the loaded body itself, tokenised once,
length-sorted chunks, precision "auto" | "fp32" | "bf16"). An ONNX backend will go here.
"""

from __future__ import annotations

from whichmodel.models.backends.lookup import (
    BodyBackend,
    available_backends,
    get_backend,
    l2_normalized,
)

__all__ = ["BodyBackend", "available_backends", "get_backend", "l2_normalized"]

"""The torch backend: a loaded SentenceTransformer run through `SentenceBody`.

Why not ``SentenceTransformer.encode``: texts are tokenised once into a flat token array
and encoded in length-sorted chunks of about `CHUNK_TOKENS` padded tokens, under bf16
autocast where the hardware runs it natively. That is the path the `setfit` family trains
on, so the `embedding` family's frozen body and a fine-tuned SetFit body are encoded (and
timed) the same way. In fp32 the vectors equal ``SentenceTransformer.encode``'s to float
rounding (2e-7 at most on 1,000 Banking77 texts); bf16 ones are within a cosine of 0.9999.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from whichmodel.models.backends.lookup import l2_normalized
from whichmodel.models.sentence_body import (
    PRECISIONS,
    SentenceBody,
    TokenizedTexts,
    inference_parts,
)


class TorchBodyBackend:
    """Encode with the torch weights of ``model`` (a loaded ``SentenceTransformer``).

    ``precision``: "fp32", "bf16" (autocast) or "auto" (bf16 where the model's device runs
    it natively: a CUDA GPU with bf16, a CPU with AVX512-BF16 or AMX; else fp32).
    ``normalize``: scale every embedding to unit length (the `setfit` family turns it off,
    since its head was fitted on the body's own output). The model is used as it is, not
    copied: a body being trained is encoded with its current weights.
    """

    name = "torch"

    def __init__(self, model: Any, *, precision: str = "auto", normalize: bool = True) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose one of: "
                             f"{', '.join(PRECISIONS)}")
        self.body = SentenceBody(model, precision)
        self.normalize = normalize

    @property
    def model(self) -> Any:
        return self.body.model

    @property
    def dimension(self) -> int | None:
        """Length of one embedding, as the model's modules say (None if they do not)."""
        dimension = (getattr(self.model, "get_embedding_dimension", None)
                     or self.model.get_sentence_embedding_dimension)  # the name before s-t 6
        return dimension()

    @property
    def precision(self) -> str:
        """The precision forward passes run in here: "bf16" or "fp32" ("auto" resolved)."""
        return "bf16" if self.body.uses_bf16() else "fp32"

    def encode(self, texts: Sequence[str], batch_size: int, *,
               show_progress_bar: bool = False) -> np.ndarray:
        """Embeddings (len(texts), dimension) float32 of ``texts``.

        Texts are tokenised and encoded in the parts `SentenceBody.embed` would use
        (`inference_parts`), so the vectors are those of `encode_tokenized` on all of them
        at once, and the progress bar can advance part by part.
        """
        from tqdm.auto import tqdm

        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension or 0), dtype=np.float32)
        parts = inference_parts(len(texts))
        with tqdm(total=len(texts), unit="text", desc="encoding", leave=False,
                  disable=not show_progress_bar) as bar:
            vectors = []
            for part in parts:
                ids = self.body.tokenize([texts[i] for i in part])
                vectors.append(self.encode_tokenized(ids, batch_size))
                bar.update(len(part))
        return np.concatenate(vectors)

    def encode_tokenized(self, ids: TokenizedTexts, batch_size: int) -> np.ndarray:
        """Embeddings (len(ids), dimension) float32 of texts tokenised by ``body.tokenize``
        (the `setfit` family tokenises its training texts once and embeds them often)."""
        if len(ids) == 0:
            return np.zeros((0, self.dimension or 0), dtype=np.float32)
        vectors = self.body.embed(ids, batch_size)
        return l2_normalized(vectors) if self.normalize else vectors

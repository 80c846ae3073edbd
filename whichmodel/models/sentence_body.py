"""A sentence-transformer body run on pre-tokenised texts, for training and for inference.

The `setfit` family trains its body here. Why this exists instead of
``SentenceTransformer.encode`` plus a plain backward pass:

* Texts are tokenised once, into one flat int32 array (`TokenizedTexts`); a batch is
  padded only to its own longest member, and its sentences go through the body in
  length-sorted chunks of about `CHUNK_TOKENS` padded tokens. Padding is then nearly free
  even when lengths vary a lot.
* Precision: bf16 autocast where the hardware runs it natively (`native_bf16`), fp32
  elsewhere, or as asked.
* Gradient caching (Gao et al., 2021, "Scaling deep contrastive learning batch size under
  memory limited setup") for batches over a token limit: the batch is embedded without
  autograd, the loss gradient is taken per embedding, then each chunk is re-encoded on its
  replayed dropout masks and back-propagated alone. The parameters get the gradients of a
  plain backward, and only one chunk's activations are alive at a time. The loss can be any
  function of the batch's embeddings (a contrastive loss, or a head and cross-entropy: the
  head's parameters get their gradients in the first backward).
"""

from __future__ import annotations

import contextlib
import functools
import math
import platform
from collections.abc import Callable

import numpy as np

# Tokens per forward chunk: sentences of a batch are sorted by length and encoded in chunks
# of about this many (padded) tokens; large enough for efficient matmuls, small enough that
# one long outlier does not pad the whole batch.
CHUNK_TOKENS = 1024
PRECISIONS = ("auto", "fp32", "bf16")
# Texts per inference part: `SentenceBody.embed` length-sorts and encodes this many at a
# time, so one call on a million texts holds one part's padded arrays, not all of them.
EMBED_PART_TEXTS = 4096


class TokenizedTexts:
    """Token ids of many texts in one flat int32 array + offsets (no Python lists kept)."""

    def __init__(self, flat: np.ndarray, offsets: np.ndarray, pad_id: int) -> None:
        self.flat, self.offsets, self.pad_id = flat, offsets, pad_id
        self.lengths = np.diff(offsets)

    @classmethod
    def from_lists(cls, encoded: list[list[int]], pad_id: int) -> TokenizedTexts:
        lengths = np.fromiter((len(x) for x in encoded), dtype=np.int64, count=len(encoded))
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        flat = np.fromiter((t for x in encoded for t in x), dtype=np.int32,
                           count=int(offsets[-1]))
        return cls(flat, offsets, pad_id)

    def __len__(self) -> int:
        return len(self.lengths)

    def padded(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(input_ids, attention_mask) int64 arrays for ``rows``, padded to their longest."""
        width = int(self.lengths[rows].max())
        input_ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            start, stop = self.offsets[row], self.offsets[row + 1]
            input_ids[i, :stop - start] = self.flat[start:stop]
            mask[i, :stop - start] = 1
        return input_ids, mask


class SentenceBody:
    """A loaded ``SentenceTransformer`` (``model``) encoded chunk by chunk.

    ``precision`` is one of `PRECISIONS`; ``gradient_cache_tokens`` is the batch size, in
    tokens, above which `backward` uses gradient caching (0: never).
    """

    def __init__(self, model, precision: str = "auto", gradient_cache_tokens: int = 0) -> None:
        self.model = model
        self.precision = precision
        self.gradient_cache_tokens = gradient_cache_tokens
        # Set by a family that tunes only the top layers (`frozen_layers.LowerLayerCache`):
        # training passes then start from the cached output of the frozen lower layers.
        self.lower_cache = None

    @property
    def device(self):
        return self.model.device

    def tokenize(self, texts: list[str]) -> TokenizedTexts:
        """Token ids of ``texts``, truncated to the body's ``max_seq_length``."""
        tokenizer = self.model.tokenizer
        limit = int(self.model.max_seq_length or tokenizer.model_max_length)
        encoded = tokenizer(self.cased(texts), truncation=True, max_length=limit,
                            add_special_tokens=True)["input_ids"]
        return TokenizedTexts.from_lists(encoded, tokenizer.pad_token_id or 0)

    def cased(self, texts: list[str]) -> list[str]:
        """``texts`` lower-cased when the backbone's Transformer module says so.

        Older sentence-transformers releases (3.x) lower-case in `Transformer.tokenize`
        when its ``do_lower_case`` flag is set, not in the tokenizer; 6.x builds it into the
        tokenizer's normaliser, where lower-casing twice changes nothing."""
        if getattr(self.model[0], "do_lower_case", False):
            return [t.lower() for t in texts]
        return list(texts)

    def uses_bf16(self) -> bool:
        """Whether forward passes run under bf16 autocast (`uses_bf16`)."""
        return uses_bf16(self.precision, self.device.type)

    def autocast(self) -> contextlib.AbstractContextManager:
        return bf16_autocast(self.precision, self.device.type)

    def chunks(self, ids: TokenizedTexts, rows: np.ndarray,
               max_batch: int | None = None) -> list[np.ndarray]:
        """Positions in ``rows``, grouped into length-sorted chunks of about `CHUNK_TOKENS`.

        Sorted by length (at most ``max_batch`` rows a chunk) so that no short sentence is
        padded to a long one.
        """
        lengths = ids.lengths[rows]
        order = np.argsort(lengths, kind="stable")
        chunks, start = [], 0
        while start < len(order):
            stop = start + 1
            # Sorted ascending, so the chunk's padded size is (rows so far) × the last length.
            while (stop < len(order) and (stop - start + 1) * lengths[order[stop]] <= CHUNK_TOKENS
                   and (max_batch is None or stop - start < max_batch)):
                stop += 1
            chunks.append(order[start:stop])
            start = stop
        return chunks

    def encode_chunk(self, ids: TokenizedTexts, rows: np.ndarray):
        """Sentence embeddings (len(rows), d), float32, of one chunk, with autograd if on."""
        import torch

        input_ids, mask = ids.padded(rows)
        features = {"input_ids": torch.from_numpy(input_ids).to(self.device),
                    "attention_mask": torch.from_numpy(mask).to(self.device)}
        cache = self.lower_cache if self.model.training else None
        with self.autocast(), (cache.active(ids, rows) if cache else contextlib.nullcontext()):
            return self.model(features)["sentence_embedding"].float()

    def forward(self, ids: TokenizedTexts, rows: np.ndarray, max_batch: int | None = None):
        """Embeddings (len(rows), d) of ``rows``, in the order given, with autograd if on."""
        import torch

        chunks = self.chunks(ids, rows, max_batch)
        with self.autocast():  # one autocast region: bf16 weight copies made once a batch
            embeddings = torch.cat([self.encode_chunk(ids, rows[chunk]) for chunk in chunks])
        order = np.concatenate(chunks)
        inverse = np.empty(len(order), dtype=np.int64)
        inverse[order] = np.arange(len(order))
        return embeddings[torch.from_numpy(inverse).to(embeddings.device)]

    def embed(self, ids: TokenizedTexts, batch_size: int) -> np.ndarray:
        """Inference embeddings (n, d) float32, at most ``batch_size`` texts a chunk."""
        import torch

        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                rows = np.arange(len(ids))
                parts = [self.forward(ids, part, max_batch=batch_size).cpu().numpy()
                         for part in inference_parts(len(rows))]
        finally:
            self.model.train(was_training)
        return np.concatenate(parts).astype(np.float32)

    # -- training ---------------------------------------------------------------------------
    def backward(self, ids: TokenizedTexts, rows: np.ndarray,
                 loss_of: Callable[..., object]) -> float:
        """Back-propagate ``loss_of(embeddings of rows)``; gradient-cached when over the limit.

        ``loss_of`` maps the (len(rows), d) embeddings to a scalar tensor. Returns the loss.
        """
        if self.uses_gradient_cache(ids, rows):
            return self.cached_backward(ids, rows, loss_of)
        loss = loss_of(self.forward(ids, rows))
        loss.backward()
        return float(loss.detach())

    def uses_gradient_cache(self, ids: TokenizedTexts, rows: np.ndarray) -> bool:
        """Over the token limit, on a device whose dropout RNG can be replayed."""
        limit = int(self.gradient_cache_tokens)
        return (limit > 0 and self.device.type in ("cpu", "cuda")
                and int(ids.lengths[rows].sum()) > limit)

    def cached_backward(self, ids: TokenizedTexts, rows: np.ndarray,
                        loss_of: Callable[..., object]) -> float:
        """Gradient caching: the step's gradients in O(chunk) activation memory.

        Pass 1 embeds every chunk without autograd, recording the RNG state before each,
        so the dropout masks can be replayed. The loss is then taken on those embeddings,
        giving d loss / d embedding. Pass 2 re-encodes chunk by chunk with autograd, on
        the replayed masks, and back-propagates that gradient, so only one chunk's
        activations are alive at a time. The parameters get the gradients a plain
        backward would give, for one extra forward pass. Returns the loss.
        """
        import torch

        chunks = self.chunks(ids, rows)
        states, embeddings = [], None
        with torch.no_grad():
            for chunk in chunks:
                states.append(self.rng_state())
                part = self.encode_chunk(ids, rows[chunk])
                if embeddings is None:
                    embeddings = part.new_empty((len(rows), part.shape[1]))
                embeddings[torch.from_numpy(chunk).to(part.device)] = part
        embeddings.requires_grad_(True)
        loss = loss_of(embeddings)
        loss.backward()
        gradient = embeddings.grad
        if gradient is None:  # nothing to score (no positives in the batch): a zero step
            return float(loss.detach())
        end_state = self.rng_state()
        for chunk, state in zip(chunks, states):
            self.set_rng_state(state)
            index = torch.from_numpy(chunk).to(gradient.device)
            self.encode_chunk(ids, rows[chunk]).backward(gradient[index])
        self.set_rng_state(end_state)
        return float(loss.detach())

    def rng_state(self) -> tuple:
        """The generators dropout draws from: the CPU one, and the body's GPU when on CUDA."""
        import torch

        cuda = self.device.type == "cuda"
        return torch.get_rng_state(), (torch.cuda.get_rng_state(self.device)
                                       if cuda else None)

    def set_rng_state(self, state: tuple) -> None:
        import torch

        torch.set_rng_state(state[0])
        if state[1] is not None:
            torch.cuda.set_rng_state(state[1], self.device)


def inference_parts(n: int) -> list[np.ndarray]:
    """Positions 0..n-1 split into equal parts of at most `EMBED_PART_TEXTS` (one part,
    maybe empty, when n is small): the parts `SentenceBody.embed` encodes one by one."""
    return np.array_split(np.arange(n), max(1, math.ceil(n / EMBED_PART_TEXTS)))


def uses_bf16(precision: str, device_type: str) -> bool:
    """Whether a model at ``precision`` runs under bf16 autocast on ``device_type``:
    "bf16", or "auto" where the device runs bf16 natively (`native_bf16`)."""
    return precision == "bf16" or (precision == "auto" and native_bf16(device_type))


def bf16_autocast(precision: str, device_type: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on ``device_type`` where `uses_bf16`, else a no-op context (weights
    stay fp32 either way)."""
    import torch

    if not uses_bf16(precision, device_type):
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, dtype=torch.bfloat16)


def native_bf16(device_type: str) -> bool:
    """Whether ``device_type`` runs bf16 matmuls natively (else autocast only costs time)."""
    import torch

    if device_type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device_type != "cpu":
        return False
    if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686"):
        # oneDNN also "supports" bf16 on plain AVX512 by emulation, which is slower than
        # fp32: ask for the instructions themselves (Linux lists them in /proc/cpuinfo).
        return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})
    try:  # Arm: oneDNN's check looks for the bf16 extension itself
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is no such file).

    Cached: `SentenceBody.autocast` asks on every forward pass, and the file does not
    change."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


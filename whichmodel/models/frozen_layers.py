"""Tuning only the top layers of a sentence-transformer body, the frozen rest run once.

Why: with few labels, contrastive tuning of the top half of MiniLM's layers scores like
tuning all of them (BENCHMARKS.md, issue 19), and then the lower half need not run on
every step at all. `freeze_lower_layers` stops the gradients there (no backward pass
through the lower layers, no optimizer state for them); `LowerLayerCache` runs the frozen
embeddings and lower layers once over the training texts, in inference mode, and feeds
their hidden states to the top layers on every step, so a step costs the top layers'
forward and backward only. The lower layers then see no dropout during training, which
they would not update anyway.

How, without reaching into a model's attention-mask code: for the cache pass the
network's layer list holds only the lower layers; for a training step, its embeddings
module is replaced by one that returns the cached hidden states (padded like the chunk)
and its layer list holds only the top layers. The network builds its own attention mask
either way. `LowerLayerCache.build` checks once that the two halves reproduce the whole
network's output and returns None (tune without the cache) where they do not.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

# Largest cache kept (bytes of float32 hidden states); beyond it the frozen layers run on
# every step, as without a cache (still no backward pass through them).
MAX_CACHE_BYTES = 1 << 30


def layer_list(network):
    """(owner, attribute) of the network's stacked layers: BERT, MPNet, RoBERTa and most
    encoders keep them in ``encoder.layer``; None where there is no such list."""
    import torch

    encoder = getattr(network, "encoder", None)
    if encoder is not None and isinstance(getattr(encoder, "layer", None), torch.nn.ModuleList):
        return encoder, "layer"
    return None


def transformer_layers(network) -> list:
    """The stacked layers of a transformer (``encoder.layer``, else its longest module
    list)."""
    import torch

    found = layer_list(network)
    if found is not None:
        return list(getattr(*found))
    lists = [m for m in network.modules() if isinstance(m, torch.nn.ModuleList)]
    if not lists:
        raise ValueError(f"{type(network).__name__}: no stacked layers found to freeze")
    return list(max(lists, key=len))


def all_but_lowest_layer(model) -> int | None:
    """SetFit's "auto" ``trainable_layers`` for the sentence-transformer ``model``: every
    layer but the lowest, or None (train whole) for a body with no stacked layers to
    split, such as static embeddings."""
    try:
        layers = transformer_layers(model[0].auto_model)
    except (AttributeError, ValueError):
        return None
    return max(1, len(layers) - 1) if layers else None


def freeze_lower_layers(model, trainable: int) -> int:
    """Freeze every parameter of the sentence-transformer ``model`` except its top
    ``trainable`` transformer layers; returns how many layers stay frozen."""
    layers = transformer_layers(model[0].auto_model)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    frozen = max(0, len(layers) - trainable)
    for layer in layers[frozen:]:
        for parameter in layer.parameters():
            parameter.requires_grad_(True)
    return frozen


class _CachedEmbeddings:
    """Stands in for the embeddings module: returns the hidden states it was given."""

    def __init__(self) -> None:
        self.hidden = None

    def __call__(self, *args, **kwargs):
        return self.hidden


@contextlib.contextmanager
def _swapped(network, layers, embeddings=None) -> Iterator[None]:
    """``network`` with only ``layers`` in its layer list (and ``embeddings`` in place of
    its embeddings module, if given), put back afterwards."""
    import torch

    owner, name = layer_list(network)
    original_layers, original_embeddings = getattr(owner, name), network.embeddings
    # Set through __dict__ so that torch's module registry is not touched (a stand-in
    # that is not a Module cannot be registered, and nothing should be saved with it).
    owner._modules[name] = torch.nn.ModuleList(layers)
    if embeddings is not None:
        network._modules.pop("embeddings")
        network.__dict__["embeddings"] = embeddings
    try:
        yield
    finally:
        owner._modules[name] = original_layers
        if embeddings is not None:
            del network.__dict__["embeddings"]
            network._modules["embeddings"] = original_embeddings


class LowerLayerCache:
    """Hidden states of every training text after the frozen lower layers.

    Stored flat, (total tokens + 1, d) float32 in the texts' own token order (the last
    row zeros, for padding), so a chunk's padded input is one gather.
    """

    def __init__(self, network, frozen: int, flat, offsets: np.ndarray) -> None:
        self.network, self.frozen, self.flat, self.offsets = network, frozen, flat, offsets
        self.lengths = np.diff(offsets)
        self.embeddings = _CachedEmbeddings()

    @classmethod
    def build(cls, body, ids, frozen: int) -> LowerLayerCache | None:
        """The cache for ``ids`` (`TokenizedTexts`) under `SentenceBody` ``body``'s model
        with its lowest ``frozen`` layers frozen; None when there is nothing to cache, the
        cache would pass `MAX_CACHE_BYTES`, or the network cannot be split this way."""
        import torch

        network = body.model[0].auto_model
        if frozen <= 0 or layer_list(network) is None or not hasattr(network, "embeddings"):
            return None
        width = int(getattr(network.config, "hidden_size", 0) or 0)
        if not width or (int(ids.lengths.sum()) + 1) * width * 4 > MAX_CACHE_BYTES:
            return None
        layers = transformer_layers(network)
        flat = torch.zeros((int(ids.lengths.sum()) + 1, width), device=body.device)
        was_training = body.model.training
        body.model.eval()
        try:
            with torch.no_grad(), body.autocast(), _swapped(network, layers[:frozen]):
                for chunk in body.chunks(ids, np.arange(len(ids))):
                    hidden = cls._run(network, ids, chunk, body.device).float()
                    for i, row in enumerate(chunk):
                        start, stop = ids.offsets[row], ids.offsets[row + 1]
                        flat[start:stop] = hidden[i, :stop - start]
            cache = cls(network, frozen, flat, ids.offsets)
            if not cache._reproduces(body, ids):
                return None
        finally:
            body.model.train(was_training)
        return cache

    @staticmethod
    def _run(network, ids, rows: np.ndarray, device):
        import torch

        input_ids, mask = ids.padded(rows)
        return network(input_ids=torch.from_numpy(input_ids).to(device),
                       attention_mask=torch.from_numpy(mask).to(device)).last_hidden_state

    def _reproduces(self, body, ids) -> bool:
        """Whether cached lower layers + top layers give the whole network's output on a
        few texts (inference mode, so no dropout on either side)."""
        import torch

        rows = np.arange(min(4, len(ids)))
        with torch.no_grad():
            whole = body.encode_chunk(ids, rows)
            with self.active(ids, rows):
                split = body.model(self._features(ids, rows, body.device))["sentence_embedding"]
        return bool(torch.allclose(whole, split.float(), atol=1e-3, rtol=1e-3))

    @staticmethod
    def _features(ids, rows: np.ndarray, device) -> dict:
        import torch

        input_ids, mask = ids.padded(rows)
        return {"input_ids": torch.from_numpy(input_ids).to(device),
                "attention_mask": torch.from_numpy(mask).to(device)}

    @contextlib.contextmanager
    def active(self, ids, rows: np.ndarray) -> Iterator[None]:
        """The network, for one forward pass over ``rows``, starting from the cache."""
        import torch

        width = int(self.lengths[rows].max())
        positions = np.arange(width)
        index = self.offsets[rows][:, None] + positions[None, :]
        index[positions[None, :] >= self.lengths[rows][:, None]] = len(self.flat) - 1
        self.embeddings.hidden = self.flat[torch.from_numpy(index).to(self.flat.device)]
        layers = transformer_layers(self.network)[self.frozen:]
        try:
            with _swapped(self.network, layers, self.embeddings):
                yield
        finally:
            self.embeddings.hidden = None

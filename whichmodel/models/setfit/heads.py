"""A torch linear head trained on cached embeddings, kept as a `LinearHead` (plain arrays).

Why cached: the body is frozen while the head trains, so each text is encoded once and
every epoch runs over the (n, d) embedding matrix, a few milliseconds per epoch, where the
reference `setfit` library re-runs the body on every batch of every epoch. The result is
stored exactly like the logistic-regression head (``coef`` (k, d), ``intercept`` (k,)),
so saving, loading and `predict_proba` are one code path for both heads.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from whichmodel.models.linear_head import LinearHead


def head_logits_module(head: LinearHead) -> torch.nn.Linear:
    """A `torch.nn.Linear` computing ``head``'s scores (binary: the two-column softmax form)."""
    coef, intercept = head.coef, head.intercept
    if not head.multi_label and coef.shape[0] == 1:
        # softmax([0, s]) == [1 − σ(s), σ(s)]: the same probabilities as the binary head.
        coef = np.concatenate([np.zeros_like(coef), coef])
        intercept = np.concatenate([np.zeros_like(intercept), intercept])
    layer = torch.nn.Linear(coef.shape[1], coef.shape[0])
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(coef, dtype=np.float32)))
        layer.bias.copy_(torch.from_numpy(np.ascontiguousarray(intercept, dtype=np.float32)))
    return layer


def head_from_module(layer: torch.nn.Linear, multi_label: bool) -> LinearHead:
    """The arrays of a trained `torch.nn.Linear` as a `LinearHead`."""
    return LinearHead(layer.weight.detach().cpu().numpy().astype(np.float32),
                      layer.bias.detach().cpu().numpy().astype(np.float32),
                      multi_label=multi_label)


def head_loss(logits: torch.Tensor, y: torch.Tensor, multi_label: bool) -> torch.Tensor:
    """Cross-entropy (single-label, class ids) or per-label binary cross-entropy."""
    if multi_label:
        return F.binary_cross_entropy_with_logits(logits, y.float())
    return F.cross_entropy(logits, y.long())


def fit_linear_head(features: np.ndarray, y: np.ndarray, *, multi_label: bool,
                    n_classes: int, epochs: int = 100, batch_size: int = 32,
                    learning_rate: float = 1e-2, weight_decay: float = 1e-3,
                    seed: int = 0) -> LinearHead:
    """Train a linear layer with AdamW on cached ``features`` (n, d); returns its arrays.

    ``epochs`` passes over the cache in shuffled mini-batches of ``batch_size`` items.
    """
    generator = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(np.asarray(features, dtype=np.float32))
    target = torch.as_tensor(y)
    with torch.random.fork_rng(devices=[]):  # construction draws from the global RNG
        layer = torch.nn.Linear(x.shape[1], n_classes)
    with torch.no_grad():  # seeded start, independent of the global torch RNG
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * 0.01)
        layer.bias.zero_()
    optimizer = torch.optim.AdamW(layer.parameters(), lr=learning_rate,
                                  weight_decay=weight_decay)
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=generator).split(batch_size):
            loss = head_loss(layer(x[batch]), target[batch], multi_label)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return head_from_module(layer, multi_label)

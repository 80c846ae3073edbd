"""Tuning only the top layers of a SetFit body, the frozen lower layers cached.

Real MiniLM, real Banking77 texts: the cached path must give the gradients the whole
network gives, touch nothing below the tuned layers, and fall back when it cannot cache.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from whichmodel.models import frozen_layers
from whichmodel.models.frozen_layers import LowerLayerCache, freeze_lower_layers
from whichmodel.models.setfit import SetFitClassifier
from whichmodel.models.setfit.contrastive_losses import contrastive_loss, similarity_targets

TINY = {"num_epochs": 0.5, "batch_size": 16, "progress_bar": False, "precision": "fp32"}


@pytest.fixture(scope="module")
def slice_data(banking77_slice):
    train = banking77_slice["train_df"]
    return list(train.text), list(train.category), list(banking77_slice["test_df"].text)


def _no_dropout(module: torch.nn.Module) -> None:
    for part in module.modules():
        if isinstance(part, torch.nn.Dropout):
            part.p = 0.0


def test_cached_lower_layers_give_the_whole_networks_gradients(slice_data):
    texts, labels, _ = slice_data
    model = SetFitClassifier(**TINY)
    model._load_body(model.backbone)
    body = model._sentence_body
    assert freeze_lower_layers(model.body_, 2) == 4  # MiniLM-L6: 4 frozen, 2 tuned
    ids, rows = body.tokenize(texts[:40]), np.arange(8, 40)
    cache = LowerLayerCache.build(body, ids, 4)
    assert cache is not None and cache.flat.shape[0] == int(ids.lengths.sum()) + 1
    similar = similarity_targets(torch.as_tensor(np.unique(labels[:40], return_inverse=True)[1]
                                                 )[torch.from_numpy(rows)])

    def gradients() -> dict:
        model.body_.zero_grad(set_to_none=True)
        body.backward(ids, rows, lambda e: contrastive_loss("supcon", e, similar,
                                                            temperature=0.05))
        return {n: p.grad.clone() for n, p in model.body_.named_parameters()
                if p.grad is not None}

    model.body_.train()
    _no_dropout(model.body_)  # the two paths differ only by dropout below the top layers
    whole = gradients()
    body.lower_cache = cache
    cached = gradients()
    assert whole.keys() == cached.keys()
    assert whole and all(".layer.4." in n or ".layer.5." in n for n in whole)
    for name, grad in whole.items():
        torch.testing.assert_close(cached[name], grad, rtol=1e-3, atol=1e-5, msg=name)
    # Outside training (inference, evaluation) the cache is never used.
    model.body_.eval()
    with torch.no_grad():
        np.testing.assert_allclose(body.forward(ids, rows[:3]).numpy(),
                                   model.body_.encode(texts[8:11], convert_to_numpy=True),
                                   atol=1e-4)
    # The network is put back whole after every cached pass.
    assert len(model.body_[0].auto_model.encoder.layer) == 6
    assert isinstance(model.body_[0].auto_model.embeddings, torch.nn.Module)


@pytest.mark.parametrize("setting, tuned_layers", [(2, {4, 5}), ("auto", {1, 2, 3, 4, 5}),
                                                     (None, None)])
def test_a_fit_tunes_only_the_top_layers(slice_data, setting, tuned_layers):
    texts, labels, test_texts = slice_data
    untuned = SetFitClassifier(**TINY)
    untuned._load_body(untuned.backbone)
    before = {n: p.detach().clone() for n, p in untuned.body_.named_parameters()}
    model = SetFitClassifier(trainable_layers=setting, seed=1, **TINY).fit(texts, labels)
    assert model.log_["steps"] > 0
    if tuned_layers is None:  # None: the whole body, embeddings too, nothing cached
        assert "frozen_layers" not in model.log_
    else:  # "auto" (the default): all but the lowest of MiniLM-L6's six layers
        assert model.log_["frozen_layers"] == 6 - len(tuned_layers)
        assert model.log_["lower_layer_cache"] is True
    for name, weights in model.body_.named_parameters():
        changed = not torch.equal(weights.detach(), before[name])
        layer = name.split(".layer.")[1].split(".")[0] if ".layer." in name else None
        tuned = tuned_layers is None or (layer is not None and int(layer) in tuned_layers)
        if "pooler" not in name:  # the pooler is not on the sentence-embedding path
            assert changed == tuned, name
    assert set(model.predict(test_texts[:10])) <= set(labels)


def test_without_room_for_the_cache_the_frozen_layers_run_each_step(slice_data, monkeypatch):
    texts, labels, _ = slice_data
    monkeypatch.setattr(frozen_layers, "MAX_CACHE_BYTES", 1)
    model = SetFitClassifier(trainable_layers=3, seed=1, **TINY).fit(texts, labels)
    assert model.log_["frozen_layers"] == 3 and model.log_["lower_layer_cache"] is False
    # More tuned layers than the body has: nothing frozen, nothing cached.
    everything = SetFitClassifier(trainable_layers=12, seed=1, **TINY).fit(texts[:32], labels[:32])
    assert everything.log_["frozen_layers"] == 0
    assert everything.log_["lower_layer_cache"] is False

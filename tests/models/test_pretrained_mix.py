"""`pretrained_mix`: after contrastive training the tuned weights move that fraction of
the way back to the pretrained ones (WiSE-FT), on real MiniLM and Banking77 texts."""

from __future__ import annotations

import torch

from whichmodel.models.setfit import SetFitClassifier

TINY = {"num_epochs": 0.5, "batch_size": 16, "progress_bar": False, "precision": "fp32",
        "seed": 1}


def test_the_mixed_body_lies_between_the_tuned_and_the_pretrained_one(banking77_slice):
    train = banking77_slice["train_df"]
    texts, labels = list(train.text), list(train.category)
    pretrained = SetFitClassifier(**TINY)
    pretrained._load_body(pretrained.backbone)
    start = dict(pretrained.body_.named_parameters())
    tuned = dict(SetFitClassifier(**TINY).fit(texts, labels).body_.named_parameters())
    mixed = SetFitClassifier(pretrained_mix=0.25, **TINY).fit(texts, labels)
    moved = 0
    for name, weight in mixed.body_.named_parameters():
        expected = tuned[name] + 0.25 * (start[name] - tuned[name])
        torch.testing.assert_close(weight, expected, rtol=1e-4, atol=1e-6, msg=name)
        moved += not torch.equal(tuned[name], start[name])
    assert moved > 0  # training changed weights, so the mix had something to undo
    # It predicts through the mixed body and its own head.
    test_texts = list(banking77_slice["test_df"].text[:20])
    assert set(mixed.predict(test_texts)) <= set(labels)
    assert mixed.predict_proba(test_texts).shape == (20, len(set(labels)))

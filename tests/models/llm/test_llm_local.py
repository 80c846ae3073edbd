"""The local backend: SmolLM2 through transformers, every label scored after the prompt.

Slow: loading the GGUF (dequantised by transformers) takes 10–20 s on a busy 2-core
machine; the model is loaded once for the module.
"""

from __future__ import annotations

import numpy as np
import pytest

from whichmodel.models.base import load_model
from whichmodel.models.llm import LLMClassifier

pytestmark = pytest.mark.slow

GOOD, BAD = "I loved this film, it was wonderful!", "Terrible, boring and far too long. I hated it."


@pytest.fixture(scope="module")
def sentiment(smollm2):
    pytest.importorskip("gguf", reason="transformers reads a GGUF with the gguf package")
    return LLMClassifier(task_description="Classify the sentiment of the text.",
                         threads=1).fit([], [], classes=["good", "bad"])


def test_label_scores_are_probabilities_that_prefer_the_right_label(sentiment):
    p = sentiment.predictions([GOOD, BAD])
    np.testing.assert_allclose(p.proba.sum(axis=1), 1.0, rtol=1e-6)
    assert p.labels == ["good", "bad"]
    assert list(p.extras["answer_status"]) == ["ok", "ok"]
    assert (p.extras["input_tokens"] > 20).all() and not p.extras["output_tokens"].any()


def test_scores_over_a_shared_prefix_equal_a_full_forward_pass(sentiment):
    import torch

    scorer = sentiment._scorer()
    prompt = sentiment.prompts([GOOD])[0]
    scores, n_tokens = scorer.score(prompt, ["good", "bad"], "Label:")
    ids = scorer.prompt_ids(prompt, "Label:")
    assert n_tokens == len(ids)
    for label, score in zip(scorer.label_ids(["good", "bad"], "Label:"), scores):
        with torch.inference_mode():
            logits = scorer.model(input_ids=torch.tensor([ids + label])).logits[0].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        full = sum(logprobs[len(ids) - 1 + j, t].item() for j, t in enumerate(label))
        assert score == pytest.approx(full, abs=1e-3)


def test_a_saved_local_model_predicts_the_same(sentiment, tmp_path):
    folder = sentiment.save(tmp_path / "m")
    loaded = load_model(folder)
    np.testing.assert_allclose(loaded.predict_proba([GOOD, BAD]),
                               sentiment.predict_proba([GOOD, BAD]), rtol=1e-5)


def test_the_probe_times_few_items_of_a_slow_local_model(sentiment):
    from whichmodel.bench.probe import probe_inference

    calls = []
    original = sentiment._scorer().score

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    sentiment._scorer().score = counted
    try:
        probe = probe_inference(sentiment, [GOOD, BAD] * 18, batch_size=8, repeats=1,
                                latency_samples=50, throughput_items=512,
                                min_pass_seconds=0)
    finally:
        del sentiment._scorer().score
    measurement = probe.extra["measurement"]
    assert measurement["clock"] == "process CPU time"
    assert measurement["throughput_items"] == LLMClassifier.probe_throughput_items
    # quality pass 36, warm-up 8, one throughput pass 32, 8 latency calls
    assert len(calls) == 36 + 8 + 32 + LLMClassifier.probe_latency_samples
    assert probe.throughput_items_per_s > 0 and probe.input_tokens_per_item > 20

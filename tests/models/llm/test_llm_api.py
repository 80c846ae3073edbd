"""The api backend against a real OpenAI-compatible server (llama.cpp serving SmolLM2):
constrained answers, logprob probabilities, usage tokens, the answer cache, the key."""

from __future__ import annotations

import numpy as np
import pytest
from made_up_keys import made_up_key

from whichmodel.models.base import load_model
from whichmodel.models.llm import LLMClassifier
from whichmodel.predictor import Predictor


def _model(base_url, **settings):
    options = {"backend": "api", "base_url": base_url, "model": "smollm2",
               "api_key_env": None, "max_tokens": 32, "max_concurrency": 2,
               "timeout_s": 60, **settings}
    return LLMClassifier(**options)


def test_zero_shot_answers_are_constrained_to_the_labels_with_probabilities(
        llm_server, banking_tiny, intents):
    *_, texts, truth = banking_tiny
    model = _model(llm_server.base_url).fit([], [], classes=intents)
    p = Predictor(model).predict(texts)
    assert list(p.extras["answer_status"]) == ["ok"] * len(texts)  # the schema holds
    assert set(p.labels) <= set(intents)
    np.testing.assert_allclose(p.proba.sum(axis=1), 1.0, rtol=1e-5)
    assert (p.proba.max(axis=1) < 0.999).any()  # from logprobs, not all one-hot
    assert (p.extras["input_tokens"] > 50).all() and (p.extras["output_tokens"] > 3).all()
    assert (p.extras["latency_ms"] > 0).all() and not p.extras["cached"].any()
    accuracy = np.mean([a == b for a, b in zip(p.labels, truth)])
    assert accuracy >= 0.25  # SmolLM2-135M: better than chance on 4 intents, barely


def test_k_shot_nearest_puts_the_nearest_examples_in_each_prompt(llm_server, banking_tiny):
    train_texts, train_labels, texts, truth = banking_tiny
    model = _model(llm_server.base_url, shots=2, shot_selection="nearest")
    model.fit(train_texts, train_labels)
    prompts = model.prompts(texts[:2])
    assert prompts[0] != prompts[1] and prompts[0].count("\nLabel: ") == 2
    p = model.predictions(texts)
    assert list(p.extras["answer_status"]) == ["ok"] * len(texts)
    k_shot = np.mean([a == b for a, b in zip(p.labels, truth)])
    assert k_shot >= 0.25


def test_a_rerun_is_answered_from_the_cache_with_the_same_tokens(
        fault_proxy, banking_tiny, intents, tmp_path):
    *_, texts, _ = banking_tiny
    texts = texts[:4]
    model = _model(fault_proxy.base_url, cache_dir=str(tmp_path / "cache"))
    model.fit([], [], classes=intents)
    first = model.predictions(texts)
    assert len(fault_proxy.requests) == 4
    again = _model(fault_proxy.base_url, cache_dir=str(tmp_path / "cache"))
    second = again.fit([], [], classes=intents).predictions(texts)
    assert len(fault_proxy.requests) == 4 and again._endpoint().http_calls == 0
    assert second.extras["cached"].all()
    np.testing.assert_array_equal(second.proba, first.proba)
    for name in ("input_tokens", "output_tokens", "latency_ms"):
        np.testing.assert_array_equal(second.extras[name], first.extras[name])
    # a new prompt is a new key: paid for
    again.set_params(task_description="Pick the intent.").fit([], [], classes=intents)
    again.predictions(texts[:1])
    assert len(fault_proxy.requests) == 5


def test_the_api_key_is_sent_but_never_saved(fault_proxy, banking_tiny, intents, tmp_path,
                                             monkeypatch):
    secret = made_up_key()  # made at run time: no key-like literal in the source
    monkeypatch.setenv("WHICHMODEL_TEST_KEY", secret)
    cache = tmp_path / "cache"
    model = _model(fault_proxy.base_url, api_key_env="WHICHMODEL_TEST_KEY",
                   cache_dir=str(cache), api_model="cheap")
    model.fit([], [], classes=intents).predictions(banking_tiny[2][:1])
    assert fault_proxy.requests[0]["authorization"] == f"Bearer {secret}"
    folder = model.save(tmp_path / "model")
    for path in [*folder.rglob("*"), *cache.rglob("*")]:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    loaded = load_model(folder)
    assert loaded.api_key_env == "WHICHMODEL_TEST_KEY" and loaded.api_model_ == "cheap"
    # the loaded model answers the same prompt from the cache, no call made
    before = len(fault_proxy.requests)
    assert loaded.predictions(banking_tiny[2][:1]).extras["cached"].all()
    assert len(fault_proxy.requests) == before


def test_a_server_without_logprobs_or_schemas_is_still_answered(fault_proxy, banking_tiny,
                                                                 intents):
    fault_proxy.reset("400:logprobs are not supported", "400:response_format json_schema "
                      "is not supported")
    model = _model(fault_proxy.base_url, max_concurrency=1).fit([], [], classes=intents)
    p = model.predictions(banking_tiny[2][:2])
    sent = [r["body"] for r in fault_proxy.requests]
    assert "logprobs" in sent[0] and "logprobs" not in sent[1]
    assert "response_format" in sent[1] and "response_format" not in sent[2]
    assert model._endpoint().dropped == {"logprobs", "response_format"}
    assert len(sent) == 4  # two refusals, then one request per item
    assert set(p.extras["answer_status"]) <= {"ok", "unparseable"}


PRICES = {
    "date": "2025-01-01", "currency": "USD", "measurement_hardware": "cpu",
    "usd_per_label": 0.5, "usd_per_label_source": "test",
    "hardware": {"cpu": {"kind": "cpu", "usd_per_hour": 0.10, "speed_factor": 1.0,
                         "source": "test"}},
    "llm_api": {"cheap": {"usd_per_million_input_tokens": 1.0,
                          "usd_per_million_output_tokens": 4.0,
                          "usd_per_million_input_tokens_batch": 0.5,
                          "usd_per_million_output_tokens_batch": 2.0, "source": "test"}},
}


def test_an_api_candidate_is_priced_by_its_measured_tokens_at_its_tier(
        fault_proxy, banking_tiny, intents, tmp_path):
    import yaml

    from whichmodel.bench.probe import probe_inference
    from whichmodel.costs import cost_of, load_prices
    from whichmodel.costs.drivers import CostDrivers
    from whichmodel.costs.scenario import Scenario

    model = _model(fault_proxy.base_url, api_model="cheap").fit([], [], classes=intents)
    probe = probe_inference(model, banking_tiny[2][:4], batch_size=4)
    assert len(fault_proxy.requests) == 4  # the quality pass only: no paid call repeated
    measurement = probe.extra["measurement"]
    assert measurement["answers"] == {"ok": 4, "unparseable": 0, "failed": 0}
    assert measurement["clock"] == "wall" and probe.throughput_items_per_s > 0
    assert probe.latency_p95_ms >= probe.latency_p50_ms > 0

    (tmp_path / "prices.yaml").write_text(yaml.safe_dump(PRICES))
    prices = load_prices(path=tmp_path / "prices.yaml")
    scenario = Scenario(volume_per_month=1e6, horizon_months=1, hardware="cpu")
    tokens_in, tokens_out = probe.input_tokens_per_item, probe.output_tokens_per_item
    for tier, rate_in, rate_out in (("standard", 1.0, 4.0), ("batch", 0.5, 2.0)):
        drivers = CostDrivers(family="llm", n_labels=0, train_seconds=0.0,
                              throughput_items_per_s=probe.throughput_items_per_s,
                              input_tokens_per_item=tokens_in,
                              output_tokens_per_item=tokens_out,
                              api_model=model.api_model_, api_tier=tier)
        cost = cost_of(drivers, scenario, prices)
        assert cost.annotation_usd == 0 and not cost.self_hosted
        assert cost.inference_usd_per_month == pytest.approx(
            1e6 * (tokens_in * rate_in + tokens_out * rate_out) / 1e6)

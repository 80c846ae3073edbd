"""Failures between the classifier and its endpoint: each is retried or reported, no
result is lost or miscounted, and the probe's row says how many items failed."""

from __future__ import annotations

import time

import numpy as np
import pytest
from llm_server import free_port

from whichmodel.errors import LLMEndpointError
from whichmodel.models.llm import LLMClassifier


def _model(base_url, intents, **settings):
    options = {"backend": "api", "base_url": base_url, "model": "smollm2",
               "api_key_env": None, "max_tokens": 32, "max_concurrency": 1,
               "timeout_s": 60, "max_retries": 2, "retry_backoff_s": 0.05, **settings}
    return LLMClassifier(**options).fit([], [], classes=intents)


def test_a_server_that_is_down_fails_every_item_counted_never_labelled(intents):
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    model = _model(url, intents, max_failures=3)
    p = model.predictions(["one", "two", "three"])
    assert list(p.extras["answer_status"]) == ["failed"] * 3
    assert p.labels == [None] * 3 and not p.proba.any()
    assert model._endpoint().http_calls == 9  # 1 + 2 retries each
    with pytest.raises(LLMEndpointError, match=r"3 of 3 items got no answer.*cannot reach"):
        _model(url, intents).predictions(["one", "two", "three"])


def test_a_timeout_is_retried_and_then_answered(fault_proxy, banking_tiny, intents):
    fault_proxy.reset("sleep:4")
    # The real server may itself need over a second for a new prompt on a busy machine:
    # retries enough to get through.
    model = _model(fault_proxy.base_url, intents, timeout_s=1.5, max_retries=4)
    p = model.predictions(banking_tiny[2][:1])
    assert list(p.extras["answer_status"]) == ["ok"]
    assert len(fault_proxy.requests) >= 2 and p.extras["latency_ms"][0] >= 1500


def test_a_timeout_on_every_attempt_is_a_failure_that_says_so(fault_proxy, intents):
    fault_proxy.reset("sleep:2", "sleep:2")
    model = _model(fault_proxy.base_url, intents, timeout_s=0.5, max_retries=1)
    with pytest.raises(LLMEndpointError, match="no answer within timeout_s=0.5 s"):
        model.predictions(["x"])


def test_http_500_is_retried_until_it_answers(fault_proxy, banking_tiny, intents):
    fault_proxy.reset("500", "500")
    p = _model(fault_proxy.base_url, intents).predictions(banking_tiny[2][:1])
    assert list(p.extras["answer_status"]) == ["ok"] and len(fault_proxy.requests) == 3


def test_http_429_waits_as_long_as_retry_after_says(fault_proxy, banking_tiny, intents):
    fault_proxy.reset("429:1")
    started = time.perf_counter()
    p = _model(fault_proxy.base_url, intents).predictions(banking_tiny[2][:1])
    assert time.perf_counter() - started >= 1.0  # not the 0.05 s backoff
    assert list(p.extras["answer_status"]) == ["ok"] and len(fault_proxy.requests) == 2


def test_garbage_is_counted_unparseable_not_mapped_to_a_class(fault_proxy, banking_tiny,
                                                              intents):
    fault_proxy.reset("garbage")
    texts = banking_tiny[2][:3]
    p = _model(fault_proxy.base_url, intents).predictions(texts)
    assert list(p.extras["answer_status"]) == ["unparseable", "ok", "ok"]
    assert p.labels[0] is None and not p.proba[0].any() and p.labels[1] in intents
    # an unparseable answer was still paid for: its usage is kept
    assert p.extras["input_tokens"][0] == 50 and p.extras["output_tokens"][0] == 9


def test_a_body_that_is_not_a_completion_is_retried(fault_proxy, banking_tiny, intents):
    fault_proxy.reset("not-json")
    p = _model(fault_proxy.base_url, intents).predictions(banking_tiny[2][:1])
    assert list(p.extras["answer_status"]) == ["ok"] and len(fault_proxy.requests) == 2


def test_answers_before_a_failure_are_cached_so_a_rerun_pays_only_for_the_rest(
        fault_proxy, banking_tiny, intents):
    texts = banking_tiny[2][:3]
    fault_proxy.reset("none", "500", "500", "500")  # item 2 fails on every attempt
    with pytest.raises(LLMEndpointError, match=r"1 of 3 items.*HTTP 500.*2 answers"):
        _model(fault_proxy.base_url, intents).predictions(texts)
    fault_proxy.reset()
    rerun = _model(fault_proxy.base_url, intents)
    p = rerun.predictions(texts)
    assert list(p.extras["answer_status"]) == ["ok"] * 3
    assert p.extras["cached"].tolist() == [True, False, True]
    assert len(fault_proxy.requests) == 1


def test_the_probe_row_counts_failed_and_unparseable_items(fault_proxy, banking_tiny,
                                                           intents):
    from whichmodel.bench.probe import probe_inference
    from whichmodel.evaluate import evaluate_predictions

    *_, texts, truth = banking_tiny
    texts, truth = texts[:4], truth[:4]
    fault_proxy.reset("garbage", "500", "500", "500")
    model = _model(fault_proxy.base_url, intents, max_failures=1)
    probe = probe_inference(model, texts, batch_size=4)
    assert probe.extra["measurement"]["answers"] == {"ok": 2, "unparseable": 1, "failed": 1}
    assert len(fault_proxy.requests) == 6  # 4 items, 2 retries: nothing timed again
    report = evaluate_predictions(truth, probe.predictions)
    assert report["unanswered"] == 2 and report["accuracy"] <= 0.5
    assert np.isfinite(probe.latency_p95_ms)

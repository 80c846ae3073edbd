"""`whichmodel train --model llm --shots 0`, and an llm candidate in a bench at a zero
label budget next to a small model: its row, its cost, and `choose`."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from made_up_keys import made_up_key

from whichmodel.cli import main
from whichmodel.models.base import load_model


@pytest.fixture
def unlabelled_csv(tmp_path):
    path = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["my card has not come", "what rate do you give"]}).to_csv(
        path, index=False)
    return path


def test_zero_shot_training_reads_no_labels(unlabelled_csv, tmp_path, monkeypatch):
    secret = made_up_key()
    monkeypatch.setenv("WHICHMODEL_TEST_KEY", secret)
    out = tmp_path / "llm0"
    assert main(["train", str(unlabelled_csv), "--text", "text", "--model", "llm",
                 "--shots", "0", "--labels", "card_arrival,exchange_rate",
                 "--set", "backend=api", "--set", "base_url=http://127.0.0.1:9/v1",
                 "--set", "model=smollm2", "--set", "api_key_env=WHICHMODEL_TEST_KEY",
                 "--out", str(out)]) == 0
    model = load_model(out)
    assert model.classes_ == ["card_arrival", "exchange_rate"] and model.shots == 0
    assert model.training_["n_examples"] == 0
    meta = json.loads((out / "whichmodel.json").read_text())
    assert meta["settings"]["api_key_env"] == "WHICHMODEL_TEST_KEY"
    for path in out.rglob("*"):
        assert secret.encode() not in path.read_bytes()


def test_zero_shot_takes_the_label_set_from_the_label_column(banking_tiny, tmp_path):
    train_texts, train_labels, *_ = banking_tiny
    data = tmp_path / "train.csv"
    pd.DataFrame({"text": train_texts, "category": train_labels}).to_csv(data, index=False)
    out = tmp_path / "llm0"
    assert main(["train", str(data), "--text", "text", "--label", "category", "--model",
                 "llm", "--shots", "0", "--out", str(out)]) == 0
    model = load_model(out)
    assert model.classes_ == sorted(set(train_labels)) and model.shots_ == []
    assert model.training_["n_examples"] == 0 and model.backend == "local"


@pytest.mark.parametrize("argv, message", [
    (["--model", "tfidf", "--shots", "0", "--labels", "a,b"], "cannot do; families that"),
    (["--model", "llm", "--shots", "0"], "--label is required"),
    (["--model", "llm", "--shots", "0", "--labels", "a"], "at least 2 labels"),
    (["--model", "llm", "--shots", "0", "--labels", "a,b,a"], "lists 'a' twice"),
])
def test_zero_shot_refusals_are_one_line(unlabelled_csv, tmp_path, capsys, argv, message):
    code = main(["train", str(unlabelled_csv), "--text", "text", *argv,
                 "--out", str(tmp_path / "m")])
    assert code == 2 and message in capsys.readouterr().err


def test_an_llm_candidate_at_budget_0_sits_in_the_bench_next_to_a_small_model(
        llm_server, banking_tiny, tmp_path, capsys):
    from whichmodel.bench.question import open_question
    from whichmodel.choose import recommend
    from whichmodel.costs import cost_of, load_prices
    from whichmodel.costs.scenario import Scenario

    train_texts, train_labels, test_texts, test_labels = banking_tiny
    pd.DataFrame({"text": train_texts, "category": train_labels}).to_csv(
        tmp_path / "train.csv", index=False)
    pd.DataFrame({"text": test_texts, "category": test_labels}).to_csv(
        tmp_path / "test.csv", index=False)
    llm = {"backend": "api", "base_url": llm_server.base_url, "model": "smollm2",
           "api_key_env": None, "api_model": "cheap-test-llm", "max_tokens": 32,
           "max_concurrency": 2}
    spec = {
        "dataset": {"train": "train.csv", "test": "test.csv", "label": "category",
                    "validation_size": 0},
        "budgets": [0, 2], "seeds": [0],
        "candidates": [{"name": "llm-zero", "family": "llm", "settings": llm},
                       {"name": "tfidf", "family": "tfidf"}],
        "prices": {"llm_api": {"cheap-test-llm": {
            "usd_per_million_input_tokens": 1.0, "usd_per_million_output_tokens": 4.0,
            "source": "test"}}},
        "measure": {"latency_samples": 3, "repeats": 1, "throughput_items": 12},
    }
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    ledger = tmp_path / "runs.sqlite"
    assert main(["bench", str(tmp_path / "spec.yaml"), "--ledger", str(ledger),
                 "--quiet"]) == 0
    question = open_question(ledger)
    rows = {(r.candidate, r.budget): r for r in question.records}
    assert set(rows) == {("llm-zero", "0"), ("llm-zero", "2/class"), ("tfidf", "2/class")}
    zero = rows["llm-zero", "0"]
    assert zero.status == "ok" and zero.n_labels == 0 and zero.api_model == "cheap-test-llm"
    assert zero.input_tokens_per_item > 50 and zero.output_tokens_per_item > 3
    assert zero.measurement["answers"] == {"ok": 12, "unparseable": 0, "failed": 0}
    prices = load_prices(spec["prices"])
    scenario = Scenario(volume_per_month=1e5, horizon_months=12)
    cost = cost_of(zero, scenario, prices)
    assert cost.annotation_usd == 0 and not cost.self_hosted
    assert cost.inference_usd_per_month == pytest.approx(
        1e5 * (zero.input_tokens_per_item + 4 * zero.output_tokens_per_item) / 1e6)
    recommendation = recommend(question.records, scenario, prices)
    labels = {v.summary.candidate + " @ " + v.summary.budget for v in recommendation.verdicts}
    assert {"llm-zero @ 0", "tfidf @ 2/class"} <= labels
    capsys.readouterr()
    assert main(["choose", str(ledger), "--volume", "1e5"]) == 0
    assert "llm-zero" in capsys.readouterr().out


def test_a_zero_budget_runs_only_candidates_that_fit_on_names(unlabelled_csv):
    from whichmodel.bench.spec import parse_spec
    from whichmodel.errors import SpecError

    base = {"dataset": {"train": str(unlabelled_csv)}, "seeds": [0]}
    llm = {"name": "llm", "family": "llm"}
    tfidf = {"name": "tfidf", "family": "tfidf"}
    spec = parse_spec({**base, "budgets": [0, "2/class"], "candidates": [llm, tfidf]})
    assert [(c.name, b.label) for c, b, _ in spec.runs()] == [
        ("llm", "0"), ("llm", "2/class"), ("tfidf", "2/class")]
    with pytest.raises(SpecError, match="a budget of 0 .* runs only candidates"):
        parse_spec({**base, "budgets": [0], "candidates": [tfidf]})

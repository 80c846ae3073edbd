"""choose derives cascades from stored predictions: the pair, τ chosen on validation (not
test), the cost of both models, the confirmation on test, --json, the table, the report;
and from a real bench ledger (tfidf → embedding on the Banking77 slice)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from whichmodel.bench.ledger import Ledger
from whichmodel.bench.question import open_question
from whichmodel.bench.record import RunRecord
from whichmodel.cascade_choice import CascadeSummary, cascade_labels, derive_cascades
from whichmodel.costs import Scenario
from whichmodel.metrics import score
from whichmodel.predictions import Predictions
from whichmodel.route import cascade_predictions, sweep

CLASSES = [f"c{i}" for i in range(10)]
N = 100
# The first model's confidence on item i: 0.2 to ~1, evenly spread.
CONFIDENCE = 0.2 + 0.8 * np.arange(N) / N
TOKENS = 500 + 10 * np.arange(N)  # the LLM's prompt tokens per item: longer for later items


def truth(split: str) -> list[str]:
    return [CLASSES[i % 10] for i in range(N)] if split == "test" else \
        [CLASSES[(3 * i) % 10] for i in range(N)]


def cheap_predictions(split: str) -> Predictions:
    """Right exactly where its confidence is at least 0.8 on validation, 0.5 on test: on
    validation τ must be ≥ 0.72 for 90% accuracy, on test ≥ 0.42 would do."""
    right_from = 0.8 if split == "validation" else 0.5
    y = truth(split)
    proba = np.zeros((N, 10))
    for i, c in enumerate(CONFIDENCE):
        answer = CLASSES.index(y[i]) if c >= right_from else (CLASSES.index(y[i]) + 1) % 10
        proba[i] = (1 - c) / 9
        proba[i, answer] = c
    return Predictions(CLASSES, proba)


def llm_predictions(split: str) -> Predictions:
    """Always right, with per-item tokens (what an LLM family's predictions carry)."""
    y = truth(split)
    proba = np.zeros((N, 10))
    proba[np.arange(N), [CLASSES.index(t) for t in y]] = 1.0
    return Predictions(CLASSES, proba, extras={"input_tokens": TOKENS.copy(),
                                               "output_tokens": np.full(N, 2)})


def write_ledger(path, seeds=(0, 1)) -> None:
    with Ledger(path) as ledger:
        for split in ("validation", "test"):
            ledger.write_labels("exp", split, truth(split))
        for name, family, budget, make, fields in (
                ("cheap", "tfidf", "all", cheap_predictions,
                 dict(n_labels=200, train_seconds=36.0, throughput_items_per_s=1000.0,
                      latency_p50_ms=2.0, latency_p95_ms=5.0)),
                ("llm", "llm", "0/class", llm_predictions,
                 dict(n_labels=0, api_model="cheap", input_tokens_per_item=float(TOKENS.mean()),
                      output_tokens_per_item=2.0, latency_p50_ms=300.0,
                      latency_p95_ms=500.0))):
            for seed in seeds:
                stored = {split: make(split) for split in ("validation", "test")}
                record = RunRecord(
                    key=f"{name}-{seed}", dataset="d", candidate=name, family=family,
                    settings={}, budget=budget, seed=seed, experiment="exp", n_test=N,
                    n_validation=N, created_at=f"2026-01-0{seed + 1}",
                    quality=score(stored["test"], truth("test")),
                    validation_quality=score(stored["validation"], truth("validation")),
                    **fields)
                ledger.write(record, stored)


@pytest.fixture
def ledger(tmp_path):
    path = tmp_path / "runs.sqlite"
    write_ledger(path)
    return path


SCENARIO = dict(volume_per_month=1e6, min_quality=0.9, hardware="cpu", cost_tie=0.0)


def test_choose_derives_the_cascade_with_tau_chosen_on_validation(ledger, prices):
    question = open_question(ledger)
    rec = question.recommend(Scenario(**SCENARIO), prices)
    cascades = [v for v in rec.verdicts if isinstance(v.summary, CascadeSummary)]
    assert len(cascades) == 1
    cascade = cascades[0].summary
    assert cascade.label == f"cascade: cheap @ all → llm @ 0/class @ τ={cascade.threshold:.4g}"
    assert cascade.seeds == [0, 1] and cascade.selected_on == "validation"
    # τ: the cheapest grid value whose VALIDATION accuracy meets the bar
    grid = [p.threshold for p in cascade.sweep]
    on_validation = sweep(cheap_predictions("validation"), llm_predictions("validation"),
                          truth("validation"), grid)
    meeting = [p for p in on_validation if p.quality["accuracy"] >= 0.9
               and 0 < p.escalated_share < 1]
    assert cascade.threshold == min(p.threshold for p in meeting) >= 0.72
    # on test a much lower τ would have met the bar: test was not looked at
    on_test = sweep(cheap_predictions("test"), llm_predictions("test"), truth("test"), grid)
    assert min(p.threshold for p in on_test if p.quality["accuracy"] >= 0.9
               and p.escalated_share > 0) < 0.5
    # its quality and share on each split are those of the cascade's own predictions
    chosen = next(p for p in on_validation if p.threshold == cascade.threshold)
    assert cascade.escalated_share == chosen.escalated_share
    assert cascade.quality("accuracy") == chosen.quality["accuracy"]
    test = cascade_predictions(cheap_predictions("test"), llm_predictions("test"),
                               cascade.threshold)
    assert cascade.test_quality("accuracy") == score(test, truth("test"))["accuracy"]
    assert cascade.test_escalated_share == float(np.mean(test.extras["escalated"]))
    # it is the winner: the cheap model alone fails the bar, the LLM alone costs more
    assert rec.winner.summary is cascade
    llm = next(v for v in rec.verdicts if v.summary.candidate == "llm")
    assert llm.qualifies and llm.cost.total_usd > rec.winner.cost.total_usd
    assert rec.confirmation is not None and rec.confirmation.n_seeds == 2
    assert rec.confirmation.escalated_share == pytest.approx(cascade.test_escalated_share)
    assert "went to its second model" in rec.confirmation.sentence()


def test_the_cascade_is_priced_as_both_models_with_tokens_of_escalated_items(ledger,
                                                                            prices):
    rec = open_question(ledger).recommend(Scenario(**SCENARIO), prices)
    verdict = next(v for v in rec.verdicts if isinstance(v.summary, CascadeSummary))
    cost, s = verdict.cost, verdict.summary
    escalated = CONFIDENCE < s.threshold
    share = escalated.mean()
    # annotation: the sum (two budgets), 200 + 0 labels at $0.50
    assert s.n_labels == cascade_labels(s.first, s.second) == 200
    assert cost.annotation_usd == pytest.approx(100.0)
    # training: the cheap model's 36 s at $0.10/h (the LLM measured none)
    assert cost.training_usd == pytest.approx(36 / 3600 * 0.10)
    # inference: the cheap model's one instance ($73/month) + the LLM on the share
    # escalated, at the tokens of the escalated items ($1/M input, $4/M output)
    per_escalated = TOKENS[escalated].mean() * 1e-6 + 2 * 4e-6
    assert cost.inference_usd_per_month == pytest.approx(73.0 + 1e6 * share * per_escalated)
    assert cost.instances == 1 and not cost.self_hosted and cost.hardware == "cpu + cheap"
    assert len(s.stages) == 2 and s.stages[1].volume_share == pytest.approx(share)
    # latency on the deployment hardware: the first's, plus the LLM's (more than 5% go)
    assert verdict.latency_p95_ms == pytest.approx(505.0)


def test_no_cascades_and_a_pair_without_common_seeds(ledger, prices, tmp_path):
    question = open_question(ledger)
    plain = question.recommend(Scenario(**SCENARIO), prices, cascades=False)
    assert not any(isinstance(v.summary, CascadeSummary) for v in plain.verdicts)
    assert plain.winner.summary.candidate == "llm"
    from whichmodel.summary import summarize

    summaries = summarize(question.records)
    summaries[0].seeds, summaries[0].run_keys = [5], ["cheap-5"]  # no seed in common
    assert derive_cascades(summaries, Scenario(**SCENARIO), prices,
                           question._evidence) == []


def test_choose_json_the_table_and_the_report_show_the_cascade(ledger, tmp_path, capsys,
                                                               monkeypatch):
    import yaml

    from tests.conftest import TEST_PRICE_CATALOGUE
    from whichmodel.cli import main

    price_file = tmp_path / "prices.yaml"  # the test catalogue's entries, as overrides
    price_file.write_text(yaml.safe_dump({k: TEST_PRICE_CATALOGUE[k] for k in (
        "usd_per_label", "hardware", "llm_api")}))
    common = ["--volume", "1e6", "--min-accuracy", "0.9", "--hardware", "cpu",
              "--cost-tie", "0", "--prices", str(price_file)]
    assert main(["choose", str(ledger), *common, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    winner = data["winner"]
    assert winner["label"].startswith("cascade: cheap @ all → llm @ 0/class @ τ=")
    assert 0 < winner["summary"]["cascade"]["escalated_share"] < 1
    assert winner["summary"]["cascade"]["first"] == "cheap @ all"
    assert len(winner["summary"]["cascade"]["sweep"]) > 10
    assert winner["route"]["threshold"] == winner["summary"]["cascade"]["threshold"]
    monkeypatch.setenv("COLUMNS", "250")  # a wide terminal: no wrapped cells
    assert main(["choose", str(ledger), *common]) == 0
    table = " ".join(capsys.readouterr().out.split())
    assert "to llm @ 0/class)" in table
    assert "No kept models of both parts" in table
    assert main(["choose", str(ledger), *common, "--no-cascades", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["winner"]["label"] == "llm @ 0/class"
    page_path = tmp_path / "report.html"
    assert main(["report", str(ledger), *common, "--out", str(page_path)]) == 0
    page = page_path.read_text(encoding="utf-8")
    section = page.split('<section id="cascade">')[1].split("</section>")[0]
    assert 'src="data:image/png;base64,' in section
    assert "cascade: cheap @ all → llm @ 0/class" in section and "escalated" in section


def test_the_threshold_plot_renders(ledger, prices):
    import io

    import matplotlib.image

    from whichmodel.report.cascades import featured_cascade, threshold_plot

    rec = open_question(ledger).recommend(Scenario(**SCENARIO), prices)
    featured = featured_cascade(rec)
    png = threshold_plot(featured.summary, "accuracy", 0.9)
    pixels = matplotlib.image.imread(io.BytesIO(png))
    assert min(pixels.shape[:2]) >= 300 and float(pixels[..., :3].std()) > 0.05


# -- from a real bench --------------------------------------------------------------------
def test_a_real_ledger_of_tfidf_and_embedding_runs_gives_a_cascade(banking77_slice,
                                                                    tmp_path):
    import torch

    from tests.report.conftest import run_spec
    from whichmodel.costs import load_prices

    torch.set_num_threads(1)
    run_spec(tmp_path, {
        "dataset": {"train": str(banking77_slice["train"]),
                    "test": str(banking77_slice["test"]), "name": "banking77-slice",
                    "text": "text", "label": "category"},
        "budgets": ["all"], "seeds": [0],
        "measure": {"batch_size": 16, "latency_samples": 3, "repeats": 1,
                    "throughput_items": 32},
        "candidates": [{"name": "tfidf", "family": "tfidf"},
                       {"name": "embedding", "family": "embedding"}]})
    question = open_question(tmp_path / "runs.sqlite")
    # a volume where the embedding model needs more instances than tfidf per item
    scenario = Scenario(volume_per_month=5e9, hardware="cpu-small")
    rec = question.recommend(scenario, load_prices())
    cascades = [v.summary for v in rec.verdicts if isinstance(v.summary, CascadeSummary)]
    assert [c.candidate for c in cascades] == ["cascade: tfidf @ all → embedding @ all"]
    c = cascades[0]
    assert 0 < c.escalated_share < 1 and c.n_labels == c.first.n_labels  # one budget
    # without a bar, τ is the cheapest that matches the embedding model on validation
    second = c.second.quality("accuracy")
    if c.quality("accuracy") >= second:
        cheaper = [p for p in c.sweep if p.quality["accuracy"] >= second
                   and 0 < p.escalated_share < c.escalated_share]
        totals = dict(zip([p.threshold for p in c.sweep], c.sweep_total_usd))
        assert all(totals[p.threshold] >= totals[c.threshold] for p in cheaper)
    assert c.evidence["test"][1][0].extras["escalated"].mean() == c.test_escalated_share

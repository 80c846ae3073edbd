"""`open_question`: what `choose` does before it recommends, as a library call (no CLI)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from whichmodel.bench.question import Question, QuestionError, open_question
from whichmodel.bench.runner import run_benchmark
from whichmodel.bench.spec import load_spec
from whichmodel.choose import recommend
from whichmodel.costs import Scenario
from whichmodel.errors import WhichmodelError


@pytest.fixture
def two_experiments(tiny_csv, tiny_spec, tmp_path):
    """A ledger with two experiments (other test sets), each priced by its own spec."""
    tiny_csv(tmp_path / "other.csv", 4, offset=2)
    ledger = tmp_path / "runs.sqlite"
    a = run_benchmark(load_spec(tiny_spec("a.yaml", prices={"usd_per_label": 1.0})), ledger,
                      progress=False)
    b = run_benchmark(load_spec(tiny_spec("b.yaml", test="other.csv",
                                          prices={"usd_per_label": 3.0})),
                      ledger, progress=False)
    return ledger, a[0].experiment, b[0].experiment


def test_one_experiment_with_its_own_prices(two_experiments, tmp_path):
    ledger, first, second = two_experiments
    for experiment, per_label in ((first, 1.0), (second, 3.0)):
        question = open_question(ledger, dataset=experiment[:6])
        assert isinstance(question, Question) and question.experiment == experiment
        assert {r.experiment for r in question.records} == {experiment}
        assert question.price_overrides == {"usd_per_label": per_label}
        assert question.description.startswith(f"{experiment} (tiny [")
        assert "train train.csv sha256" in question.description
        rec = recommend(question.records, Scenario(volume_per_month=1e3), question.prices())
        assert rec.winner.cost.annotation_usd == pytest.approx(19 * per_label)  # 5 held out
    # a spec file picks its experiment and its prices; a prices file replaces them
    by_spec = open_question(ledger, dataset=str(tmp_path / "b.yaml"))
    assert by_spec.experiment == second and by_spec.spec is not None
    (tmp_path / "p.yaml").write_text("usd_per_label: 10.0\n")
    replaced = open_question(ledger, dataset=first, prices_file=tmp_path / "p.yaml")
    assert replaced.price_overrides == {"usd_per_label": 10.0}


def test_errors_name_the_argument_not_a_flag(two_experiments, tmp_path):
    ledger, first, second = two_experiments
    with pytest.raises(QuestionError) as err:
        open_question(ledger)
    assert err.value.argument == "dataset"
    message = str(err.value)
    assert "holds 2 experiments" in message and first in message and second in message
    assert "pick one with dataset=ID (or dataset=SPEC.yaml)" in message
    assert "--" not in message
    assert err.value.message_for("--dataset ").endswith(
        "pick one with --dataset ID (or --dataset SPEC.yaml)")
    with pytest.raises(QuestionError, match="no runs on dataset 'nope'; .* dataset=NAME"):
        open_question(ledger, dataset="nope")
    with pytest.raises(WhichmodelError, match="ledger not found"):
        open_question(tmp_path / "missing.sqlite")


def test_specs_that_disagree_on_prices_ask_for_a_prices_file(tiny_spec, tmp_path):
    ledger = tmp_path / "runs.sqlite"
    run_benchmark(load_spec(tiny_spec("a.yaml", prices={"usd_per_label": 1.0})), ledger,
                  progress=False)
    other = [{"name": "tfidf-c10", "family": "tfidf", "settings": {"C": 10.0}}]
    run_benchmark(load_spec(tiny_spec("b.yaml", candidates=other,
                                      prices={"usd_per_label": 2.0})), ledger, progress=False)
    with pytest.raises(QuestionError) as err:
        open_question(ledger)
    assert err.value.argument == "prices_file"
    assert str(err.value).endswith("pass prices_file=FILE with the prices to use")


def test_a_notebook_needs_no_cli(two_experiments):
    ledger, first, _ = two_experiments
    code = ("import sys, whichmodel as w\n"
            f"q = w.open_question({str(ledger)!r}, dataset={first!r})\n"
            "rec = w.recommend(q.records, w.Scenario(volume_per_month=1e3, label_budget=0),"
            " q.prices())\n"
            "print(rec.winner is None, len(rec.verdicts), 'whichmodel.cli' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["True", "1", "False"]  # 24 labels are over a budget of 0

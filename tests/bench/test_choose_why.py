"""`Recommendation.why`: one sentence on why the winner wins, from the cost model's figures."""

from __future__ import annotations

from whichmodel.bench.question import open_question
from whichmodel.choose import recommend
from whichmodel.cli import main
from whichmodel.costs import load_prices
from whichmodel.costs.scenario import Scenario


def test_why_names_the_cost_that_decides(tiny_spec, tmp_path, capsys):
    ledger = tmp_path / "runs.sqlite"
    spec = tiny_spec(budgets=[4, "all"], seeds=[1])
    assert main(["bench", str(spec), "--ledger", str(ledger), "--quiet"]) == 0
    question, prices = open_question(ledger), load_prices()
    low = recommend(question.records, Scenario(volume_per_month=1e5, min_quality=0.5), prices)
    # both budgets qualify and one instance carries either: the labels decide
    assert low.winner.label == "tfidf @ 4/class"
    rival = low.verdicts[1]  # all 8 rows per class of train, less the validation share
    saved = rival.cost.total_usd - low.winner.cost.total_usd
    assert low.why() == ("tfidf @ 4/class wins because it is the cheapest of the 2 choices "
                         f"that meet every constraint, ${saved:,.0f} less than tfidf @ all: "
                         f"it needs 12 labels against {rival.summary.n_labels:,.0f}, and at "
                         "this volume 1 always-on "
                         "instance carries either.")
    alone = recommend(question.records, Scenario(volume_per_month=1e5, min_quality=0.5,
                                                 label_budget=12), prices)
    assert alone.why() == ("tfidf @ 4/class wins because it is the only one of 2 choices "
                           "that meets every constraint.")
    none = recommend(question.records, Scenario(volume_per_month=1e5, label_budget=0), prices)
    assert none.winner is None and none.why() is None
    capsys.readouterr()
    assert main(["choose", str(ledger), "--volume", "1e5", "--min-accuracy", "0.5"]) == 0
    assert "tfidf @ 4/class wins because" in capsys.readouterr().out

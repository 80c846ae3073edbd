"""choose: summaries over seeds, constraints, the winner, Pareto, switch volumes, closest."""

from __future__ import annotations

import json
import math

import pytest

from whichmodel.bench.record import RunRecord
from whichmodel.choose import (
    CandidateSummary,
    cost_vs_winner,
    describe_switches,
    learning_curve,
    recommend,
    smallest_budget_meeting,
    summarize,
)
from whichmodel.costs import Scenario, break_even_volume
from whichmodel.errors import DataError, UsageError


# Round prices (TEST_PRICE_CATALOGUE in tests/conftest.py): cpu $0.10/h -> $73 per instance-month.
def runs(candidate, budget, accuracies, *, family="setfit", n_labels=80, dataset="d",
         **fields) -> list[RunRecord]:
    """One ok run per accuracy, seeds 0, 1, 2, ..."""
    base = dict(train_seconds=0.0, throughput_items_per_s=100.0, latency_p95_ms=10.0)
    base.update(fields)
    return [RunRecord(key=f"{candidate}-{budget}-{seed}", dataset=dataset, candidate=candidate,
                      family=family, settings={}, budget=budget, seed=seed, n_labels=n_labels,
                      accuracy=acc, macro_f1=acc - 0.05, **base)
            for seed, acc in enumerate(accuracies)]


def api_runs(accuracies, **fields):
    base = dict(family="llm", n_labels=0, throughput_items_per_s=None, api_model="cheap",
                input_tokens_per_item=500, output_tokens_per_item=5, latency_p95_ms=800.0)
    base.update(fields)
    return runs("llm", "0/class", accuracies, **base)


def test_summarize_groups_seeds_and_skips_failed_runs():
    records = runs("setfit", "8/class", [0.80, 0.90, 0.85]) + runs("setfit", "all", [0.95])
    records.append(RunRecord(key="x", dataset="d", candidate="setfit", family="setfit",
                             settings={}, budget="8/class", seed=9, status="failed",
                             error="boom"))
    small, full = summarize(records)
    assert (small.label, small.n_runs, small.seeds) == ("setfit @ 8/class", 3, [0, 1, 2])
    assert small.accuracy == pytest.approx(0.85)
    # sample std of 0.80, 0.90, 0.85: sqrt(((-.05)^2 + .05^2 + 0) / 2) = 0.05
    assert small.accuracy_std == pytest.approx(0.05)
    assert small.macro_f1 == pytest.approx(0.80)
    assert small.best_record.accuracy == 0.85  # the median run
    assert full.accuracy_std == 0.0 and full.n_runs == 1
    assert small.quality("accuracy") == pytest.approx(0.85)
    with pytest.raises(UsageError):
        small.quality("f2")


def test_summarize_refuses_to_mix_datasets():
    with pytest.raises(DataError, match=r"2 datasets .*dataset=NAME"):
        summarize(runs("a", "all", [0.9]) + runs("a", "all", [0.8], dataset="other"))


def test_winner_is_the_cheapest_that_meets_every_constraint(prices):
    records = (runs("tfidf", "all", [0.86, 0.86], family="tfidf", n_labels=1000)
               + runs("setfit", "8/class", [0.91, 0.93])
               + runs("big", "8/class", [0.95, 0.95], throughput_items_per_s=1.0)
               + api_runs([0.94]))
    rec = recommend(records, Scenario(volume_per_month=1e6, min_quality=0.9, hardware="cpu"),
                    prices)
    # setfit: 40 + 876 = 916; llm: 12 × 520 = 6240;
    # big: 1 item/s -> capacity 2,628,000 per instance-month -> 1 instance: 40 + 876 = 916
    #      (ties with setfit; within the cost tie the better model wins: big, 0.95)
    # tfidf: fails accuracy
    assert rec.winner.label == "big @ 8/class"
    assert rec.winner.cost.total_usd == pytest.approx(916.0)
    assert [v.qualifies for v in rec.verdicts] == [True, True, True, False]
    llm = next(v for v in rec.verdicts if v.summary.candidate == "llm")
    assert llm.extra_usd_vs_winner == pytest.approx(6240 - 916)
    tfidf = rec.verdicts[-1]
    assert tfidf.failed == ["accuracy 0.860 < 0.900"]
    assert rec.closest == [] and rec.prices_date == "2025-01-01"
    assert rec.headline().startswith(f"Deploy {rec.winner.label}: accuracy")


def test_each_constraint_is_named_when_failed(prices):
    records = runs("slow", "all", [0.95], latency_p95_ms=120.0, n_labels=1200)
    rec = recommend(records, Scenario(min_quality=0.96, max_latency_p95_ms=50, label_budget=800,
                                      hardware="cpu"), prices)
    assert rec.winner is None
    assert rec.verdicts[0].failed == ["accuracy 0.950 < 0.960", "p95 latency 120 ms > 50 ms",
                                      "needs 1,200 labels, budget is 800"]


def test_latency_is_projected_on_faster_hardware(prices):
    records = runs("enc", "all", [0.95], latency_p95_ms=120.0)
    on_cpu = recommend(records, Scenario(max_latency_p95_ms=50, hardware="cpu"), prices)
    on_gpu = recommend(records, Scenario(max_latency_p95_ms=50, hardware="gpu"), prices)
    assert not on_cpu.verdicts[0].qualifies
    assert on_gpu.winner is not None and on_gpu.winner.latency_p95_ms == pytest.approx(12.0)
    slow = recommend(records, Scenario(max_latency_p95_ms=5, hardware="gpu"), prices)
    assert slow.verdicts[0].failed == ["p95 latency 12 ms > 5 ms (projected on gpu)"]


def test_api_latency_is_not_scaled_by_hardware(prices):
    rec = recommend(api_runs([0.9]), Scenario(max_latency_p95_ms=500, hardware="gpu"), prices)
    assert rec.verdicts[0].failed == ["p95 latency 800 ms > 500 ms"]


def test_pareto_frontier_keeps_only_undominated(prices):
    records = (runs("cheap", "8/class", [0.80], n_labels=0)          # 876
               + runs("mid", "8/class", [0.90], n_labels=100)        # 50 + 876 = 926
               + runs("worse", "8/class", [0.85], n_labels=200)      # 100 + 876, < mid
               + runs("best", "all", [0.95], n_labels=1000))         # 500 + 876
    rec = recommend(records, Scenario(hardware="cpu"), prices)
    assert [s.candidate for s in rec.pareto] == ["cheap", "mid", "best"]


def test_switch_volume_matches_the_break_even(prices):
    records = runs("setfit", "8/class", [0.92]) + api_runs([0.93])
    rec = recommend(records, Scenario(volume_per_month=1e4, min_quality=0.9, hardware="cpu"),
                    prices)
    # llm: 12 × 0.00052 V; setfit: 40 + 876 = 916 -> V = 916 / 0.00624 = 146,794.87
    assert rec.winner.summary.candidate == "llm"
    [(volume, old, new)] = rec.switch_volumes
    assert (old, new) == ("llm @ 0/class", "setfit @ 8/class")
    assert volume == pytest.approx(916 / 0.00624, rel=1e-6)
    summaries = summarize(records)
    assert break_even_volume(summaries[0], summaries[1], rec.scenario, prices) == \
        pytest.approx(volume, rel=1e-6)


def test_nothing_qualifies_gives_the_closest_and_what_to_change(prices):
    records = (runs("setfit", "8/class", [0.87], n_labels=80)
               + runs("setfit", "64/class", [0.91], n_labels=640)
               + runs("tfidf", "all", [0.70], family="tfidf", n_labels=1200, latency_p95_ms=1)
               + runs("enc", "all", [0.95], n_labels=1200, latency_p95_ms=120.0))
    scenario = Scenario(min_quality=0.9, max_latency_p95_ms=50, label_budget=500,
                        hardware="cpu")
    rec = recommend(records, scenario, prices)
    assert rec.winner is None and rec.switch_volumes == []
    assert all(v.extra_usd_vs_winner is None for v in rec.verdicts)
    # shortfalls: setfit@8 (0.9-0.87)/0.1 = 0.3; setfit@64 (640-500)/500 = 0.28;
    # enc 70/50 + 700/500 = 2.8; tfidf 2.0 + 1.4 = 3.4
    assert [v.label for v in rec.closest] == ["setfit @ 64/class", "setfit @ 8/class",
                                              "enc @ all"]
    assert rec.closest[0].what_would_have_to_change == [
        "needs 640 labels, budget is 500: raise label_budget to 640"]
    assert rec.closest[1].what_would_have_to_change == [
        "needs +0.030 accuracy, or lower min_quality to 0.870",
        "setfit @ 64/class reaches accuracy 0.910 with 640 labels"]
    assert rec.closest[2].what_would_have_to_change == [
        "latency 120 ms > 50 ms: raise max_latency_p95_ms to 120 or deploy on faster "
        "hardware",
        "needs 1,200 labels, budget is 500: raise label_budget to 1,200"]
    from whichmodel.cli.choose import in_flags  # the CLI says the same with its flags
    assert [in_flags(c, "accuracy") for c in rec.closest[2].what_would_have_to_change] == [
        "latency 120 ms > 50 ms: raise --max-latency-ms to 120 or deploy on faster "
        "--hardware",
        "needs 1,200 labels, budget is 500: raise --label-budget to 1,200"]
    assert in_flags(rec.closest[1].what_would_have_to_change[0], "accuracy") == \
        "needs +0.030 accuracy, or lower --min-accuracy to 0.870"
    assert rec.headline().startswith("No candidate meets every constraint")


def test_macro_f1_bar_points_at_min_quality(prices):
    rec = recommend(runs("a", "all", [0.90]), Scenario(metric="macro_f1", min_quality=0.9,
                                                       hardware="cpu"), prices)
    assert rec.verdicts[0].failed == ["macro_f1 0.850 < 0.900"]
    assert rec.closest[0].what_would_have_to_change[0] == \
        "needs +0.050 macro_f1, or lower min_quality to 0.850"


def test_learning_curve_and_smallest_budget():
    summaries = summarize(runs("s", "64/class", [0.90, 0.92], n_labels=640)
                          + runs("s", "8/class", [0.80, 0.84], n_labels=80)
                          + runs("s", "16/class", [0.88], n_labels=160)
                          + runs("t", "all", [0.5], n_labels=1000))
    curve = learning_curve(summaries, "s", "accuracy")
    assert [(n, round(m, 3)) for n, m, _ in curve] == [(80, 0.82), (160, 0.88), (640, 0.91)]
    assert curve[0][2] == pytest.approx(math.sqrt(0.0008))  # std of 0.80, 0.84 (ddof 1)
    assert smallest_budget_meeting(summaries, "s", "accuracy", 0.85).budget == "16/class"
    assert smallest_budget_meeting(summaries, "s", "accuracy", 0.95) is None
    assert smallest_budget_meeting(summaries, "t", "accuracy", 0.4).budget == "all"


def test_recommend_accepts_summaries_and_to_dict_is_json(prices):
    summaries = summarize(runs("a", "all", [0.9]) + api_runs([0.95]))
    assert all(isinstance(s, CandidateSummary) for s in summaries)
    rec = recommend(summaries, Scenario(min_quality=0.8, hardware="cpu"), prices)
    data = json.loads(json.dumps(rec.to_dict(), allow_nan=False))
    assert data["winner"]["label"] == rec.winner.label
    assert data["winner"]["cost"]["total_usd"] == pytest.approx(rec.winner.cost.total_usd)
    assert data["winner"]["summary"]["best_record_key"] == "a-all-0"
    assert {"headline", "scenario", "verdicts", "pareto", "switch_volumes", "closest",
            "prices_date"} <= set(data)
    assert data["switch_volumes"][0].keys() == {"volume_per_month", "from", "to"}


def test_nothing_to_choose_from_and_bad_metric(prices):
    with pytest.raises(DataError, match="no successful runs"):
        recommend([], Scenario(hardware="cpu"), prices)
    with pytest.raises(UsageError, match="metric must be one of accuracy, macro_f1"):
        Scenario(metric="f2", hardware="cpu")  # refused before anything is recommended


def test_a_label_budget_of_zero_admits_only_label_free_candidates(prices):
    records = runs("setfit", "8/class", [0.95]) + api_runs([0.9])
    rec = recommend(records, Scenario(label_budget=0, hardware="cpu"), prices)
    assert rec.winner is not None and rec.winner.summary.n_labels == 0
    [refused] = [v for v in rec.verdicts if not v.qualifies]
    assert refused.failed == [f"needs {refused.summary.n_labels:,.0f} labels, budget is 0"]


def test_costs_within_the_tie_band_go_to_the_better_model(prices):
    # Same labels and instance floor; train seconds differ by 0.1 s = $0.0000028: a tie.
    records = (runs("worse", "8/class", [0.87], train_seconds=0.0)
               + runs("better", "8/class", [0.90], train_seconds=0.1))
    rec = recommend(records, Scenario(volume_per_month=1e3, min_quality=0.8,
                                      hardware="cpu"), prices)
    assert rec.winner.summary.candidate == "better"
    # 8 more labels = $4 on 916 vs 920: within the default 1% band, the better one wins and
    # the cheaper loser says by how much it is cheaper.
    records = (runs("worse", "8/class", [0.87], n_labels=80)
               + runs("better", "8/class", [0.90], n_labels=88))
    rec = recommend(records, Scenario(volume_per_month=1e3, min_quality=0.8,
                                      hardware="cpu"), prices)
    assert rec.winner.summary.candidate == "better"
    worse = rec.verdicts[1]
    assert worse.extra_usd_vs_winner == pytest.approx(-4.0)
    assert cost_vs_winner(worse, rec.scenario) == (
        "costs $4 less, within the 1% cost tie, at lower accuracy")
    assert "within 1% of the cheapest qualifying choice (worse @ 8/class)" in rec.headline()
    # No band: strictly the cheapest.
    rec = recommend(records, Scenario(volume_per_month=1e3, min_quality=0.8, hardware="cpu",
                                      cost_tie=0.0), prices)
    assert rec.winner.summary.candidate == "worse"
    assert cost_vs_winner(rec.verdicts[1], rec.scenario) == "costs $4 more"
    # A real difference still goes to the cheaper one: 40 more labels = $20 more (2.2%).
    records = (runs("worse", "8/class", [0.87], n_labels=80)
               + runs("better", "8/class", [0.90], n_labels=120))
    rec = recommend(records, Scenario(volume_per_month=1e3, min_quality=0.8,
                                      hardware="cpu"), prices)
    assert rec.winner.summary.candidate == "worse"
    assert "cost tie" not in rec.headline()


def test_alternating_switches_are_summarised(prices):
    # Throughputs 1% apart: instance counts step at slightly different volumes, so the
    # cheapest alternates at every step; the description folds that into one sentence.
    records = (runs("a", "8/class", [0.95], throughput_items_per_s=100.0)
               + runs("b", "8/class", [0.90], throughput_items_per_s=101.0))
    rec = recommend(records, Scenario(volume_per_month=1e3, min_quality=0.8,
                                      hardware="cpu"), prices)
    assert rec.winner.summary.candidate == "a"  # same cost at 1e3: the better one
    assert len(rec.switch_volumes) > 3
    assert all(v.extra_usd_vs_winner >= 0 for v in rec.verdicts)
    [sentence] = describe_switches(rec.switch_volumes)
    assert "alternates between a @ 8/class and b @ 8/class" in sentence
    assert describe_switches([(1e5, "x", "y")]) == [
        "Above 100,000 items/month the cheapest qualifying choice switches from x to y."]


def test_three_way_churn_is_one_sentence_and_real_switches_stay():
    # a -> b is a real switch; then b, c and d take turns; then d -> e is real again.
    turns = ["b", "c", "d", "b", "d", "c", "d"]
    switches = [(1e4, "a", "b")]
    switches += [(1e8 * (i + 1), old, new) for i, (old, new) in enumerate(zip(turns, turns[1:]))]
    switches.append((1e10, "d", "e"))
    sentences = describe_switches(switches)
    assert sentences[0] == ("Above 10,000 items/month the cheapest qualifying choice "
                            "switches from a to b.")
    assert sentences[1].startswith("From 100,000,000 to 600,000,000 items/month the cheapest "
                                   "alternates between b, c and d (6 switches")
    assert sentences[1].endswith("ending with d.")
    assert sentences[2].endswith("switches from d to e.")
    assert len(sentences) == 3
    # Going back once (two switches) is listed, not summarised.
    assert len(describe_switches([(1e4, "a", "b"), (1e5, "b", "a")])) == 2


# -- figures a reader reads: every one computed by the model (issue #18, part 6) ----------
def test_pareto_keeps_only_the_best_of_equal_costs(prices):
    # The report's "$921 beside $921": same labels and instance, train seconds a few
    # hundredths of a cent apart. Only the most accurate of the three is on the frontier.
    records = (runs("tfidf", "8/class", [0.50], family="tfidf", train_seconds=0.1)
               + runs("embedding", "8/class", [0.90], family="embedding", train_seconds=7.0)
               + runs("setfit", "8/class", [0.95], train_seconds=60.0)
               + runs("big", "all", [0.97], n_labels=1000))
    rec = recommend(records, Scenario(hardware="cpu"), prices)
    totals = {v.summary.candidate: v.cost.total_usd for v in rec.verdicts}
    assert totals["tfidf"] < totals["embedding"] < totals["setfit"]  # by fractions of a cent
    assert [s.candidate for s in rec.pareto] == ["setfit", "big"]


def test_pareto_front_ties_and_strict_dominance():
    from whichmodel.frontier import pareto_front

    points = [("cheap", 0.80, 500.0), ("dominated", 0.70, 600.0),
              ("equal-cost-worse", 0.85, 921.0), ("equal-cost-best", 0.95, 921.0),
              ("twin", 0.95, 921.0), ("noise-cheaper-worse", 0.90, 920.9999),
              ("dearer-better", 0.99, 2000.0), ("dearer-same", 0.99, 2001.0),
              ("unknown", float("nan"), 1.0)]
    front = pareto_front(points, lambda p: p[1], lambda p: p[2])
    # ties in cost keep only the best quality; ties in both keep one, the first listed
    assert [p[0] for p in front] == ["cheap", "equal-cost-best", "dearer-better"]
    assert pareto_front(list(reversed(points)), lambda p: p[1], lambda p: p[2])[1][0] == "twin"
    # strictly cheaper by more than the tie is never dominated by a better, dearer point
    assert [p[0] for p in pareto_front([("a", 0.5, 10.0), ("b", 0.9, 10.02)],
                                       lambda p: p[1], lambda p: p[2])] == ["a", "b"]


def _cost_at(records, scenario, prices):
    from whichmodel.costs import total_cost_at_volumes

    by_label = {s.label: s for s in summarize(records)}
    return lambda label, volume: float(total_cost_at_volumes(
        by_label[label], scenario, prices, [volume])[0])


def _money(text):
    return float(text.replace("$", "").replace(",", ""))


def test_switch_sentences_quote_the_totals_the_cost_model_gives_there(prices):
    import re

    # a: fewer labels, 100 items/s; b: more labels, 10x the throughput. a is cheaper until
    # its second instance, a step: at the switch the two totals are NOT equal.
    records = (runs("a", "8/class", [0.92], n_labels=80, throughput_items_per_s=100.0)
               + runs("b", "all", [0.93], n_labels=200, throughput_items_per_s=1000.0))
    scenario = Scenario(volume_per_month=1e5, min_quality=0.9, hardware="cpu")
    rec = recommend(records, scenario, prices)
    [(switch, old, new)] = rec.switch_volumes
    assert (old, new) == ("a @ 8/class", "b @ all")
    cost_at = _cost_at(records, scenario, prices)
    [sentence] = describe_switches(rec.switch_volumes, cost_at)
    match = re.fullmatch(r"b @ all becomes cheaper than a @ 8/class from ([\d,]+) items/month "
                         r"\(b @ all (\$[\d,.]+), a @ 8/class (\$[\d,.]+) there\)\.", sentence)
    assert match, sentence
    volume = float(match.group(1).replace(",", ""))
    assert volume == math.ceil(switch)  # the first whole volume past the switch
    assert _money(match.group(2)) == round(cost_at(new, volume))
    assert _money(match.group(3)) == round(cost_at(old, volume))
    assert _money(match.group(2)) < _money(match.group(3))  # and not "the same"
    assert cost_at(new, volume - 1) >= cost_at(old, volume - 1)  # not yet one item before
    # without totals the sentence stays what `choose` prints
    assert describe_switches(rec.switch_volumes)[0].startswith(
        f"Above {switch:,.0f} items/month the cheapest qualifying choice switches from a")


def test_switch_sentences_tell_near_equal_totals_apart_and_say_ties(prices):
    # Totals a fraction of a dollar apart get the decimals that tell them apart.
    assert describe_switches([(1e5, "x", "y")], lambda label, v: {"x": 921.4, "y": 921.2}[
        label]) == ["y becomes cheaper than x from 100,000 items/month (y $921.20, x $921.40 "
                    "there)."]
    # A switch to an equal total (ties go to the earlier choice) says so.
    assert describe_switches([(1e5, "x", "y")], lambda label, v: 500.0) == [
        "y costs the same as x from 100,000 items/month ($500 each there)."]


def test_churn_sentence_quotes_totals_of_its_last_switch(prices):
    records = (runs("a", "8/class", [0.95], throughput_items_per_s=100.0)
               + runs("b", "8/class", [0.90], throughput_items_per_s=101.0))
    scenario = Scenario(volume_per_month=1e3, min_quality=0.8, hardware="cpu")
    rec = recommend(records, scenario, prices)
    cost_at = _cost_at(records, scenario, prices)
    [sentence] = describe_switches(rec.switch_volumes, cost_at)
    assert "alternates between a @ 8/class and b @ 8/class" in sentence
    volume, old, new = rec.switch_volumes[-1]
    assert sentence.endswith(
        f"ending as {new} becomes cheaper than {old} from {math.ceil(volume):,} items/month "
        f"({new} ${cost_at(new, math.ceil(volume)):,.0f}, {old} "
        f"${cost_at(old, math.ceil(volume)):,.0f} there).")


def test_switch_points_find_a_stretch_narrower_than_the_grid():
    import numpy as np

    from whichmodel.frontier import switch_points

    # b is the cheapest only from 1.000e6 to 1.005e6 (0.5%): between two grid points.
    steps = {"a": lambda v: np.where(v > 1.0e6, 30.0, 10.0),
             "b": lambda v: np.where(v > 1.005e6, 30.0, 20.0),
             "c": lambda v: np.full_like(v, 25.0)}
    found = switch_points(["a", "b", "c"], lambda item, v: steps[item](np.asarray(v)),
                          points_per_decade=10)
    assert [(old, new) for _, old, new in found] == [("a", "b"), ("b", "c")]
    assert found[0][0] == pytest.approx(1.0e6, rel=1e-9)
    assert found[1][0] == pytest.approx(1.005e6, rel=1e-9)

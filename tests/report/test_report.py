"""The report from real TF-IDF runs: figures, sections, self-containment, edge cases, CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from whichmodel.choose import recommend, summarize
from whichmodel.costs import Scenario, load_prices
from whichmodel.report import class_plots, plots, render_report, write_report
from whichmodel.report.html import SECTIONS

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def prices():
    return load_prices()


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return Scenario(volume_per_month=1e6, min_quality=0.8, max_latency_p95_ms=200)


def test_every_figure_renders_from_real_runs(real_records, scenario, prices) -> None:
    rec = recommend(real_records, scenario, prices)
    summaries = summarize(real_records)
    pareto = plots.pareto_plot(rec.verdicts, rec.pareto, rec.winner, "accuracy", 0.8, "t")
    volumes = plots.volume_grid(scenario.volume_per_month)
    lines = [v.summary for v in rec.verdicts[:3]]
    switches = plots.cost_switches(lines, scenario, prices, volumes)
    cost = plots.cost_volume_plot(lines, scenario, prices, switches, volumes)
    curve = plots.learning_curve_plot(summaries, "accuracy", 0.8, prices.usd_per_label)
    runs = [r for r in real_records if r.status == "ok" and r.budget == "all"]
    f1 = class_plots.per_class_f1_plot(class_plots.mean_per_class_f1(runs), "t")
    matrix, classes = class_plots.summed_confusion(runs)
    confusion = class_plots.confusion_plot(matrix, classes, "t")
    import io

    import matplotlib.image

    for png in (pareto, cost, curve, f1, confusion):
        assert png is not None and png.startswith(PNG)
        pixels = matplotlib.image.imread(io.BytesIO(png))
        assert min(pixels.shape[:2]) >= 300  # a readable figure, not a thumbnail
        assert float(pixels[..., :3].std()) > 0.05  # something drawn, not a blank canvas
    assert matrix.sum() == sum(r.n_test for r in runs)  # summed over both seeds


def test_learning_curve_needs_two_budgets(real_records, prices) -> None:
    one_budget = summarize([r for r in real_records if r.budget == "all"])
    assert plots.learning_curve_plot(one_budget, "accuracy", 0.8, 0.1) is None


def test_top_confused_pairs_are_off_diagonal_and_ranked() -> None:
    import numpy as np

    matrix = np.array([[5, 3, 0], [1, 6, 0], [0, 2, 4]])
    pairs = class_plots.top_confused_pairs(matrix, ["a", "b", "c"])
    assert pairs[0] == ("a", "b", 3, 3 / 8)
    assert [(t, p) for t, p, _, _ in pairs] == [("a", "b"), ("c", "b"), ("b", "a")]


def test_report_is_self_contained_with_every_section(real_records, scenario, prices,
                                                     tmp_path: Path) -> None:
    rec = recommend(real_records, scenario, prices)
    out = write_report(rec, real_records, prices, tmp_path / "sub" / "report.html")
    page = out.read_text(encoding="utf-8")
    assert out.exists() and list(out.parent.iterdir()) == [out]  # no temp file left over
    for section_id, _ in SECTIONS:
        assert f'id="{section_id}"' in page, section_id
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert page.count('src="data:image/png;base64,') == 5
    assert "Deploy <b>" in page and prices.date in page
    assert "ValueError" in page and "tfidf-broken" in page  # the real failed run
    for record in real_records:
        if record.status == "ok":
            assert f"{record.candidate} @ {record.budget}" in page


def test_report_when_nothing_qualifies(real_records, prices) -> None:
    rec = recommend(real_records, Scenario(min_quality=0.999, label_budget=50), prices)
    page = render_report(rec, real_records, prices)
    assert "No candidate meets every constraint" in page
    assert "lower min_quality to" in page  # what would have to change, from choose
    assert "closest: " in page  # per-class F1 and confusions of the closest candidate


def test_report_with_one_budget_says_why_there_is_no_curve(real_records, scenario,
                                                           prices) -> None:
    records = [r for r in real_records if r.budget == "all"]
    page = render_report(recommend(records, scenario, prices), records, prices)
    assert "No learning curve: every candidate was run at a single label budget" in page
    assert 'id="pareto"' in page and page.count("data:image/png") == 4


def test_report_stays_readable_at_77_classes(many_class_records, prices,
                                             tmp_path: Path) -> None:
    rec = recommend(many_class_records, Scenario(min_quality=0.5), prices)
    page = write_report(rec, many_class_records, prices,
                        tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Most confused pairs" in page
    assert page.count("<tr><td>") >= 15  # the confused-pairs table is full


def test_report_refuses_a_ledger_without_finished_runs(real_records, scenario, prices) -> None:
    from whichmodel.errors import DataError

    rec = recommend(real_records, scenario, prices)
    with pytest.raises(DataError, match="no finished runs"):
        render_report(rec, [r for r in real_records if r.status != "ok"], prices)


def test_report_shows_exactly_the_recommendation_it_is_given(real_records, scenario,
                                                             prices) -> None:
    from dataclasses import replace

    rec = recommend(real_records, scenario, prices)
    page = render_report(rec, real_records, prices)
    assert f"Deploy <b>{rec.winner.label}</b>" in page
    # A recommendation the report would not have made itself: another qualifying choice
    # as the winner, under a scenario with another bar. The page shows that one.
    other = next(v for v in rec.verdicts if v.qualifies and v is not rec.winner)
    forged = replace(rec, winner=other, scenario=replace(rec.scenario, min_quality=0.5))
    page = render_report(forged, real_records, prices)
    assert f"Deploy <b>{other.label}</b>" in page
    assert f"Deploy <b>{rec.winner.label}</b>" not in page
    assert "accuracy ≥ 0.5" in page and "accuracy ≥ 0.8" not in page
    assert f"recommended: {other.label}" in page  # the per-class figures follow it


def test_report_refuses_runs_the_recommendation_was_not_made_from(real_records, scenario,
                                                                  prices) -> None:
    from whichmodel.errors import DataError

    rec = recommend(real_records, scenario, prices)
    others = [r for r in real_records if r.candidate != rec.winner.summary.candidate]
    with pytest.raises(DataError, match="the recommendation is not of these runs"):
        render_report(rec, others, prices)


def test_cli_report_writes_and_prints_the_path(real_records, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    from whichmodel.bench.ledger import Ledger
    from whichmodel.cli import main

    ledger_path = tmp_path / "runs.sqlite"
    with Ledger(ledger_path) as ledger:
        for record in real_records:
            ledger.write(record)
    out = tmp_path / "report.html"
    code = main(["report", str(ledger_path), "--out", str(out), "--min-accuracy", "0.85",
                 "--volume", "2e4", "--per", "day", "--max-latency-ms", "100",
                 "--horizon-months", "6", "--title", "Banking slice"])
    assert code == 0
    assert capsys.readouterr().out.strip() == str(out)
    page = out.read_text(encoding="utf-8")
    assert "<title>Banking slice</title>" in page and "accuracy ≥ 0.85" in page
    assert "for 6 months" in page
    assert "No intervals: these runs stored no per-item" in page  # rows alone, no evidence
    # choose, given the same flags, recommends what the report shows
    import json

    assert main(["choose", str(ledger_path), "--min-accuracy", "0.85", "--volume", "2e4",
                 "--per", "day", "--max-latency-ms", "100", "--horizon-months", "6",
                 "--json"]) == 0
    chosen = json.loads(capsys.readouterr().out)
    if chosen["winner"] is None:
        assert "No candidate meets every constraint" in page
    else:
        assert f"Deploy <b>{chosen['winner']['label']}</b>" in page


def test_cli_report_errors_are_one_line(tmp_path: Path, capsys) -> None:
    from whichmodel.cli import main

    assert main(["report", str(tmp_path / "missing.sqlite")]) == 2
    assert "ledger not found" in capsys.readouterr().err


# -- figures a reader reads: every one computed by the model (issue #18, part 6) ----------
def synthetic_runs(candidate, budget, accuracies, *, n_labels=80, **fields):
    """Ledger rows with chosen throughputs, so cost lines step where a test needs them."""
    from whichmodel.bench.record import RunRecord

    base = dict(train_seconds=1.0, throughput_items_per_s=100.0, latency_p95_ms=10.0)
    base.update(fields)
    return [RunRecord(key=f"{candidate}-{budget}-{seed}", dataset="d", candidate=candidate,
                      family="setfit", settings={}, budget=budget, seed=seed,
                      n_labels=n_labels, accuracy=acc, macro_f1=acc - 0.05, **base)
            for seed, acc in enumerate(accuracies)]


def _text_of(page: str, section: str) -> str:
    import html

    body = re.search(rf'<section id="{section}">(.*?)</section>', page, re.S).group(1)
    return html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<img[^>]*>", "", body)))


def test_cost_sentences_quote_each_choices_own_total_at_the_stated_volume(prices) -> None:
    import numpy as np

    from whichmodel.costs import total_cost_at_volumes

    # cheap: fewer labels, 100 items/s; fast: more labels, 10x the throughput. cheap is
    # cheaper until its second instance: a step, where the old sentence said both "cost
    # the same" at cheap's total while fast cost another figure.
    records = (synthetic_runs("cheap", "8/class", [0.92, 0.93])
               + synthetic_runs("fast", "all", [0.95, 0.94], n_labels=400,
                                throughput_items_per_s=1000.0))
    scenario = Scenario(volume_per_month=1e8, min_quality=0.9, hardware="cpu-small")
    rec = recommend(records, scenario, prices)
    text = _text_of(render_report(rec, records, prices), "cost-volume")
    assert "cost the same" not in text
    by_label = {v.label: v.summary for v in rec.verdicts}
    found = re.findall(r"(\S+ @ \S+) becomes cheaper than (\S+ @ \S+) from ([\d,]+) "
                       r"items/month \(\1 (\$[\d,.]+), \2 (\$[\d,.]+) there\)", text)
    # the qualifying choices' switch; the chart's is the same sentence, said once
    assert len(found) == 1 and "The cheapest line on the chart" not in text, text
    for new, old, volume, new_usd, old_usd in found:
        at = np.array([float(volume.replace(",", ""))])
        totals = [float(total_cost_at_volumes(by_label[label], scenario, prices, at)[0])
                  for label in (new, old)]
        assert [float(x.strip("$").replace(",", "")) for x in (new_usd, old_usd)] == [
            round(t) for t in totals]
        assert totals[0] < totals[1]


def test_cost_chart_has_one_callout_per_switch_inside_the_axes(prices) -> None:
    import numpy as np

    # a and b take turns at every instance step (1% apart in throughput), c takes over
    # later: one shaded stretch with one callout, one callout for c.
    records = (synthetic_runs("a-long-candidate-name", "8/class", [0.95])
               + synthetic_runs("b", "8/class", [0.90], throughput_items_per_s=101.0)
               + synthetic_runs("c", "all", [0.97], n_labels=40000,
                                throughput_items_per_s=20000.0))
    scenario = Scenario(volume_per_month=3e7, min_quality=0.8, hardware="cpu-small")
    lines = summarize(records)
    volumes = plots.volume_grid(scenario.volume_per_month)
    switches = plots.cost_switches(lines, scenario, prices, volumes)
    assert len(switches) > 5
    fig = plots.cost_volume_plot(lines, scenario, prices, switches, volumes, figure=True)
    callouts = _annotations(fig)
    assert len(callouts) == 2, [a.get_text() for a in callouts]
    assert "take turns" in callouts[0].get_text() and "c @ all" in callouts[1].get_text()
    _assert_inside_and_apart(fig, callouts)
    assert np.all(np.diff([s.volume for s in switches]) > 0)


def _annotations(fig):
    from matplotlib.text import Annotation

    return [c for c in fig.axes[0].get_children() if isinstance(c, Annotation)]


def _assert_inside_and_apart(fig, annotations) -> None:
    from matplotlib.text import Text

    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    frame = fig.axes[0].get_window_extent(renderer)
    boxes = [Text.get_window_extent(a, renderer) for a in annotations]
    for annotation, box in zip(annotations, boxes):
        assert (frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0
                and box.y1 <= frame.y1), (annotation.get_text(), box, frame)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)


def test_point_and_curve_labels_stay_inside_the_frame(prices) -> None:
    # Points at the corners of the plot: labels to their right or above would spill out.
    records = (synthetic_runs("far-right-and-very-long-candidate-name", "all", [0.99, 0.98],
                              n_labels=5000)
               + synthetic_runs("far-right-and-very-long-candidate-name", "8/class",
                                [0.7, 0.72], n_labels=48)
               + synthetic_runs("low", "8/class", [0.5, 0.52], n_labels=48)
               + synthetic_runs("low", "all", [0.6, 0.61], n_labels=5000))
    rec = recommend(records, Scenario(min_quality=0.95, hardware="cpu-small"), prices)
    fig = plots.pareto_plot(rec.verdicts, rec.pareto, rec.winner, "accuracy", 0.95, "t",
                            figure=True)
    labels = _annotations(fig)
    assert len(labels) == 4
    _assert_inside_and_apart(fig, labels)
    fig = plots.learning_curve_plot(summarize(records), "accuracy", 0.95, 0.116, figure=True)
    [ring] = _annotations(fig)  # the smallest budget meeting the bar, at the right edge
    assert ring.get_text().startswith("far-right-and-very-long-candidate-name: 5,000 labels")
    _assert_inside_and_apart(fig, [ring])


def test_one_seed_shows_no_spread(real_records, scenario, prices) -> None:
    one_seed = [r for r in real_records if r.seed == 0]
    page = render_report(recommend(one_seed, scenario, prices), one_seed, prices)
    assert "±" not in _text_of(page, "candidates") and "± 0.000" not in page
    assert "±" not in _text_of(page, "recommendation")
    assert "One seed per budget, so no spread is shown." in page
    assert "one seed (0), so no spread" in page
    two = render_report(recommend(real_records, scenario, prices), real_records, prices)
    assert "accuracy ± std" in two and "Mean ± one standard deviation over seeds" in two
    curve = plots.learning_curve_plot(summarize(one_seed), "accuracy", 0.8, 0.1,
                                      figure=True)
    assert curve.axes[0].get_ylabel() == "accuracy (one seed)"


# -- every quality figure with its interval (issue #18) ------------------------------------
def _table(page: str) -> tuple[list[str], dict[str, list[str]]]:
    """The candidate table's headings and, by choice label, its cells (HTML)."""
    import html

    body = re.search(r'<section id="candidates">(.*?)</section>', page, re.S).group(1)
    heads = [html.unescape(h) for h in re.findall(r"<th>(.*?)</th>", body)]
    rows = {}
    for row in re.findall(r'<tr class="[^"]*">(.*?)</tr>', body, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        rows[html.unescape(cells[0])] = cells
    return heads, rows


def _confirmed(ledger, scenario, prices):
    from whichmodel.bench.question import open_question

    question = open_question(ledger)
    return question, question.confirm(recommend(question.records, scenario, prices))


def test_every_choice_shows_the_interval_of_its_stored_predictions(real_ledger, scenario,
                                                                    prices) -> None:
    from whichmodel.bench.ledger import read_evidence
    from whichmodel.intervals import bootstrap_interval

    question, rec = _confirmed(real_ledger, scenario, prices)
    page = render_report(rec, question.records, prices, ledger=real_ledger)
    heads, rows = _table(page)
    assert heads[3:7] == ["accuracy ± std, validation", "accuracy, test", "macro_f1, test",
                          "ECE, test"]
    assert len(rows) == len(rec.verdicts)
    for cells in rows.values():  # every quality figure of every choice has one
        assert all('<span class="ci">[' in cell for cell in cells[3:7]), cells[:7]
    other = next(v for v in rec.verdicts if v.label != rec.winner.label)
    cells = rows[other.label]
    labels, runs = read_evidence(real_ledger, question.experiment, other.summary.run_keys)
    assert len(runs) == 2 and len(labels) == 100
    for metric, head in (("accuracy", "accuracy, test"), ("macro_f1", "macro_f1, test"),
                         ("ece", "ECE, test")):
        low, high = bootstrap_interval(runs, labels, metric)
        assert low < high
        assert cells[heads.index(head)].endswith(
            f'<span class="ci">[{low:.3f}, {high:.3f}]</span>'), (metric, cells)
    assert cells[heads.index("accuracy, test")].startswith(
        f"{other.summary.test_quality('accuracy'):.3f}")
    labels, runs = read_evidence(real_ledger, question.experiment, other.summary.run_keys,
                                 "validation")
    low, high = bootstrap_interval(runs, labels, "accuracy")
    assert cells[heads.index("accuracy ± std, validation")].endswith(
        f"[{low:.3f}, {high:.3f}]</span>")
    # the winner's test interval is its confirmation's, shown in the table too
    c = rec.confirmation
    assert rows[rec.winner.label][heads.index("accuracy, test")].endswith(
        f"[{c.low:.3f}, {c.high:.3f}]</span>")
    assert "In brackets: the 95% bootstrap interval" in page
    assert "100 test and 32 validation items" in page
    assert "Error bars: the 95% bootstrap interval" in page  # Pareto plot
    assert "Bands: the 95% bootstrap interval" in page  # learning curves


def test_intervals_are_computed_once_per_choice_and_split(real_ledger, scenario, prices,
                                                          monkeypatch) -> None:
    import whichmodel.intervals

    question, rec = _confirmed(real_ledger, scenario, prices)
    calls = []
    real = whichmodel.intervals.bootstrap_intervals

    def counted(runs, y_true, metrics, **kwargs):
        calls.append((len(y_true), tuple(metrics)))
        return real(runs, y_true, metrics, **kwargs)

    monkeypatch.setattr(whichmodel.intervals, "bootstrap_intervals", counted)
    render_report(rec, question.records, prices, ledger=real_ledger)
    on_test = [metrics for n, metrics in calls if n == 100]
    on_validation = [metrics for n, metrics in calls if n == 32]
    assert len(on_test) == len(on_validation) == len(rec.verdicts) == 6
    # the winner's accuracy on test is the confirmation's interval, not a second one
    assert sorted(on_test) == sorted([("accuracy", "macro_f1", "ece")] * 5
                                     + [("macro_f1", "ece")])
    assert set(on_validation) == {("accuracy",)}


def test_runs_without_stored_predictions_show_the_point_alone(real_ledger, real_records,
                                                              scenario, prices,
                                                              tmp_path: Path) -> None:
    from whichmodel.bench.ledger import Ledger, read_labels, read_predictions

    rec = recommend(real_records, scenario, prices)
    stored = rec.verdicts[-1].summary  # only this choice's runs stored their predictions
    experiment = real_records[0].experiment
    mixed = tmp_path / "mixed.sqlite"
    with Ledger(mixed) as ledger:
        for split in ("test", "validation"):
            ledger.write_labels(experiment, split, read_labels(real_ledger, experiment, split))
        for record in real_records:
            ledger.write(record, {split: read_predictions(real_ledger, record.key, split)
                                  for split in ("test", "validation")}
                         if record.key in stored.run_keys else None)
    page = render_report(rec, real_records, prices, ledger=mixed)
    _, rows = _table(page)
    for label, cells in rows.items():
        assert ('class="ci"' in "".join(cells)) is (label == stored.label), label
    assert f"{len(rows) - 1} choice(s) without one ran before predictions" in page
    # a ledger without any: the figures alone, and the page says why
    bare = tmp_path / "bare.sqlite"
    with Ledger(bare) as ledger:
        for record in real_records:
            ledger.write(record)
    page = render_report(rec, real_records, prices, ledger=bare)
    assert 'class="ci"' not in page and "No intervals: these runs stored no per-item" in page
    assert "Error bars: the" not in page and "Mean ± one standard deviation" in page


def test_cli_report_shows_the_intervals_of_the_ledger(real_ledger, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    from whichmodel.cli import main

    out = tmp_path / "report.html"
    assert main(["report", str(real_ledger), "--out", str(out), "--min-accuracy", "0.8",
                 "--max-latency-ms", "200"]) == 0
    page = out.read_text(encoding="utf-8")
    heads, rows = _table(page)
    assert all('<span class="ci">[' in cells[heads.index("macro_f1, test")]
               for cells in rows.values())
    assert "On test: accuracy" in page  # the winner's confirmation, as before

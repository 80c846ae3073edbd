"""Noisy measurements are said, not silently acted on: choose and the report name them."""

from __future__ import annotations

from whichmodel.bench.ledger import Ledger, read_records
from whichmodel.cli import main


def test_choose_and_report_say_which_figures_are_noisy(tiny_spec, tmp_path, capsys):
    ledger = tmp_path / "runs.sqlite"
    assert main(["bench", str(tiny_spec()), "--ledger", str(ledger), "--quiet"]) == 0
    rows = read_records(ledger)
    measured = rows[0].measurement
    assert measured["clock"] == "process CPU time" and measured["threads"] == 1
    # (whether this machine was busy just now is its own affair: the test sets both)
    assert isinstance(measured["noisy"], bool) and "load_1m" in measured["training"]
    with Ledger(ledger) as writer:  # seed 2 measured quietly, seed 1 beside heavy load
        quiet = next(r for r in rows if r.seed == 2)
        quiet.measurement = {**quiet.measurement, "noisy": False, "noise": []}
        writer.write(quiet, keep_predictions=True)
        row = next(r for r in rows if r.seed == 1)
        row.measurement = {**row.measurement, "noisy": True,
                           "noise": ["p95 latency varied 80% across repeats"]}
        row.latency_p95_ms = 500.0
        writer.write(row, keep_predictions=True)
    capsys.readouterr()
    assert main(["choose", str(ledger), "--volume", "1e5", "--max-latency-ms", "100"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    # the exclusion names its doubt, and the table marks the figures with the reason
    assert "(measured noisy: seed 1: p95 latency varied 80% across repeats)" in out
    assert "* measured noisy" in out and "whichmodel bench SPEC --remeasure" in out
    report = tmp_path / "r.html"
    assert main(["report", str(ledger), "--volume", "1e5", "--out", str(report)]) == 0
    html = report.read_text(encoding="utf-8")
    assert "Measured noisy" in html and "p95 latency varied 80% across repeats" in html

"""`whichmodel choose` end to end on a small SQLite ledger: tables, --json, errors."""

from __future__ import annotations

import json

import pytest
import yaml

from whichmodel.bench.ledger import Ledger
from whichmodel.bench.record import RunRecord
from whichmodel.cli import main
from whichmodel.cli.choose import parse_volume
from whichmodel.errors import UsageError


def _record(candidate, budget, seed, accuracy, **fields) -> RunRecord:
    base = dict(family="setfit", n_labels=80, train_seconds=10.0, throughput_items_per_s=100.0,
                latency_p95_ms=20.0, macro_f1=accuracy - 0.02)
    base.update(fields)
    return RunRecord(key=f"{candidate}-{budget}-{seed}", dataset="d", candidate=candidate,
                     budget=budget, seed=seed, settings={}, accuracy=accuracy, **base)


@pytest.fixture
def ledger(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Ledger(path) as db:
        for seed, acc in enumerate([0.91, 0.93]):
            db.write(_record("setfit", "8/class", seed, acc))
            db.write(_record("tfidf", "all", seed, acc - 0.08, family="tfidf", n_labels=1000,
                             throughput_items_per_s=5000.0, latency_p95_ms=1.0))
            db.write(_record("llm", "0/class", seed, acc + 0.02, family="llm", n_labels=0,
                             train_seconds=0.0, throughput_items_per_s=None,
                             api_model="gpt-4o-mini", input_tokens_per_item=400,
                             output_tokens_per_item=3, latency_p95_ms=700.0))
        db.write(RunRecord(key="bad", dataset="d", candidate="enc", family="encoder",
                           settings={}, budget="all", seed=0, status="failed", error="OOM"))
    return path


def test_human_output_names_the_winner_table_pareto_and_switch(ledger, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: no wrapped cells
    assert main(["choose", str(ledger), "--min-accuracy", "0.9", "--volume", "5e6"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith("Deploy setfit @ 8/class: accuracy 0.920")
    for text in ("tfidf @ all", "llm @ 0/class", "accuracy 0.840 < 0.900", "recommended",
                 "Pareto frontier", "setfit @ 8/class becomes cheaper than llm @ 0/class from",
                 "list prices as of", "1 failed run(s)"):
        assert text in out


def test_json_is_one_object_with_the_recommendation(ledger, capsys):
    assert main(["choose", str(ledger), "--min-accuracy", "0.9", "--volume", "1e3",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["winner"]["label"] == "llm @ 0/class"  # tokens are cheap at 1,000 items
    assert data["scenario"]["volume_per_month"] == 1e3
    assert [v["label"] for v in data["verdicts"]][-1] == "tfidf @ all"


def test_nothing_qualifies_prints_what_would_have_to_change(ledger, capsys):
    code = main(["choose", str(ledger), "--min-accuracy", "0.99", "--volume", "1e6",
                 "--max-latency-ms", "50", "--label-budget", "500"])
    assert code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "No candidate meets every constraint" in out
    assert "would qualify if" in out and "lower --min-accuracy to" in out


def test_cost_tie_flag_reaches_the_scenario(ledger, capsys):
    assert main(["choose", str(ledger), "--volume", "1e6", "--cost-tie", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["scenario"]["cost_tie"] == 0.0


def test_prices_file_and_hardware(ledger, tmp_path, capsys):
    overrides = tmp_path / "prices.yaml"
    overrides.write_text(yaml.safe_dump({"prices": {"hardware": {"t4": {"usd_per_hour": 0.2}}}}))
    assert main(["choose", str(ledger), "--volume", "1e6", "--hardware", "t4", "--prices",
                 str(overrides), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    setfit = next(v for v in data["verdicts"] if v["candidate"] == "setfit")
    assert setfit["cost"]["inference_usd_per_month"] == pytest.approx(730 * 0.2)


@pytest.mark.parametrize(("argv", "message"), [
    (["choose", "{missing}", "--volume", "1e6"], "ledger not found"),
    (["choose", "{ledger}", "--volume", "lots"], "--volume: expected a positive number"),
    (["choose", "{ledger}", "--volume", "1e6", "--hardware", "tpu"], "unknown hardware 'tpu'"),
    (["choose", "{ledger}", "--volume", "1e6", "--metric", "macro_f1", "--min-accuracy", "0.9"],
     "use --min-quality"),
    (["choose", "{ledger}", "--volume", "1e6", "--dataset", "other"], "no runs on dataset"),
    (["choose", "{empty}", "--volume", "1e6"], "no successful runs"),
    (["choose", "{ledger}", "--volume", "1e6", "--cost-tie", "5"],
     "--cost-tie must be a fraction from 0 up to (not including) 1"),
    (["choose", "{ledger}", "--volume", "1e6", "--label-budget", "-1"],
     "--label-budget must be a whole number of labels, 0 or more"),
])
def test_errors_are_one_line_with_exit_code_2(ledger, tmp_path, capsys, argv, message):
    empty = tmp_path / "empty.sqlite"
    with Ledger(empty) as db:
        db.write(RunRecord(key="bad", dataset="d", candidate="enc", family="encoder",
                           settings={}, budget="all", seed=0, status="failed", error="OOM"))
    paths = {"ledger": ledger, "missing": tmp_path / "nope.sqlite", "empty": empty}
    assert main([a.format(**paths) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_parse_volume_periods():
    assert parse_volume("5e6", None) == 5e6
    assert parse_volume("5,000,000/month", None) == 5e6
    assert parse_volume("1.2e7/year", None) == pytest.approx(1e6)
    assert parse_volume("1000", "day") == pytest.approx(1000 * 365.25 / 12)
    with pytest.raises(UsageError):
        parse_volume("5e6/day", "month")


def test_spec_price_overrides_in_the_ledger_are_used(banking77_slice, tmp_path):
    """`choose` prices runs with the spec's `prices:` section unless --prices is given."""
    import json as _json

    from whichmodel.bench.runner import run_benchmark
    from whichmodel.bench.spec import parse_spec
    from whichmodel.cli import main as cli_main

    spec = parse_spec({
        "dataset": {"train": str(banking77_slice["train"]), "test": str(banking77_slice["test"]),
                    "text": "text", "label": "category"},
        "budgets": [2], "seeds": [1], "candidates": [{"name": "tfidf", "family": "tfidf"}],
        "prices": {"usd_per_label": 1.0, "usd_per_label_source": "test quote"},
        "measure": {"latency_samples": 5}}, base_dir=tmp_path)
    ledger = tmp_path / "runs.sqlite"
    run_benchmark(spec, ledger, progress=False)
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert cli_main(["choose", str(ledger), "--volume", "1e3", "--json"]) == 0
    [verdict] = _json.loads(buffer.getvalue())["verdicts"]
    assert verdict["cost"]["annotation_usd"] == 20.0  # 20 labels x $1 from the spec
    (tmp_path / "p.yaml").write_text("usd_per_label: 2.0\n")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert cli_main(["choose", str(ledger), "--volume", "1e3", "--json",
                         "--prices", str(tmp_path / "p.yaml")]) == 0
    [verdict] = _json.loads(buffer.getvalue())["verdicts"]
    assert verdict["cost"]["annotation_usd"] == 40.0  # --prices wins


def test_the_committed_example_ledger_still_reads(tmp_path, capsys):
    """benchmarks/results/banking77-example.sqlite predates run experiments and per-spec
    prices: choose and report read it as one experiment, priced by its `spec`, and leave
    the file as it was. (Read from a copy: SQLite leaves -wal/-shm files beside a WAL
    ledger it reads, and this test should not leave them in the repository.)"""
    import hashlib
    import shutil
    from pathlib import Path

    committed = (Path(__file__).resolve().parents[2] / "benchmarks" / "results"
                 / "banking77-example.sqlite")
    example = Path(shutil.copy(committed, tmp_path / "banking77-example.sqlite"))
    before = hashlib.sha256(example.read_bytes()).hexdigest()
    assert main(["choose", str(example), "--min-accuracy", "0.85", "--volume", "1e6",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["winner"] is not None and len(data["verdicts"]) == 12
    assert main(["choose", str(example), "--volume", "1e6", "--dataset", "banking77",
                 "--json"]) == 0
    capsys.readouterr()
    assert main(["report", str(example), "--volume", "1e6", "--out",
                 str(tmp_path / "report.html")]) == 0
    assert (tmp_path / "report.html").stat().st_size > 10_000
    assert hashlib.sha256(example.read_bytes()).hexdigest() == before


# ------------------------------------------------ the spec and the flags, one Scenario


def _spec_error(tmp_path, scenario: dict) -> str | None:
    """The spec's one-line error for a ``scenario:`` section, or None when it loads."""
    from whichmodel.bench.spec import parse_spec
    from whichmodel.errors import SpecError

    (tmp_path / "t.csv").write_text("text,label\na,x\nb,y\n")
    try:
        parse_spec({"dataset": {"train": "t.csv"}, "scenario": scenario,
                    "candidates": [{"name": "t", "family": "tfidf"}]}, base_dir=tmp_path)
    except SpecError as err:
        return str(err)
    return None


def _flag_error(flags: list[str]) -> str | None:
    """`build_scenario`'s error for ``choose LEDGER FLAGS`` (--volume 1e6 unless given),
    or None when the flags make a scenario."""
    from whichmodel.cli import build_parser
    from whichmodel.cli.choose import build_scenario

    volume = [] if "--volume" in flags else ["--volume", "1e6"]
    args = build_parser().parse_args(["choose", "runs.sqlite", *volume, *flags])
    try:
        build_scenario(args)
    except UsageError as err:
        return str(err)
    return None


# (field, its flag, value in the spec, the same value as flags): every boundary
BOUNDARIES = [
    ("label_budget", "--label-budget", 0, "0"),
    ("label_budget", "--label-budget", -1, "-1"),
    ("label_budget", "--label-budget", 1, "1"),
    ("volume_per_month", "--volume", float("inf"), "1e400"),
    ("volume_per_month", "--volume", 0, "0"),
    ("volume_per_month", "--volume", 1e15, "1e15"),
    ("volume_per_month", "--volume", 1.01e15, "1.01e15"),
    ("horizon_months", "--horizon-months", 0, "0"),
    ("horizon_months", "--horizon-months", 1200, "1200"),
    ("horizon_months", "--horizon-months", float("inf"), "inf"),
    ("min_quality", "--min-quality", 1, "1"),
    ("min_quality", "--min-quality", 1.5, "1.5"),
    ("min_quality", "--min-quality", -0.1, "-0.1"),
    ("max_latency_p95_ms", "--max-latency-ms", 0, "0"),
    ("max_latency_p95_ms", "--max-latency-ms", -3, "-3"),
    ("max_latency_p95_ms", "--max-latency-ms", float("nan"), "nan"),
    ("cost_tie", "--cost-tie", 0, "0"),
    ("cost_tie", "--cost-tie", 1, "1"),
    ("cost_tie", "--cost-tie", -0.01, "-0.01"),
    ("metric", "--metric", "macro_f1", "macro_f1"),
    ("metric", "--metric", "micro_f1", "micro_f1"),
]


@pytest.mark.parametrize(("field", "flag", "value", "typed"), BOUNDARIES,
                         ids=[f"{b[0]}={b[2]}" for b in BOUNDARIES])
def test_spec_and_flags_agree_on_every_boundary(tmp_path, field, flag, value, typed):
    """One rule: a value the spec takes the flags take, and a refusal says the same thing,
    named ``scenario.<field>`` in the spec and ``--flag`` on the command line."""
    spec_error = _spec_error(tmp_path, {field: value})
    flag_error = _flag_error([flag, typed])
    assert (spec_error is None) == (flag_error is None), (spec_error, flag_error)
    if spec_error is None:
        return
    spec_rule = spec_error.removeprefix(f"spec: scenario.{field}: must be ")
    flag_rule = flag_error.removeprefix(f"{flag} must be ")
    assert spec_rule != spec_error and flag_rule != flag_error, (spec_error, flag_error)
    assert flag_rule.split(", got ")[0] == spec_rule.split(", got ")[0]
    assert "--" not in spec_error and "scenario." not in flag_error


def test_metric_flag_offers_the_registry_and_the_spec_refuses_the_rest(tmp_path, capsys):
    from whichmodel.cli import build_parser
    from whichmodel.metrics import metric_names

    choose = build_parser()._subparsers._group_actions[0].choices["choose"]
    [metric] = [a for a in choose._actions if "--metric" in a.option_strings]
    assert list(metric.choices) == metric_names(bar=True)
    assert "ece" not in metric.choices  # registered, but no bar is set on calibration
    assert "scenario.metric: must be one of accuracy, macro_f1" in _spec_error(
        tmp_path, {"metric": "ece"})
    with pytest.raises(SystemExit):
        build_parser().parse_args(["choose", "runs.sqlite", "--volume", "1", "--metric",
                                   "ece"])
    assert "invalid choice: 'ece'" in capsys.readouterr().err


def test_a_label_budget_of_zero_picks_the_zero_shot_candidate(ledger, capsys):
    assert main(["choose", str(ledger), "--volume", "1e6", "--label-budget", "0",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["scenario"]["label_budget"] == 0
    assert data["winner"]["label"] == "llm @ 0/class"
    assert all(not v["qualifies"] for v in data["verdicts"] if v["candidate"] != "llm")


def test_min_accuracy_errors_name_the_flag_typed(ledger, capsys):
    assert main(["choose", str(ledger), "--volume", "1e6", "--min-accuracy", "90"]) == 2
    err = capsys.readouterr().err
    assert "--min-accuracy must be from 0 to 1" in err and "got 90" in err


def test_hugging_face_progress_bars_are_off_for_commands_unless_asked_for(tmp_path):
    """transformers' "Loading weights" bars leaked between our lines (demo, bench): the
    CLI entry turns the Hugging Face switch off before anything imports them."""
    import os
    import subprocess
    import sys

    code = ("import whichmodel.cli as c; c.main(['choose', 'missing.sqlite', '--volume', '1'])\n"
            "from huggingface_hub.utils import are_progress_bars_disabled\n"
            "from transformers.utils import logging\n"
            "print(are_progress_bars_disabled(), logging.is_progress_bar_enabled())")
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    for setting, expected in ((None, ["True", "False"]), ("0", ["False", "True"])):
        run_env = env if setting is None else {**env, "HF_HUB_DISABLE_PROGRESS_BARS": setting}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env=run_env, cwd=tmp_path).stdout
        assert out.split()[-2:] == expected

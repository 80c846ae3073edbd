"""`whichmodel demo`: the whole pipeline — bench, choose, report — on built-in data."""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path
from typing import Any

from whichmodel.cli.common import make_console
from whichmodel.terminal import plain, printable


def demo_data_path() -> Path:
    """The packaged demo CSV (columns text, label): shop support messages, 6 classes."""
    return Path(str(resources.files("whichmodel") / "resources" / "demo.csv"))


def demo_spec(families: list[str], seeds: list[int]) -> dict[str, Any]:
    """The experiment the demo runs: every landed family at three label budgets.

    A decision whose answer depends on volume: a marketplace routes every message its
    shops' customers send, 5 billion a month, at 85% accuracy within 100 ms, with at most
    1,000 labels paid for. At that volume one small CPU instance no longer carries a
    transformer, so throughput costs money and the labels a choice needs trade against
    the instances it needs (at 2 million a month one instance carries any of them and
    the labels alone decide: the `next:` line asks that).
    """
    settings = {"tfidf": {}, "embedding": {"backbone": "all-MiniLM-L6-v2"},
                "setfit": {"backbone": "all-MiniLM-L6-v2"}}
    return {
        "dataset": {"train": str(demo_data_path()), "name": "whichmodel-demo", "text": "text",
                    "label": "label", "test_size": 0.25, "split_seed": 0},
        "budgets": [8, 24, "all"], "budget_unit": "per_class", "seeds": seeds,
        "candidates": [{"name": family, "family": family, "settings": settings.get(family, {})}
                       for family in families],
        "hardware": "cpu-small",
        "scenario": {"volume_per_month": 5e9, "horizon_months": 12, "metric": "accuracy",
                     "min_quality": 0.85, "max_latency_p95_ms": 100, "label_budget": 1000},
    }


EXAMPLES = """\
examples:
  whichmodel demo                                  # every offline family, seed 0
  whichmodel demo --seeds 1 2 3                    # mean ± std over three seeds
  whichmodel demo --families tfidf embedding --out /tmp/demo
  whichmodel choose whichmodel-demo/demo.sqlite --min-accuracy 0.9 --volume 2e6
      # ask the same ledger about another bar and volume, without training again
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo", help="the whole pipeline on built-in data: bench, choose, report",
        description="Benchmark every model family on the built-in demo dataset (360 short\n"
                    "customer-support messages, 6 classes) at 8 and 24 labels per class and\n"
                    "with all labels, recommend the cheapest that reaches 85% accuracy at 5\n"
                    "billion messages a month (where throughput costs money, so the answer\n"
                    "depends on volume: it prints the break-even volumes), and write an HTML\n"
                    "report. Rerunning skips finished runs.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="whichmodel-demo", metavar="DIR",
                        help="folder for the ledger and the report (default whichmodel-demo)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], metavar="S",
                        help="seeds to repeat each run with (default 0; more seeds give "
                             "mean ± std)")
    parser.add_argument("--families", nargs="+", metavar="FAMILY",
                        help="model families to compare (default: every offline family)")
    parser.set_defaults(func=run)


# What the demo writes into its folder: the ledger (with SQLite's side files and the
# bench lock), its kept models and the report. Anything else means not an earlier demo.
DEMO_FILES = ("demo.sqlite", "demo.sqlite-wal", "demo.sqlite-shm", "demo.sqlite-journal",
              "demo.sqlite.lock", "demo.models", "report.html")


def check_demo_folder(out: Path) -> Path:
    """``out`` if it is new, empty or an earlier demo's folder; else a `UsageError`: the
    demo replaces report.html there, and must never do so in a folder of the user's."""
    from whichmodel.errors import UsageError

    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder for the demo's ledger and "
                         "report")
    if out.is_dir() and any(out.iterdir()):
        foreign = sorted(p.name for p in out.iterdir() if p.name not in DEMO_FILES
                         and not p.name.startswith(".report.html."))
        if not foreign and not (out / "demo.sqlite").is_file():
            foreign = sorted(p.name for p in out.iterdir())  # no ledger: not a demo's
        if foreign:
            raise UsageError(f"--out {out} holds files the demo did not write "
                             f"({', '.join(foreign[:3])}{' …' if len(foreign) > 3 else ''}); "
                             "give a new or empty folder, or an earlier demo's")
    return out


def run(args: argparse.Namespace) -> int:
    from whichmodel.bench.runner import run_benchmark
    from whichmodel.bench.spec import parse_spec
    from whichmodel.cli.bench import print_command
    from whichmodel.cli.choose import print_recommendation
    from whichmodel.costs import load_prices
    from whichmodel.report.html import write_report

    console = make_console()
    out = check_demo_folder(Path(args.out))
    out.mkdir(parents=True, exist_ok=True)
    families = args.families or ["tfidf", "embedding", "setfit"]
    spec = parse_spec(demo_spec(families, args.seeds), source="demo")
    ledger = out / "demo.sqlite"
    console.print(f"[bold]whichmodel demo[/]: {', '.join(families)} × budgets 8/class, "
                  f"24/class, all × seeds {args.seeds}; ledger {plain(ledger)}")
    records = run_benchmark(spec, ledger)
    scenario = spec.to_scenario()
    prices = load_prices(spec.prices or None)
    from whichmodel.bench.question import open_question

    # The question of this ledger: its plain choices and the cascades derived from them.
    recommendation = open_question(ledger).recommend(scenario, prices)
    print_recommendation(recommendation, prices, sum(r.status != "ok" for r in records))
    report = write_report(recommendation, records, prices, out / "report.html",
                          title="whichmodel demo: shop support messages", ledger=ledger)
    # Plain print, not rich: a path or a command wrapped mid-argument cannot be copied.
    print(f"report: {printable(report)}")
    print("next: try another scenario on the same measurements (nothing is trained again):")
    print_command(["whichmodel", "choose", str(ledger), "--min-accuracy", "0.9",
                   "--volume", "2e6"])
    return 0

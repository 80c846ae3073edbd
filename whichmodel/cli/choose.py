"""`whichmodel choose`: the cheapest candidate that meets the bar, from a bench ledger."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from whichmodel.errors import UsageError, WhichmodelError

# Months per period, for --per: a year is 12 months, a day 1/30.4375 of a month (365.25/12).
MONTHS_PER = {"month": 1.0, "year": 12.0, "day": 12.0 / 365.25}

EXAMPLES = """\
examples:
  whichmodel choose runs.sqlite --min-accuracy 0.9 --volume 5e6
  whichmodel choose runs.sqlite --min-accuracy 0.9 --volume 2e5 --per day \\
      --max-latency-ms 50 --label-budget 2000
  whichmodel choose runs.sqlite --metric macro_f1 --min-quality 0.8 --volume 1e8/month \\
      --hardware t4 --horizon-months 24 --prices our-prices.yaml
  whichmodel choose runs.sqlite --min-accuracy 0.9 --volume 5e6 --json > choice.json

Costs use the dated list prices shipped with whichmodel (prices.yaml), with the
`prices:` overrides of the spec that filled the ledger; --prices FILE (same shape as a
spec's `prices:` section) replaces those overrides. Latency and throughput are
measured on the benchmark machine and scaled by the --hardware entry's speed factor, an
assumption you can override there too.
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "choose", help="recommend the cheapest candidate that meets your bar",
        description="Price every benchmarked candidate at your volume and recommend the "
                    "cheapest one meeting every constraint; show what the others failed, "
                    "the Pareto frontier and the volumes where the answer changes.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ledger", metavar="LEDGER", help="SQLite ledger from `whichmodel bench`")
    add_scenario_arguments(parser, volume_required=True)
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (the recommendation) instead of tables")
    parser.set_defaults(func=run)


def add_scenario_arguments(parser: argparse.ArgumentParser, *, volume_required: bool) -> None:
    """The scenario flags shared by `choose` and `report`, read by `build_scenario`.

    Without ``volume_required`` --volume defaults to 1e6 (a report is useful before anyone
    has settled on a volume).
    """
    group = parser.add_argument_group("scenario")
    group.add_argument("--volume", required=volume_required,
                       default=None if volume_required else "1e6", metavar="N[/PERIOD]",
                       help="items to classify per period, e.g. 5e6 or 5e6/month"
                            + ("" if volume_required else " (default 1e6)"))
    group.add_argument("--per", choices=sorted(MONTHS_PER), default=None,
                       help="period of --volume (default month)")
    group.add_argument("--metric", choices=["accuracy", "macro_f1"], default=None,
                       help="quality metric of the bar (default accuracy)")
    bar = group.add_mutually_exclusive_group()
    bar.add_argument("--min-accuracy", type=float, metavar="X", help="minimum mean accuracy")
    bar.add_argument("--min-quality", type=float, metavar="X",
                     help="minimum mean of --metric")
    group.add_argument("--max-latency-ms", type=float, metavar="MS",
                       help="maximum single-item p95 latency on the deployment hardware")
    group.add_argument("--label-budget", type=int, metavar="N",
                       help="most labelled examples you can pay for")
    group.add_argument("--horizon-months", type=float, default=12.0, metavar="M",
                       help="months to total the costs over (default 12)")
    group.add_argument("--hardware", default=None, metavar="KEY",
                       help="deployment hardware, a key of prices.yaml (default cpu-small)")
    group.add_argument("--training-hardware", default=None, metavar="KEY",
                       help="hardware training runs on (default: the deployment hardware)")
    group.add_argument("--cost-tie", type=float, default=None, metavar="FRACTION",
                       help="totals within this fraction of the cheapest count as equal and "
                            "the better model wins (default 0.01; 0 = strictly cheapest)")
    group.add_argument("--prices", metavar="FILE",
                       help="YAML of price overrides (default: the spec's, from the ledger)")
    group.add_argument("--dataset", metavar="NAME",
                       help="only runs on this dataset (when the ledger holds several)")


def parse_volume(text: str, per: str | None) -> float:
    """``"5e6"``, ``"5,000,000/month"``, ``"2e5/day"`` -> items per month."""
    match = re.fullmatch(r"\s*([0-9][0-9_,]*\.?[0-9]*(?:[eE][+-]?[0-9]+)?)\s*"
                         r"(?:/\s*(month|year|day))?\s*", text)
    if match is None:
        raise UsageError(f"--volume: expected a positive number of items such as 5e6, "
                         f"5e6/month, 2e5/day or 6e7/year, got {text!r}")
    number, suffix = match.groups()
    if suffix and per and suffix != per:
        raise UsageError(f"--volume says /{suffix} but --per says {per}; give one")
    return float(number.replace(",", "").replace("_", "")) / MONTHS_PER[suffix or per or "month"]


def build_scenario(args: argparse.Namespace) -> Any:
    """The `Scenario` the flags describe."""
    from whichmodel.costs.scenario import Scenario

    metric = args.metric or "accuracy"
    if args.min_accuracy is not None and metric != "accuracy":
        raise UsageError("--min-accuracy sets a bar on accuracy; with --metric "
                         f"{metric} use --min-quality")
    minimum = args.min_accuracy if args.min_accuracy is not None else args.min_quality
    if minimum is not None and not 0 <= minimum <= 1:
        raise UsageError(f"the minimum {metric} must be between 0 and 1, got {minimum}")
    if args.max_latency_ms is not None and not args.max_latency_ms > 0:
        raise UsageError(f"--max-latency-ms must be more than 0, got {args.max_latency_ms:g}")
    if args.label_budget is not None and args.label_budget < 1:
        raise UsageError(f"--label-budget must be at least 1 label, got {args.label_budget}")
    if not args.horizon_months > 0:
        raise UsageError(f"--horizon-months must be more than 0, got {args.horizon_months:g}")
    volume = parse_volume(args.volume, args.per)
    if volume <= 0:
        raise UsageError(f"--volume must be more than 0 items, got {args.volume}")
    values: dict[str, Any] = {
        "volume_per_month": volume,
        "horizon_months": args.horizon_months, "metric": metric, "min_quality": minimum,
        "max_latency_p95_ms": args.max_latency_ms, "label_budget": args.label_budget}
    if args.hardware:
        values["hardware"] = args.hardware
    if args.training_hardware:
        values["training_hardware"] = args.training_hardware
    if args.cost_tie is not None:
        if not 0 <= args.cost_tie < 1:
            raise UsageError(f"--cost-tie is a fraction of the cheapest total, such as 0.01 "
                             f"for 1%; got {args.cost_tie}")
        values["cost_tie"] = args.cost_tie
    return Scenario(**values)


def run(args: argparse.Namespace) -> int:
    from whichmodel.choose import recommend
    from whichmodel.costs.prices import load_prices

    scenario = build_scenario(args)
    prices = load_prices(price_overrides(args))
    prices.hardware_price(scenario.hardware, field="--hardware")
    records = read_ledger_runs(args.ledger, args.dataset)
    recommendation = recommend(records, scenario, prices)
    if args.json:
        json.dump(recommendation.to_dict(), sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
    else:
        failed = sum(r.status != "ok" for r in records)
        print_recommendation(recommendation, prices, failed)
    return 0


def price_overrides(args: argparse.Namespace) -> dict[str, Any] | None:
    """--prices FILE if given, else the `prices:` section of the spec that filled the
    ledger (so `choose` and `report` price runs the way the spec said), else None."""
    from whichmodel.costs.prices import read_overrides

    if args.prices:
        return read_overrides(args.prices)
    if not Path(args.ledger).is_file():
        return None  # the caller's ledger check says what to do
    from whichmodel.bench.ledger import read_meta

    spec = read_meta(args.ledger).get("spec")
    return (json.loads(spec).get("prices") or None) if spec else None


def read_ledger_runs(path: str, dataset: str | None) -> list[Any]:
    """The ledger's runs (on `dataset` only, when given), or a one-line error saying what
    to run when the file is missing, has no runs on that dataset, or none that succeeded."""
    if not Path(path).is_file():
        raise WhichmodelError(f"ledger not found: {path}; run `whichmodel bench SPEC.yaml` "
                              "first, then pass the .sqlite file it wrote")
    from whichmodel.bench.ledger import read_records

    records = read_records(path)
    if dataset is not None:
        datasets = sorted({r.dataset for r in records})
        records = [r for r in records if r.dataset == dataset]
        if not records:
            raise WhichmodelError(f"{path} has no runs on dataset {dataset!r}; datasets: "
                                  f"{', '.join(datasets) or 'none'}")
    if not any(r.status == "ok" for r in records):
        failed = len(records)
        raise WhichmodelError(f"{path} has no successful runs ({failed} failed); run "
                              "`whichmodel bench SPEC.yaml` and check the failures it reports")
    return records


def print_recommendation(rec: Any, prices: Any, failed_runs: int = 0) -> None:
    """The human answer: headline, the table of choices, Pareto set, switch volumes."""
    from rich.console import Console
    from rich.table import Table

    from whichmodel.choose import cost_vs_winner, describe_switches

    # Piped output (CI logs, `| tee`) gets a wide table instead of rich's 80 columns.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    metric = rec.scenario.metric
    style = "bold green" if rec.winner else "bold red"
    console.print(f"[{style}]{rec.headline()}[/]")
    table = Table(title=f"{len(rec.verdicts)} choices at "
                        f"{rec.scenario.volume_per_month:,.0f} items/month, "
                        f"{rec.scenario.horizon_months:g} months, on {rec.scenario.hardware}")
    for name in ("choice", f"{metric} ± std", "p95 ms", "items/s", "labels",
                 "annotation $", "training $", "inference $", "total $", "verdict"):
        table.add_column(name, justify="left" if name in ("choice", "verdict") else "right")
    for v in rec.verdicts:
        s, c = v.summary, v.cost
        std = getattr(s, f"{metric}_std")
        quality = s.quality(metric)
        if v is rec.winner:
            verdict = "[green]recommended[/]"
        elif v.qualifies:
            verdict = f"qualifies, {cost_vs_winner(v, rec.scenario)}"
        else:
            verdict = f"[red]{'; '.join(v.failed)}[/]"
        table.add_row(
            s.label, f"{quality:.3f} ± {std or 0:.3f}" if quality == quality else "—",
            _num(v.latency_p95_ms, "{:,.1f}"),
            "API" if s.api_model else _num(s.throughput_items_per_s, "{:,.0f}"),
            f"{s.n_labels:,.0f}", f"{c.annotation_usd:,.2f}", f"{c.training_usd:,.2f}",
            f"{c.inference_usd:,.2f}", f"{c.total_usd:,.2f}", verdict)
    console.print(table)
    for v in rec.closest:
        console.print(f"[yellow]{v.label}[/] would qualify if: "
                      + "; ".join(v.what_would_have_to_change))
    pareto = ", ".join(f"{s.label} ({s.quality(metric):.3f}, ${rec.total_usd_of(s):,.0f})"
                       for s in rec.pareto)
    console.print(f"Pareto frontier ({metric} vs total cost): {pareto or 'none'}")
    if rec.switch_volumes:
        for sentence in describe_switches(rec.switch_volumes):
            console.print(sentence)
    elif rec.winner is not None:
        console.print("The recommendation holds from 100 to 10,000,000,000 items/month.")
    overridden = f"; overridden: {', '.join(prices.overridden)}" if prices.overridden else ""
    console.print(f"[dim]Prices: list prices as of {prices.date} ({prices.currency}){overridden}."
                  f" Hardware speed factors are assumptions; see prices.yaml.[/]")
    if failed_runs:
        console.print(f"[dim]{failed_runs} failed run(s) in the ledger were left out.[/]")


def _num(value: float | None, fmt: str) -> str:
    return "—" if value is None else fmt.format(value)

"""`whichmodel report LEDGER --out report.html`: the recommendation and its evidence as HTML.

Takes the same scenario flags as `whichmodel choose`, so the report always explains the
recommendation `choose` would print for the same command line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = """\
Write one self-contained HTML report (plots embedded, no network needed to open it):
the recommendation and why, every candidate's quality, speed and cost, the Pareto plot,
cost against volume with break-evens, learning curves, and the recommended model's
per-class F1 and confusions. Scenario flags are those of `whichmodel choose`."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `report` subcommand."""
    parser = subparsers.add_parser(
        "report", help="write the HTML report for a ledger", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ledger", metavar="LEDGER", help="the SQLite ledger from `bench`")
    parser.add_argument("--out", default="report.html", metavar="FILE",
                        help="where to write the report (default: report.html)")
    parser.add_argument("--title", help="page title (default: 'Which model for DATASET?')")
    _add_scenario_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the ledger, build the scenario and prices, write the report, print its path."""
    from whichmodel.bench.ledger import read_records
    from whichmodel.cli.choose import build_scenario
    from whichmodel.costs.prices import load_prices, read_overrides
    from whichmodel.errors import UsageError
    from whichmodel.report import write_report

    scenario = build_scenario(args)
    prices = load_prices(read_overrides(args.prices) if args.prices else None)
    prices.hardware_price(scenario.hardware, field="--hardware")
    if not Path(args.ledger).is_file():
        raise UsageError(f"ledger not found: {args.ledger}; run `whichmodel bench SPEC.yaml` "
                         "first, then pass the .sqlite file it wrote")
    records = read_records(args.ledger)
    if args.dataset is not None:
        datasets = sorted({r.dataset for r in records})
        records = [r for r in records if r.dataset == args.dataset]
        if not records:
            raise UsageError(f"{args.ledger} has no runs on dataset {args.dataset!r}; "
                             f"datasets: {', '.join(datasets) or 'none'}")
    if not records:
        raise UsageError(f"{args.ledger} holds no runs yet; run `whichmodel bench` first")
    print(write_report(records, scenario, prices, args.out, title=args.title))
    return 0


def _add_scenario_arguments(parser: argparse.ArgumentParser) -> None:
    """The scenario flags of `whichmodel choose`, same names and defaults, so
    `whichmodel.cli.choose.build_scenario` reads them. --volume defaults to 1e6 here:
    a report is useful before anyone has settled on a volume.

    TODO(report): use choose's own argument-adding function once it exposes one.
    """
    from whichmodel.cli.choose import MONTHS_PER

    group = parser.add_argument_group("scenario (as in `whichmodel choose`)")
    group.add_argument("--volume", default="1e6", metavar="N[/PERIOD]",
                       help="items to classify per period, e.g. 5e6 or 5e6/month "
                            "(default 1e6)")
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
    group.add_argument("--prices", metavar="FILE", help="YAML of price overrides")
    group.add_argument("--dataset", metavar="NAME",
                       help="only runs on this dataset (when the ledger holds several)")

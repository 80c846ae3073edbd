"""`whichmodel report LEDGER --out report.html`: the recommendation and its evidence as HTML.

Takes the same scenario flags as `whichmodel choose`, so the report always explains the
recommendation `choose` would print for the same command line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from whichmodel.cli.choose import add_scenario_arguments
from whichmodel.errors import UsageError

DESCRIPTION = """\
Write one self-contained HTML report (plots embedded, no network needed to open it):
the recommendation and why, every candidate's quality, speed and cost, the Pareto plot,
cost against volume with break-evens, learning curves, and the recommended model's
per-class F1 and confusions. Scenario flags are those of `whichmodel choose`; give the
same ones to both and the report explains the recommendation choose prints."""

EXAMPLES = """\
examples:
  whichmodel report runs.sqlite --out report.html               # volume 1e6, no bar
  whichmodel report runs.sqlite --min-accuracy 0.9 --volume 5e6 --max-latency-ms 50 \\
      --out report.html
  whichmodel report runs.sqlite --volume 2e5/day --hardware t4 --title "Support intents"
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `report` subcommand."""
    parser = subparsers.add_parser(
        "report", help="write the HTML report for a ledger", description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ledger", metavar="LEDGER", help="the SQLite ledger from `bench`")
    parser.add_argument("--out", default="report.html", metavar="FILE",
                        help="where to write the report, an .html file it replaces "
                             "(default: report.html)")
    parser.add_argument("--title", help="page title (default: 'Which model for DATASET?')")
    add_scenario_arguments(parser, volume_required=False)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the report of the recommendation `choose` would print for the same flags
    (`recommend_for`), print its path."""
    from whichmodel.cli.choose import recommend_for
    from whichmodel.report import write_report

    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--out {args.out}: the report is one HTML file; give a name ending "
                         "in .html")
    if out.is_dir():
        raise UsageError(f"--out {args.out} is a folder; give a file name ending in .html")
    recommendation, question, prices = recommend_for(args)
    print(write_report(recommendation, question.records, prices, args.out, title=args.title,
                       ledger=question.ledger))
    return 0

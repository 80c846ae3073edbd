"""Issue 21's Banking77 figure: `encoder` (full fine-tuning) against `setfit`, `embedding`
and `tfidf` at 8 and 64 labels per class and with every training label.

    .venv/bin/python benchmarks/banking77_families.py [--seeds 0]

Through `whichmodel bench` (resumable ledger benchmarks/results/banking77_families.sqlite,
ignored by git), MiniLM-L6 for every body, 1 torch thread, each family at its defaults.
The bench keeps a seeded 20% of train as validation (choices are made on it), so "all"
is the other 80% (8,002 rows). Prints test accuracy and macro-F1, train seconds and
items/s per family and budget, and where the learning curves cross; writes
benchmarks/results/banking77_families.txt.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("WHICHMODEL_DATA", REPO.parent / "shared" / "data"))
RESULTS = REPO / "benchmarks" / "results"
LEDGER = RESULTS / "banking77_families.sqlite"
FAMILIES = ("tfidf", "embedding", "setfit", "encoder")
BUDGETS = (8, 64, "all")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    from whichmodel.bench.question import open_question
    from whichmodel.bench.runner import run_benchmark
    from whichmodel.bench.spec import parse_spec
    from whichmodel.costs import load_prices
    from whichmodel.costs.scenario import Scenario

    spec = parse_spec({
        "dataset": {"name": "banking77", "train": str(DATA / "banking77" / "train.csv"),
                    "test": str(DATA / "banking77" / "test.csv"), "text": "text",
                    "label": "category"},
        "budgets": list(BUDGETS), "budget_unit": "per_class", "seeds": args.seeds,
        "candidates": [{"name": f, "family": f} for f in FAMILIES],
        "hardware": "cpu-small", "measure": {"threads": 1},
    }, source="banking77_families")
    run_benchmark(spec, LEDGER)
    rec = open_question(LEDGER, dataset="banking77").recommend(
        Scenario(volume_per_month=1e6, horizon_months=12, hardware="cpu-small"),
        load_prices(None), cascades=False)
    table: dict[tuple[str, str], object] = {(v.summary.candidate, str(v.summary.budget)): v
                                            for v in rec.verdicts}
    lines = [f"Banking77 test (3,080), seeds {args.seeds}, MiniLM-L6, 1 thread",
             "| family | budget | labels | accuracy | macro-F1 | train s | items/s |",
             "|---|---|---|---|---|---|---|"]
    curves: dict[str, list[float]] = {}
    budget_names = []
    for family in FAMILIES:
        for key in sorted((k for k in table if k[0] == family),
                          key=lambda k: table[k].summary.n_labels):
            s = table[key].summary
            if key[1] not in budget_names:
                budget_names.append(key[1])
            curves.setdefault(family, []).append(s.test_quality("accuracy"))
            lines.append(f"| {family} | {key[1]} | {s.n_labels:,.0f} | "
                         f"{s.test_quality('accuracy'):.3f} | {s.test_quality('macro_f1'):.3f} "
                         f"| {s.drivers.train_seconds:,.0f} | "
                         f"{s.drivers.throughput_items_per_s:,.0f} |")
    lines.append("")
    for a in FAMILIES:
        for b in FAMILIES:
            if a >= b or a not in curves or b not in curves:
                continue
            diffs = [x - y for x, y in zip(curves[a], curves[b])]
            for i in range(1, len(diffs)):
                if not math.isnan(diffs[i]) and diffs[i - 1] * diffs[i] < 0:
                    lines.append(f"{a} and {b} cross between {budget_names[i - 1]} and "
                                 f"{budget_names[i]}")
    out = RESULTS / "banking77_families.txt"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

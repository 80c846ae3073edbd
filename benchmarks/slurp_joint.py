"""Issue 21's SLURP figure: one joint intent + slot model against `dual`, two single-task
models of the same backbone (MiniLM-L6), trained on SLURP's devel split, scored on test.

    .venv/bin/python benchmarks/slurp_joint.py [--seeds 0]

Runs through `whichmodel bench` (resumable ledger benchmarks/results/slurp_joint.sqlite,
ignored by git), 1 torch thread. SLURP's official train split is not in the shared data,
so devel (2,033 rows) is the training set; the test rows whose intent never occurs in
devel (no model can predict those) are left out and counted. Prints intent accuracy,
slot F1 (exact spans, micro), frame accuracy, items/s and p95 per item (and the dual ÷
joint ratios), and train seconds; writes benchmarks/results/slurp_joint.txt.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("WHICHMODEL_DATA", REPO.parent / "shared" / "data"))
RESULTS = REPO / "benchmarks" / "results"
WORK = REPO / "runs" / "slurp_joint"
LEDGER = RESULTS / "slurp_joint.sqlite"


def test_file() -> tuple[Path, int]:
    """SLURP test without the rows whose intent devel never has; (path, rows left out)."""
    devel = {json.loads(line)["intent"]
             for line in (DATA / "slurp" / "devel.jsonl").read_text().splitlines() if line}
    kept, dropped = [], 0
    for line in (DATA / "slurp" / "test.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        if json.loads(line)["intent"] in devel:
            kept.append(line)
        else:
            dropped += 1
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / "test_seen_intents.jsonl"
    path.write_text("\n".join(kept) + "\n")
    return path, dropped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    from whichmodel.bench.question import open_question
    from whichmodel.bench.runner import run_benchmark
    from whichmodel.bench.spec import parse_spec
    from whichmodel.costs import load_prices
    from whichmodel.costs.scenario import Scenario

    test, dropped = test_file()
    spec = parse_spec({
        "dataset": {"name": "slurp", "train": str(DATA / "slurp" / "devel.jsonl"),
                    "test": str(test), "validation_size": 0},
        "budgets": ["all"], "seeds": args.seeds,
        "candidates": [{"name": "joint", "family": "joint"},
                       {"name": "dual", "family": "dual"},
                       {"name": "tfidf", "family": "tfidf"}],
        "hardware": "cpu-small", "measure": {"threads": 1},
    }, source="slurp_joint")
    run_benchmark(spec, LEDGER)
    prices = load_prices(None)
    rec = open_question(LEDGER, dataset="slurp").recommend(
        Scenario(volume_per_month=1e6, horizon_months=12, hardware="cpu-small",
                 metric="slot_f1"), prices, cascades=False)
    rows = {v.summary.candidate: v for v in rec.verdicts
            if not getattr(v.summary, "stages", None)}
    lines = [f"SLURP devel → test ({dropped} test rows of intents devel lacks left out), "
             f"seeds {args.seeds}, MiniLM-L6, 1 thread",
             "| model | intent accuracy | slot F1 | frame accuracy | items/s | p95 ms/item "
             "| train s | total $ at 1e6/month, 12 months |",
             "|---|---|---|---|---|---|---|---|"]
    for name in ("joint", "dual", "tfidf"):
        if name not in rows:
            continue
        s, d = rows[name].summary, rows[name].summary.drivers
        lines.append(
            f"| {name} | {s.test_quality('intent_accuracy'):.3f} | "
            f"{_q(s, 'slot_f1')} | {_q(s, 'frame_accuracy')} | "
            f"{d.throughput_items_per_s:,.1f} | {d.latency_p95_ms:.2f} | "
            f"{d.train_seconds:,.0f} | {rows[name].cost.total_usd:,.0f} |")
    if "joint" in rows and "dual" in rows:
        j, u = rows["joint"].summary.drivers, rows["dual"].summary.drivers
        lines.append(f"\ndual ÷ joint: p95 {u.latency_p95_ms / j.latency_p95_ms:.2f}×, "
                     f"items/s {u.throughput_items_per_s / j.throughput_items_per_s:.2f}×, "
                     f"train s {u.train_seconds / j.train_seconds:.2f}×")
    out = RESULTS / "slurp_joint.txt"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def _q(summary, name: str) -> str:
    import math

    value = summary.test_quality(name)
    return "–" if math.isnan(value) else f"{value:.3f}"


if __name__ == "__main__":
    raise SystemExit(main())

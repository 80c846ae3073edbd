"""SetFit defaults across class counts: a development suite and a held-out suite.

The defaults of whichmodel's `setfit` family (how much contrastive training "auto" does)
are chosen on DEV only; HELDOUT is run once the rule is fixed and reported on its own, as
the honest estimate of how the defaults generalize. Each task runs three systems per
seed, each in its own child process at one torch thread (`setfit_vs_reference.run_child`),
two children at a time (one per core): train time is compared as process CPU seconds,
which another process on the other core does not inflate (BENCHMARKS.md, busy machine).

Tasks (`setfit_vs_reference.task_folds`)
  banking77:Kx-S     K Banking77 intents drawn by the letter x (t, c: four look-alike
                     intents, top-up and card delivery), S labels per class, scored on
                     those intents' official test rows (40 each)
  umsab:english-S    UMSAB English tweet sentiment (3 classes), S per class, official test
  raft:NAME          a RAFT task's 50 labels, 5-fold cross-validated (train on 40)
  banking77-8        all 77 intents, 8 per class, full test set

Systems
  ours       whichmodel `setfit`, at the variant's settings (default: today's defaults)
  reference  setfit 1.2.0 at its defaults (every pair, oversampled: 2 × the larger of the
             similar / dissimilar pair counts), except where that plans over 1,000 steps:
             the paper's num_iterations=20 there, and 5 beyond 300 labels (at 20 one run
             takes ~1 h on one core; at 64/class its accuracy is flat beyond 2 iterations,
             BENCHMARKS.md)
  frozen     whichmodel `embedding`: the frozen body + logistic regression

Examples
  python benchmarks/setfit_suite.py dev --seeds 1 2                   # everything on DEV
  python benchmarks/setfit_suite.py dev --systems ours --variants default steps2 min64
  python benchmarks/setfit_suite.py heldout --seeds 1 2
  python benchmarks/setfit_suite.py dev --table --variants default whole
  python benchmarks/setfit_suite.py dev --cold --table   # sessions 13-15's rows (imports timed)
"""

from __future__ import annotations

import argparse
import functools
import math
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import setfit_vs_reference as ref  # noqa: E402

RESULTS = ref.REPO / "benchmarks" / "results" / "setfit_suite.jsonl"
SUITES = {
    "dev": ["banking77:4a-8", "banking77:4a-64", "banking77:4t-8", "banking77:4t-64",
            "banking77:10a-8", "banking77:10a-64",
            "umsab:english-8", "umsab:english-64", "raft:ade_corpus_v2",
            "raft:twitter_complaints", "banking77-8"],
    "heldout": ["banking77:4c-8", "banking77:4c-64", "banking77:4x-8", "banking77:6y-8",
                "raft:neurips_impact_statement_risks", "raft:one_stop_english",
                "raft:terms_of_service"],
}
BATCH = 64
# Ours' training code, part of ours' run keys: a change to the loop (not to settings) that
# alters its time or accuracy gets a new tag, so earlier rows are not passed off as new.
OURS_CODE = "fused-adamw"
# How train time is taken: "warm-imports" (the default since session 16) imports each
# system's libraries before its clock starts, as a bench process does once for all its
# candidates; "cold" (sessions 13-15) counted the ~5-10 s of imports in every fit.
TIMING = {"timing": "warm-imports"}


def task_shape(task: str) -> tuple[int, int]:
    """(labels a fit trains on, classes) of a task, without reading its data."""
    if task.startswith("banking77:"):
        subset, shots = task.split(":", 1)[1].split("-")
        return int(subset[:-1]) * int(shots), int(subset[:-1])
    if task.startswith("umsab:"):
        return 3 * int(task.rsplit("-", 1)[1]), 3
    if task.startswith("raft:"):
        classes = {"one_stop_english": 3, "semiconductor_org_types": 3,
                   "medical_subdomain_of_clinical_notes": 6}
        return 40, classes.get(task.split(":", 1)[1], 2)
    return 77 * int(task.rsplit("-", 1)[1]), 77


def reference_steps(task: str) -> int:
    """Steps the reference plans at its defaults ("oversampling": twice the larger of the
    similar and dissimilar pair counts, 16 pairs a step) on a balanced task."""
    n, k = task_shape(task)
    similar = k * math.comb(n // k, 2)
    return 2 * max(similar, math.comb(n, 2) - similar) // 16


def reference_iterations(task: str) -> int | None:
    """The reference's own default (None) up to 1,000 planned steps; beyond, the paper's
    num_iterations=20, and 5 beyond 300 labels (at 20, one run there takes ~1 h)."""
    if reference_steps(task) <= 1000:
        return None
    return 20 if task_shape(task)[0] <= 300 else 5


def auto_steps(n: int) -> int:
    return max(1, round(256 * math.sqrt(n) / BATCH))


def steps_setting(steps: int, n: int) -> dict:
    """The `num_epochs` number that trains exactly ``steps`` steps on ``n`` examples."""
    return {"num_epochs": steps * min(BATCH, n) / n}


# Variant name → settings for (labels, classes). Explored on DEV only.
VARIANTS = {
    "default": lambda n, k: {},
    # The whole body tuned: the default up to session 16 (before: trainable_layers="auto").
    "whole": lambda n, k: {"trainable_layers": None},
    "steps2": lambda n, k: steps_setting(2 * auto_steps(n), n),
    "min64": lambda n, k: steps_setting(max(64, auto_steps(n)), n),
    "min128": lambda n, k: steps_setting(max(128, auto_steps(n)), n),
    "cosine": lambda n, k: {"loss": "cosine"},
    "lr1e-4": lambda n, k: {"learning_rate": 1e-4},
    "t0.1": lambda n, k: {"temperature": 0.1},
    "t0.2": lambda n, k: {"temperature": 0.2},
    "cosine-steps2": lambda n, k: {"loss": "cosine", **steps_setting(2 * auto_steps(n), n)},
    "lr2e-5": lambda n, k: {"learning_rate": 2e-5},
    "half": lambda n, k: steps_setting(max(1, auto_steps(n) // 2), n),
    "t0.2-half": lambda n, k: {"temperature": 0.2,
                               **steps_setting(max(1, auto_steps(n) // 2), n)},
    "t0.1-half": lambda n, k: {"temperature": 0.1,
                               **steps_setting(max(1, auto_steps(n) // 2), n)},
    "top2": lambda n, k: {"trainable_layers": 2},
    "top3": lambda n, k: {"trainable_layers": 3},
    "top4": lambda n, k: {"trainable_layers": 4},
    "top5": lambda n, k: {"trainable_layers": 5},
    "top6": lambda n, k: {"trainable_layers": 6},  # MiniLM-L6: only the embeddings frozen
    "top3-lr1e-4": lambda n, k: {"trainable_layers": 3, "learning_rate": 1e-4},
    "top4-lr1e-4": lambda n, k: {"trainable_layers": 4, "learning_rate": 1e-4},
    "mix0.3": lambda n, k: {"pretrained_mix": 0.3},
    "mix0.5": lambda n, k: {"pretrained_mix": 0.5},
}


@functools.cache
def machine() -> str:
    """The CPU model: part of every run key, so ratios never mix rows of two machines."""
    from whichmodel.bench.runner import _cpu_model

    return _cpu_model()


def specs_for(task: str, seed: int, systems: list[str], variants: list[str]) -> list[dict]:
    n, _ = task_shape(task)
    out = []
    for system in systems:
        spec = {"kind": "run", "system": system, "task": task, "seed": seed, "threads": 1,
                "machine": machine(), **TIMING}
        if system == "reference":
            spec["iterations"] = reference_iterations(task)
            out.append(spec)
        elif system == "frozen":
            out.append({**spec, "params": ref.resolved_params("frozen", {})})
        else:
            for variant in variants:
                settings = {**ref.DEFAULT_OURS, **VARIANTS[variant](n, task_shape(task)[1])}
                params = ref.resolved_params("ours", settings)
                if params.get("pretrained_mix") == 0.0:  # rows before it existed: no mix
                    del params["pretrained_mix"]
                # Tuning only the top layers runs the lower ones once (a cache): new code.
                code = OURS_CODE + ("" if params["trainable_layers"] is None else "+lower-cache")
                out.append({**spec, "settings": settings, "code": code, "params": params})
    return out


def _mean_std(values: list[float], digits: int) -> str:
    if not values:
        return "–"
    spread = f" ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else ""
    return f"{statistics.mean(values):.{digits}f}{spread}"


def table(tasks: list[str], seeds: list[int], variants: list[str]) -> str:
    """Per task: accuracy of each system, CPU-second ratio reference ÷ ours, margin over frozen."""
    rows = {r["key"]: r for r in ref.read_results(RESULTS)}
    lines = ["| task | labels | " + " | ".join(f"ours `{v}`" for v in variants)
             + " | reference | frozen | ref ÷ ours CPU s (" + variants[0] + ") |",
             "|---|---|" + "---|" * (len(variants) + 3)]
    for task in tasks:
        found: dict[str, list[dict]] = {}
        for seed in seeds:
            for spec in specs_for(task, seed, ["ours", "reference", "frozen"], variants):
                row = rows.get(ref.run_key(spec))
                if row:
                    name = spec["system"]
                    if name == "ours":
                        name = variants[[ref.run_key(s) for s in specs_for(
                            task, seed, ["ours"], variants)].index(ref.run_key(spec))]
                    found.setdefault(name, []).append(row)
        cells = [_mean_std([r["accuracy"] for r in found.get(v, [])], 3) for v in variants]
        cells += [_mean_std([r["accuracy"] for r in found.get(s, [])], 3)
                  for s in ("reference", "frozen")]
        ratio = "–"
        ours, theirs = found.get(variants[0], []), found.get("reference", [])
        common = {r["seed"] for r in ours} & {r["seed"] for r in theirs}
        if common:
            cpu = [sum(r["train_cpu_seconds"] for r in rs if r["seed"] in common)
                   for rs in (theirs, ours)]
            ratio = f"{cpu[0] / cpu[1]:.1f}× ({cpu[0] / len(common):.0f} / " \
                    f"{cpu[1] / len(common):.0f} s)"
        lines.append(f"| {task} | {task_shape(task)[0]} | " + " | ".join(cells)
                     + f" | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split(
        "\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", choices=sorted(SUITES))
    parser.add_argument("--tasks", nargs="+", help="a subset of the suite's tasks")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--systems", nargs="+", default=["ours", "frozen", "reference"],
                        choices=ref.SYSTEMS)
    parser.add_argument("--variants", nargs="+", default=["default"], choices=sorted(VARIANTS),
                        help="ours' settings to run (DEV only, to choose the defaults)")
    parser.add_argument("--workers", type=int, default=2, help="child processes at a time")
    parser.add_argument("--table", action="store_true", help="only print the table")
    parser.add_argument("--cold", action="store_true",
                        help="time imports inside each fit (sessions 13-15's rows)")
    args = parser.parse_args(argv)
    if args.cold:
        TIMING.clear()
    tasks = args.tasks or SUITES[args.suite]
    if args.suite == "heldout" and args.variants != ["default"]:
        parser.error("the held-out suite runs today's defaults only: choose on dev")
    if not args.table:
        done = {r.get("key") for r in ref.read_results(RESULTS)}
        todo = [s for seed in args.seeds for task in tasks
                for s in specs_for(task, seed, args.systems, args.variants)
                if ref.run_key(s) not in done]
        # Cheap runs first, so a table is worth reading early.
        todo.sort(key=lambda s: (s["system"] == "reference", task_shape(s["task"])[0]))
        print(f"{len(todo)} runs to do", flush=True)
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(lambda s: ref.run_child(s, RESULTS), todo))
    print(table(tasks, args.seeds, args.variants))


if __name__ == "__main__":
    main()

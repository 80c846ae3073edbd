"""Would interpolating the tuned body back toward the pre-trained one help? (WiSE-FT)

Weight-space ensembling (Wortsman et al., 2022, "Robust fine-tuning of zero-shot models")
uses the body θ(α) = (1 − α)·θ_pretrained + α·θ_tuned: α = 0 is the frozen body, α = 1 the
tuned one; values in between cost nothing at inference. This script trains our `setfit`
once per fold (its defaults unless ``--settings``), then refits the head on the embeddings
of θ(α) for every α of the grid and scores each, so one training run gives the whole
curve.

It is run on data kept for choosing defaults, never on the reported tasks: the RAFT tasks
that BENCHMARKS.md calls the development set (5-fold cross-validation on their 50 labels,
as in `setfit_vs_reference.py`) and ``banking77-8-val`` (8 shots per class, scored on
1,540 other rows of the official train file, the split of `setfit_selection.py`).

Resumable: finished (task, seed, settings) rows are appended to the results file.

Example
  python benchmarks/setfit_interpolation.py --seeds 1 2 --tasks raft:tweet_eval_hate \\
      raft:semiconductor_org_types banking77-8-val
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from setfit_selection import validation_split
from setfit_vs_reference import REPO, resolved_params, task_folds

DEFAULT_RESULTS = REPO / "benchmarks" / "results" / "setfit_interpolation.jsonl"
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
DEV_TASKS = ["raft:tweet_eval_hate", "raft:semiconductor_org_types",
             "raft:terms_of_service", "banking77-8-val"]


def banking77_val_fold(seed: int) -> list[tuple]:
    """8 shots per class (the run's seed) and 1,540 validation rows from the train file."""
    sample, val_texts, val_labels = validation_split(shots=8, seed=seed, n_val=1540)
    return [(list(sample.texts), list(sample.labels), val_texts, val_labels)]


def mixed_state(base: dict, tuned: dict, alpha: float) -> dict:
    """θ(α) for floating-point tensors; integer buffers (position ids) stay as tuned."""
    return {k: ((1 - alpha) * base[k] + alpha * v) if v.is_floating_point() else v
            for k, v in tuned.items()}


def run(task: str, seed: int, settings: dict) -> dict:
    """Train once per fold, then score the head refitted on θ(α) for every α."""
    import numpy as np

    from whichmodel.models.setfit import SetFitClassifier

    folds = banking77_val_fold(seed) if task == "banking77-8-val" else task_folds(task, seed)
    correct = {alpha: 0 for alpha in ALPHAS}
    total, seconds = 0, 0.0
    for texts, labels, test_texts, test_labels in folds:
        model = SetFitClassifier(seed=seed, **settings)
        started = time.perf_counter()
        model.fit(texts, labels)
        seconds += time.perf_counter() - started
        tuned = model._body_snapshot()
        model._load_body(model.backbone)
        base = model._body_snapshot()
        y = model._encode(list(labels))
        truth = np.array(test_labels, dtype=object)
        for alpha in ALPHAS:
            model.body_.load_state_dict(mixed_state(base, tuned, alpha))
            model.body_.eval()
            model.head_ = model._fit_head(model.embed(list(texts)), y)
            predicted = np.array(model.predict(list(test_texts)), dtype=object)
            correct[alpha] += int((predicted == truth).sum())
        total += len(test_labels)
    return {"task": task, "seed": seed, "settings": settings, "n_test": total,
            "fit_seconds": round(seconds, 1),
            "accuracy": {str(alpha): correct[alpha] / total for alpha in ALPHAS},
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}


def row_key(task: str, seed: int, settings: dict) -> str:
    return json.dumps({"task": task, "seed": seed,
                       "params": resolved_params("ours", settings)}, sort_keys=True)


def settings_label(row: dict, defaults: dict) -> str:
    """The settings the row ran with (resolved, from its key) that differ from ``defaults``.

    Grouping by the resolved settings, not the ones typed, keeps a row run before a default
    changed apart from a row run after it."""
    params = json.loads(row["key"])["params"]
    changed = {k: v for k, v in params.items() if defaults.get(k) != v}
    return json.dumps(changed, sort_keys=True) if changed else "defaults"


def table(rows: list[dict]) -> str:
    defaults = resolved_params("ours", {})
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["task"], settings_label(r, defaults)), []).append(r)
    head = " | ".join(f"α={a:g}" for a in ALPHAS)
    lines = [f"| task | settings | seeds | fit s | {head} |",
             "|---|---|---|---|" + "---|" * len(ALPHAS)]
    for (task, settings), group in sorted(groups.items()):
        cells = []
        for alpha in ALPHAS:
            values = [r["accuracy"][str(alpha)] for r in group]
            spread = f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else ""
            cells.append(f"{statistics.mean(values):.3f}{spread}")
        seeds = ",".join(str(r["seed"]) for r in sorted(group, key=lambda r: r["seed"]))
        fit = statistics.mean(r["fit_seconds"] for r in group)
        lines.append(f"| {task} | {settings} | {seeds} | {fit:.0f} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=DEV_TASKS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--settings", type=json.loads, default={},
                        help="SetFitClassifier settings as JSON (default: its defaults)")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--table", action="store_true", help="only print the table")
    args = parser.parse_args(argv)

    settings = {"progress_bar": False, **args.settings}
    rows = ([json.loads(line) for line in args.results.read_text().splitlines() if line]
            if args.results.exists() else [])
    done = {r["key"] for r in rows}
    if not args.table:
        for task in args.tasks:
            for seed in args.seeds:
                key = row_key(task, seed, settings)
                if key in done:
                    print(f"✓ {task} seed {seed} (done)")
                    continue
                print(f"→ {task} seed {seed}", flush=True)
                row = {**run(task, seed, settings), "key": key}
                print("  " + json.dumps(row["accuracy"]), flush=True)
                with args.results.open("a") as out:
                    out.write(json.dumps(row) + "\n")
                rows.append(row)
    print(table(rows))


if __name__ == "__main__":
    main()

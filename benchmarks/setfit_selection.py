"""Choosing the `setfit` family's defaults on a validation split, reporting them on test.

Banking77 at N labelled examples per class (`few_shot_sample`, the run's seed); the
validation split is `--val` other rows of the official *train* file (never the test
set), so settings are chosen without looking at the test set; the test accuracy is then
reported for every variant. Each (variant, seed) also refits the head on its tuned
embeddings at several logistic-regression strengths (C), which costs seconds, so the head
strength is chosen on validation too.

Resumable: finished (variant, seed) rows are appended to the results file and skipped on
a rerun of the same command. Rows are keyed, and labelled in the table, by every setting
the model resolved to (`get_params()`, defaults included), the same way as in
`setfit_vs_reference.py`: after a change of defaults, `{}` is a new row, and old rows show
the settings that now differ from the defaults.

``--intents top_up`` restricts everything (sample, validation, test) to the intents whose
name contains that text: a family of near-duplicate intents, where there are few classes
and the frozen body is already strong. ``{"num_epochs": 0}`` is the frozen body under the
same head, the baseline to beat.

Examples
  # the default against a few alternatives, seeds 1-3
  python benchmarks/setfit_selection.py --seeds 1 2 3 --variants \\
      '{}' '{"end_to_end_epochs": 2}' '{"num_epochs": 20}' '{"temperature": 0.1}'
  # the nine top-up intents: frozen body, defaults, fewer steps
  python benchmarks/setfit_selection.py --intents top_up --val 300 --seeds 1 2 3 \\
      --variants '{"num_epochs": 0}' '{}' '{"num_epochs": 5}'
  # print the table of what has finished
  python benchmarks/setfit_selection.py --table
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from setfit_vs_reference import not_default, resolved_params

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("WHICHMODEL_DATA", REPO.parent / "shared" / "data"))
DEFAULT_RESULTS = REPO / "benchmarks" / "results" / "setfit_selection.jsonl"
HEAD_CS = (1.0, 10.0, 100.0)


def banking77(split: str, intents: str | None = None):
    """Banking77's train or test file, only the intents whose name contains ``intents``."""
    from whichmodel.data import load_dataset

    data = load_dataset(DATA / "banking77" / f"{split}.csv", "text", "category")
    if intents:
        keep = [i for i, label in enumerate(data.labels) if intents in label]
        if not keep:
            raise SystemExit(f"no Banking77 intent name contains {intents!r}")
        data = data.subset(keep)
    return data


def validation_split(shots: int, seed: int, n_val: int, intents: str | None = None) -> tuple:
    """(few-shot sample, validation texts, validation labels), both from the train file.

    The validation rows are ``n_val`` train rows outside the sample, drawn with the seed,
    so choosing settings never looks at the test set."""
    import numpy as np

    from whichmodel.data import few_shot_sample

    train = banking77("train", intents)
    # up_to: at 64 shots four Banking77 classes give all they have (as in setfit_vs_reference).
    sample = few_shot_sample(train, shots=shots, seed=seed, up_to=True)
    taken = set(sample.texts)
    rest = [i for i, t in enumerate(train.texts) if t not in taken]
    val_rows = np.random.default_rng(1000 + seed).choice(rest, size=n_val, replace=False)
    return (sample, [train.texts[i] for i in val_rows], [train.labels[i] for i in val_rows])


def run(variant: dict, seed: int, shots: int, n_val: int, intents: str | None = None) -> dict:
    """Fit one variant on one seed's sample; accuracy on validation and test per head C."""
    import numpy as np

    from whichmodel.models.linear_head import LinearHead
    from whichmodel.models.setfit import SetFitClassifier

    test = banking77("test", intents)
    sample, val_texts, val_labels = validation_split(shots, seed, n_val, intents)
    val_labels = np.array(val_labels, dtype=object)

    model = SetFitClassifier(seed=seed, progress_bar=False, **variant)
    started = time.perf_counter()
    model.fit(sample.texts, sample.labels)
    fit_seconds = time.perf_counter() - started
    classes = np.array(model.classes_, dtype=object)
    index = {label: i for i, label in enumerate(model.classes_)}
    train_y = np.array([index[label] for label in sample.labels])
    features = {"train": model.embed(sample.texts), "val": model.embed(val_texts),
                "test": model.embed(test.texts)}
    truth = {"val": val_labels, "test": np.array(test.labels, dtype=object)}

    def accuracy(head: LinearHead, split: str) -> float:
        return float(np.mean(classes[head.proba(features[split]).argmax(axis=1)]
                             == truth[split]))

    by_c: dict[str, dict[str, float]] = {}
    for c in HEAD_CS:
        head = LinearHead.fit(features["train"], train_y, multi_label=False, c=c,
                              max_iter=2000, seed=seed)
        by_c[f"{c:g}"] = {split: accuracy(head, split) for split in ("val", "test")}
    # The model as fitted: its own head on the same embeddings (what `predict` does),
    # without encoding validation and test a second time.
    as_fitted = {split: accuracy(model.head_, split) for split in ("val", "test")}
    return {"variant": variant, "params": resolved_params("ours", variant), "seed": seed,
            "shots": shots, "n_val": n_val, **({"intents": intents} if intents else {}),
            "fit_seconds": round(fit_seconds, 1), "steps": model.log_["steps"],
            "as_fitted": as_fitted, "head_c": by_c,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}


def key(variant: dict, seed: int, shots: int, n_val: int, intents: str | None = None) -> str:
    """What a row ran with: every resolved setting, not just the ones asked for."""
    return json.dumps({"params": resolved_params("ours", variant), "seed": seed,
                       "shots": shots, "n_val": n_val,
                       **({"intents": intents} if intents else {})}, sort_keys=True)


def read(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def table(rows: list[dict]) -> str:
    """Markdown: one line per (variant, shots), mean ± std over seeds."""
    groups: dict[str, list[dict]] = {}
    defaults = {"ours": resolved_params("ours", {})}
    for r in rows:
        label = not_default({**r, "system": "ours"}, defaults)
        groups.setdefault(json.dumps([r.get("intents") or "all", r["shots"], label],
                                     sort_keys=True), []).append(r)

    def ms(values: list[float]) -> str:
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.3f} ± {std:.3f}"

    lines = ["| intents | shots | variant | seeds | fit s | val (as fitted) | test (as fitted) | "
             + " | ".join(f"val / test, C={c:g}" for c in HEAD_CS) + " |",
             "|---" * (7 + len(HEAD_CS)) + "|"]
    for name, runs in sorted(groups.items()):
        intents, shots, variant = json.loads(name)
        cells = [intents, str(shots), json.dumps(variant) if variant else "defaults",
                 ",".join(str(r["seed"]) for r in runs),
                 f"{statistics.mean(r['fit_seconds'] for r in runs):.0f}",
                 ms([r["as_fitted"]["val"] for r in runs]),
                 ms([r["as_fitted"]["test"] for r in runs])]
        for c in HEAD_CS:
            cells.append(f"{statistics.mean(r['head_c'][f'{c:g}']['val'] for r in runs):.3f}"
                         f" / {statistics.mean(r['head_c'][f'{c:g}']['test'] for r in runs):.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", type=json.loads, default=[{}],
                        help="SetFitClassifier settings as JSON objects; {} = the defaults")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--shots", type=int, default=8, help="labelled examples per class")
    parser.add_argument("--val", type=int, default=1540,
                        help="validation rows drawn from the rest of the train file")
    parser.add_argument("--intents", default=None,
                        help="only the Banking77 intents whose name contains this text")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--table", action="store_true", help="only print the table")
    args = parser.parse_args(argv)
    if not args.table:
        done = {r["key"] for r in read(args.results)}
        for seed in args.seeds:
            for variant in args.variants:
                k = key(variant, seed, args.shots, args.val, args.intents)
                if k in done:
                    print(f"✓ {variant or 'defaults'} seed {seed} (done)")
                    continue
                print(f"→ {variant or 'defaults'} seed {seed}", flush=True)
                result = {**run(variant, seed, args.shots, args.val, args.intents), "key": k}
                args.results.parent.mkdir(parents=True, exist_ok=True)
                with args.results.open("a") as handle:
                    handle.write(json.dumps(result) + "\n")
                print(f"  {result['fit_seconds']} s, val {result['as_fitted']['val']:.4f}, "
                      f"test {result['as_fitted']['test']:.4f}", flush=True)
    print(table(read(args.results)))


if __name__ == "__main__":
    main()

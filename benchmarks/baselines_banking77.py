"""Banking77 with the two baselines: full train → test, and 8 labels per class × seeds.

    .venv/bin/python benchmarks/baselines_banking77.py [--data ../shared/data] [--seeds 1 2 3]

Prints a markdown table for BENCHMARKS.md. Embeddings of the frozen body are computed
once per process and shared by every run (that is what the cache is for); train seconds
of `embedding` therefore count encoding only the first time a text is seen.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared"
                                              / "data"), help="shared data folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--shots", type=int, default=8)
    args = parser.parse_args()

    from whichmodel.data import few_shot_sample, load_dataset
    from whichmodel.evaluate import classification_metrics
    from whichmodel.models.base import build_classifier

    folder = Path(args.data) / "banking77"
    train = load_dataset(folder / "train.csv", "text", "category")
    test = load_dataset(folder / "test.csv", "text", "category")
    rows = []
    for family in ("tfidf", "embedding"):
        for budget, seeds in (("all", [0]), (f"{args.shots}/class", args.seeds)):
            scores = []
            for seed in seeds:
                sample = train if budget == "all" else few_shot_sample(train, shots=args.shots,
                                                                       seed=seed)
                started = time.perf_counter()
                model = build_classifier(family, seed=seed).fit(sample.texts, sample.labels)
                fit_s = time.perf_counter() - started
                proba = model.predict_proba(test.texts)
                m = classification_metrics(test.labels, model.decode(proba), proba,
                                           model.classes_)
                scores.append((m["accuracy"], m["macro_f1"], fit_s))
                print(f"{family} {budget} seed={seed}: acc={m['accuracy']:.4f} "
                      f"macro-F1={m['macro_f1']:.4f} fit={fit_s:.1f}s", flush=True)
            rows.append((family, budget, len(seeds), scores))

    def fmt(values: list[float]) -> str:
        if len(values) == 1:
            return f"{values[0]:.4f}"
        return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"

    print(f"\n{datetime.now(timezone.utc):%Y-%m-%d}, {platform.processor() or platform.machine()}"
          f", {os.cpu_count()} cores\n")
    print("| family | labels | seeds | test accuracy | test macro-F1 | fit s (first seed) |")
    print("|---|---|---|---|---|---|")
    for family, budget, n_seeds, scores in rows:
        print(f"| {family} | {budget} | {n_seeds} | {fmt([s[0] for s in scores])} | "
              f"{fmt([s[1] for s in scores])} | {scores[0][2]:.1f} |")


if __name__ == "__main__":
    main()

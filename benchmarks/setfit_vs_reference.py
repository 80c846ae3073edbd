"""Our `setfit` family vs the reference `setfit` library: time, peak memory, accuracy.

Same backbone (all-MiniLM-L6-v2, resolved offline by `whichmodel.backbones`), same
few-shot samples (`whichmodel.data.few_shot_sample` with the run's seed), same test data.
Each (system, task, seed) runs in its own child process, so the peak RSS it reports is
that run's alone; finished runs are appended as JSON lines to the results file and
skipped when the script is run again (it is resumable: just rerun the same command).

Tasks
  banking77-8, banking77-64   Banking77, 8 or 64 labelled examples per class (616 /
                              4,868: four classes have fewer than 64 and give all
                              they have), scored on the full official test set (3,080).
  banking77:Kx-S              K Banking77 intents (drawn by the letter x, or a look-alike
                              set: t, c), S per class, scored on their test rows
  umsab:LANG-S                UMSAB tweet sentiment (3 classes), S per class, official test
  raft:NAME                   a RAFT task (50 labels; test labels are not public), scored
                              by 5-fold stratified cross-validation on the 50: train on
                              40, predict 10, five times; accuracy over all 50, train
                              seconds summed over the folds.

Systems
  ours        whichmodel's SetFitClassifier (settings: --ours-settings JSON).
  reference   setfit (pip install "whichmodel[bench]"), its defaults, except on Banking77
              where num_iterations=20 (the paper's setting; its default plans 23,408 steps,
              about 5 h on 2 CPU cores). Given a metric callable, so nothing is fetched,
              and report_to="none" (its default switches on every installed logger).
  frozen      whichmodel's `embedding` family: frozen body + logistic regression.

Examples
  # the core comparison, seeds 1-3 (the reference takes ~20 min per Banking77 run on 2 cores)
  nice -n 10 python benchmarks/setfit_vs_reference.py --tasks banking77-8 --seeds 1 2 3
  # only ours and the frozen baseline, three RAFT tasks
  python benchmarks/setfit_vs_reference.py --systems ours frozen \\
      --tasks raft:ade_corpus_v2 raft:overruling raft:twitter_complaints
  # 50,000 examples over 77 classes (drawn with replacement from Banking77): RSS and time
  python benchmarks/setfit_vs_reference.py --scale
  # print the table of what has finished so far
  python benchmarks/setfit_vs_reference.py --table
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("WHICHMODEL_DATA", REPO.parent / "shared" / "data"))
DEFAULT_RESULTS = REPO / "benchmarks" / "results" / "setfit_runs.jsonl"
DEFAULT_TASKS = ["banking77-8"]
RAFT_TASKS = ["raft:ade_corpus_v2", "raft:overruling", "raft:twitter_complaints"]
BANKING_REFERENCE_ITERATIONS = 20
SYSTEMS = ("ours", "reference", "frozen")
DEFAULT_OURS = {"progress_bar": False}
_APPEND = threading.Lock()


# -- data ----------------------------------------------------------------------------------
def raft_dataset(name: str):
    """A RAFT task's 50 labelled rows; the text joins its data columns (ID left out)."""
    from whichmodel.data import load_dataset

    folder = DATA / "raft" / name
    task = json.loads((folder / "task.json").read_text())
    columns = [c for c in task["data_columns"] if c != "ID"]
    template = "\n".join("{" + c + "}" for c in columns)
    return load_dataset(folder / "train.csv", template, next(iter(task["label_columns"])))


# Subsets of look-alike intents (hard few-class tasks), by letter; other letters draw.
LOOKALIKE_INTENTS = {
    "t": ["pending_top_up", "top_up_by_card_charge", "top_up_failed", "top_up_reverted"],
    "c": ["card_arrival", "card_delivery_estimate", "get_physical_card",
          "order_physical_card"],
}


def banking_intents(k: int, subset: str) -> list[str]:
    """``k`` Banking77 intents: a look-alike set (`LOOKALIKE_INTENTS`) or drawn by the
    subset's letter, the same on every machine."""
    import numpy as np

    if subset in LOOKALIKE_INTENTS:
        if k != len(LOOKALIKE_INTENTS[subset]):
            raise SystemExit(f"subset {subset!r} has {len(LOOKALIKE_INTENTS[subset])} intents")
        return LOOKALIKE_INTENTS[subset]
    intents = sorted(json.loads((DATA / "banking77" / "categories.json").read_text()))
    rng = np.random.default_rng(1000 * k + ord(subset))
    return sorted(rng.choice(intents, size=k, replace=False).tolist())


UMSAB_SENTIMENTS = ("negative", "neutral", "positive")


def umsab_split(language: str, split: str):
    """One UMSAB split (tweets one per line, labels 0/1/2 in a parallel file) as a Dataset."""
    from whichmodel.data import Dataset

    folder = DATA / "umsab-sentiment" / language
    texts = (folder / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
    labels = (folder / f"{split}_labels.txt").read_text().split()
    return Dataset(texts=texts, labels=[UMSAB_SENTIMENTS[int(v)] for v in labels],
                   source=str(folder / f"{split}_text.txt"))


def task_folds(task: str, seed: int):
    """[(train texts, train labels, test texts, test labels)] for one task and seed."""
    from whichmodel.data import few_shot_sample, load_dataset

    if task.startswith("banking77-"):
        shots = int(task.split("-")[1])
        train = load_dataset(DATA / "banking77" / "train.csv", "text", "category")
        test = load_dataset(DATA / "banking77" / "test.csv", "text", "category")
        # up_to: four Banking77 classes have fewer than 64 rows and give all they have.
        sample = few_shot_sample(train, shots=shots, seed=seed, up_to=True)
        return [(sample.texts, sample.labels, test.texts, test.labels)]
    if task.startswith("banking77:"):  # banking77:4a-8: 4 intents of subset "a", 8 per class
        subset, shots = task.split(":", 1)[1].split("-")
        intents = set(banking_intents(int(subset[:-1]), subset[-1]))
        train = load_dataset(DATA / "banking77" / "train.csv", "text", "category")
        test = load_dataset(DATA / "banking77" / "test.csv", "text", "category")
        train = train.subset([i for i, c in enumerate(train.labels) if c in intents])
        test = test.subset([i for i, c in enumerate(test.labels) if c in intents])
        sample = few_shot_sample(train, shots=int(shots), seed=seed, up_to=True)
        return [(sample.texts, sample.labels, test.texts, test.labels)]
    if task.startswith("umsab:"):  # umsab:english-8: 8 tweets per sentiment, official test
        language, shots = task.split(":", 1)[1].split("-")
        train, test = umsab_split(language, "train"), umsab_split(language, "test")
        sample = few_shot_sample(train, shots=int(shots), seed=seed)
        return [(sample.texts, sample.labels, test.texts, test.labels)]
    if task.startswith("raft:"):
        from sklearn.model_selection import StratifiedKFold

        ds = raft_dataset(task.split(":", 1)[1])
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
        out = []
        for train_idx, test_idx in folds.split(ds.texts, ds.labels):
            out.append(([ds.texts[i] for i in train_idx], [ds.labels[i] for i in train_idx],
                        [ds.texts[i] for i in test_idx], [ds.labels[i] for i in test_idx]))
        return out
    raise SystemExit(f"unknown task {task!r}: use banking77-8, banking77-64 or raft:NAME")


# -- one run (in a child process) ------------------------------------------------------------
def fit_reference(texts, labels, seed: int, iterations: int | None):
    """Train the reference library at its defaults (num_iterations if given)."""
    import shutil
    import tempfile

    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    from whichmodel.backbones import resolve_backbone

    model = SetFitModel.from_pretrained(resolve_backbone("all-MiniLM-L6-v2"))
    # Loggers off: its default ("all" installed loggers) would time whatever happens to be
    # installed (here MLflow, writing a database into the working directory).
    settings = {"seed": seed, "output_dir": tempfile.mkdtemp(prefix="setfit-ref-"),
                "report_to": "none"}
    if iterations is not None:
        settings["num_iterations"] = iterations
    trainer = Trainer(model=model, args=TrainingArguments(**settings),
                      train_dataset=Dataset.from_dict({"text": texts, "label": labels}),
                      metric=lambda y_pred, y_true: {
                          "accuracy": sum(a == b for a, b in zip(y_pred, y_true)) / len(y_true)})
    trainer.train()
    shutil.rmtree(settings["output_dir"], ignore_errors=True)  # its checkpoints
    return lambda batch: [str(p) for p in model.predict(batch, as_numpy=True)]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# The libraries each system imports on its first fit. With spec["timing"] = "warm-imports"
# they are imported before the clock starts: importing sentence-transformers costs ~5.5 s
# of CPU and setfit ~5 s more (2 AVX-512 cores), once per process, not per fit, so a cold
# timing at 24 labels was a third import. The import's CPU seconds are kept in the row.
WARM_IMPORTS = {"ours": ("sentence_transformers", "sklearn.linear_model"),
                "frozen": ("sentence_transformers", "sklearn.linear_model"),
                "reference": ("setfit", "datasets", "sentence_transformers",
                              "sklearn.linear_model")}


def _warm_imports(system: str) -> float:
    """Import ``system``'s libraries now; their CPU seconds."""
    import importlib

    started = _cpu_seconds()
    for name in WARM_IMPORTS[system]:
        importlib.import_module(name)
    return _cpu_seconds() - started


def run_one(spec: dict) -> dict:
    """Train and score one (system, task, seed); the child process's whole job."""
    import numpy as np

    from whichmodel.models.base import build_classifier

    if spec.get("threads"):
        import torch

        torch.set_num_threads(spec["threads"])
    import_cpu_seconds = (_warm_imports(spec["system"])
                          if spec.get("timing") == "warm-imports" else None)
    correct = total = 0
    train_seconds = cpu_seconds = 0.0
    details = []
    folds = task_folds(spec["task"], spec["seed"])
    for texts, labels, test_texts, test_labels in folds:
        started, cpu_started = time.perf_counter(), _cpu_seconds()
        if spec["system"] == "reference":
            predict = fit_reference(texts, labels, spec["seed"], spec.get("iterations"))
        else:
            family = "setfit" if spec["system"] == "ours" else "embedding"
            model = build_classifier(family, seed=spec["seed"], **spec.get("settings", {}))
            model.fit(texts, labels)
            predict = model.predict
            if family == "setfit":
                details.append(model.log_)
        seconds = time.perf_counter() - started
        cpu_seconds += _cpu_seconds() - cpu_started
        predicted = predict(test_texts)
        hits = np.array(predicted, dtype=object) == np.array(test_labels, dtype=object)
        correct += int(hits.sum())
        total += len(test_labels)
        train_seconds += seconds
    return {**spec, "train_seconds": round(train_seconds, 2), "accuracy": correct / total,
            "train_cpu_seconds": round(cpu_seconds, 1),
            **({} if import_cpu_seconds is None
               else {"import_cpu_seconds": round(import_cpu_seconds, 1)}),
            "n_test": total, "n_folds": len(folds), "log": details,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}


def run_scale(spec: dict) -> dict:
    """Ours on n examples over Banking77's 77 classes, drawn with replacement; test set scored."""
    import numpy as np

    from whichmodel.data import load_dataset
    from whichmodel.models.setfit import SetFitClassifier

    train = load_dataset(DATA / "banking77" / "train.csv", "text", "category")
    test = load_dataset(DATA / "banking77" / "test.csv", "text", "category")
    rows = np.random.default_rng(spec["seed"]).integers(0, len(train), size=spec["n"])
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    model = SetFitClassifier(seed=spec["seed"], **spec.get("settings", {}))
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    model.fit([train.texts[i] for i in rows], [train.labels[i] for i in rows])
    seconds = time.perf_counter() - started
    cpu_seconds = _cpu_seconds() - cpu_started
    accuracy = float(np.mean(np.array(model.predict(test.texts)) == np.array(test.labels)))
    return {**spec, "train_seconds": round(seconds, 2), "accuracy": accuracy,
            "train_cpu_seconds": round(cpu_seconds, 1),
            "steps": model.log_["steps"], "pairs": model.log_["pairs"],
            "rss_before_fit_mib": round(rss_before, 1),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}


# -- orchestration -----------------------------------------------------------------------------
def run_key(spec: dict) -> str:
    key = {k: spec.get(k) for k in ("kind", "system", "task", "seed", "settings", "params",
                                    "iterations", "n")}
    for field in ("threads", "code", "machine", "timing"):  # rows from before these keep their keys
        if spec.get(field):
            key[field] = spec[field]
    return json.dumps(key, sort_keys=True)


def resolved_params(system: str, settings: dict) -> dict:
    """Every setting ours / frozen will run with, defaults included (cheap: no torch).

    Specs carry it and `run_key` uses it, so a later change of defaults cannot pass old
    rows off as new ones."""
    from whichmodel.models.base import build_classifier

    family = "setfit" if system == "ours" else "embedding"
    params = build_classifier(family, **settings).get_params()
    return {k: v for k, v in params.items() if k not in ("seed", "progress_bar")}


def read_results(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_child(spec: dict, results: Path) -> dict | None:
    """Run ``spec`` in a fresh Python process and append its JSON result to ``results``."""
    print(f"→ {spec['system']} {spec['task']} seed {spec['seed']}", flush=True)
    threads = {k: str(spec["threads"]) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
               if spec.get("threads")}
    # The child's stderr (progress bars, warnings) goes to a log beside the results.
    log = results.with_suffix(".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as stderr:
        stderr.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} {json.dumps(spec)}\n")
        stderr.flush()
        proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                              stdout=subprocess.PIPE, stderr=stderr, text=True,
                              env={**os.environ, "HF_HUB_OFFLINE": "1",
                                   "TOKENIZERS_PARALLELISM": "false", **threads})
    if proc.returncode != 0:
        print(f"  failed (exit {proc.returncode}); see {log}", file=sys.stderr)
        return None
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["key"] = run_key(spec)
    results.parent.mkdir(parents=True, exist_ok=True)
    with _APPEND, results.open("a") as handle:  # workers append whole lines, one at a time
        handle.write(json.dumps(result) + "\n")
    print(f"  {result['train_seconds']:.1f} s, accuracy {result['accuracy']:.4f}, "
          f"peak RSS {result['peak_rss_mib']:.0f} MiB", flush=True)
    return result


def _mean_std(values: list[float], digits: int) -> str:
    if not values:
        return "–"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {std:.{digits}f}"


def not_default(row: dict, defaults: dict[str, dict]) -> dict:
    """The settings a row ran with that differ from today's defaults (its label)."""
    return {k: v for k, v in (row.get("params") or {}).items()
            if defaults.get(row["system"], {}).get(k) != v}


def table(rows: list[dict]) -> str:
    """Markdown: one line per (task, system, settings), with the time ratio to ours."""
    groups: dict[tuple, list[dict]] = {}
    defaults = {system: resolved_params(system, {}) for system in ("ours", "frozen")}
    for r in rows:
        if r.get("kind") == "run":
            label = r["system"] + (f" (num_iterations={r['iterations']})"
                                   if r.get("iterations") else "")
            extra = not_default(r, defaults)
            if extra:
                label += " " + json.dumps(extra, sort_keys=True)
            groups.setdefault((r["task"], label, r["system"]), []).append(r)
    lines = ["| task | system | seeds | train s (wall) | train CPU s | ref ÷ ours (wall) "
             "| peak RSS MiB | accuracy |", "|---|---|---|---|---|---|---|---|"]
    for (task, label, system), runs in sorted(groups.items()):
        # The ratio is to ours at default settings, measured on the same seeds.
        ours = [r for (t, _, s), rs in groups.items() if t == task and s == "ours" for r in rs
                if r.get("params") == defaults["ours"]]
        ratio = "–"
        # Rows marked "contended" were timed while other work shared the CPU: their
        # accuracy stands, their seconds are left out of the means and the ratio.
        timed = [r for r in runs if not r.get("contended")]
        ours = [r for r in ours if not r.get("contended")]
        if system == "reference" and ours:
            seeds = {r["seed"] for r in ours} & {r["seed"] for r in timed}
            if seeds:
                ref_s = statistics.mean(r["train_seconds"] for r in timed if r["seed"] in seeds)
                our_s = statistics.mean(r["train_seconds"] for r in ours if r["seed"] in seeds)
                ratio = f"{ref_s / our_s:.1f}× (seeds {sorted(seeds)})"
        lines.append(
            f"| {task} | {label} | "
            f"{','.join(str(r['seed']) + ('*' if r.get('contended') else '') for r in runs)} | "
            f"{_mean_std([r['train_seconds'] for r in timed], 0)} | "
            f"{_mean_std([r['train_cpu_seconds'] for r in timed if 'train_cpu_seconds' in r], 0)}"
            f" | {ratio} | "
            f"{max(r['peak_rss_mib'] for r in runs):.0f} | "
            f"{_mean_std([r['accuracy'] for r in runs], 3)} |")
    if any(r.get("contended") for r in rows):
        lines.append("\n\\* timed while other work shared the CPU: accuracy and RSS counted, "
                     "seconds left out.")
    scale = [r for r in rows if r.get("kind") == "scale"]
    if scale:
        lines += ["", "| scale run | n | steps | pairs scored | train s | peak RSS MiB "
                  "| test accuracy |", "|---|---|---|---|---|---|---|"]
        for r in scale:
            lines.append(f"| ours {json.dumps(not_default(r, defaults), sort_keys=True)} | "
                         f"{r['n']:,} | "
                         f"{r['steps']} | {r['pairs']:,} | {r['train_seconds']:.0f} | "
                         f"{r['peak_rss_mib']:.0f} | {r['accuracy']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=DEFAULT_TASKS,
                        help=f"banking77-8, banking77-64, raft:NAME (default {DEFAULT_TASKS}; "
                             f"the RAFT three used in BENCHMARKS.md: {' '.join(RAFT_TASKS)})")
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS,
                        help="which systems to run, in this order per task and seed")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--ours-settings", type=json.loads, default={},
                        help='SetFitClassifier settings as JSON, e.g. \'{"num_epochs": 5}\'')
    parser.add_argument("--reference-iterations", type=int, default=None,
                        help="num_iterations for the reference on every task (default: "
                             f"{BANKING_REFERENCE_ITERATIONS} on Banking77, its default elsewhere)")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                        help="JSON-lines file of finished runs (appended; rerun skips them)")
    parser.add_argument("--scale", action="store_true",
                        help="train ours once on --scale-n examples (77 classes) instead")
    parser.add_argument("--scale-n", type=int, default=50_000)
    parser.add_argument("--table", action="store_true", help="only print the results table")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(run_scale(spec) if spec["kind"] == "scale" else run_one(spec)))
        return
    done = {r.get("key") for r in read_results(args.results)}
    if not args.table:
        specs = []
        if args.scale:
            settings = {**DEFAULT_OURS, **args.ours_settings}
            specs.append({"kind": "scale", "system": "ours", "task": "banking77-scale",
                          "seed": args.seeds[0], "n": args.scale_n, "settings": settings,
                          "params": resolved_params("ours", settings)})
        else:
            for task in args.tasks:
                for seed in args.seeds:
                    for system in args.systems:
                        spec = {"kind": "run", "system": system, "task": task, "seed": seed}
                        if system == "ours":
                            spec["settings"] = {**DEFAULT_OURS, **args.ours_settings}
                        if system in ("ours", "frozen"):
                            spec["params"] = resolved_params(system, spec.get("settings", {}))
                        if system == "reference":
                            spec["iterations"] = args.reference_iterations or (
                                BANKING_REFERENCE_ITERATIONS if task.startswith("banking77")
                                else None)
                        specs.append(spec)
        for spec in specs:
            if run_key(spec) in done:
                print(f"✓ {spec['system']} {spec['task']} seed {spec['seed']} (done)")
                continue
            run_child(spec, args.results)
    print(table(read_results(args.results)))


if __name__ == "__main__":
    main()

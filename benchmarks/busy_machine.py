"""Do the bench's speed figures hold on a busy machine? And does training share fairly?

Part 1 (issue #18's target): the `embedding` and `setfit` families' items/s and p95
latency on a Banking77 slice, measured by the bench's probe (`probe_inference`: process
CPU time at 1 thread, median of 3 repeats) on a quiet machine and again with two
busy-loop processes saturating both cores; beside them the old way (wall clock at the
process's default threads, one pass) under the same two conditions. Target: the probe's
busy figures within 25% of its quiet ones.

Part 2: the thread policy. One SetFit fit (8 Banking77 intents × 8 labels), each in a
fresh process, at 1 and 2 torch threads, with OpenMP's default wait policy (threads
spin) and with PASSIVE (whichmodel's default), quiet and beside one busy-loop process.
Fair share on 2 cores with one other busy process is about 1 core.

    .venv/bin/python benchmarks/busy_machine.py            # both parts, ~10 minutes
    .venv/bin/python benchmarks/busy_machine.py --part 1   # the probe only

Needs the shared data (WHICHMODEL_DATA, default ../shared/data). Nothing else may run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("WHICHMODEL_DATA", REPO.parent / "shared" / "data"))
BUSY = [sys.executable, "-c", "while True: pass"]


def _slice(n_classes: int, per_class: int, n_test: int):
    import pandas as pd

    train = pd.read_csv(DATA / "banking77" / "train.csv")
    test = pd.read_csv(DATA / "banking77" / "test.csv")
    classes = sorted(train.category.unique())[:n_classes]
    train = train[train.category.isin(classes)].groupby("category").head(per_class)
    test = test[test.category.isin(classes)].head(n_test)
    return train, test


class busy:  # noqa: N801 - reads as a statement: `with busy(2):`
    """``n`` busy-loop processes for the duration of the block."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> busy:
        self.procs = [subprocess.Popen(BUSY) for _ in range(self.n)]
        time.sleep(1.0 if self.n else 0)
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:
            p.kill()
            p.wait()


def _old_way(model, texts: list[str], batch_size: int = 32) -> tuple[float, float]:
    """The probe before issue #18: one wall-clock pass, default threads."""
    import numpy as np

    from whichmodel.predictor import Predictor

    many, one = Predictor(model, batch_size=batch_size), Predictor(model, batch_size=1)
    many.predict(texts[:batch_size], use_cache=False)
    started = time.perf_counter()
    many.predict(texts, use_cache=False)
    rate = len(texts) / (time.perf_counter() - started)
    latencies = []
    for text in texts[:50]:
        started = time.perf_counter()
        one.predict([text], use_cache=False)
        latencies.append((time.perf_counter() - started) * 1000)
    return rate, float(np.percentile(latencies, 95))


def part_probe() -> list[str]:
    from whichmodel.bench.probe import probe_inference
    from whichmodel.models.base import build_classifier

    train, test = _slice(20, 8, 512)
    texts = test.text.tolist()
    lines = ["| family | method | quiet items/s | busy items/s | ratio | quiet p95 ms | "
             "busy p95 ms | ratio | noisy (busy) |", "|---|---|---|---|---|---|---|---|---|"]
    for family in ("embedding", "setfit"):
        model = build_classifier(family, backbone="all-MiniLM-L6-v2",
                                 **({"progress_bar": False} if family == "setfit" else {}))
        model.fit(train.text.tolist(), train.category.tolist())
        results = {}
        for n_busy in (0, 2):
            with busy(n_busy):
                probe = probe_inference(model, texts, batch_size=32, latency_samples=50)
                old = _old_way(model, texts)
            results[n_busy] = (probe, old)
        (q, q_old), (b, b_old) = results[0], results[2]
        noise = "; ".join(b.extra["measurement"]["noise"]) or "no"
        lines.append(f"| {family} | probe (CPU time, 1 thread, median of 3) | "
                     f"{q.throughput_items_per_s:,.0f} | {b.throughput_items_per_s:,.0f} | "
                     f"{b.throughput_items_per_s / q.throughput_items_per_s:.2f} | "
                     f"{q.latency_p95_ms:.1f} | {b.latency_p95_ms:.1f} | "
                     f"{b.latency_p95_ms / q.latency_p95_ms:.2f} | {noise} |")
        lines.append(f"| {family} | old (wall clock, default threads, 1 pass) | "
                     f"{q_old[0]:,.0f} | {b_old[0]:,.0f} | {b_old[0] / q_old[0]:.2f} | "
                     f"{q_old[1]:.1f} | {b_old[1]:.1f} | {b_old[1] / q_old[1]:.2f} | – |")
        print(lines[-2], lines[-1], sep="\n", flush=True)
    return lines


_FIT = """
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
sys.path.insert(0, sys.argv[2])
sys.argv = sys.argv[:1]
from benchmarks.busy_machine import _slice
from whichmodel.backbones import embedding_cache
from whichmodel.models.base import build_classifier
train, _ = _slice(8, 8, 0)
model = build_classifier("setfit", backbone="all-MiniLM-L6-v2", progress_bar=False)
with embedding_cache.bypassed():
    started = time.perf_counter()
    model.fit(train.text.tolist(), train.category.tolist())
print(time.perf_counter() - started)
"""


def part_threads() -> list[str]:
    lines = ["| wait policy | threads | quiet fit s | beside 1 busy process s | slowdown |",
             "|---|---|---|---|---|"]
    for policy in ("default (spin)", "PASSIVE"):
        env = dict(os.environ)
        env.pop("OMP_WAIT_POLICY", None)
        if policy == "PASSIVE":
            env["OMP_WAIT_POLICY"] = "PASSIVE"
        else:
            env["OMP_WAIT_POLICY"] = ""  # set but empty: whichmodel leaves it, libgomp spins
        for threads in (1, 2):
            seconds = []
            for n_busy in (0, 1):
                with busy(n_busy):
                    out = subprocess.run([sys.executable, "-c", _FIT, str(threads), str(REPO)],
                                         env=env, capture_output=True, text=True, check=True)
                seconds.append(float(out.stdout.strip().splitlines()[-1]))
            lines.append(f"| {policy} | {threads} | {seconds[0]:.1f} | {seconds[1]:.1f} | "
                         f"{seconds[1] / seconds[0]:.2f}× |")
            print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", type=int, choices=(1, 2), help="run one part only")
    args = parser.parse_args()
    import platform

    from whichmodel.bench.runner import _cpu_model

    print(f"{time.strftime('%Y-%m-%d')}, {_cpu_model()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}", flush=True)
    if args.part in (None, 1):
        part_probe()
    if args.part in (None, 2):
        part_threads()


if __name__ == "__main__":
    main()

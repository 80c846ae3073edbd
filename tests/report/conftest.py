"""Ledger rows from REAL runs of the real benchmark runner on Banking77 data.

The report is only as good as what it shows for real numbers, so the fixtures run
`whichmodel.bench.runner.run_benchmark` on small specs: real TF-IDF classifiers at
several label budgets and seeds, measured by the runner's probes. One candidate fails for
real (an invalid setting) so the failed-runs section has content.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from whichmodel.bench.record import RunRecord


def run_spec(folder: Path, spec: dict[str, Any]) -> list[RunRecord]:
    """Validate ``spec`` and run it with the real runner into a ledger in ``folder``."""
    from whichmodel.bench.runner import run_benchmark
    from whichmodel.bench.spec import parse_spec

    parsed = parse_spec({"measure": {"batch_size": 32, "latency_samples": 10}, **spec},
                        base_dir=folder, source="report-test.yaml")
    return run_benchmark(parsed, folder / "runs.sqlite", progress=False)


@pytest.fixture(scope="session")
def real_ledger(banking77_slice: dict, tmp_path_factory) -> Path:
    """A ledger of 2 candidates × 3 budgets × 2 seeds of real TF-IDF runs, with their
    stored predictions (a validation split too: the spec's default), and one candidate
    that fails for real."""
    folder = tmp_path_factory.mktemp("report_runs")
    run_spec(folder, {
        "dataset": {"train": str(banking77_slice["train"]), "test": str(banking77_slice["test"]),
                    "name": "banking77-slice", "text": "text", "label": "category"},
        "budgets": [4, 8, "all"], "seeds": [0, 1],
        "candidates": [{"name": "tfidf-words", "family": "tfidf", "settings": {"ngram_max": 1}},
                       {"name": "tfidf-bigrams", "family": "tfidf",
                        "settings": {"ngram_max": 2}},
                       {"name": "tfidf-broken", "family": "tfidf",
                        "settings": {"min_df": 100_000}}],  # prunes every term
    })
    return folder / "runs.sqlite"


@pytest.fixture(scope="session")
def real_records(real_ledger: Path) -> list[RunRecord]:
    """The rows of `real_ledger`: its finished runs and one real failure."""
    from whichmodel.bench.ledger import read_records

    records = read_records(real_ledger)
    failed = [r for r in records if r.status == "failed"]
    assert {r.candidate for r in failed} == {"tfidf-broken"}, [r.error for r in records]
    # one failure is enough for the failed-runs section; keep the row count as before
    return [r for r in records if r.status == "ok"] + failed[:1]


@pytest.fixture(scope="session")
def many_class_records(banking77: Path, tmp_path_factory) -> list[RunRecord]:
    """Real runs on all 77 Banking77 intents (8 train / 5 test each): the per-class
    and confusion figures must stay readable at that size."""
    import pandas as pd

    folder = tmp_path_factory.mktemp("report_77")
    pd.read_csv(banking77 / "train.csv").groupby("category").head(8).to_csv(
        folder / "train.csv", index=False)
    pd.read_csv(banking77 / "test.csv").groupby("category").head(5).to_csv(
        folder / "test.csv", index=False)
    return run_spec(folder, {
        "dataset": {"train": "train.csv", "test": "test.csv", "name": "banking77",
                    "text": "text", "label": "category"},
        "budgets": ["all"], "seeds": [0, 1],
        "candidates": [{"name": "tfidf-words", "family": "tfidf",
                        "settings": {"ngram_max": 1}}],
    })

"""Ledger rows from REAL runs: TF-IDF classifiers fitted on a Banking77 slice.

The report is only as good as what it shows for real numbers, so the fixtures train real
(cheap) models at several label budgets and seeds, score them with
`classification_metrics`, time them, and fill `RunRecord`s the way the runner does.
One run fails for real (an invalid setting) so the failed-runs section has content.
"""

from __future__ import annotations

import platform
import time
from datetime import datetime, timezone

import numpy as np
import pytest

from whichmodel.bench.record import RunRecord, run_key
from whichmodel.evaluate import classification_metrics

CANDIDATES = {  # name -> (family, settings)
    "tfidf-words": ("tfidf", {"ngram_max": 1}),
    "tfidf-bigrams": ("tfidf", {"ngram_max": 2}),
}
ENVIRONMENT = {"machine": f"{platform.machine()} {platform.system()}, test runner",
               "python": platform.python_version()}


def _few_shot(df, per_class: int | None, seed: int):
    if per_class is None:
        return df
    return df.sample(frac=1.0, random_state=seed).groupby("category").head(per_class)


def run_real(candidate: str, family: str, settings: dict, train_df, test_df,
             per_class: int | None, seed: int, dataset: str) -> RunRecord:
    """Fit, predict and time one candidate the way the bench runner does."""
    from whichmodel.models.base import build_classifier

    budget = "all" if per_class is None else f"{per_class}/class"
    key = run_key(dataset, candidate, settings, budget, seed)
    base = dict(key=key, dataset=dataset, candidate=candidate, family=family,
                settings=settings, budget=budget, seed=seed, environment=ENVIRONMENT,
                created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    train = _few_shot(train_df, per_class, seed)
    texts, labels = train["text"].tolist(), train["category"].tolist()
    try:
        model = build_classifier(family, **settings, seed=seed)
        started = time.perf_counter()
        model.fit(texts, labels)
        train_seconds = time.perf_counter() - started
        test_texts = test_df["text"].tolist()
        started = time.perf_counter()
        proba = model.predict_proba(test_texts)
        throughput = len(test_texts) / (time.perf_counter() - started)
        latencies = []
        for text in test_texts[:30]:
            started = time.perf_counter()
            model.predict_proba([text])
            latencies.append((time.perf_counter() - started) * 1000)
    except Exception as err:  # recorded like the runner records a failing candidate
        return RunRecord(**base, status="failed", error=f"{type(err).__name__}: {err}")
    classes = list(model.classes_)
    predicted = [classes[i] for i in np.argmax(proba, axis=1)]
    metrics = classification_metrics(test_df["category"].tolist(), predicted, proba, classes)
    return RunRecord(
        **base, n_labels=len(texts), n_test=len(test_texts), accuracy=metrics["accuracy"],
        macro_f1=metrics["macro_f1"], ece=metrics.get("ece"),
        metrics={k: metrics[k] for k in ("per_class", "confusion", "classes")},
        train_seconds=train_seconds, throughput_items_per_s=throughput, batch_size=len(texts),
        latency_p50_ms=float(np.percentile(latencies, 50)),
        latency_p95_ms=float(np.percentile(latencies, 95)), peak_rss_mib=None)


@pytest.fixture(scope="session")
def real_records(banking77_slice: dict) -> list[RunRecord]:
    """2 candidates × 3 budgets × 2 seeds of real TF-IDF runs, plus one real failure."""
    train, test = banking77_slice["train_df"], banking77_slice["test_df"]
    records = [run_real(name, family, settings, train, test, per_class, seed,
                        "banking77-slice (text → category)")
               for name, (family, settings) in CANDIDATES.items()
               for per_class in (4, 8, None) for seed in (0, 1)]
    records.append(run_real("tfidf-broken", "tfidf", {"ngram_max": 0}, train, test, 4, 0,
                            "banking77-slice (text → category)"))
    assert [r.status for r in records].count("failed") == 1, [r.error for r in records]
    return records


@pytest.fixture(scope="session")
def many_class_records(banking77) -> list[RunRecord]:
    """One real run on all 77 Banking77 intents (8 train / 5 test each): the per-class
    and confusion figures must stay readable at that size."""
    import pandas as pd

    train = pd.read_csv(banking77 / "train.csv").groupby("category").head(8)
    test = pd.read_csv(banking77 / "test.csv").groupby("category").head(5)
    return [run_real("tfidf-words", "tfidf", {"ngram_max": 1}, train, test, None, seed,
                     "banking77 (77 intents)") for seed in (0, 1)]

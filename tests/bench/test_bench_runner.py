"""The runner on a small real Banking77 slice with the tfidf family."""

from __future__ import annotations

import io

from whichmodel.bench.ledger import read_records
from whichmodel.bench.runner import plan_runs, run_benchmark
from whichmodel.bench.spec import load_spec

# Valid settings that fail at fit: more documents required per term than there are, so
# scikit-learn prunes every term (a value that is invalid outright is caught by the spec).
BROKEN = {"name": "broken", "family": "tfidf", "settings": {"min_df": 100_000}}


def test_runs_every_key_and_fills_the_row(spec_file, tmp_path):
    spec = load_spec(spec_file())
    ledger = tmp_path / "runs.sqlite"
    records = run_benchmark(spec, ledger, progress=False)
    assert len(records) == 4 and {r.status for r in records} == {"ok"}
    by_budget = {(r.budget, r.seed): r for r in records}
    assert set(by_budget) == {("2/class", 1), ("2/class", 2), ("all", 1), ("all", 2)}
    few, full = by_budget[("2/class", 1)], by_budget[("all", 1)]
    # 160 training rows, 32 held out for validation (20%, stratified): 128 to label
    assert few.n_labels == 20 and full.n_labels == 128 and few.n_test == 100
    assert full.n_validation == 32 and set(full.validation_quality) == set(full.quality)
    for r in records:
        assert 0 <= r.accuracy <= 1 and 0 <= r.macro_f1 <= 1 and r.ece is not None
        assert r.train_seconds > 0 and r.throughput_items_per_s > 0
        assert 0 < r.latency_p50_ms <= r.latency_p95_ms
        assert r.peak_rss_mib > 10 and r.batch_size == 16
        assert len(r.metrics["confusion"]) == 10 and "per_class" in r.metrics
        assert r.environment["cpu_count"] and "versions" in r.environment
        assert r.environment["peak_memory_method"]
        assert "hostname" not in str(r.environment).lower()
        assert r.settings == {} and r.family == "tfidf" and r.created_at
    assert full.accuracy > few.accuracy  # 16 labels per class beat 2
    # 10 intents: chance is 0.1; TF-IDF on 16 per class must do far better on both seeds
    assert min(r.accuracy for r in records if r.budget == "all") > 0.8
    assert read_records(ledger) == records
    from whichmodel.bench.ledger import read_meta

    assert '"volume_per_month":100000.0' in read_meta(ledger)["spec"]


def test_failing_candidate_is_recorded_and_others_go_on(spec_file, tmp_path):
    spec = load_spec(spec_file(candidates=[BROKEN, {"name": "tfidf", "family": "tfidf"}],
                               budgets=[2], seeds=[1]))
    ledger = tmp_path / "runs.sqlite"
    out = io.StringIO()
    from rich.console import Console

    records = run_benchmark(spec, ledger, console=Console(file=out, width=120))
    status = {r.candidate: r for r in records}
    assert status["tfidf"].status == "ok"
    broken = status["broken"]
    assert broken.status == "failed" and broken.accuracy is None
    assert broken.error.startswith("ValueError: max_df corresponds to < documents than "
                                   "min_df")
    assert "Traceback" in broken.metrics["traceback"]
    assert "failed" in out.getvalue() and "tfidf budget 2/class seed 1" in out.getvalue()


def test_rerun_skips_ok_and_retries_failed_only_when_asked(spec_file, tmp_path):
    spec = load_spec(spec_file(candidates=[BROKEN, {"name": "tfidf", "family": "tfidf"}],
                               budgets=[2], seeds=[1, 2]))
    ledger = tmp_path / "runs.sqlite"
    first = {r.key: r.created_at for r in run_benchmark(spec, ledger, progress=False)}
    assert len(first) == 4

    kept = run_benchmark(spec, ledger, progress=False, retry_failed=False)
    assert {r.key: r.created_at for r in kept} == first  # nothing redone

    again = {r.key: r for r in run_benchmark(spec, ledger, progress=False)}
    assert len(again) == 4 and len(read_records(ledger)) == 4
    for key, record in again.items():
        changed = record.created_at != first[key]
        assert changed == (record.candidate == "broken")  # only failed keys rerun


def test_keys_depend_on_what_changes_results(spec_file):
    spec = load_spec(spec_file())
    keys = [k for *_, k in plan_runs(spec)]
    assert len(set(keys)) == len(keys) == 4
    assert keys == [k for *_, k in plan_runs(load_spec(spec_file()))]  # stable
    changed = load_spec(spec_file(candidates=[{"name": "tfidf", "family": "tfidf",
                                               "settings": {"C": 1.0}}]))
    assert not set(keys) & {k for *_, k in plan_runs(changed)}


def test_split_when_no_test_file(spec_file, banking77_slice):
    spec = load_spec(spec_file(dataset={"train": str(banking77_slice["train"]),
                                        "label": "category", "test_size": 0.25},
                               budgets=["all"], seeds=[1]))
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        (record,) = run_benchmark(spec, f"{folder}/r.sqlite", progress=False)
    assert record.status == "ok" and record.n_test == 40 and record.n_labels == 96
    assert record.n_validation == 24  # 20% of the 120 left after the test split


def test_per_class_budget_larger_than_a_class_uses_what_there_is(spec_file, tmp_path):
    # The slice has 16 training rows per intent, 3-4 of them held out for validation:
    # "20 per class" means up to 20.
    spec = load_spec(spec_file(budgets=[20], seeds=[1]))
    [record] = run_benchmark(spec, tmp_path / "runs.sqlite", progress=False)
    assert record.status == "ok" and record.budget == "20/class"
    assert record.n_labels == 128  # 10 intents x all 12-13 rows left, not 200

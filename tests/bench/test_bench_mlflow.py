"""MLflow export to a local file store: one MLflow run per ledger row, no duplicates."""

from __future__ import annotations

import pytest

from whichmodel.bench.mlflow_export import export_to_mlflow
from whichmodel.bench.runner import run_benchmark
from whichmodel.bench.spec import load_spec

mlflow = pytest.importorskip("mlflow", reason="mlflow not installed: pip install "
                                              "'whichmodel[mlflow]'")


def test_export_one_run_per_row(spec_file, tmp_path, monkeypatch):
    # MLflow 3 keeps the file store only behind this opt-in; it is the simplest local URI.
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    spec = load_spec(spec_file(budgets=[2], seeds=[1, 2],
                               candidates=[{"name": "tfidf", "family": "tfidf",
                                            "settings": {"C": 5.0}},
                                           {"name": "broken", "family": "tfidf",
                                            "settings": {"min_df": 100_000}}]))
    records = run_benchmark(spec, tmp_path / "runs.sqlite", progress=False)
    uri = (tmp_path / "mlruns").as_uri()
    assert export_to_mlflow(records, uri, experiment="bench-test") == 4
    assert export_to_mlflow(records, uri, experiment="bench-test") == 0  # idempotent

    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("bench-test")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 4
    by_key = {r.data.tags["whichmodel.key"]: r for r in runs}
    assert set(by_key) == {r.key for r in records}
    for record in records:
        run = by_key[record.key]
        assert run.data.params["family"] == "tfidf"
        assert run.data.params["budget"] == "2/class"
        assert run.data.params["seed"] == str(record.seed)
        assert run.data.tags["whichmodel.status"] == record.status
        if record.status == "ok":
            assert run.data.params["settings.C"] == "5.0"
            assert run.data.metrics["accuracy"] == pytest.approx(record.accuracy)
            assert run.data.metrics["throughput_items_per_s"] > 0
            assert run.info.status == "FINISHED"
        else:
            assert run.info.status == "FAILED"
            assert run.data.tags["whichmodel.error"].startswith("ValueError: max_df")

"""Export ledger rows to MLflow, for teams whose experiments already live there.

The ledger stays the source of truth (choose and report read it); MLflow gets a copy:
one MLflow run per ledger row, named ``<candidate> <budget> seed <seed>``, with
params = family, settings, budget, seed, dataset; metrics = the run's quality mapping
(every metric of `whichmodel.metrics` it has) and its measured cost drivers (units in the
names); tags = the run key and its status (and error). Exporting twice creates no
duplicates: a row whose key is already in the experiment is skipped.
mlflow is an optional extra and is imported only here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from whichmodel.bench.record import RunRecord
from whichmodel.errors import WhichmodelError

_KEY_TAG = "whichmodel.key"


def _params(record: RunRecord) -> dict[str, str]:
    params = {"family": record.family, "candidate": record.candidate,
              "budget": record.budget, "seed": str(record.seed),
              "dataset": record.dataset[:500]}
    if record.batch_size is not None:
        params["batch_size"] = str(record.batch_size)
    for name, value in sorted(record.settings.items()):
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        params[f"settings.{name}"] = text[:500]  # MLflow limits a param value's length
    return params


def _metrics(record: RunRecord) -> dict[str, float]:
    """Every quality metric the run has (the registry's names) and every numeric cost
    driver, read from the record's own mapping and `CostDrivers`, never listed here."""
    values: dict[str, object] = {**record.quality, **record.drivers.to_dict(),
                                 "n_test": record.n_test}
    return {name: float(value) for name, value in values.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            and value == value}  # skip None, text and NaN


def export_to_mlflow(records: Iterable[RunRecord], tracking_uri: str,
                     experiment: str = "whichmodel") -> int:
    """Log each record as one MLflow run in ``experiment``; returns how many were new.

    ``tracking_uri`` is any MLflow tracking URI (``file:./mlruns``, ``http://host:5000``,
    ``sqlite:///mlflow.db``). Raises `WhichmodelError` saying what to install when mlflow
    is missing.
    """
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise WhichmodelError("MLflow export needs mlflow: pip install 'whichmodel[mlflow]'"
                              ) from None

    from mlflow.exceptions import MlflowException

    try:
        client = MlflowClient(tracking_uri=tracking_uri)
        found = client.get_experiment_by_name(experiment)
    except MlflowException as err:
        raise WhichmodelError(
            f"cannot use MLflow tracking URI {tracking_uri!r}: {err.message.split('. ')[0]}. "
            "Use a database URI such as sqlite:///mlflow.db, or for a file: store set "
            "MLFLOW_ALLOW_FILE_STORE=true") from None
    experiment_id = (found.experiment_id if found is not None
                     else client.create_experiment(experiment))
    existing = {run.data.tags.get(_KEY_TAG) for run in _all_runs(client, experiment_id)}
    written = 0
    for record in records:
        if record.key in existing:
            continue
        tags = {_KEY_TAG: record.key, "whichmodel.status": record.status,
                "whichmodel.created_at": record.created_at,
                "mlflow.runName": f"{record.candidate} {record.budget} seed {record.seed}"}
        if record.error:
            tags["whichmodel.error"] = record.error[:5000]
        run = client.create_run(experiment_id, tags=tags)
        run_id = run.info.run_id
        _log(client, run_id, record)
        client.set_terminated(run_id, status="FINISHED" if record.status == "ok" else "FAILED")
        existing.add(record.key)
        written += 1
    return written


def _log(client: Any, run_id: str, record: RunRecord) -> None:
    from mlflow.entities import Metric, Param

    timestamp = _millis(record.created_at)
    client.log_batch(
        run_id,
        params=[Param(k, v) for k, v in _params(record).items()],
        metrics=[Metric(k, v, timestamp, 0) for k, v in _metrics(record).items()])
    if record.environment:
        client.log_dict(run_id, record.environment, "environment.json")
    per_class = record.metrics.get("per_class")
    if per_class:
        client.log_dict(run_id, {"per_class": per_class,
                                 "confusion": record.metrics.get("confusion"),
                                 "classes": record.metrics.get("classes")}, "metrics.json")


def _all_runs(client: Any, experiment_id: str) -> list[Any]:
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token)
        runs.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return runs


def _millis(iso: str) -> int:
    from datetime import datetime, timezone

    try:
        return int(datetime.fromisoformat(iso).timestamp() * 1000)
    except ValueError:
        return int(datetime.now(timezone.utc).timestamp() * 1000)

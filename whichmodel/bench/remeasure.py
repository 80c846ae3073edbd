"""`bench --remeasure`: speed figures again from the kept models, nothing trained.

For a quiet machine after a noisy bench, or to measure on the hardware you deploy on
(then make it ``measurement_hardware``). Its own module because it is the one path that
rewrites finished rows: quality, stored predictions, training time and memory stay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from whichmodel.bench.ledger import Ledger
from whichmodel.bench.lock import writer_lock
from whichmodel.bench.probe import measured_probe, set_speed
from whichmodel.bench.runner import environment, load_data, plan_runs
from whichmodel.bench.spec import ExperimentSpec


@dataclass
class Remeasured:
    """What `remeasure` did: rows whose speed figures were measured again, and the
    choices it could not measure (no kept model), as ``"candidate @ budget"``."""

    rows: int = 0
    choices: int = 0
    without_model: list[str] = field(default_factory=list)


def remeasure(spec: ExperimentSpec, ledger_path: str | Path, *, progress: bool = True
              ) -> Remeasured:
    """Measure the speed of every finished choice of ``spec`` again from its kept model
    (`whichmodel.bench.kept`), training nothing: throughput, latency and the measurement
    record of each of its rows are replaced; quality, stored predictions, training time
    and memory stay. Seeds of one choice are one architecture at one size, so the kept
    (median) seed's figures are written to every seed's row, which says so
    (``measurement["remeasured_from"]``). For a quiet machine after a noisy bench, or
    to measure on the hardware you deploy on (then make it ``measurement_hardware``)."""
    from rich.progress import Progress

    from whichmodel.bench import kept
    from whichmodel.models.base import load_model

    result = Remeasured()
    plan = plan_runs(spec)
    with writer_lock(ledger_path), Ledger(ledger_path) as ledger:
        rows = {r.key: r for r in ledger.records() if r.status == "ok"}
        choices: dict[tuple[str, str], list[str]] = {}
        for candidate, budget, _, key in plan:
            if key in rows:
                choices.setdefault((candidate.name, budget.label), []).append(key)
        if not choices:
            return result
        test = load_data(spec).test
        env = environment()
        with Progress(transient=True, disable=not progress) as bar:
            task = bar.add_task("re-measuring", total=len(choices))
            for (name, budget), keys in choices.items():
                folder = next((f for f in (kept.kept_model(ledger_path, k) for k in keys) if f),
                              None)
                if folder is None:
                    result.without_model.append(f"{name} @ {budget}")
                    bar.advance(task)
                    continue
                probe = measured_probe(load_model(folder), test.texts, spec.measure)
                when = datetime.now(timezone.utc).isoformat(timespec="seconds")
                for key in keys:
                    row = rows[key]
                    set_speed(row, probe)
                    row.measurement = {**probe.extra.get("measurement", {}),
                                       "training": row.measurement.get("training"),
                                       "remeasured_from": folder.name, "remeasured_at": when}
                    row.environment = {**row.environment, "remeasured_on": env}
                    ledger.write(row, keep_predictions=True)
                    result.rows += 1
                result.choices += 1
                bar.advance(task)
    return result

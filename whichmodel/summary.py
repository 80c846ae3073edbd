"""One *choice* — a candidate at one label budget — summarised over its seeds.

`summarize` groups a ledger's successful rows by choice (experiment, candidate, family and
settings, budget) and gives each a `CandidateSummary`: the mean ± std of every registry
metric, on test and on validation, and the mean `CostDrivers`. It refuses rows of several
experiments, or one name standing for two configurations, rather than averaging them.
`whichmodel.choose` prices and judges the summaries.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from whichmodel.bench.record import RunRecord, experiment_of, settings_key
from whichmodel.costs.drivers import CostDrivers
from whichmodel.errors import DataError
from whichmodel.metrics import get_metric


@dataclass
class CandidateSummary:
    """One choice's runs over seeds. Quality is the mean over seeds with its sample std,
    for every registered metric the runs have (`quality_means`, `quality_stds`; the
    accuracy, macro-F1 and ECE fields mirror them); its `CostDrivers` (labels, seconds,
    items/s, ms, MiB, tokens per item) are the means over seeds."""

    candidate: str
    family: str
    budget: str
    n_runs: int
    seeds: list[int]
    drivers: CostDrivers = field(default_factory=CostDrivers)
    accuracy: float | None = None
    accuracy_std: float | None = None
    macro_f1: float | None = None
    macro_f1_std: float | None = None
    ece: float | None = None
    quality_means: dict[str, float] = field(default_factory=dict)   # on test
    quality_stds: dict[str, float] = field(default_factory=dict)
    # On validation, when every run has it: then choices are made on these, and test only
    # confirms the winner (`selected_on`).
    validation_means: dict[str, float] = field(default_factory=dict)
    validation_stds: dict[str, float] = field(default_factory=dict)
    run_keys: list[str] = field(default_factory=list)  # its runs, one per seed
    # Why its speed figures are noisy, one "seed S: reason" per reason (empty: steady).
    noise: list[str] = field(default_factory=list)
    best_record: RunRecord | None = field(default=None, repr=False)  # the median run

    @property
    def label(self) -> str:
        """How a choice is shown: ``"candidate @ budget"``."""
        return f"{self.candidate} @ {self.budget}"

    @property
    def n_labels(self) -> float:
        """Labelled examples used for training, mean over seeds (a cost driver)."""
        return self.drivers.n_labels

    @property
    def api_model(self) -> str | None:
        """The LLM API it calls (a key of prices.yaml), None when self-hosted."""
        return self.drivers.api_model

    @property
    def selected_on(self) -> str:
        """The split choices are made on: "validation" when the runs have it, else
        "test" (ledgers from before validation splits, or data too small for one)."""
        return "validation" if self.validation_means else "test"

    def quality(self, metric: str) -> float:
        """Mean `metric` (a name of the metric registry) over seeds on the split choices
        are made on (`selected_on`); NaN when the runs did not measure it."""
        get_metric(metric)  # an unknown name is a UsageError with a did-you-mean
        means = self.validation_means or self.quality_means
        return float(means.get(metric, math.nan))

    def quality_std(self, metric: str) -> float:
        """Sample std of `metric` over seeds (0 for one seed) on `selected_on`."""
        get_metric(metric)
        stds = self.validation_stds if self.validation_means else self.quality_stds
        return float(stds.get(metric, math.nan))

    def test_quality(self, metric: str) -> float:
        """Mean `metric` over seeds on the test split; NaN when not measured."""
        get_metric(metric)
        return float(self.quality_means.get(metric, math.nan))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; the median run is referred to by its ledger key. Only the fields
        declared here: a subclass (a cascade's summary) adds its own."""
        data = {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(CandidateSummary)
                if f.name not in ("best_record", "drivers")}
        data.update(self.drivers.to_dict())  # flat, as choose --json has always shown them
        data["family"] = self.family
        data["label"] = self.label
        data["best_record_key"] = self.best_record.key if self.best_record else None
        return data


def summarize(records: Sequence[RunRecord]) -> list[CandidateSummary]:
    """Group the ``status == "ok"`` rows by choice over seeds, sorted by candidate then
    labels. A choice is (experiment, candidate, family + settings, budget).

    Only runs of one experiment (same data content, test set and split) are comparable,
    so rows of several raise `DataError` naming them instead of being averaged. Within a
    choice each seed counts once: when a seed was measured again (after a library upgrade
    or a change of measure settings, which change the run key) its newest row is used.
    One candidate name with two configurations in one experiment is refused too: the
    summaries would carry one label for two models (a bench refuses to write that; older
    ledgers may hold it).
    """
    ok = [r for r in records if r.status == "ok"]
    experiments = sorted({experiment_of(r) for r in ok})
    if len(experiments) > 1:
        datasets = sorted({r.dataset for r in ok})
        if len(datasets) > 1:
            raise DataError(f"runs come from {len(datasets)} datasets ({', '.join(datasets)});"
                            " choose for one dataset at a time "
                            "(`open_question(ledger, dataset=NAME)`)")
        raise DataError(f"runs on {datasets[0]} come from {len(experiments)} experiments "
                        f"(different data files, test sets or split settings: "
                        f"{', '.join(experiments)}); choose for one at a time "
                        "(`open_question(ledger, dataset=ID)`)")
    groups: dict[tuple[str, str, str, str], dict[int, RunRecord]] = {}
    for record in ok:
        configuration = settings_key(record.family, record.settings)
        key = (experiment_of(record), record.candidate, configuration, record.budget)
        by_seed = groups.setdefault(key, {})
        current = by_seed.get(record.seed)
        if current is None or record.created_at >= current.created_at:
            by_seed[record.seed] = record
    configurations: dict[str, dict[str, RunRecord]] = {}
    for (_, candidate, settings, _), by_seed in groups.items():
        configurations.setdefault(candidate, {}).setdefault(settings, next(iter(
            by_seed.values())))
    for candidate, variants in configurations.items():
        if len(variants) > 1:
            shown = "; ".join(f"{r.family} {json.dumps(r.settings, sort_keys=True, default=str)}"
                              for r in variants.values())
            raise DataError(f"candidate {candidate!r} ran with {len(variants)} different "
                            f"configurations in these runs ({shown}); one name must mean one "
                            "model: rerun one under another name (into a new --ledger)")
    summaries = [_summarize_group(list(rows.values())) for rows in groups.values()]
    return sorted(summaries, key=lambda s: (s.candidate, s.n_labels, s.budget))


def _summarize_group(rows: list[RunRecord]) -> CandidateSummary:
    datasets = sorted({r.dataset for r in rows})
    if len(datasets) > 1:
        raise DataError(f"runs of {rows[0].candidate} @ {rows[0].budget} come from "
                        f"{len(datasets)} datasets ({', '.join(datasets)}); choose for one "
                        "dataset at a time (`open_question(ledger, dataset=NAME)`)")
    first = rows[0]
    summary = CandidateSummary(
        candidate=first.candidate, family=first.family, budget=first.budget,
        n_runs=len(rows), seeds=sorted(r.seed for r in rows),
        drivers=CostDrivers.mean([r.drivers for r in rows]))
    summary.quality_means, summary.quality_stds = _mean_std([r.quality for r in rows])
    if all(r.validation_quality for r in rows):
        summary.validation_means, summary.validation_stds = _mean_std(
            [r.validation_quality for r in rows])
    summary.run_keys = [r.key for r in sorted(rows, key=lambda r: r.seed)]
    summary.noise = [f"seed {r.seed}: {reason}" for r in sorted(rows, key=lambda r: r.seed)
                     for reason in r.noise]
    for metric in ("accuracy", "macro_f1"):  # the fields that mirror the mapping
        if metric in summary.quality_means:
            setattr(summary, metric, summary.quality_means[metric])
            setattr(summary, f"{metric}_std", summary.quality_stds[metric])
    summary.ece = summary.quality_means.get("ece")
    ranked = sorted(rows, key=_median_key)
    summary.best_record = ranked[(len(ranked) - 1) // 2]
    return summary


def _mean_std(mappings: list[dict[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    """Per metric, the mean over seeds and the sample std (0 for a single seed)."""
    means, stds = {}, {}
    for metric in dict.fromkeys(n for m in mappings for n in m):
        values = [m[metric] for m in mappings if m.get(metric) is not None]
        if values:
            means[metric] = float(np.mean(values))
            stds[metric] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return means, stds


def _median_key(record: RunRecord) -> tuple[bool, float, int]:
    """Sort key for picking the median run: accuracy (else macro-F1), unknowns last."""
    quality = record.quality.get("accuracy", record.quality.get("macro_f1"))
    return (quality is None, float(quality or 0.0), record.seed)

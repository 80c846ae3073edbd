"""One finished (or failed) benchmark run: the row type shared by ledger, costs, choose, report.

Kept in its own tiny module so every consumer agrees on field names and units without
importing the runner. Units are in the names: seconds, ms, items per second, MiB.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from whichmodel.costs.drivers import CostDrivers


def run_key(dataset: str, candidate: str, settings: dict[str, Any], budget: str,
            seed: int, extra: dict[str, Any] | None = None) -> str:
    """Stable identity of a run: a rerun with the same key is skipped by the runner.

    ``dataset`` is the experiment id (`whichmodel.bench.identity.experiment_identity`);
    ``extra`` holds whatever else changes the measured numbers (measure settings, code
    versions). Without ``extra`` the key is the one older whichmodel versions wrote.
    """
    parts: list[Any] = [dataset, candidate, settings, budget, seed]
    if extra is not None:
        parts.append(extra)
    payload = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]


def legacy_experiment(dataset: str) -> str:
    """The experiment id given to rows written before rows carried one: a hash of their
    `dataset` field, so old rows on one dataset stay one experiment (never merged with
    new rows, whose data content was checked, nor with old rows on another dataset)."""
    return "legacy-" + hashlib.sha256(dataset.encode("utf-8")).hexdigest()[:8]


def experiment_of(record: RunRecord) -> str:
    """The experiment a row belongs to: its ``experiment`` id, or the legacy id of its
    dataset for rows from older ledgers."""
    return record.experiment or legacy_experiment(record.dataset)


def settings_key(family: str, settings: dict[str, Any]) -> str:
    """Family and settings as one canonical string: rows (or spec candidates) of one name
    compare equal exactly when they ran the same model configuration."""
    return json.dumps([family, settings], sort_keys=True, default=str)


# Metrics that are also ledger columns (the rest live only in `RunRecord.quality`).
_COLUMN_METRICS = ("accuracy", "macro_f1", "ece")


@dataclass
class RunRecord:
    """A ledger row. ``status`` is "ok" or "failed" (then ``error`` says why)."""

    key: str
    dataset: str                     # dataset identity (path or name) + text/label fields
    candidate: str                   # the candidate's name in the spec, e.g. "setfit-minilm"
    family: str                      # model family, e.g. "setfit"
    settings: dict[str, Any]         # constructor settings of the classifier
    budget: str                      # "8/class", "500", or "all"
    seed: int
    status: str = "ok"
    error: str | None = None
    n_labels: int = 0                # labelled training examples actually used
    n_test: int = 0
    # Headline quality, as columns for SQL readers and older code; `quality` is the whole
    # mapping (`__post_init__` keeps the two in step).
    accuracy: float | None = None
    macro_f1: float | None = None
    ece: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)  # per_class, confusion, classes
    # cost drivers, measured on this machine
    train_seconds: float | None = None
    throughput_items_per_s: float | None = None  # at batch_size
    batch_size: int | None = None
    latency_p50_ms: float | None = None          # one item per call
    latency_p95_ms: float | None = None
    peak_rss_mib: float | None = None
    # LLM candidates: tokens per item on the test split (mean), and whether it is an API
    input_tokens_per_item: float | None = None
    output_tokens_per_item: float | None = None
    api_model: str | None = None                 # key into prices.yaml llm_api, if any
    api_tier: str | None = None                  # its price tier: "standard" or "batch"
    # A model trained on an LLM teacher's labels (family "distilled"): the teacher's tokens
    # in total over the pool it labelled, and its prices.yaml key (None: a local teacher,
    # whose compute is in train_seconds). Columns like the rest: the ledger adds them.
    teacher_input_tokens: float | None = None
    teacher_output_tokens: float | None = None
    teacher_api_model: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)  # machine, versions
    created_at: str = ""                         # ISO 8601 UTC
    # Which experiment (data content, fields, held-out split) the run answers: a short
    # hash, described in the ledger's meta. None in rows of older ledgers
    # (`experiment_of` gives those a legacy id).
    experiment: str | None = None
    # Quality on the test split: metric name -> value, every metric of the registry
    # (`whichmodel.metrics`) that applies, computed from the run's stored predictions.
    quality: dict[str, float] = field(default_factory=dict)
    # The same metrics on the validation split, which choices are made on (empty when the
    # spec had none); test then only confirms the choice.
    validation_quality: dict[str, float] = field(default_factory=dict)
    n_validation: int = 0
    # How the speed figures were measured (clock, threads, repeats and their spread) and
    # how busy the machine was meanwhile; ``noise`` lists why they cannot be trusted
    # (`whichmodel.bench.timing`), empty when they can. Empty in rows of older ledgers.
    measurement: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # One mapping is the truth; the three columns mirror it (rows of older ledgers
        # have only the columns, new code may give either).
        self.set_quality(self.quality)

    def set_quality(self, quality: dict[str, float]) -> None:
        """Set the quality mapping; the columns that mirror it follow."""
        self.quality = dict(quality)
        for name in _COLUMN_METRICS:
            column = getattr(self, name)
            if name not in self.quality and column is not None:
                self.quality[name] = column
            elif name in self.quality:
                setattr(self, name, self.quality[name])

    @property
    def noise(self) -> list[str]:
        """Why this run's speed figures are noisy (measured under contention that CPU
        time and repeats could not correct); empty when they are not, or unknown."""
        return list(self.measurement.get("noise") or [])

    @property
    def drivers(self) -> CostDrivers:
        """The run's measured cost drivers as one object (`whichmodel.costs.drivers`)."""
        from whichmodel.costs.drivers import CostDrivers

        return CostDrivers.of(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready) of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """Inverse of `to_dict`; unknown keys are ignored so old ledgers stay readable."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

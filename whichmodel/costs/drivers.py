"""`CostDrivers`: the measured figures a choice's cost is computed from, as one object.

Why one typed object: the figures that drive money (labels used, train seconds,
throughput, latency, memory, tokens, the API model) used to be copied field by field from
the runner to the ledger row, from the row to the choice's summary, and again into every
export; a new driver (tokens per item for an LLM) had to be added in each place. Now a
row gives its `CostDrivers` (`RunRecord.drivers`), a choice averages them over seeds
(`CostDrivers.mean`), and `whichmodel.costs.model` prices them. Units are in the names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class CostDrivers:
    """What one run (or the mean of a choice's runs) measured that costs money.

    ``n_labels``: labelled examples used for training (annotation); ``train_seconds`` on
    the benchmark machine; ``throughput_items_per_s`` at ``batch_size``; single-item
    latency; peak resident memory; mean tokens per item (LLM families) and the
    ``api_model`` (a key of prices.yaml's LLM API table) when inference is an API call.
    A model trained on an LLM teacher's labels (the ``distilled`` family) adds the
    teacher's tokens in total over the pool it labelled, a one-time cost priced at
    ``teacher_api_model`` (None for a local teacher, whose compute is inside
    ``train_seconds``).
    """

    family: str = ""
    n_labels: float = 0.0
    train_seconds: float | None = None
    throughput_items_per_s: float | None = None
    batch_size: int | None = None
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    peak_rss_mib: float | None = None
    input_tokens_per_item: float | None = None
    output_tokens_per_item: float | None = None
    api_model: str | None = None
    api_tier: str | None = None  # "standard" or "batch" for an API model
    teacher_input_tokens: float | None = None   # totals over the labelled pool, not per item
    teacher_output_tokens: float | None = None
    teacher_api_model: str | None = None        # a key of prices.yaml's LLM API table

    @classmethod
    def of(cls, source: Any) -> CostDrivers:
        """The drivers held by any object with these attributes (a ledger row)."""
        return cls(**{f.name: getattr(source, f.name, f.default)
                      for f in dataclasses.fields(cls)})

    @classmethod
    def mean(cls, runs: Sequence[CostDrivers]) -> CostDrivers:
        """Seeds of one choice: the mean of each measured figure (ignoring runs that did
        not measure it); family, batch size, API models and tier are the first run's."""
        if not runs:
            raise ValueError("no runs to average")
        first = runs[0]
        values: dict[str, Any] = {"family": first.family, "batch_size": first.batch_size,
                                  "api_model": first.api_model, "api_tier": first.api_tier,
                                  "teacher_api_model": first.teacher_api_model}
        for f in dataclasses.fields(cls):
            if f.name in values:
                continue
            measured = [getattr(r, f.name) for r in runs if getattr(r, f.name) is not None]
            values[f.name] = float(np.mean(measured)) if measured else f.default
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, JSON-ready."""
        return dataclasses.asdict(self)


#: The driver names, in order (what exports and tables list).
DRIVER_FIELDS = tuple(f.name for f in dataclasses.fields(CostDrivers))
#: The drivers a model that labelled a pool with a teacher measures; the runner reads each
#: from the fitted model's attribute of that name plus ``_`` (``teacher_input_tokens_``).
TEACHER_DRIVERS = ("teacher_input_tokens", "teacher_output_tokens", "teacher_api_model")


@dataclass(frozen=True)
class Stage:
    """One model of a choice that runs several (a cascade, `whichmodel.route`): how it is
    named in the cost notes, its `CostDrivers`, and the share of the monthly volume it
    sees (1 for a cascade's first model, the share escalated for its second). A choice
    that has ``stages`` is priced stage by stage (`whichmodel.costs.model`): each one's
    training, and its inference at its share of the volume; its annotation stays the
    choice's own (``n_labels`` of its drivers), since the stages may share their labels.
    """

    label: str
    drivers: CostDrivers
    volume_share: float = 1.0

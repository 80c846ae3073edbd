"""The experiment spec: what to benchmark, on which data, and the scenario to price it for.

A spec is YAML validated by pydantic. Every error becomes one `SpecError` line that names
the file, the field (``candidates[1].family``) and the fix, because a typo found after an
hour of training is an hour lost. Unknown keys are rejected with a did-you-mean.

Example (paths are relative to the spec file)::

    dataset:
      train: data/train.csv
      test: data/test.csv          # optional; else a seeded split of train (test_size)
      text: "{subject}\\n{body}"   # a column, or a template over columns
      label: team
    budgets: [8, 16, 64, all]      # labels per class (budget_unit: per_class | total)
    seeds: [1, 2, 3]
    candidates:
      - {name: tfidf, family: tfidf}
      - {name: setfit-minilm, family: setfit, settings: {backbone: all-MiniLM-L6-v2}}
    hardware: cpu-small            # deployment hardware, a key in prices.yaml
    scenario: {volume_per_month: 5e6, horizon_months: 12, metric: accuracy, min_quality: 0.9}
    measure: {batch_size: 32, latency_samples: 50}
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from whichmodel.bench.spec_errors import first_error
from whichmodel.costs.scenario import Scenario, ScenarioError
from whichmodel.errors import SpecError, did_you_mean, quote, shorten

# Suffixes that mark a dataset source as a local file (others may be hub names or URIs).
_FILE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet", ".txt")
_BUDGET_TEXT = re.compile(r"^\s*(\d+)\s*(?:/|\s+per\s+|\s+)?\s*(class|per[_ ]class|total)?\s*$",
                          re.IGNORECASE)
_BUDGET_HELP = ("use a number of labels (8), '8/class', '500 total', 'all', "
                "{per_class: 8} or {total: 500}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetSpec(_Strict):
    """Where the labelled data is and how to read it (see `whichmodel.data.load_dataset`)."""

    train: str
    test: str | None = None
    name: str | None = None          # identity in the ledger; default from the train path
    text: str = "text"               # a column name or a template like "{title}\n{body}"
    label: str = "label"
    label_sep: str | None = Field(None, min_length=1)  # multi-label: separator in the column
    drop_invalid: bool = False
    test_size: float = Field(0.2, gt=0, lt=1)  # used only without `test`
    split_seed: int = 0
    # Validation: choices are made on it, test only confirms them. Its own file, or a
    # seeded stratified share of train (never part of any label budget), drawn when
    # every class has at least MIN_ROWS_FOR_VALIDATION rows; 0 turns it off.
    validation: str | None = None
    validation_size: float = Field(0.2, ge=0, lt=1)

    # The spec as written (relative paths) is what identifies a run, so a project folder
    # can move without invalidating its ledger; resolved paths are for reading.
    train_as_written: str = Field("", exclude=True, repr=False)
    test_as_written: str | None = Field(None, exclude=True, repr=False)
    validation_as_written: str | None = Field(None, exclude=True, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _resolve_paths(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        base = Path((info.context or {}).get("base_dir", "."))
        data = dict(data)
        for field in ("train", "test", "validation"):
            value = data.get(field)
            if isinstance(value, str) and value.strip():
                data[f"{field}_as_written"] = value
                data[field] = _resolve_source(value, base, field)
        return data

    @property
    def display_name(self) -> str:
        """Short human name: `name`, else the folder of a train.csv, else the file stem."""
        if self.name:
            return self.name
        path = Path(self.train_as_written or self.train)
        return path.parent.name if path.stem.lower() in {"train", "training"} and \
            path.parent.name else path.stem

    @property
    def identity(self) -> str:
        """The ledger's `dataset` field: name plus the fields read (text → label)."""
        return f"{self.display_name} [text={self.text!r} label={self.label!r}]"


class Budget(_Strict):
    """A label budget: ``n`` labels per class, ``n`` in total, or all of train (n=None).

    ``n=0`` is zero-shot: no labelled row, only the label set (from train). It is run
    only for candidates whose family can fit on names alone (``supports_unseen_classes``:
    the llm family); `ExperimentSpec.runs` leaves the others out at that budget."""

    unit: Literal["per_class", "total", "all"] | None = None  # None: from budget_unit
    n: int | None = Field(None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, raw: Any) -> Any:
        if isinstance(raw, BaseModel):
            return raw
        if isinstance(raw, bool):
            raise ValueError(f"{quote(raw)} is not a budget; {_BUDGET_HELP}")
        if isinstance(raw, int):
            return {"n": raw}
        if isinstance(raw, str):
            if raw.strip().lower() == "all":
                return {"unit": "all"}
            match = _BUDGET_TEXT.match(raw)
            if not match:
                raise ValueError(f"{quote(raw)} is not a budget; {_BUDGET_HELP}")
            unit = (match.group(2) or "").lower()
            return {"n": int(match.group(1)),
                    "unit": "total" if unit == "total" else ("per_class" if unit else None)}
        if isinstance(raw, dict) and raw and set(raw) <= {"unit", "n"}:
            return raw  # the canonical form (also what Budget(...) passes here)
        if isinstance(raw, dict) and len(raw) == 1:
            (unit, n), = raw.items()
            if unit in ("per_class", "total"):
                return {"unit": unit, "n": n}
            hint = did_you_mean(str(unit), ["per_class", "total"])
            raise ValueError(f"unknown budget key {quote(unit)}{hint}; {_BUDGET_HELP}")
        raise ValueError(f"{quote(raw)} is not a budget; {_BUDGET_HELP}")

    @model_validator(mode="after")
    def _consistent(self) -> Budget:
        if (self.unit == "all") != (self.n is None):
            raise ValueError(f"a budget needs a number of labels, or 'all'; {_BUDGET_HELP}")
        return self

    @property
    def label(self) -> str:
        """The ledger's `budget` string: "8/class", "500" (total), "0" or "all"."""
        if self.unit == "all":
            return "all"
        if self.n == 0:
            return "0"  # no labels, per class or in total
        return f"{self.n}/class" if self.unit == "per_class" else str(self.n)


class CandidateSpec(_Strict):
    """One model to benchmark: a unique name, a family and its constructor settings."""

    name: str = Field(min_length=1)
    family: str
    settings: dict[str, Any] = Field(default_factory=dict)
    # An API candidate's price tier: "standard" (synchronous calls) or "batch" (the
    # provider's batch API, about half price, where prices.yaml has one). It changes only
    # the price, but a "batch" candidate is a choice of its own, so a tier other than
    # "standard" goes into its run keys; ignored for self-hosted candidates.
    api_tier: Literal["standard", "batch"] = "standard"

    @field_validator("family")
    @classmethod
    def _known_family(cls, family: str) -> str:
        from whichmodel.models.base import available_families

        families = available_families(trainable=True)
        if family not in families:
            raise ValueError(f"{quote(family)} is not a model family"
                             f"{did_you_mean(family, families)}; "
                             f"choose one of: {', '.join(families)}")
        return family

    @model_validator(mode="after")
    def _known_settings(self) -> CandidateSpec:
        if "seed" in self.settings:
            raise ValueError(".settings.seed: seeds are set for every candidate by the "
                             "top-level `seeds` list; remove it here")
        names = _family_settings(self.family)
        if names is None:
            return self  # family not importable here: its runs will fail with the reason
        for key in self.settings:
            if key not in names:
                raise ValueError(f".settings.{str(key)[:80]}: not a setting of family "
                                 f"{self.family!r}"
                                 f"{did_you_mean(key, names)}; settings are: "
                                 f"{', '.join(sorted(names))}")
        from whichmodel.errors import SettingError
        from whichmodel.models.base import build_classifier

        try:  # values too, now: a bad one would otherwise fail every run of the candidate
            build_classifier(self.family, **self.settings).check_settings()
        except SettingError as err:
            where = f".settings.{err.setting}" if err.setting else ".settings"
            raise ValueError(f"{where}: {err}") from None
        return self


_SCENARIO = Scenario()  # the defaults, from the one definition


class ScenarioSpec(_Strict):
    """The deployment scenario; every value is checked by `Scenario` itself, whose
    `ScenarioError` becomes ``scenario.<field>: must be ...`` (see
    `whichmodel.costs.scenario`)."""

    volume_per_month: float = _SCENARIO.volume_per_month   # items per month
    horizon_months: float = _SCENARIO.horizon_months
    metric: str = _SCENARIO.metric                         # in whichmodel.metrics
    min_quality: float | None = None
    max_latency_p95_ms: float | None = None
    label_budget: int | None = None                        # 0 or more labels
    hardware: str | None = None                            # deployment hardware (prices.yaml)
    training_hardware: str | None = None                   # None: train on the deployment one
    cost_tie: float = _SCENARIO.cost_tie
    confidence: float | None = None                        # bar on the test interval's low end

    @model_validator(mode="before")
    @classmethod
    def _checked_by_scenario(cls, data: Any) -> Any:
        """Build the `Scenario` from the section as written, so its rules (and only its
        rules) judge every value; keep its normalised values (``1e3`` labels -> 1000)."""
        if not isinstance(data, dict) or not set(data) <= set(cls.model_fields):
            return data  # not a mapping, or an unknown key: pydantic says which
        hardware = data.get("hardware")
        values = {**asdict(_SCENARIO), **data,
                  "hardware": _SCENARIO.hardware if hardware is None else hardware}
        try:
            scenario = Scenario(**values)
        except ScenarioError as err:  # one line: "scenario.<field>: must be ..., got ..."
            raise ValueError(err.message_for(f".{err.field}:")) from None
        return {**asdict(scenario), "hardware": hardware}

    def to_scenario(self, hardware: str | None = None) -> Scenario:
        """The `Scenario` on ``hardware``, else on ``self.hardware`` or the default one."""
        return Scenario(**{**self.model_dump(),
                           "hardware": hardware or self.hardware or _SCENARIO.hardware})


class MeasureSpec(_Strict):
    """How the probes measure: batch size for throughput, calls for latency, and the
    fixed thread count and repeats that keep the figures steady on a busy machine
    (`whichmodel.bench.timing`)."""

    batch_size: int = Field(32, ge=1)             # items per predict call (throughput)
    latency_samples: int = Field(50, ge=1)        # single-item calls timed (p50/p95)
    repeats: int = Field(3, ge=1, le=50)          # timed passes; the median is kept
    threads: int = Field(1, ge=1, le=1024)        # torch/BLAS threads while timing
    throughput_items: int = Field(512, ge=1)      # texts per timed throughput pass
    # Reuse frozen-body embeddings of training texts across runs (fast); False makes
    # train_seconds of embedding-family runs exact. Inference is always timed uncached.
    cache_train_embeddings: bool = True


class ExperimentSpec(_Strict):
    """A whole benchmark: data × candidates × label budgets × seeds, and its scenario."""

    dataset: DatasetSpec
    budgets: list[Budget] = Field(default_factory=lambda: [Budget(unit="all")], min_length=1)
    budget_unit: Literal["per_class", "total"] = "per_class"
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    candidates: list[CandidateSpec] = Field(min_length=1)
    prices: dict[str, Any] = Field(default_factory=dict)
    hardware: str | None = None      # deployment hardware; same as scenario.hardware
    scenario: ScenarioSpec = Field(default_factory=ScenarioSpec)
    measure: MeasureSpec = Field(default_factory=MeasureSpec)
    # Which fitted models to keep beside the ledger (`whichmodel.bench.kept`): "best" the
    # median seed of each candidate × budget, "all", or "none".
    keep_models: Literal["none", "best", "all"] = "best"
    source: str = Field("", exclude=True, repr=False)  # the spec file, for messages

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, seeds: list[int]) -> list[int]:
        bad = [s for s in seeds if not 0 <= s < 2**32]
        if bad:  # numpy's and torch's generators take 0 .. 2**32 - 1
            raise ValueError(f"seed {bad[0]} is out of range; use whole numbers from 0 to "
                             f"{2**32 - 1}")
        dupes = sorted({s for s in seeds if seeds.count(s) > 1})
        if dupes:
            raise ValueError(f"seed {dupes[0]} is listed twice; list each seed once")
        return seeds

    @field_validator("candidates")
    @classmethod
    def _unique_names(cls, candidates: list[CandidateSpec]) -> list[CandidateSpec]:
        seen: set[str] = set()
        for c in candidates:
            if c.name in seen:
                raise ValueError(f"two candidates are named {c.name!r}; give each a "
                                 "unique name (it identifies its runs in the ledger)")
            seen.add(c.name)
        return candidates

    @model_validator(mode="after")
    def _finish(self) -> ExperimentSpec:
        budgets = [b if b.unit else b.model_copy(update={"unit": self.budget_unit})
                   for b in self.budgets]
        labels = [b.label for b in budgets]
        for i, label in enumerate(labels):
            if labels.index(label) != i:
                raise ValueError(f"budgets: {label!r} is listed twice; list each budget once")
        object.__setattr__(self, "budgets", budgets)
        if not self.runs():  # only zero budgets, and no candidate that fits on names
            raise ValueError("budgets: a budget of 0 (zero-shot) runs only candidates of "
                             "families that read label names (llm); add a budget above 0 "
                             "or an llm candidate")
        if self.hardware and self.scenario.hardware and self.hardware != self.scenario.hardware:
            raise ValueError(f"hardware: {self.hardware!r} differs from scenario.hardware "
                             f"{self.scenario.hardware!r}; set the deployment hardware once")
        return self

    @property
    def deployment_hardware(self) -> str:
        """The hardware the scenario is priced on (``hardware`` or ``scenario.hardware``)."""
        return self.hardware or self.scenario.hardware or _SCENARIO.hardware

    def to_scenario(self) -> Scenario:
        """The `Scenario` dataclass used by costs and choose."""
        return self.scenario.to_scenario(self.deployment_hardware)

    def runs(self) -> list[tuple[CandidateSpec, Budget, int]]:
        """Every (candidate, budget, seed) in run order: cheap budgets first per candidate.
        A zero budget is run only for candidates that can fit without labelled rows."""
        return [(c, b, s) for c in self.candidates for b in self.budgets for s in self.seeds
                if b.n != 0 or _fits_on_names(c.family)]


def load_spec(path: str | Path) -> ExperimentSpec:
    """Read and validate a YAML spec; raises `SpecError` with one line naming the field."""
    import yaml

    from whichmodel.readers import read_text
    from whichmodel.yaml_scalars import MAX_TEXT_CHARS, YAMLLimitError, safe_load

    path = Path(path)
    text = read_text(path, what="spec file", limit=MAX_TEXT_CHARS, error=SpecError)
    try:
        data = safe_load(text)
    except YAMLLimitError as err:
        raise SpecError(f"{path.name}: {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SpecError(f"{path.name}:{where}: not valid YAML: {shorten(problem)}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path.name}: expected a mapping with at least `dataset` and "
                        f"`candidates`, got {type(data).__name__}")
    return parse_spec(data, base_dir=path.parent, source=path.name)


def parse_spec(data: dict[str, Any], *, base_dir: str | Path = ".",
               source: str = "spec") -> ExperimentSpec:
    """Validate an already-parsed spec dict (paths relative to ``base_dir``)."""
    try:
        spec = ExperimentSpec.model_validate({**data, "source": source},
                                             context={"base_dir": str(base_dir)})
    except ValidationError as err:
        raise SpecError(f"{source}: {first_error(err, ExperimentSpec)}") from None
    _check_prices(spec)
    return spec


def _check_prices(spec: ExperimentSpec) -> None:
    """Validate price overrides and the hardware name with the cost model, if it is here."""
    try:
        from whichmodel.costs import load_prices
    except ImportError:
        return
    try:
        prices = load_prices(spec.prices or None)
    except SpecError as err:
        raise SpecError(f"{spec.source}: {err}") from None  # err names prices.<field>
    hardware = _hardware_names(prices)
    checks = [("hardware" if spec.hardware else "scenario.hardware", spec.deployment_hardware),
              ("scenario.training_hardware", spec.scenario.training_hardware)]
    for field, name in checks:
        if hardware and name is not None and name not in hardware:
            raise SpecError(f"{spec.source}: {field}: {quote(name)} is not in the price table"
                            f"{did_you_mean(name, hardware)}; choose one of: "
                            f"{', '.join(sorted(hardware))} (or add it under prices.hardware)")


def _hardware_names(prices: Any) -> list[str]:
    table = prices.get("hardware") if isinstance(prices, dict) else getattr(
        prices, "hardware", None)
    return list(table) if isinstance(table, dict) else []


def _resolve_source(value: str, base: Path, field: str) -> str:
    """Resolve a local path against the spec's folder; leave hub names and URIs alone."""
    if "://" in value or value.startswith(("hf:", "hub:")):
        return value
    from whichmodel.readers import MISSING, file_problem

    path = Path(value).expanduser()
    resolved = path if path.is_absolute() else (base / path)
    problem = file_problem(resolved)
    looks_local = (path.suffix.lower() in _FILE_SUFFIXES or "/" in value
                   or problem != MISSING)
    if not looks_local:
        return value
    if problem == MISSING:
        raise ValueError(f".{field}: file not found: {os.path.abspath(resolved)} (paths "
                         "are relative to the spec file's folder)")
    if problem not in (None, "is a directory"):  # a folder: a dataset saved to disk
        raise ValueError(f".{field}: {os.path.abspath(resolved)} {problem}; give a file")
    return str(resolved.resolve())


def _fits_on_names(family: str) -> bool:
    """Whether ``family`` fits on a label set alone (zero-shot); True when it cannot be
    imported here (its runs then fail with the reason, as for any other budget)."""
    from whichmodel.models.base import get_family

    try:
        return bool(get_family(family).supports_unseen_classes)
    except ImportError:
        return True


def _family_settings(family: str) -> list[str] | None:
    """Constructor settings of ``family``, or None when it cannot be imported here."""
    from whichmodel.models.base import family_settings

    try:
        return family_settings(family)
    except ImportError:
        return None

"""The benchmark runner: every (candidate, label budget, seed) of a spec, one ledger row each.

Everything runs in this one process, on purpose: a frozen backbone loads once and the
embeddings of texts it has seen are cached across runs (`whichmodel.backbones`), which is
most of the wall time saved on a real grid. Honest per-run peak memory does not need a
child process on Linux (see `whichmodel.bench.probe`).

Resumability is the ledger's job: a run's row is written in one transaction after the
run finished, so a crash, Ctrl-C or kill -9 loses at most the run in flight, and a rerun
skips every key already finished. A candidate that raises is recorded as failed with its
error and the benchmark goes on.

A run's key holds everything that changes its numbers, so a rerun after any such change
runs again instead of being skipped as finished: the experiment (the *content* of the
train and test files, not their paths; fields, held-out split, label_sep, drop_invalid),
the candidate's family and settings, budget, seed, the measure settings, and the versions
of whichmodel and the ML libraries that compute the numbers (a new torch or scikit-learn
can change accuracy and speed; re-measuring costs compute, mixing silently costs trust).
Older rows stay in the ledger; `whichmodel.choose` uses the newest row of each seed.
One bench at a time writes a ledger (`whichmodel.bench.lock.writer_lock`).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import platform
import random
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from whichmodel.bench.display import RunDisplay
from whichmodel.bench.identity import (
    code_versions,
    describe_experiment,
    experiment_id,
    spec_id,
)
from whichmodel.bench.ledger import (
    EXPERIMENT_PREFIX,
    LEGACY_SPEC,
    SPEC_PREFIX,
    Ledger,
)
from whichmodel.bench.lock import writer_lock
from whichmodel.bench.probe import (
    PeakMemory,
    measured_probe,
    set_speed,
    timed_fit,
    uncached_embeddings,
)
from whichmodel.bench.record import RunRecord, run_key, settings_key
from whichmodel.bench.spec import Budget, CandidateSpec, ExperimentSpec
from whichmodel.bench.timing import MachineLoad
from whichmodel.costs.drivers import TEACHER_DRIVERS
from whichmodel.errors import SpecError, quote
from whichmodel.metrics import truth_of
from whichmodel.threads import wait_policy

# Settings through which a family takes its random seed, in order of preference.
_SEED_SETTINGS = ("seed", "random_state")


def plan_runs(spec: ExperimentSpec) -> list[tuple[CandidateSpec, Budget, int, str]]:
    """Every (candidate, budget, seed, run key) of ``spec``, in run order."""
    experiment = experiment_id(spec)
    extra = {"measure": spec.measure.model_dump(mode="json"), "versions": code_versions()}
    return [(c, b, s, run_key(experiment, c.name, _candidate_identity(c), b.label, s, extra))
            for c, b, s in spec.runs()]


def _candidate_identity(candidate: CandidateSpec) -> dict[str, Any]:
    """What of a candidate goes into its run keys: family and settings, and its API tier
    when it is not the standard one (so keys of standard candidates stay as they were)."""
    identity: dict[str, Any] = {"family": candidate.family, "settings": candidate.settings}
    if candidate.api_tier != "standard":
        identity["api_tier"] = candidate.api_tier
    return identity


def _record_spec(ledger: Ledger, spec: ExperimentSpec, experiment: str) -> None:
    """Store the spec in the ledger's meta: the last one (for older readers), this
    experiment's description, and this spec's prices keyed by its own id."""
    meta = ledger.meta()
    values = {"spec": spec.model_dump_json(),
              f"{EXPERIMENT_PREFIX}{experiment}": json.dumps(describe_experiment(spec),
                                                              sort_keys=True),
              f"{SPEC_PREFIX}{spec_id(spec, experiment)}": json.dumps({
                  "experiment": experiment, "source": spec.source,
                  "prices": spec.prices or {},
                  "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds")},
                  sort_keys=True, default=str)}
    if "spec" in meta and LEGACY_SPEC not in meta and not any(
            name.startswith(SPEC_PREFIX) for name in meta):
        values[LEGACY_SPEC] = meta["spec"]  # an older ledger: its rows keep their prices
    ledger.update_meta(values)


def _check_names(ledger: Ledger, spec: ExperimentSpec, experiment: str) -> None:
    """Refuse a candidate whose name already stands for other settings in this experiment.

    A name is how a choice is shown, compared and deployed ("tfidf @ all"); two
    configurations under one name would be two rows no one can tell apart, or worse, one
    average of two models. Refusing before any training costs nothing and the fix (a new
    name) is one edit, so that is better than inventing labels. Only finished ("ok")
    rows count: changing the settings of a candidate that failed is the usual fix.
    """
    seen: dict[str, RunRecord] = {}
    for record in ledger.records():
        if record.experiment == experiment and record.status == "ok":
            seen.setdefault(record.candidate, record)
    for c in spec.candidates:
        old = seen.get(c.name)
        if old is not None and (settings_key(old.family, old.settings)
                                != settings_key(c.family, dict(c.settings))):
            raise SpecError(
                f"{spec.source}: candidates: {quote(c.name)} already has finished runs in "
                f"{ledger.path} on this dataset with other settings (family {old.family}, "
                f"settings {json.dumps(old.settings, sort_keys=True, default=str)}); give "
                "this one a new name to compare both, or use another --ledger")


def run_benchmark(spec: ExperimentSpec, ledger_path: str | Path, *, progress: bool = True,
                  retry_failed: bool = True, console: Any = None) -> list[RunRecord]:
    """Run every unfinished run of ``spec`` and return the spec's rows from the ledger.

    Keys with status "ok" are skipped; "failed" keys are run again when ``retry_failed``
    (the default: failures are often transient or fixed since). ``progress`` shows a live
    rich display on stderr (``console`` overrides where it goes). KeyboardInterrupt
    propagates after the display is closed; finished rows are already committed.
    """
    plan = plan_runs(spec)
    experiment = experiment_id(spec)
    with writer_lock(ledger_path), Ledger(ledger_path) as ledger:
        _check_names(ledger, spec, experiment)
        _record_spec(ledger, spec, experiment)  # scenario/prices for choose, report
        todo = [p for p in plan if _should_run(ledger.status(p[3]), retry_failed)]
        if todo:
            splits = load_data(spec)
            for name, part in (("test", splits.test), ("validation", splits.validation)):
                if part is not None:  # true labels beside the stored predictions
                    ledger.write_labels(experiment, name, part.labels, truth_of(part))
            env = environment()
            with RunDisplay(len(plan), len(plan) - len(todo), enabled=progress,
                          console=console) as display:
                keep_to = None if spec.keep_models == "none" else Path(ledger_path)
                for candidate, budget, seed, key in todo:
                    display.start(candidate.name, budget.label, seed)
                    record, predictions = run_one(spec, candidate, budget, seed, key,
                                                  splits, env, experiment, keep_to=keep_to)
                    ledger.write(record, predictions)
                    display.finished(record)
                    if spec.keep_models == "best":
                        _keep_median_only(ledger, Path(ledger_path),
                                          [p[3] for p in plan if p[0].name == candidate.name
                                           and p[1].label == budget.label])
        wanted = {p[3] for p in plan}
        return [r for r in ledger.records() if r.key in wanted]


def _keep_median_only(ledger: Ledger, ledger_path: Path, choice_keys: list[str]) -> None:
    """Once every seed of one choice has finished, remove the kept models of all but its
    median run (`CandidateSummary.best_record`): only then is the median known."""
    from whichmodel.bench import kept
    from whichmodel.summary import summarize

    if any(ledger.status(k) is None for k in choice_keys):
        return
    rows = [r for r in ledger.records() if r.key in set(choice_keys) and r.status == "ok"]
    if not rows:
        return
    median = summarize(rows)[0].best_record
    kept.remove(ledger_path, [k for k in choice_keys if median is None or k != median.key])


def _should_run(status: str | None, retry_failed: bool) -> bool:
    return status is None or (status != "ok" and retry_failed)


# Rows every class needs in the train pool before a validation share is drawn from it:
# fewer, and the share would leave a class unseen in validation or in training.
MIN_ROWS_FOR_VALIDATION = 5


@dataclass
class Splits:
    """The data of a benchmark: ``train`` (the pool label budgets are drawn from),
    ``validation`` (choices are made on it; None when the data cannot spare one, with
    ``validation_note`` saying why) and ``test`` (confirms the choice)."""

    train: Any
    validation: Any | None
    test: Any
    validation_note: str = ""


def load_data(spec: ExperimentSpec) -> Splits:
    """The spec's splits: test from its file or a seeded split of train; validation from
    its file or a seeded stratified share of what is left (``validation_size``)."""
    from whichmodel.data import check_test_labels, load_dataset, split_dataset

    d = spec.dataset
    read = {"label_sep": d.label_sep, "drop_invalid": d.drop_invalid}
    train = load_dataset(d.train, d.text, d.label, **read)
    if d.test:
        test = load_dataset(d.test, d.text, d.label, **read)
        check_test_labels(train, test)
        _check_same_kind(train, test, "test")
    else:
        train, test = split_dataset(train, test_size=d.test_size, seed=d.split_seed)
    slot_families = [c.name for c in spec.candidates
                     if getattr(_family_class(c.family), "uses_slot_tags", False)]
    if slot_families and train.slot_tags is None:
        raise SpecError(f"candidates {', '.join(slot_families)} learn intents and slots, but "
                        f"dataset.train {d.train} has no slot tags: give a .conll file or "
                        "SLURP JSON lines")
    if d.validation:
        validation = load_dataset(d.validation, d.text, d.label, **read)
        check_test_labels(train, validation)
        _check_same_kind(train, validation, "validation")
        return Splits(train, validation, test)
    if not d.validation_size:
        return Splits(train, None, test, "validation_size is 0")
    counts = train.class_counts()
    rarest = min(counts, key=lambda c: counts[c])
    if counts[rarest] < MIN_ROWS_FOR_VALIDATION:
        return Splits(train, None, test, f"class {rarest!r} has {counts[rarest]} training "
                      f"row(s); a validation share needs {MIN_ROWS_FOR_VALIDATION} per class")
    # Its own seed, so the test split of the same split_seed is not mirrored in it.
    train, validation = split_dataset(train, test_size=d.validation_size,
                                      seed=d.split_seed + 1)
    return Splits(train, validation, test)


def _check_same_kind(train: Any, other: Any, field: str) -> None:
    """Intent + slot data on one side and a plain table on the other would score slots on
    one split only: refuse it, naming the field."""
    if (train.slot_tags is None) != (other.slot_tags is None):
        kinds = ("intent + slot data", "a plain table")
        first, second = (kinds if train.slot_tags is not None else kinds[::-1])
        raise SpecError(f"dataset.train is {first} but dataset.{field} is {second}: give "
                        "both as .conll / SLURP files, or both as tables")


def _family_class(family: str) -> Any:
    from whichmodel.models.base import get_family

    return get_family(family)


def sample_budget(train: Any, budget: Budget, seed: int) -> Any:
    """The labelled training rows a run may use: ``budget`` drawn with ``seed``."""
    from whichmodel.data import few_shot_sample

    if budget.unit == "all":
        return train
    if budget.n == 0:  # zero-shot: the label set only (given to fit as classes=)
        return train.subset([])
    if budget.unit == "per_class":
        # "N per class" means up to N: classes with fewer give all they have, and the
        # row's n_labels records the labels really used.
        return few_shot_sample(train, shots=budget.n, seed=seed, up_to=True)
    return few_shot_sample(train, budget=budget.n, seed=seed)


def build_candidate(candidate: CandidateSpec, seed: int) -> Any:
    """An unfitted classifier from the candidate's settings, seeded when it takes a seed."""
    from whichmodel.models.base import build_classifier, family_settings

    settings = dict(candidate.settings)
    params = family_settings(candidate.family)
    seed_name = next((n for n in _SEED_SETTINGS if n in params), None)
    if seed_name is not None:
        settings[seed_name] = seed
    if "progress_bar" in params and "progress_bar" not in settings:
        settings["progress_bar"] = False  # its own bars would fight the live display
    return build_classifier(candidate.family, **settings)


def run_one(spec: ExperimentSpec, candidate: CandidateSpec, budget: Budget, seed: int,
            key: str, splits: Splits, env: dict[str, Any], experiment: str | None = None,
            *, keep_to: Path | None = None) -> tuple[RunRecord, dict[str, Any]]:
    """Sample, fit, predict the validation and test splits, score and probe one run: its
    ledger row and its per-item `Predictions` by split (``{"validation": ..., "test":
    ...}``; empty when it failed). Never raises for a failure of the candidate (it is
    returned as a "failed" record). With ``keep_to`` (the ledger's path) the fitted model
    is saved beside it (`whichmodel.bench.kept`); a model that cannot be saved leaves the
    run ok, with the reason in ``environment["kept_model"]``."""
    train, validation, test = splits.train, splits.validation, splits.test
    from whichmodel.evaluate import evaluate_predictions
    from whichmodel.metrics import score

    predictions: dict[str, Any] = {}
    record = RunRecord(key=key, dataset=spec.dataset.identity, candidate=candidate.name,
                       family=candidate.family, settings=dict(candidate.settings),
                       budget=budget.label, seed=seed, n_test=len(test),
                       batch_size=spec.measure.batch_size, environment=dict(env),
                       experiment=experiment or experiment_id(spec))
    started = time.perf_counter()
    model = None
    try:
        sample = sample_budget(train, budget, seed)
        record.n_labels = len(sample)
        model = build_candidate(candidate, seed)
        _seed_everything(seed)
        gc.collect()  # so the previous run's garbage is not counted in this run's peak
        fit_cache = (contextlib.nullcontext() if spec.measure.cache_train_embeddings
                     else uncached_embeddings())
        with PeakMemory() as memory:
            with fit_cache, MachineLoad() as training_load:
                # A family that learns from a teacher's labels gets the train rows outside
                # the budget as its unlabelled pool; only the budget counts as human labels.
                taken = set(sample.row_numbers)
                pool = ([t for t, row in zip(train.texts, train.row_numbers) if row not in taken]
                        if getattr(model, "uses_unlabelled_pool", False) else None)
                slots = (sample.slot_tags if getattr(model, "uses_slot_tags", False)
                         else None)  # load_data refused slot families without slot tags
                record.train_seconds = timed_fit(
                    model, sample.texts, sample.labels,
                    classes=None if len(sample) else train.classes, unlabelled_texts=pool,
                    slot_tags=slots)
            for name in TEACHER_DRIVERS:  # what labelling the pool took, priced once
                setattr(record, name, getattr(model, f"{name}_", None))
            probe = measured_probe(model, test.texts, spec.measure)
        # Training is timed on the wall clock (hardware hours are what it costs); the
        # load beside it says whether a busy machine stretched it.
        record.measurement = {**probe.extra.get("measurement", {}),
                              "training": training_load.to_dict()}
        record.environment["peak_memory_method"] = memory.method
        record.environment["train_embeddings_cached"] = spec.measure.cache_train_embeddings
        record.peak_rss_mib = _round(memory.peak_mib, 1)
        set_speed(record, probe)
        record.input_tokens_per_item = probe.input_tokens_per_item
        record.output_tokens_per_item = probe.output_tokens_per_item
        record.api_model = getattr(model, "api_model_", None)
        record.api_tier = candidate.api_tier if record.api_model else None
        record.train_seconds = _round(record.train_seconds, 3)

        details = evaluate_predictions(test.labels, probe.predictions)
        record.set_quality(score(probe.predictions, test.labels, report=details,
                                 truth=truth_of(test)))
        predictions = {"test": probe.predictions}
        if validation is not None:  # predicted outside the timed probe: speed is test's
            from whichmodel.predictor import Predictor

            predictions["validation"] = Predictor(model, batch_size=spec.measure.batch_size
                                                  ).predict(validation.texts)
            record.validation_quality = score(predictions["validation"], validation.labels,
                                              truth=truth_of(validation))
            record.n_validation = len(validation)
        else:
            record.environment["validation"] = f"none: {splits.validation_note}"
        for name in record.quality:
            details.pop(name, None)
        if keep_to is not None:
            from whichmodel.bench import kept

            d = spec.dataset  # so predict and evaluate read the fields the bench read
            model.input_fields_ = {"text": d.text, "label": d.label, "label_sep": d.label_sep}
            try:
                kept.keep(model, keep_to, key)
            except Exception as err:  # noqa: BLE001 - the run's figures are still good
                record.environment["kept_model"] = f"not kept: {type(err).__name__}: {err}"
        record.metrics = {**details, "run_seconds": round(time.perf_counter() - started, 2)}
    except Exception as err:  # noqa: BLE001 - a failing candidate must not stop the bench
        record.status = "failed"
        predictions = {}
        record.error = f"{type(err).__name__}: {err}"[:2000]
        tb = traceback.format_exception(type(err), err, err.__traceback__)
        record.metrics = {"traceback": "".join(tb)[-4000:],
                          "run_seconds": round(time.perf_counter() - started, 2)}
    finally:
        del model
        gc.collect()
    record.created_at = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    return record, predictions


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def _seed_everything(seed: int) -> None:
    """Seed the global RNGs too, for families that draw from them without a setting."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    if "torch" in sys.modules:  # never import torch just to seed it
        sys.modules["torch"].manual_seed(seed)


def environment() -> dict[str, Any]:
    """Where the numbers were measured: machine and library versions, no hostname."""
    from whichmodel.models.base import library_versions

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "versions": library_versions(),
    }
    if hasattr(os, "sched_getaffinity"):
        env["usable_cores"] = len(os.sched_getaffinity(0))
    env["omp_wait_policy"] = wait_policy()
    try:
        import psutil

        env["memory_total_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        env["torch_threads"] = torch.get_num_threads()  # for training; probes: measure
        if torch.cuda.is_available():
            env["gpu"] = torch.cuda.get_device_name(0)
    return env


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()

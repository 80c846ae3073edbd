"""A question asked of a ledger: the runs of one experiment and the prices they go with.

`open_question` is what `choose` and `report` do before they recommend, as a library
call, so a notebook or a server asks the same question the same way::

    question = open_question("runs.sqlite", dataset="banking77")
    rec = recommend(question.records, Scenario(volume_per_month=5e6, min_quality=0.9),
                    question.prices())

or, as `choose` does, with the cascades derived from the stored predictions and the
winner confirmed on test: ``question.recommend(Scenario(...))``.

A ledger may hold several experiments (other data files, test sets or splits); their runs
are never mixed. Prices belong to the question, not to whichever spec ran last: each
spec's ``prices:`` overrides are stored with its experiment (`whichmodel.bench.runner`),
and a ``prices_file`` replaces them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whichmodel.bench.record import RunRecord, experiment_of
from whichmodel.errors import UsageError, WhichmodelError, quote


class QuestionError(UsageError):
    """The ledger cannot answer the question as asked: several experiments and none
    picked, a pick that matches nothing, specs that price it differently.

    ``argument`` is the `open_question` argument to change (``dataset``,
    ``prices_file``); the message says ``dataset=ID``, and `message_for` lets a
    command say ``--dataset ID`` instead.
    """

    def __init__(self, problem: str, *, argument: str, fix: str) -> None:
        self.problem, self.argument, self.fix = problem, argument, fix
        super().__init__(self.message_for(f"{argument}="))

    def message_for(self, name: str) -> str:
        """The message with ``name`` (``"dataset="``, ``"--dataset "``) where the fix
        names the argument."""
        return f"{self.problem}; {self.fix.format(arg=name)}"


@dataclass
class Question:
    """One experiment's runs of a ledger and the price overrides to price them with.

    ``records``: its runs (failed ones too, for the report); ``price_overrides``: the
    ``prices:`` section to merge over the packaged price table (None: list prices);
    ``experiment``: its id (None when no run succeeded); ``description``: how the
    several-experiments error shows it (id, dataset, files and their hashes, runs).
    """

    ledger: Path
    records: list[RunRecord]
    price_overrides: dict[str, Any] | None
    experiment: str | None
    description: str
    spec: Any = field(default=None, repr=False)  # the spec `dataset` named, if a file

    @property
    def failed_runs(self) -> int:
        """Runs that did not finish (left out of the recommendation)."""
        return sum(r.status != "ok" for r in self.records)

    def prices(self) -> Any:
        """The price table for this question (`whichmodel.costs.load_prices`)."""
        from whichmodel.costs.prices import load_prices

        return load_prices(self.price_overrides)

    def recommend(self, scenario: Any, prices: Any = None, *, cascades: bool = True,
                  level: float | None = None) -> Any:
        """The `Recommendation` for ``scenario``, confirmed on test (`confirm`): every
        choice of these runs and, with ``cascades``, the cascades derived from their
        stored predictions (`whichmodel.cascade_choice.derive_cascades`: no training, no
        model call). ``prices`` defaults to this question's (`prices`)."""
        from whichmodel.choose import recommend
        from whichmodel.summary import summarize

        prices = prices if prices is not None else self.prices()
        summaries = summarize(self.records)
        if cascades and self.experiment is not None and summaries:
            from whichmodel.cascade_choice import derive_cascades

            summaries = summaries + derive_cascades(summaries, scenario, prices,
                                                    self._evidence)
        return self.confirm(recommend(summaries, scenario, prices), level=level)

    def _evidence(self, keys: Any, split: str) -> Any:
        """(true labels of ``split``, stored predictions of the runs ``keys``)."""
        from whichmodel.bench.ledger import read_evidence

        return read_evidence(self.ledger, self.experiment or "", list(keys), split)

    def confirm(self, recommendation: Any, level: float | None = None) -> Any:
        """``recommendation`` with its winner confirmed on test (`confirm_on_test`), from
        the winner's stored test predictions and the test labels in this ledger (a
        cascade's: computed from its two models' at its τ); left as it is when the ledger
        has no stored predictions (written by an older whichmodel)."""
        from whichmodel.bench.ledger import read_evidence
        from whichmodel.choose import confirm_on_test

        winner = recommendation.winner
        if winner is None or self.experiment is None:
            return recommendation
        self._locate_winner(recommendation)
        if getattr(winner.summary, "evidence", None):  # a cascade: no runs of its own
            labels, runs = winner.summary.evidence.get("test", (None, None))
        else:
            labels, runs = read_evidence(self.ledger, self.experiment,
                                         winner.summary.run_keys)
        if labels is None or runs is None:
            return recommendation
        return confirm_on_test(recommendation, runs, labels, level=level)

    def _kept_folder(self, summary: Any) -> str | None:
        """The kept model folder of a choice: its median run's, else any seed's."""
        from whichmodel.bench import kept

        keys = ([summary.best_record.key] if summary.best_record else []) + summary.run_keys
        folder = next((f for f in (kept.kept_model(self.ledger, k) for k in keys) if f), None)
        return str(folder) if folder else None

    def _locate_winner(self, recommendation: Any) -> None:
        """Set the winner's kept model folder (its median run's, else any seed's; for a
        cascade, those of its two models and its τ, under ``winner_data["route"]``) and
        the experiment's test file and label field, for the lines that say how to use it."""
        from whichmodel.bench.ledger import EXPERIMENT_PREFIX, meta_entries, read_meta

        summary = recommendation.winner.summary
        parts = [getattr(summary, role, None) for role in ("first", "second")]
        route = None
        if all(parts):
            recommendation.winner_model = None
            route = {"first": self._kept_folder(parts[0]),
                     "second": self._kept_folder(parts[1]),
                     "threshold": summary.threshold}
        else:
            recommendation.winner_model = self._kept_folder(summary)
        described = meta_entries(read_meta(self.ledger), EXPERIMENT_PREFIX).get(
            self.experiment or "", {})
        data = {k: described[k] for k in ("test_file", "label") if described.get(k)}
        if "test_file" in data:  # as written in the spec: relative to it, often the ledger's
            test = Path(str(data["test_file"]))
            beside = self.ledger.parent / test
            if not test.is_absolute() and not test.exists() and beside.exists():
                data["test_file"] = str(beside)
        if route is not None:
            data["route"] = route
        recommendation.winner_data = data


def open_question(ledger_path: str | Path, dataset: str | None = None,
                  prices_file: str | Path | None = None) -> Question:
    """Read ``ledger_path`` and keep one experiment: the one ``dataset`` picks, or the
    only one with successful runs; with its price overrides (``prices_file``'s, read
    first, else those of the specs that ran it).

    ``dataset`` may be a dataset name as stored in the rows (with or without its
    ``[text=… label=…]`` part), an experiment id (or its first 4+ characters, as the
    several-experiments error lists them), or the spec YAML that ran it (then priced with
    that spec's own overrides). Raises a one-line `WhichmodelError` when the file is
    missing or has no successful runs, and a `QuestionError` naming the argument to
    change when several experiments are there and none is picked, a pick matches
    nothing, or specs that ran the experiment disagree on prices.
    """
    from whichmodel.costs.prices import read_overrides

    overrides = read_overrides(prices_file) if prices_file is not None else None
    path = Path(ledger_path)
    if not path.exists():
        raise WhichmodelError(f"ledger not found: {path}; run `whichmodel bench SPEC.yaml` "
                              "first, then pass the .sqlite file it wrote")
    selection = _select_experiment(path, dataset)
    records = selection.records
    if not any(r.status == "ok" for r in records):
        raise WhichmodelError(f"{path} has no successful runs ({len(records)} failed); run "
                              "`whichmodel bench SPEC.yaml` and check the failures it reports")
    if prices_file is None:
        overrides = _experiment_prices(path, selection)
    experiment = selection.experiment
    description = (describe_experiment(experiment, records, selection.meta)
                   if experiment is not None else "none")
    return Question(path, records, overrides, experiment, description, selection.spec)


@dataclass
class _Selection:
    """One experiment's rows of a ledger, with the ledger's meta and the spec that picked
    it (when ``dataset`` named a spec file)."""

    records: list[RunRecord]
    experiment: str | None
    meta: dict[str, str]
    spec: Any = None


def _select_experiment(path: Path, dataset: str | None) -> _Selection:
    """The rows of one experiment: the one ``dataset`` picks, or the only one with
    successful runs; several and no pick is a `QuestionError` listing them."""
    from whichmodel.bench.ledger import read_ledger

    records, meta = read_ledger(path)
    spec = None
    if dataset is not None:
        records, spec = _pick(path, records, meta, dataset)
    experiments = list(dict.fromkeys(experiment_of(r) for r in records if r.status == "ok"))
    if len(experiments) > 1:
        listed = "; ".join(describe_experiment(e, records, meta) for e in experiments)
        raise QuestionError(f"{path} holds {len(experiments)} experiments (different data, "
                            f"test sets or splits; their runs are not comparable): {listed}",
                            argument="dataset",
                            fix="pick one with {arg}ID (or {arg}SPEC.yaml)")
    if not experiments:
        return _Selection(records, None, meta, spec)
    return _Selection([r for r in records if experiment_of(r) == experiments[0]],
                      experiments[0], meta, spec)


def _pick(path: Path, records: list[RunRecord], meta: dict[str, str],
          value: str) -> tuple[list[RunRecord], Any]:
    """Rows that ``dataset=value`` names, and the spec when it names a spec file."""
    if Path(value).suffix.lower() in (".yaml", ".yml") and Path(value).is_file():
        from whichmodel.bench.identity import experiment_id
        from whichmodel.bench.spec import load_spec

        spec = load_spec(value)
        wanted = experiment_id(spec)
        picked = [r for r in records if experiment_of(r) == wanted]
        if not picked:
            raise QuestionError(f"{path} has no runs of {value} (experiment {wanted}: its "
                                "data files as they are now); run `whichmodel bench "
                                f"{value} --ledger {path}`", argument="dataset",
                                fix="or pick one of these with {arg}ID: "
                                    + _braces(_experiment_list(records, meta)))
        return picked, spec

    def matches(record: RunRecord) -> bool:
        experiment = experiment_of(record)
        return (value in (record.dataset, record.dataset.split(" [")[0], experiment)
                or (len(value) >= 4 and experiment.startswith(value)))

    picked = [r for r in records if matches(r)]
    if not picked:
        datasets = sorted({r.dataset for r in records})
        raise QuestionError(f"{path} has no runs on dataset {quote(value)}; datasets: "
                            f"{', '.join(datasets) or 'none'}", argument="dataset",
                            fix="pick one with {arg}NAME"
                                + (", or {arg}ID of one of: "
                                   + _braces(_experiment_list(records, meta)) if records else ""))
    return picked, None


def _braces(text: str) -> str:
    """``text`` (user data) safe inside a `QuestionError.fix` template."""
    return text.replace("{", "{{").replace("}", "}}")


def _experiment_list(records: list[RunRecord], meta: dict[str, str]) -> str:
    experiments = list(dict.fromkeys(experiment_of(r) for r in records))
    return "; ".join(describe_experiment(e, records, meta) for e in experiments) or "none"


def describe_experiment(experiment: str, records: list[RunRecord],
                        meta: dict[str, str]) -> str:
    """``ID (dataset, train FILE sha256 1a2b3c4d, test FILE sha256 …, N runs)``: enough to
    tell experiments apart and to type the ID."""
    from whichmodel.bench.ledger import EXPERIMENT_PREFIX, meta_entries

    rows = [r for r in records if experiment_of(r) == experiment]
    info = meta_entries(meta, EXPERIMENT_PREFIX).get(experiment)
    runs = f"{sum(r.status == 'ok' for r in rows)} ok run(s)"
    if info is None:
        return f"{experiment} ({rows[0].dataset}, from an older whichmodel, {runs})"

    def short(fingerprint: Any) -> str:
        kind, _, value = str(fingerprint).partition(":")
        return f"{kind} {value[:8]}" if kind == "sha256" else str(value or kind)

    held = info.get("held_out") or {}
    test = (f"test {info.get('test_file')} {short(held['test'])}" if "test" in held
            else f"split {held.get('test_size')} seed {held.get('split_seed')}")
    return (f"{experiment} ({info.get('dataset')}, train {info.get('train_file')} "
            f"{short(info.get('train'))}, {test}, {runs})")


def _experiment_prices(path: Path, selection: _Selection) -> dict[str, Any] | None:
    """The overrides of the specs that ran ``selection``'s experiment; a `QuestionError`
    when they disagree (rather than one chosen silently). Ledgers from older whichmodel
    versions have one ``spec``; its prices are used."""
    from whichmodel.bench.ledger import LEGACY_SPEC, SPEC_PREFIX, meta_entries

    if selection.spec is not None:
        return selection.spec.prices or None
    if selection.experiment is None:
        return None
    specs = meta_entries(selection.meta, SPEC_PREFIX)
    entries = [e for e in specs.values() if e.get("experiment") == selection.experiment]
    if entries:
        distinct: dict[str, list[dict[str, Any]]] = {}
        for entry in entries:
            text = json.dumps(entry.get("prices") or {}, sort_keys=True, default=str)
            distinct.setdefault(text, []).append(entry)
        if len(distinct) > 1:
            shown = "; ".join(f"{', '.join(sorted({str(e.get('source')) for e in group}))}: "
                              f"{text}" for text, group in distinct.items())
            raise QuestionError(f"{path}: {len(distinct)} specs ran experiment "
                                f"{selection.experiment} with different `prices:` ({shown})",
                                argument="prices_file",
                                fix="pass {arg}FILE with the prices to use")
        return entries[0].get("prices") or None
    if selection.experiment.startswith("legacy-"):  # rows from an older whichmodel
        legacy = selection.meta.get(LEGACY_SPEC) or (None if specs
                                                     else selection.meta.get("spec"))
        if legacy:
            try:
                return json.loads(legacy).get("prices") or None
            except (TypeError, ValueError, AttributeError):
                return None
    return None

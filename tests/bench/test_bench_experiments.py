"""A ledger never merges experiments: run identity, grouping by experiment, prices per spec.

Every spec here is tiny (tfidf on CSVs of a dozen rows written into tmp_path), so the
whole file runs in seconds.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import pytest

from whichmodel.bench import runner
from whichmodel.bench.identity import experiment_id
from whichmodel.bench.ledger import LEGACY_SPEC, Ledger, read_meta, read_records
from whichmodel.bench.record import RunRecord, experiment_of
from whichmodel.bench.runner import plan_runs, run_benchmark
from whichmodel.bench.spec import load_spec
from whichmodel.choose import summarize
from whichmodel.cli import main
from whichmodel.errors import SpecError


def _choose(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["choose", *argv])
    return code, out.getvalue(), err.getvalue()


def _choose_json(*argv: str) -> dict:
    code, out, err = _choose(*argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_identity_follows_data_content_not_the_path(tiny_csv, tiny_spec, tmp_path):
    spec = load_spec(tiny_spec())
    moved = tmp_path / "moved"
    moved.mkdir()
    for name in ("train.csv", "test.csv"):
        shutil.copy(tmp_path / name, moved / name)
    (moved / "spec.yaml").write_text((tmp_path / "spec.yaml").read_text())
    same = load_spec(moved / "spec.yaml")
    assert [p[3] for p in plan_runs(same)] == [p[3] for p in plan_runs(spec)]
    # the same path with other bytes is another experiment: every key changes
    tiny_csv(moved / "test.csv", 4, offset=2)
    edited = load_spec(moved / "spec.yaml")
    assert experiment_id(edited) != experiment_id(spec)
    assert not {p[3] for p in plan_runs(edited)} & {p[3] for p in plan_runs(spec)}


@pytest.mark.parametrize("change", [
    {"dataset": {"train": "train.csv", "text": "text", "label": "label", "name": "tiny",
                 "test_size": 0.3}},                      # a split instead of test.csv
    {"dataset": {"train": "train.csv", "test": "test.csv", "text": "text",
                 "label": "label", "name": "tiny", "drop_invalid": True}},
    {"measure": {"batch_size": 4, "latency_samples": 3}},
    {"measure": {"batch_size": 8, "latency_samples": 3, "cache_train_embeddings": False}},
    {"candidates": [{"name": "tfidf", "family": "tfidf", "settings": {"C": 10.0}}]},
])
def test_everything_that_changes_numbers_changes_the_key(tiny_spec, change):
    base = {p[3] for p in plan_runs(load_spec(tiny_spec("a.yaml")))}
    other = {p[3] for p in plan_runs(load_spec(tiny_spec("b.yaml", **change)))}
    assert not base & other


def test_a_library_upgrade_reruns_and_choose_uses_the_newest_row(tiny_spec, tmp_path,
                                                                  monkeypatch):
    spec = load_spec(tiny_spec())
    ledger = tmp_path / "runs.sqlite"
    first = run_benchmark(spec, ledger, progress=False)
    versions = runner.code_versions()
    monkeypatch.setattr(runner, "code_versions",
                        lambda: {**versions, "scikit-learn": "99.0"})
    second = run_benchmark(spec, ledger, progress=False)
    assert {r.key for r in first}.isdisjoint({r.key for r in second})
    rows = read_records(ledger)
    assert len(rows) == 4
    [summary] = summarize(rows)
    assert summary.n_runs == 2 and summary.seeds == [1, 2]  # each seed once, not twice
    assert {summary.best_record.key} <= {r.key for r in second}


def test_two_test_sets_in_one_ledger_are_never_averaged(tiny_csv, tiny_spec, tmp_path):
    tiny_csv(tmp_path / "hard.csv", 4, offset=1, wrong_labels=2)  # half mislabelled
    easy_spec, hard_spec = tiny_spec("easy.yaml"), tiny_spec("hard.yaml", test="hard.csv")
    ledger = tmp_path / "runs.sqlite"
    easy = run_benchmark(load_spec(easy_spec), ledger, progress=False)
    hard = run_benchmark(load_spec(hard_spec), ledger, progress=False)
    assert len(read_records(ledger)) == 4
    easy_id, hard_id = easy[0].experiment, hard[0].experiment
    assert easy_id != hard_id and {r.dataset for r in easy + hard} == {easy[0].dataset}

    code, out, err = _choose(str(ledger), "--volume", "1e3")
    assert code == 2 and out == "" and err.count("\n") == 1
    for text in ("holds 2 experiments", easy_id, hard_id, "hard.csv", "--dataset ID"):
        assert text in err

    def mean(rows):
        return sum(r.accuracy for r in rows) / len(rows)

    for pick, rows in ((easy_id, easy), (hard_id[:6], hard), (str(hard_spec), hard)):
        [verdict] = _choose_json(str(ledger), "--volume", "1e3", "--dataset", pick)["verdicts"]
        assert verdict["summary"]["n_runs"] == 2
        assert verdict["summary"]["accuracy"] == pytest.approx(mean(rows))
    assert mean(easy) > mean(hard)
    # report reads the same way: it refuses to mix, and reports one experiment when asked
    assert main(["report", str(ledger), "--out", str(tmp_path / "r.html")]) == 2
    assert main(["report", str(ledger), "--out", str(tmp_path / "r.html"),
                 "--dataset", easy_id]) == 0


def test_each_experiment_is_priced_by_its_own_spec(tiny_csv, tiny_spec, tmp_path):
    tiny_csv(tmp_path / "other.csv", 4, offset=2)
    ledger = tmp_path / "runs.sqlite"
    a = run_benchmark(load_spec(tiny_spec("a.yaml", prices={"usd_per_label": 1.0})),
                      ledger, progress=False)
    b = run_benchmark(load_spec(tiny_spec("b.yaml", test="other.csv",
                                          prices={"usd_per_label": 3.0})),
                      ledger, progress=False)
    assert json.loads(read_meta(ledger)["spec"])["prices"] == {"usd_per_label": 3.0}
    for rows, per_label in ((a, 1.0), (b, 3.0)):
        [verdict] = _choose_json(str(ledger), "--volume", "1e3", "--dataset",
                                 rows[0].experiment)["verdicts"]
        # 24 training rows, 5 of them held out as validation: 19 labels paid for
        assert verdict["summary"]["n_labels"] == 19
        assert verdict["cost"]["annotation_usd"] == pytest.approx(19 * per_label)
    (tmp_path / "p.yaml").write_text("usd_per_label: 10.0\n")
    [verdict] = _choose_json(str(ledger), "--volume", "1e3", "--dataset", a[0].experiment,
                             "--prices", str(tmp_path / "p.yaml"))["verdicts"]
    assert verdict["cost"]["annotation_usd"] == pytest.approx(190.0)  # --prices replaces


def test_specs_that_price_one_experiment_differently_are_refused(tiny_spec, tmp_path):
    ledger = tmp_path / "runs.sqlite"
    run_benchmark(load_spec(tiny_spec("a.yaml", prices={"usd_per_label": 1.0})), ledger,
                  progress=False)
    other = [{"name": "tfidf-c10", "family": "tfidf", "settings": {"C": 10.0}}]
    run_benchmark(load_spec(tiny_spec("b.yaml", candidates=other,
                                      prices={"usd_per_label": 2.0})),
                  ledger, progress=False)
    code, _, err = _choose(str(ledger), "--volume", "1e3")
    assert code == 2 and err.count("\n") == 1
    assert "2 specs ran experiment" in err and "a.yaml" in err and "b.yaml" in err
    assert "pass --prices FILE" in err
    (tmp_path / "p.yaml").write_text("usd_per_label: 1.0\n")
    data = _choose_json(str(ledger), "--volume", "1e3", "--prices", str(tmp_path / "p.yaml"))
    assert {v["candidate"] for v in data["verdicts"]} == {"tfidf", "tfidf-c10"}  # one table
    # picking by spec file prices with that spec's own section
    [verdict] = [v for v in _choose_json(str(ledger), "--volume", "1e3", "--dataset",
                                         str(tmp_path / "b.yaml"))["verdicts"]
                 if v["candidate"] == "tfidf"]
    assert verdict["cost"]["annotation_usd"] == pytest.approx(38.0)  # 19 labels × $2
    # the same spec rerun with edited prices replaces its own entry: no conflict remains
    run_benchmark(load_spec(tiny_spec("b.yaml", candidates=other,
                                      prices={"usd_per_label": 1.0})),
                  ledger, progress=False)
    assert len(_choose_json(str(ledger), "--volume", "1e3")["verdicts"]) == 2


def test_one_name_with_other_settings_is_refused_before_training(tiny_csv, tiny_spec, tmp_path):
    ledger = tmp_path / "runs.sqlite"
    run_benchmark(load_spec(tiny_spec("a.yaml")), ledger, progress=False)
    changed = [{"name": "tfidf", "family": "tfidf", "settings": {"C": 10.0}}]
    with pytest.raises(SpecError, match="'tfidf' already has finished runs .* new name"):
        run_benchmark(load_spec(tiny_spec("b.yaml", candidates=changed)), ledger,
                      progress=False)
    assert len(read_records(ledger)) == 2
    # on other data the name is free: that is another experiment
    tiny_csv(tmp_path / "other.csv", 4, offset=2)
    run_benchmark(load_spec(tiny_spec("c.yaml", candidates=changed, test="other.csv")),
                  ledger, progress=False)
    assert len(read_records(ledger)) == 4


def test_summarize_refuses_one_name_for_two_models():
    def row(seed, settings):
        return RunRecord(key=f"k{seed}", dataset="d", candidate="tfidf", family="tfidf",
                         settings=settings, budget="all", seed=seed, accuracy=0.9)

    with pytest.raises(Exception, match="2 different configurations"):
        summarize([row(1, {"C": 1.0}), row(2, {"C": 10.0})])


def test_an_older_ledger_keeps_its_rows_and_prices_when_a_new_spec_joins(tiny_spec,
                                                                          tmp_path):
    """Rows without an experiment (older whichmodel) stay one experiment, priced by the
    ledger's old ``spec``, next to the new spec's experiment with its own prices."""
    ledger = tmp_path / "runs.sqlite"
    with Ledger(ledger) as db:
        for seed in (1, 2):
            db.write(RunRecord(key=f"old{seed}", dataset="old [text='text' label='label']",
                               candidate="old-tfidf", family="tfidf", settings={},
                               budget="all", seed=seed, n_labels=10, accuracy=0.8,
                               macro_f1=0.8, train_seconds=1.0,
                               throughput_items_per_s=1000.0, latency_p95_ms=1.0))
        db.set_meta("spec", json.dumps({"prices": {"usd_per_label": 5.0}}))
    [verdict] = _choose_json(str(ledger), "--volume", "1e3")["verdicts"]  # as before
    assert verdict["cost"]["annotation_usd"] == pytest.approx(50.0)
    new = run_benchmark(load_spec(tiny_spec(prices={"usd_per_label": 1.0})), ledger,
                        progress=False)
    meta = read_meta(ledger)
    assert json.loads(meta[LEGACY_SPEC])["prices"] == {"usd_per_label": 5.0}
    code, _, err = _choose(str(ledger), "--volume", "1e3")
    assert code == 2 and "from an older whichmodel" in err
    legacy = experiment_of(read_records(ledger)[0])
    [old] = _choose_json(str(ledger), "--volume", "1e3", "--dataset", legacy)["verdicts"]
    assert old["cost"]["annotation_usd"] == pytest.approx(50.0)
    [fresh] = _choose_json(str(ledger), "--volume", "1e3", "--dataset", "tiny")["verdicts"]
    assert fresh["cost"]["annotation_usd"] == pytest.approx(19.0)  # 5 rows held out
    assert new[0].experiment != legacy

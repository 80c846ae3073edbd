"""Kept models (`keep_models`), `bench --remeasure` and the winner's folder in `choose`."""

from __future__ import annotations

import json

from whichmodel.bench import kept
from whichmodel.bench.ledger import read_predictions, read_records
from whichmodel.cli import main
from whichmodel.summary import summarize


def _bench(spec, ledger, capsys):
    assert main(["bench", str(spec), "--ledger", str(ledger), "--quiet"]) == 0
    return capsys.readouterr().out


def test_best_keeps_only_the_median_seed_of_each_choice_and_it_predicts_as_stored(
        tiny_spec, tmp_path, capsys):
    spec = tiny_spec(seeds=[1, 2, 3], budgets=[2, "all"])
    ledger = tmp_path / "runs.sqlite"
    _bench(spec, ledger, capsys)
    records = read_records(ledger)
    folders = sorted(p.name for p in kept.models_dir(ledger).iterdir())
    medians = sorted(s.best_record.key for s in summarize(records))
    assert folders == medians and len(folders) == 2  # one per candidate × budget
    # the kept model is the run's own: it predicts what the ledger stored for that run
    from whichmodel.models.base import load_model

    key = medians[0]
    stored = read_predictions(ledger, key)
    from whichmodel.data import load_dataset

    test = load_dataset(tmp_path / "test.csv", "text", "label")
    again = load_model(kept.kept_model(ledger, key)).predict(test.texts)
    assert list(again) == stored.labels


def test_keep_models_all_and_none(tiny_spec, tmp_path, capsys):
    everything = tmp_path / "all.sqlite"
    _bench(tiny_spec("all.yaml", keep_models="all"), everything, capsys)
    assert len(list(kept.models_dir(everything).iterdir())) == 2  # both seeds
    nothing = tmp_path / "none.sqlite"
    _bench(tiny_spec("none.yaml", keep_models="none"), nothing, capsys)
    assert not kept.models_dir(nothing).exists()
    assert main(["choose", str(nothing), "--volume", "1e5"]) == 0
    assert "No kept model of tfidf @ all" in capsys.readouterr().out


def test_choose_prints_the_winners_folder_and_commands_that_use_it(tiny_spec, tmp_path,
                                                                    capsys):
    ledger = tmp_path / "runs.sqlite"
    _bench(tiny_spec(), ledger, capsys)
    assert main(["choose", str(ledger), "--volume", "1e5"]) == 0
    out = " ".join(capsys.readouterr().out.replace("\\\n", " ").split())
    folder = next(kept.models_dir(ledger).iterdir())
    assert f"model: {folder}" in out
    # the test file resolved beside the ledger (the spec wrote it relative to itself)
    assert f"whichmodel evaluate {folder} {tmp_path / 'test.csv'} --label label" in out
    assert f"whichmodel predict {folder} TEXTS.csv" in out
    assert main(["choose", str(ledger), "--volume", "1e5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["winner"]["model_path"] == str(folder)
    # the printed command works as printed (the test file relative to the spec's folder)
    assert main(["evaluate", str(folder), str(tmp_path / "test.csv"), "--label", "label",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 12


def test_remeasure_replaces_speed_figures_and_nothing_else(tiny_spec, tmp_path, capsys):
    spec = tiny_spec(keep_models="best")
    ledger = tmp_path / "runs.sqlite"
    _bench(spec, ledger, capsys)
    before = {r.key: r for r in read_records(ledger)}
    stored = {k: read_predictions(ledger, k).proba for k in before}
    assert main(["bench", str(spec), "--ledger", str(ledger), "--remeasure", "--quiet"]) == 0
    assert "re-measured 1 choice(s) (2 row(s))" in capsys.readouterr().out
    after = {r.key: r for r in read_records(ledger)}
    assert set(after) == set(before)
    source = next(kept.models_dir(ledger).iterdir()).name
    for key, row in after.items():
        old = before[key]
        assert row.measurement["remeasured_from"] == source
        assert row.measurement["remeasured_at"] != old.measurement.get("remeasured_at")
        assert row.quality == old.quality and row.train_seconds == old.train_seconds
        assert row.throughput_items_per_s and row.throughput_items_per_s > 0
        assert (read_predictions(ledger, key).proba == stored[key]).all()  # kept
    # a ledger whose models were not kept says so and changes nothing
    other = tmp_path / "none.sqlite"
    none_spec = tiny_spec("none.yaml", keep_models="none")
    _bench(none_spec, other, capsys)
    rows = [r.to_dict() for r in read_records(other)]
    assert main(["bench", str(none_spec), "--ledger", str(other), "--remeasure"]) == 1
    assert "no kept model, left as measured: tfidf @ all" in capsys.readouterr().out
    assert [r.to_dict() for r in read_records(other)] == rows

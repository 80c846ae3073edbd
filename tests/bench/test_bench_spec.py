"""Spec validation: a good spec loads; each bad field is one SpecError line naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from whichmodel.bench.spec import load_spec
from whichmodel.errors import SpecError

REPO = Path(__file__).resolve().parents[2]


def _edit(path: Path, change) -> Path:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))
    return path


def test_good_spec_loads(spec_file):
    spec = load_spec(spec_file(budgets=[8, "16/class", {"total": 500}, {"per_class": 4}, "all"]))
    assert [b.label for b in spec.budgets] == ["8/class", "16/class", "500", "4/class", "all"]
    assert spec.seeds == [1, 2]
    assert spec.candidates[0].family == "tfidf"
    assert spec.measure.batch_size == 16
    scenario = spec.to_scenario()
    assert scenario.volume_per_month == 1e5 and scenario.hardware == "cpu-small"
    assert len(spec.runs()) == 5 * 2


def test_budget_unit_total_applies_to_bare_numbers(spec_file):
    spec = load_spec(spec_file(budgets=[100, "all", "8/class"], budget_unit="total"))
    assert [b.label for b in spec.budgets] == ["100", "all", "8/class"]


def test_paths_are_relative_to_the_spec(tmp_path, banking77_slice):
    folder = tmp_path / "project"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "train.csv").write_bytes(Path(banking77_slice["train"]).read_bytes())
    (folder / "spec.yaml").write_text(yaml.safe_dump({
        "dataset": {"train": "data/train.csv", "label": "category"},
        "candidates": [{"name": "t", "family": "tfidf"}]}))
    spec = load_spec(folder / "spec.yaml")
    assert Path(spec.dataset.train) == (folder / "data" / "train.csv").resolve()
    assert spec.dataset.display_name == "data"
    assert spec.dataset.train_as_written == "data/train.csv"  # as written: folder may move


def test_banking77_example_is_valid():
    # the example names the data by its place beside the repo, not through WHICHMODEL_DATA
    banking77 = (REPO / "examples" / "../../shared/data/banking77").resolve()
    if not (banking77 / "train.csv").is_file():
        pytest.skip(f"examples/banking77.yaml reads {banking77}, which is absent")
    spec = load_spec(REPO / "examples" / "banking77.yaml")
    assert [b.label for b in spec.budgets] == ["8/class", "16/class", "64/class", "all"]
    assert spec.seeds == [1, 2, 3]
    assert {c.family for c in spec.candidates} == {"tfidf", "embedding", "setfit"}
    assert Path(spec.dataset.train) == (banking77 / "train.csv").resolve()


@pytest.mark.parametrize("change, expected", [
    (lambda d: d["candidates"].append({"name": "b", "family": "setfitt"}),
     "spec.yaml: candidates[1].family: 'setfitt' is not a model family (did you mean "
     "'setfit'?); choose one of: "),
    (lambda d: d["candidates"].append({"name": "tfidf", "family": "tfidf"}),
     "candidates: two candidates are named 'tfidf'"),
    (lambda d: d["candidates"][0].update(settings={"ngram_mx": 3}),
     "candidates[0].settings.ngram_mx: not a setting of family 'tfidf' (did you mean "
     "'ngram_max'?)"),
    (lambda d: d["candidates"][0].update(settings={"seed": 3}),
     "candidates[0].settings.seed: seeds are set for every candidate"),
    (lambda d: d.update(budgets=[8, "eight"]), "budgets[1]: 'eight' is not a budget; use"),
    (lambda d: d.update(budgets=[8, {"per_klass": 8}]),
     "budgets[1]: unknown budget key 'per_klass' (did you mean 'per_class'?)"),
    (lambda d: d.update(budgets=[8, -1]), "budgets[1].n: Input should be greater than"),
    (lambda d: d.update(budgets=[8, "8/class"]), "budgets: '8/class' is listed twice"),
    (lambda d: d.update(seeds=[1, 1]), "seeds: seed 1 is listed twice"),
    (lambda d: d.update(seeds=[1, -1]), "seeds: seed -1 is out of range; use whole numbers "
                                        "from 0 to 4294967295"),
    (lambda d: d.update(seeds=["x"]), "seeds[0]: Input should be a valid integer"),
    (lambda d: d["dataset"].update(train="nope.csv"),
     "dataset.train: file not found: "),
    (lambda d: d["dataset"].pop("train"), "dataset.train: required field is missing"),
    (lambda d: d.pop("candidates"), "candidates: required field is missing"),
    (lambda d: d.update(scenario={"metric": "f1"}),
     "scenario.metric: must be one of accuracy, macro_f1, micro_f1, intent_accuracy, "
     "slot_f1, frame_accuracy (the metrics a bar may be set on), got 'f1'"),
    (lambda d: d.update(scenario={"min_quality": 90}), "scenario.min_quality: "),
    (lambda d: d.update(hardware="cpu-smal"),
     "hardware: 'cpu-smal' is not in the price table (did you mean 'cpu-small'?)"),
    (lambda d: d.update(prices={"usd_per_label": -1}), "prices.usd_per_label: "),
    (lambda d: d.update(measure={"batch_size": 0}), "measure.batch_size: "),
    (lambda d: d["dataset"].update(test_size=1.5), "dataset.test_size: "),
    # unknown keys, at every level, with a suggestion
    (lambda d: d.update(seedz=[1]), "seedz: unknown key (did you mean 'seeds'?); keys "
                                    "allowed here are: dataset, budgets"),
    (lambda d: d["dataset"].update(labl="x"), "dataset.labl: unknown key (did you mean "
                                              "'label'?)"),
    (lambda d: d["candidates"][0].update(setings={}),
     "candidates[0].setings: unknown key (did you mean 'settings'?)"),
    (lambda d: d.update(measure={"batchsize": 8}),
     "measure.batchsize: unknown key (did you mean 'batch_size'?)"),
])
def test_bad_field_is_one_line_naming_it(spec_file, change, expected):
    path = _edit(spec_file(), change)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    message = str(err.value)
    assert "\n" not in message
    assert expected in message, message


def test_yaml_syntax_error_and_missing_file(tmp_path):
    bad = tmp_path / "spec.yaml"
    bad.write_text("dataset: [unclosed\n")
    with pytest.raises(SpecError, match=r"spec.yaml: line \d+: not valid YAML"):
        load_spec(bad)
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec(tmp_path / "missing.yaml")
    bad.write_text("- just a list\n")
    with pytest.raises(SpecError, match="expected a mapping"):
        load_spec(bad)


def test_exponent_numbers_are_numbers(spec_file):
    # PyYAML (YAML 1.1) alone reads 5e-5 as the string '5e-5'; users write learning rates so.
    path = spec_file(candidates=[{"name": "s", "family": "setfit",
                                  "settings": {"learning_rate": "LR"}}])
    path.write_text(path.read_text().replace("'LR'", "5e-5").replace("LR", "5e-5"))
    spec = load_spec(path)
    assert spec.candidates[0].settings["learning_rate"] == pytest.approx(5e-5)


def test_spec_setting_values_are_checked_when_read(spec_file):
    path = spec_file(candidates=[{"name": "t", "family": "tfidf", "settings": {"C": "abc"}}])
    with pytest.raises(SpecError, match=r"candidates\[0\]\.settings\.C: tfidf: C must be a "
                                        r"number > 0, got 'abc'"):
        load_spec(path)

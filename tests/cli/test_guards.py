"""The CLI never destroys the user's files and stops bad values in one line, exit code 2.

Found by probing the CLI as a careless user would: `--out .` used to delete the current
folder, `predict --out` could overwrite its own input, and `--set C=abc` surfaced as a
scikit-learn traceback mid-fit.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from whichmodel.bench.ledger import Ledger
from whichmodel.bench.record import RunRecord
from whichmodel.cli import main


def _train(slice_, out, *extra) -> list[str]:
    return ["train", str(slice_["train"]), "--text", "text", "--label", "category",
            "--model", "tfidf", "--out", str(out), *extra]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("out", [".", "", ".."])
def test_out_never_replaces_the_current_folder(banking77_slice, tmp_path, monkeypatch, capsys,
                                                out):
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("mine")
    monkeypatch.chdir(work)
    assert main(_train(banking77_slice, out)) == 2
    assert "will not save a model over" in _one_error_line(capsys)
    assert (work / "notes.txt").read_text() == "mine"


def test_out_refuses_a_foreign_folder_or_a_file_and_replaces_an_earlier_model(
        banking77_slice, tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "important.txt").write_text("keep")
    assert main(_train(banking77_slice, folder)) == 2
    assert "no whichmodel.json" in _one_error_line(capsys)
    assert [p.name for p in folder.iterdir()] == ["important.txt"]

    a_file = tmp_path / "notes.csv"
    a_file.write_text("keep")
    assert main(_train(banking77_slice, a_file)) == 2
    assert "it is a file" in _one_error_line(capsys)
    assert a_file.read_text() == "keep"

    model = tmp_path / "model"
    assert main(_train(banking77_slice, model, "--seed", "1")) == 0
    assert main(_train(banking77_slice, model, "--seed", "2")) == 0  # an earlier model: replaced
    assert '"seed": 2' in (model / "whichmodel.json").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "model", "notes.csv"]  # no temp


def test_predict_never_overwrites_its_input(banking77_slice, tmp_path, capsys):
    model = tmp_path / "model"
    assert main(_train(banking77_slice, model)) == 0
    data = tmp_path / "input.csv"
    data.write_bytes(banking77_slice["test"].read_bytes())
    before = data.read_bytes()
    capsys.readouterr()
    assert main(["predict", str(model), str(data), "--text", "text", "--out",
                 str(tmp_path / "." / "input.csv")]) == 2
    assert "is the input file" in _one_error_line(capsys)
    assert data.read_bytes() == before


def test_report_writes_only_html(tmp_path, capsys):
    target = tmp_path / "results.csv"
    target.write_text("keep")
    assert main(["report", str(tmp_path / "runs.sqlite"), "--out", str(target)]) == 2
    assert "ending in .html" in _one_error_line(capsys)
    assert target.read_text() == "keep"


@pytest.mark.parametrize("setting, message", [
    ("C=abc", "tfidf: C must be a number > 0, got 'abc'"),
    ("C=-1", "tfidf: C must be a number > 0, got -1"),
    ("ngram_max=0", "tfidf: ngram_max must be a whole number ≥ 1, got 0"),
    ("ngram_max=1.5", "tfidf: ngram_max must be a whole number ≥ 1, got 1.5"),
    ("class_weight=even", "tfidf: unknown class_weight 'even'; choose one of: none, balanced"),
    ("threshold=1", "tfidf: threshold must be a number > 0 and < 1, got 1"),
])
def test_bad_setting_values_stop_before_training(banking77_slice, tmp_path, capsys, setting,
                                                 message):
    assert main(_train(banking77_slice, tmp_path / "m", "--set", setting)) == 2
    assert _one_error_line(capsys).endswith(message)
    assert not (tmp_path / "m").exists()


def test_one_class_is_a_data_error(tmp_path, capsys):
    data = tmp_path / "one.csv"
    data.write_text("text,label\nhello,x\nhi there,x\n")
    assert main(["train", str(data), "--text", "text", "--label", "label", "--model", "tfidf",
                 "--out", str(tmp_path / "m")]) == 2
    assert "need at least 2 classes to train, found only ['x']" in _one_error_line(capsys)


def test_joined_labels_get_a_label_sep_hint(tmp_path, capsys):
    data = tmp_path / "multi.csv"
    rows = [f"card lost {i},billing|urgent\nhello {i},billing\nwait {i},urgent" for i in range(4)]
    data.write_text("text,label\n" + "\n".join(rows) + "\n")
    assert main(["train", str(data), "--text", "text", "--label", "label", "--model", "tfidf",
                 "--out", str(tmp_path / "m")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "1 label(s) contain '|' (e.g. 'billing|urgent')" in out
    assert "pass --label-sep '|'" in out


@pytest.fixture
def small_ledger(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Ledger(path) as db:
        for seed in (0, 1):
            db.write(RunRecord(key=f"k{seed}", dataset="d", candidate="tfidf", family="tfidf",
                               settings={}, budget="all", seed=seed, n_labels=100,
                               train_seconds=1.0, throughput_items_per_s=1000.0,
                               latency_p95_ms=1.0, accuracy=0.9, macro_f1=0.88))
    return path


@pytest.mark.parametrize("flags, message", [
    (["--volume", "0"], "--volume must be more than 0 items"),
    (["--volume", "1e6", "--max-latency-ms", "-3"], "--max-latency-ms must be more than 0"),
    (["--volume", "1e6", "--label-budget", "-1"],
     "--label-budget must be a whole number of labels, 0 or more"),
    (["--volume", "1e6/week"], "5e6/month, 2e5/day or 6e7/year"),
])
def test_choose_rejects_nonsense_numbers(small_ledger, capsys, flags, message):
    assert main(["choose", str(small_ledger), *flags]) == 2
    assert message in _one_error_line(capsys)


def test_a_closed_pipe_is_not_a_traceback(small_ledger):
    # `whichmodel choose --json | head -c 0`: the reader is gone before anything is written
    read, write = os.pipe()
    os.close(read)
    with os.fdopen(write, "wb") as closed_pipe:
        proc = subprocess.run([sys.executable, "-m", "whichmodel", "choose", str(small_ledger),
                               "--volume", "1e6", "--json"], stdout=closed_pipe,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


def test_unseen_test_labels_stop_or_are_scored_as_misses(banking77_slice, tmp_path, capsys):
    import json

    model = tmp_path / "model"
    assert main(_train(banking77_slice, model)) == 0
    test = banking77_slice["test_df"].copy()
    test.loc[test.index[:5], "category"] = "made_up_intent"
    data = tmp_path / "test.csv"
    test.to_csv(data, index=False)
    args = ["evaluate", str(model), str(data), "--text", "text", "--label", "category"]
    capsys.readouterr()
    assert main(args) == 2
    assert "made_up_intent" in _one_error_line(capsys)
    assert main([*args, "--allow-unseen-labels", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["per_class"]["made_up_intent"]["support"] == 5
    assert metrics["per_class"]["made_up_intent"]["f1"] == 0.0
    per_class_f1 = [v["f1"] for v in metrics["per_class"].values() if v["support"]]
    assert metrics["macro_f1"] == pytest.approx(sum(per_class_f1) / len(per_class_f1))
    assert len(per_class_f1) == 11  # the 10 intents and the one the model cannot know
    assert metrics["accuracy"] <= 0.95  # its 5 rows are wrong by construction


def test_a_failed_replace_puts_the_earlier_model_back(tmp_path, monkeypatch):
    from pathlib import Path

    from whichmodel.models.tfidf import TfidfClassifier

    texts = ["card lost", "card stolen", "refund please", "money back"] * 3
    labels = ["card", "card", "refund", "refund"] * 3
    target = tmp_path / "model"
    TfidfClassifier(seed=1).fit(texts, labels).save(target)
    before = (target / "whichmodel.json").read_text()
    rename = Path.rename

    def failing(self, destination):
        if Path(destination) == target and self.name.startswith(".model-"):  # the new one
            raise OSError(28, "No space left on device")  # ...fails to move in
        return rename(self, destination)

    monkeypatch.setattr(Path, "rename", failing)
    with pytest.raises(OSError, match="No space left"):
        TfidfClassifier(seed=2).fit(texts, labels).save(target)
    assert (target / "whichmodel.json").read_text() == before  # the earlier model, intact
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary folders left


def test_whole_numbers_from_yaml_or_numpy_are_accepted_and_left_as_given(
        banking77_slice, tmp_path, capsys):
    import json

    import numpy as np

    from whichmodel.errors import SettingError
    from whichmodel.models.tfidf import TfidfClassifier

    # `--set max_features=1e5` is the int 100000: scikit-learn would refuse 100000.0
    assert main(_train(banking77_slice, tmp_path / "m", "--set", "max_features=1e5",
                       "--set", "max_iter=2e3")) == 0
    saved = json.loads((tmp_path / "m" / "whichmodel.json").read_text())["settings"]
    assert saved["max_features"] == 100_000 and saved["max_iter"] == 2000
    texts, labels = ["card lost", "refund please", "card stolen", "money back"], \
        ["card", "refund", "card", "refund"]
    settings = {"seed": np.int64(3), "min_df": np.int32(1), "C": np.float32(2.5),
                "sublinear_tf": np.bool_(True)}
    model = TfidfClassifier(**settings).fit(texts, labels)  # a parameter grid's numbers
    assert model.get_params() == {**model.get_params(), **settings}  # fit rewrites nothing
    saved = json.loads((model.save(tmp_path / "np") / "whichmodel.json").read_text())
    assert saved["settings"]["seed"] == 3 and saved["settings"]["C"] == 2.5  # numbers, not "3"
    with pytest.raises(SettingError, match="max_iter must be a whole number ≥ 1, got 2000.0"):
        TfidfClassifier(max_iter=2000.0).fit(texts, labels)

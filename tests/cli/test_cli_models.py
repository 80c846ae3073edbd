"""The CLI end to end on a real Banking77 slice: train → evaluate → predict, and errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from whichmodel.cli import main


def cli(*args: str) -> subprocess.CompletedProcess:
    """Run the real console entry point in a child process (exit codes, stdout, stderr)."""
    return subprocess.run([sys.executable, "-m", "whichmodel", *args], capture_output=True,
                          text=True, timeout=600)


@pytest.mark.parametrize("family", ["tfidf", "embedding"])
def test_train_evaluate_predict(banking77_slice, tmp_path, family):
    model_dir = tmp_path / family
    done = cli("train", str(banking77_slice["train"]), "--text", "text", "--label", "category",
               "--model", family, "--shots", "8", "--seed", "1", "--out", str(model_dir))
    assert done.returncode == 0, done.stderr
    assert (model_dir / "whichmodel.json").is_file()
    meta = json.loads((model_dir / "whichmodel.json").read_text())
    assert meta["training"]["n_examples"] == 80  # 8 shots x 10 intents

    done = cli("evaluate", str(model_dir), str(banking77_slice["test"]), "--text", "text",
               "--label", "category", "--json")
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)  # exactly one JSON object on stdout
    assert metrics["n"] == 100 and metrics["accuracy"] > 0.4
    assert {"accuracy", "macro_f1", "ece", "per_class", "confusion"} <= set(metrics)

    out = tmp_path / "pred.csv"
    done = cli("predict", str(model_dir), str(banking77_slice["test"]), "--text", "text",
               "--out", str(out))
    assert done.returncode == 0, done.stderr
    frame = pd.read_csv(out)
    assert len(frame) == 100 and list(frame.columns) == ["row", "text", "prediction",
                                                         "confidence"]
    assert set(frame.prediction) <= set(banking77_slice["classes"])
    accuracy = (frame.prediction == banking77_slice["test_df"].category).mean()
    assert accuracy == pytest.approx(metrics["accuracy"])


def test_data_error_is_one_line_exit_2(banking77_slice, tmp_path):
    done = cli("train", str(banking77_slice["train"]), "--text", "body", "--label", "category",
               "--model", "tfidf", "--out", str(tmp_path / "m"))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "body" in lines[0] and "text" in lines[0], done.stderr
    assert not (tmp_path / "m").exists()  # nothing half-written


def test_debug_shows_traceback(banking77_slice, tmp_path):
    done = cli("--debug", "train", str(banking77_slice["train"]), "--text", "body", "--label",
               "category", "--model", "tfidf", "--out", str(tmp_path / "m"))
    assert done.returncode == 1 and "Traceback" in done.stderr  # re-raised, as documented


def test_usage_errors_exit_2(banking77_slice, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(banking77_slice["train"]), "--text", "text"])  # no --model/--out
    assert exit_info.value.code == 2
    code = main(["train", str(banking77_slice["train"]), "--text", "text", "--label",
                 "category", "--model", "tfidf", "--backbone", "x", "--out",
                 str(tmp_path / "m")])
    assert code == 2 and "--backbone does not apply" in capsys.readouterr().err


def test_unseen_test_label(banking77_slice, tmp_path):
    train = banking77_slice["train_df"]
    keep = train[train.category != banking77_slice["classes"][0]]
    keep.to_csv(tmp_path / "train.csv", index=False)
    assert main(["train", str(tmp_path / "train.csv"), "--text", "text", "--label",
                 "category", "--model", "tfidf", "--out", str(tmp_path / "m")]) == 0
    done = cli("evaluate", str(tmp_path / "m"), str(banking77_slice["test"]), "--text", "text",
               "--label", "category")
    assert done.returncode == 2 and "never seen in training" in done.stderr
    assert banking77_slice["classes"][0] in done.stderr


def test_help_teaches():
    done = cli("train", "--help")
    assert done.returncode == 0 and "examples:" in done.stdout and "--shots" in done.stdout


def test_train_setfit_from_the_cli(banking77_slice, tmp_path):
    model_dir = tmp_path / "setfit"
    dev = tmp_path / "dev.csv"  # validation rows from the train file, not the test set
    banking77_slice["train_df"].groupby("category").tail(5).to_csv(dev, index=False)
    done = cli("train", str(banking77_slice["train"]), "--text", "text", "--label", "category",
               "--model", "setfit", "--shots", "4", "--backbone", "all-MiniLM-L6-v2",
               "--set", "num_epochs=2", "--set", "batch_size=16", "--eval", str(dev),
               "--out", str(model_dir))
    assert done.returncode == 0, done.stderr
    meta = json.loads((model_dir / "whichmodel.json").read_text())
    assert meta["family"] == "setfit" and meta["settings"]["num_epochs"] == 2
    assert meta["training"]["n_examples"] == 40 and (model_dir / "body").is_dir()
    log = json.loads((model_dir / "setfit.json").read_text())
    assert log["evaluations"][0]["step"] == 0 and len(log["evaluations"]) >= 2
    assert f"kept step {log['best_step']} of {log['steps']}" in done.stdout + done.stderr
    done = cli("evaluate", str(model_dir), str(banking77_slice["test"]), "--text", "text",
               "--label", "category", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["accuracy"] > 0.4


def test_bad_family_setting_and_misplaced_eval_are_one_line_errors(banking77_slice, tmp_path,
                                                                  capsys):
    base = ["train", str(banking77_slice["train"]), "--text", "text", "--label", "category"]
    code = main([*base, "--model", "setfit", "--shots", "2", "--set", "head=torch",
                 "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 2 and "head" in err and "logistic, linear" in err and "Traceback" not in err
    code = main([*base, "--model", "setfit", "--set", "end_to_end_epochs=0.5",
                 "--out", str(tmp_path / "m")])
    assert code == 2 and "end_to_end_epochs must be a whole number" in capsys.readouterr().err
    code = main([*base, "--model", "tfidf", "--eval", str(banking77_slice["train"]),
                 "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 2 and "--eval" in err and "setfit" in err
    assert not (tmp_path / "m").exists()

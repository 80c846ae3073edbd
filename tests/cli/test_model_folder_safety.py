"""Model folders: whichmodel replaces only what it wrote, and a damaged or pickled model is
one line naming the file, never a traceback or an unpickled payload.

Found by a 116-case probe: a folder counted as a model when it merely held a file named
whichmodel.json (then everything in it was replaced), and retraining into an earlier model
folder deleted the training input that lived there.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest

from whichmodel.cli import main


def _train(data, out, *extra, text="text", label="category") -> list[str]:
    return ["train", str(data), "--text", text, "--label", label, "--model", "tfidf",
            "--out", str(out), *extra]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def _tree(folder) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def model(banking77_slice, tmp_path, capsys):
    """A freshly trained tfidf model folder."""
    out = tmp_path / "model"
    assert main(_train(banking77_slice["train"], out)) == 0
    capsys.readouterr()
    return out


def test_a_folder_with_any_whichmodel_json_is_not_a_model(banking77_slice, tmp_path, capsys):
    for content in ("", "{}", '{"format_version": 1}', "not json at all"):
        folder = tmp_path / f"mine{len(content)}"
        folder.mkdir()
        (folder / "whichmodel.json").write_text(content)
        (folder / "thesis.tex").write_text("years of work")
        before = _tree(folder)
        assert main(_train(banking77_slice["train"], folder)) == 2
        assert "not a valid earlier model" in _one_error_line(capsys)
        assert _tree(folder) == before


def test_retraining_never_deletes_a_file_whichmodel_did_not_write(banking77_slice, model,
                                                                  capsys):
    # The training input itself lives in the earlier model's folder.
    data = model / "train.csv"
    data.write_bytes(banking77_slice["train"].read_bytes())
    before = _tree(model)
    assert main(_train(data, model, "--seed", "3")) == 2
    assert "which this command reads" in _one_error_line(capsys)
    assert _tree(model) == before

    # Any other file of the user's, at any depth, blocks the replacement too.
    data.unlink()
    (model / "notes").mkdir()
    (model / "notes" / "todo.md").write_text("mine")
    before = _tree(model)
    assert main(_train(banking77_slice["train"], model, "--seed", "3")) == 2
    assert "did not write (notes/todo.md)" in _one_error_line(capsys)
    assert _tree(model) == before

    # Once the folder again holds only the model, it is replaced whole.
    (model / "notes" / "todo.md").unlink()
    (model / "notes").rmdir()
    assert main(_train(banking77_slice["train"], model, "--seed", "3")) == 0
    meta = json.loads((model / "whichmodel.json").read_text())
    assert meta["settings"]["seed"] == 3
    assert set(meta["files"]) == set(_tree(model)) - {"whichmodel.json"}


def test_a_model_saved_before_file_lists_is_still_replaceable(banking77_slice, model, capsys):
    meta = json.loads((model / "whichmodel.json").read_text())
    del meta["files"]  # as written by whichmodel before this change
    (model / "whichmodel.json").write_text(json.dumps(meta))
    assert main(_train(banking77_slice["train"], model, "--seed", "4")) == 0
    (model / "data.csv").write_text("text,category\n")
    meta = json.loads((model / "whichmodel.json").read_text())
    del meta["files"]
    (model / "whichmodel.json").write_text(json.dumps(meta))
    assert main(_train(banking77_slice["train"], model, "--seed", "5")) == 2
    assert "data.csv" in _one_error_line(capsys)
    assert (model / "data.csv").is_file()


def test_demo_never_writes_into_a_folder_of_the_users(tmp_path, capsys):
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "report.html").write_text("my own report")
    assert main(["demo", "--out", str(folder), "--families", "tfidf"]) == 2
    assert "did not write (report.html)" in _one_error_line(capsys)  # no ledger: not a demo
    assert (folder / "report.html").read_text() == "my own report"
    (folder / "report.html").unlink()
    (folder / "draft.txt").write_text("mine")
    assert main(["demo", "--out", str(folder), "--families", "tfidf"]) == 2
    assert "draft.txt" in _one_error_line(capsys)
    assert sorted(p.name for p in folder.iterdir()) == ["draft.txt"]


def _evaluate(model_dir, banking77_slice) -> list[str]:
    return ["evaluate", str(model_dir), str(banking77_slice["test"]), "--json"]


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage", "other-model",
                                    "nan", "duplicate-class", "not-a-label"])
def test_a_damaged_model_is_one_line_naming_the_file(banking77_slice, model, tmp_path, capsys,
                                                     damage):
    head = model / "head.safetensors"
    meta_path = model / "whichmodel.json"
    if damage == "missing":
        head.unlink()
        expect = "head.safetensors is missing"
    elif damage == "truncated":
        head.write_bytes(head.read_bytes()[:100])
        expect = "head.safetensors has 100 bytes"
    elif damage == "garbage":  # same size, so only the parser notices
        head.write_bytes(b"\xff" * head.stat().st_size)
        expect = "cannot load the saved weights"
    elif damage == "other-model":  # a vocabulary from a model trained on other texts
        other = tmp_path / "other"
        small = tmp_path / "small.csv"
        small.write_text("text,category\nhello there,a\nbye now,b\nhello again,a\n")
        assert main(_train(small, other)) == 0
        (model / "vocabulary.json").write_bytes((other / "vocabulary.json").read_bytes())
        meta = json.loads(meta_path.read_text())
        meta["files"]["vocabulary.json"] = (other / "vocabulary.json").stat().st_size
        meta_path.write_text(json.dumps(meta))
        expect = "do not fit together"
    elif damage == "nan":
        from safetensors.numpy import load_file, save_file

        arrays = load_file(str(head))
        arrays["coef"] = np.full_like(arrays["coef"], np.nan)
        save_file(arrays, str(head))  # same shapes, so the same size
        expect = "NaN or infinite"
    else:
        meta = json.loads(meta_path.read_text())
        meta["classes"][1] = meta["classes"][0] if damage == "duplicate-class" else {"a": 0}
        meta_path.write_text(json.dumps(meta))
        expect = "listed twice" if damage == "duplicate-class" else "is not a label name"
    capsys.readouterr()
    assert main(_evaluate(model, banking77_slice)) == 2
    err = _one_error_line(capsys)
    assert expect in err and "retrain" in err, err


def test_a_pickled_body_is_refused_and_never_unpickled(banking77_slice, model, tmp_path,
                                                       capsys):
    """A setfit folder whose body has only pytorch_model.bin: a pickle that, if loaded,
    would create a file. It must be refused before anything opens it."""
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    folder = tmp_path / "setfit-model"
    folder.mkdir()
    meta = json.loads((model / "whichmodel.json").read_text())
    meta.update(family="setfit", settings={})
    meta.pop("files")
    (folder / "whichmodel.json").write_text(json.dumps(meta))
    for name in ("head.safetensors", "head.json"):
        (folder / name).write_bytes((model / name).read_bytes())
    (folder / "body").mkdir()
    (folder / "body" / "config.json").write_text('{"model_type": "bert"}')
    (folder / "body" / "pytorch_model.bin").write_bytes(pickle.dumps(Payload()))
    assert main(_evaluate(folder, banking77_slice)) == 2
    err = _one_error_line(capsys)
    assert "pytorch_model.bin" in err and "pickle" in err
    assert not marker.exists()


def test_a_local_backbone_with_pickled_weights_is_refused_before_reading_data(
        banking77_slice, tmp_path, capsys):
    body = tmp_path / "my-bert"
    body.mkdir()
    (body / "config.json").write_text("{}")
    (body / "pytorch_model.bin").write_bytes(b"\x80\x04N.")
    args = _train(banking77_slice["train"], tmp_path / "m", "--backbone", str(body))
    args[args.index("tfidf")] = "embedding"
    assert main(args) == 2
    assert "pickle format" in _one_error_line(capsys)
    assert not (tmp_path / "m").exists()


def test_a_mistyped_backbone_stops_at_once_with_a_suggestion(banking77_slice, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "whichmodel", "train", str(banking77_slice["train"]),
         "--text", "text", "--label", "category", "--model", "setfit", "--backbone",
         "all-MiniLM-L6-v3", "--out", str(tmp_path / "m")],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    err = done.stderr.strip()
    assert "\n" not in err and "did you mean 'all-MiniLM-L6-v2'" in err, err


# Labels a hostile (or unlucky) data file can hold: rich markup, a closing tag that used to
# crash rich, a terminal escape that clears the screen, a direction override.
HOSTILE_LABELS = ["[/]", "[bold red]alarm", "\x1b[2Jcleared", "right\u202eleft"]


@pytest.fixture
def hostile_csv(tmp_path):
    import pandas as pd

    texts = {"[/]": "close the tag", "[bold red]alarm": "ring the alarm bell",
             "\x1b[2Jcleared": "wipe the screen", "right\u202eleft": "turn around"}
    rows = [{"text": f"{t} please {i}", "label": label}
            for label, t in texts.items() for i in range(6)]
    path = tmp_path / "hostile.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _assert_inert(output: str) -> None:
    assert "\x1b" not in output and "\u202e" not in output, repr(output)


def test_hostile_labels_are_printed_as_plain_text(hostile_csv, tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "whichmodel", *args],
                              capture_output=True, text=True, timeout=300,
                              env={**__import__("os").environ, "COLUMNS": "200"})

    out = tmp_path / "m"
    done = cli("train", str(hostile_csv), "--text", "text", "--label", "label", "--model",
               "tfidf", "--out", str(out))
    assert done.returncode == 0, done.stderr
    _assert_inert(done.stdout + done.stderr)
    done = cli("evaluate", str(out), str(hostile_csv))  # fields from the saved model
    assert done.returncode == 0, done.stderr
    _assert_inert(done.stdout + done.stderr)
    assert "[/]" in done.stdout and "[bold red]alarm" in done.stdout  # shown, not obeyed
    assert "\\x1b[2Jcleared" in done.stdout
    # An error quoting a hostile label is inert too.
    other = tmp_path / "other.csv"
    other.write_text("text,label\nsomething,\x1b[31mnew\n")
    done = cli("evaluate", str(out), str(other))
    assert done.returncode == 2
    _assert_inert(done.stderr)
    assert "\\x1b[31mnew" in done.stderr


def test_hostile_candidate_names_and_labels_in_bench_and_choose(hostile_csv, tmp_path):
    import yaml

    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "dataset": {"train": str(hostile_csv), "text": "text", "label": "label",
                    "test_size": 0.5},
        "budgets": ["all"], "seeds": [0],
        "candidates": [{"name": "[/]\x1b[2J", "family": "tfidf"},
                       {"name": "[bold]x", "family": "tfidf", "settings": {"C": 0.5}}],
        "scenario": {"min_quality": 0.0}}))
    env = {**__import__("os").environ, "COLUMNS": "200"}
    for args in (["bench", str(spec)], ["choose", str(tmp_path / "spec.sqlite"), "--volume",
                                        "1e6"]):
        done = subprocess.run([sys.executable, "-m", "whichmodel", *args], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        _assert_inert(done.stdout + done.stderr)
    assert "[/]\\x1b[2J" in done.stdout and "[bold]x" in done.stdout


def test_bench_checks_backbones_before_any_run(hostile_csv, tmp_path):
    import yaml

    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "dataset": {"train": str(hostile_csv), "text": "text", "label": "label"},
        "candidates": [{"name": "emb", "family": "embedding",
                        "settings": {"backbone": "all-MiniLM-L6-v3"}}]}))
    done = subprocess.run([sys.executable, "-m", "whichmodel", "bench", str(spec)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "settings.backbone" in done.stderr and "all-MiniLM-L6-v2" in done.stderr
    assert not (tmp_path / "spec.sqlite").exists()

"""Intent + slot data end to end: a .conll file trains a joint model with no --text or
--label, evaluate --json gives the slot figures, predict writes the slots, and a bench
over SLURP-shaped data scores joint and dual on slots for choose --min-slot-f1 and the
report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from whichmodel.slot_data import load_frames
from whichmodel.slots import slot_f1, split_tags

pytestmark = pytest.mark.slow


def run_cli(args: list[str]) -> subprocess.CompletedProcess:
    """The CLI in a new process, at 1 torch thread, as a user runs it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "whichmodel", *args], capture_output=True,
                          text=True, env=env, timeout=900)


@pytest.fixture(scope="module")
def conll_files(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Real SLURP rows of 5 frequent intents written as CoNLL: 30 train, 8 test each."""
    path = shared_data / "slurp" / "devel.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    ds = load_frames(path)
    top = [intent for intent, _ in Counter(ds.labels).most_common(5)]
    folder = tmp_path_factory.mktemp("conll")
    files = {}
    for name, (start, stop) in {"train": (0, 30), "test": (30, 38)}.items():
        lines = []
        for intent in top:
            rows = [i for i, label in enumerate(ds.labels) if label == intent][start:stop]
            for i in rows:
                lines.append(f"# intent = {intent}")
                lines += [f"{w}\t{t}" for w, t in zip(ds.texts[i].split(), ds.slot_tags[i])]
                lines.append("")
        files[name] = folder / f"{name}.conll"
        files[name].write_text("\n".join(lines))
    return files


def test_train_evaluate_predict_a_joint_model_from_conll(conll_files: dict, tmp_path: Path):
    model = tmp_path / "joint"
    result = run_cli(["train", str(conll_files["train"]), "--model", "joint",
                      "--set", "num_epochs=6", "--out", str(model)])
    assert result.returncode == 0, result.stderr
    meta = json.loads((model / "whichmodel.json").read_text())
    assert meta["family"] == "joint" and len(meta["classes"]) == 5

    result = run_cli(["evaluate", str(model), str(conll_files["test"]), "--json"])
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["n"] == 40
    assert metrics["intent_accuracy"] == metrics["accuracy"] > 0.5  # chance is 0.2
    assert 0 <= metrics["frame_accuracy"] <= metrics["intent_accuracy"]

    out = tmp_path / "predictions.jsonl"
    result = run_cli(["predict", str(model), str(conll_files["test"]), "--out", str(out)])
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 40 and all(isinstance(r["slots"], list) for r in rows)
    test = load_frames(conll_files["test"])
    predicted = []
    for row, text in zip(rows, test.texts):
        words = text.split()
        tags = ["O"] * len(words)
        for slot in row["slots"]:
            assert slot["words"] == " ".join(words[slot["start"]:slot["end"]])
            for i in range(slot["start"], slot["end"]):
                tags[i] = ("B-" if i == slot["start"] else "I-") + slot["type"]
        predicted.append(tags)
    # the slots predict writes are the ones evaluate scored
    assert slot_f1(test.slot_tags, predicted) == pytest.approx(metrics["slot_f1"])

    # a table is refused for a slot model, with the fix
    csv = tmp_path / "table.csv"
    csv.write_text("text,label\nhello there,greet\nbye now,leave\n")
    result = run_cli(["train", str(csv), "--text", "text", "--label", "label",
                      "--model", "joint", "--out", str(tmp_path / "no")])
    assert result.returncode == 2 and ".conll" in result.stderr


def test_bench_scores_joint_and_dual_on_slots(conll_files: dict, tmp_path: Path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"""
dataset: {{name: slots, train: {conll_files['train']}, test: {conll_files['test']},
          validation_size: 0}}
budgets: [all]
seeds: [0]
candidates:
  - {{name: joint, family: joint, settings: {{num_epochs: 4}}}}
  - {{name: dual, family: dual, settings: {{num_epochs: 4}}}}
  - {{name: tfidf, family: tfidf}}
measure: {{repeats: 1, throughput_items: 16, latency_samples: 4}}
""")
    ledger = tmp_path / "runs.sqlite"
    result = run_cli(["bench", str(spec), "--ledger", str(ledger)])
    assert result.returncode == 0, result.stderr
    from whichmodel.bench.ledger import read_predictions, read_records

    records = {r.candidate: r for r in read_records(ledger)}
    assert {r.status for r in records.values()} == {"ok"}
    for name in ("joint", "dual"):
        assert {"intent_accuracy", "slot_f1", "frame_accuracy"} <= set(records[name].quality)
        stored = read_predictions(ledger, records[name].key, "test")
        assert all(len(split_tags(t)) == len(x.split()) for t, x in
                   zip(stored.extras["slot_tags"], load_frames(conll_files["test"]).texts))
    assert "slot_f1" not in records["tfidf"].quality
    assert records["tfidf"].quality["intent_accuracy"] == records["tfidf"].quality["accuracy"]

    result = run_cli(["choose", str(ledger), "--min-slot-f1", "0", "--volume", "1e6",
                      "--json"])
    assert result.returncode == 0, result.stderr
    choice = json.loads(result.stdout)
    assert choice["winner"]["candidate"] in ("joint", "dual")  # tfidf has no slot F1
    report = tmp_path / "report.html"
    result = run_cli(["report", str(ledger), "--min-slot-f1", "0", "--volume", "1e6",
                      "--out", str(report)])
    assert result.returncode == 0, result.stderr
    page = report.read_text()
    section = page[page.index('id="slots"'):page.index('id="learning-curves"')]
    assert "joint @ all" in section and "dual @ all" in section and "slot F1" in section

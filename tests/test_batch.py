"""Batch inference reads and writes in chunks, so memory does not grow with the input, and
never leaves half an output file behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from whichmodel.batch import PredictionWriter, predict_file, read_text_chunks
from whichmodel.errors import DataError
from whichmodel.predictor import Predictor


@pytest.fixture(scope="module")
def tfidf_model(banking77_slice):
    import whichmodel

    train = banking77_slice["train_df"]
    return whichmodel.build_classifier("tfidf").fit(train["text"].tolist(),
                                                    train["category"].tolist())


@pytest.fixture(scope="module")
def many_rows(banking77_slice, tmp_path_factory):
    """2,500 real rows (the test slice repeated, with a row id), as CSV, JSONL, Parquet."""
    test = banking77_slice["test_df"]
    frame = pd.concat([test] * 25, ignore_index=True)
    frame.insert(0, "id", range(len(frame)))
    folder = tmp_path_factory.mktemp("many")
    paths = {"csv": folder / "in.csv", "jsonl": folder / "in.jsonl",
             "parquet": folder / "in.parquet"}
    frame.to_csv(paths["csv"], index=False)
    frame.to_json(paths["jsonl"], orient="records", lines=True)
    frame.to_parquet(paths["parquet"], index=False)
    return frame, paths


@pytest.mark.parametrize("source", ["csv", "jsonl", "parquet"])
@pytest.mark.parametrize("target", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_chunked_prediction_equals_predicting_everything_at_once(tfidf_model, many_rows,
                                                                 tmp_path, source, target):
    frame, paths = many_rows
    out = tmp_path / f"out{target}"
    predictor = Predictor(tfidf_model, batch_size=64)
    result = predict_file(predictor, paths[source], "{text} #{id}", out,
                          chunk_rows=300)  # 9 chunks, the last one short
    assert result.n_written == len(frame)
    written = {".csv": pd.read_csv, ".tsv": lambda p: pd.read_csv(p, sep="\t"),
               ".jsonl": lambda p: pd.read_json(p, lines=True),
               ".parquet": pd.read_parquet}[target](out)
    texts = [f"{t} #{i}" for t, i in zip(frame["text"], frame["id"])]
    expected = tfidf_model.predict_proba(texts)
    assert written["text"].tolist() == texts
    assert written["prediction"].tolist() == tfidf_model.decode(expected)
    np.testing.assert_allclose(written["confidence"], expected.max(axis=1), rtol=1e-5)
    # Row numbers are the input's: data rows for CSV/Parquet, file lines for JSON lines.
    assert written["row"].tolist() == list(range(1, len(frame) + 1))
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left


def test_a_bad_row_in_a_late_chunk_leaves_the_old_output_untouched(tfidf_model, many_rows,
                                                                   tmp_path):
    frame, _ = many_rows
    bad = frame.copy()
    bad.loc[2000, "text"] = ""
    source = tmp_path / "bad.csv"
    bad.to_csv(source, index=False)
    out = tmp_path / "out.csv"
    out.write_text("previous results\n")
    with pytest.raises(DataError, match="empty text in row 2001 of"):
        predict_file(tfidf_model, source, "text", out, chunk_rows=300)
    assert out.read_text() == "previous results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "out.csv"]

    result = predict_file(tfidf_model, source, "text", out, chunk_rows=300,
                          drop_invalid=True)
    assert result.n_written == len(frame) - 1 and result.dropped == {"empty text": 1}
    assert 2001 not in pd.read_csv(out)["row"].tolist()


def test_chunks_are_bounded(tfidf_model, many_rows):
    _, paths = many_rows
    for source in paths.values():
        sizes = [len(c.texts) for c in read_text_chunks(source, "text", chunk_rows=700)]
        assert max(sizes) <= 700 and sum(sizes) == 2500, (source, sizes)


def test_stdout_writer_streams_json_lines(tfidf_model):
    import io

    stream = io.StringIO()
    with PredictionWriter(None, stream=stream) as writer:
        writer.write(pd.DataFrame({"row": [1], "text": ["hi"], "prediction": ["a"],
                                   "confidence": np.float32([0.5])}))
    assert json.loads(stream.getvalue()) == {"row": 1, "text": "hi", "prediction": "a",
                                             "confidence": 0.5}


def _cli(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "whichmodel", *args], input=stdin,
                          capture_output=True, text=True, timeout=300)


def test_predict_reads_standard_input_and_remembers_the_text_column(banking77_slice,
                                                                    tmp_path):
    model = tmp_path / "model"
    renamed = tmp_path / "train.csv"
    banking77_slice["train_df"].rename(columns={"text": "utterance"}).to_csv(renamed,
                                                                           index=False)
    done = _cli("train", str(renamed), "--text", "utterance", "--label", "category",
                "--model", "tfidf", "--out", str(model))
    assert done.returncode == 0, done.stderr

    lines = banking77_slice["test_df"]["text"].tolist()[:5]
    done = _cli("predict", str(model), "-", stdin="\n".join(lines[:2]) + "\n\n"
                + "\n".join(lines[2:]) + "\n")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["text"] for r in rows] == lines
    assert [r["row"] for r in rows] == [1, 2, 4, 5, 6]  # line numbers; the blank one skipped
    assert "skipped 1 row(s)" in done.stderr

    # A file with the training column name needs no --text: the model remembers it.
    test = tmp_path / "test.csv"
    banking77_slice["test_df"].rename(columns={"text": "utterance"}).to_csv(test, index=False)
    done = _cli("predict", str(model), str(test), "--out", str(tmp_path / "p.jsonl"))
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 100
    done = _cli("evaluate", str(model), str(test), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["n"] == 100


def test_predict_refuses_to_write_into_the_model_or_an_unwritable_place(banking77_slice,
                                                                        tmp_path):
    model = tmp_path / "model"
    assert _cli("train", str(banking77_slice["train"]), "--text", "text", "--label",
                "category", "--model", "tfidf", "--out", str(model)).returncode == 0
    before = (model / "whichmodel.json").read_bytes()
    for out in (model / "whichmodel.json", model / "preds.csv"):
        done = _cli("predict", str(model), str(banking77_slice["test"]), "--out", str(out))
        assert done.returncode == 2 and "inside the model folder" in done.stderr
    assert (model / "whichmodel.json").read_bytes() == before
    assert not (model / "preds.csv").exists()

    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        done = _cli("predict", str(model), str(banking77_slice["test"]), "--out",
                    str(locked / "sub" / "p.csv"))
        if os.geteuid() != 0:  # root writes anywhere
            assert done.returncode == 2, done.stderr
            assert "cannot write" in done.stderr and "Traceback" not in done.stderr
    finally:
        os.chmod(locked, 0o700)
    done = _cli("predict", str(model), str(banking77_slice["test"]), "--out",
                "/proc/whichmodel-test/p.csv")
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_version():
    from importlib.metadata import version

    done = _cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"whichmodel {version('whichmodel')}"


def test_the_streaming_reader_refuses_what_read_table_refuses(tfidf_model, tmp_path):
    twice = tmp_path / "twice.csv"
    twice.write_text("text,text\nhello,bye\n")
    with pytest.raises(DataError, match="column 'text' appears 2 times in the header"):
        predict_file(tfidf_model, twice, "text", tmp_path / "out.csv")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(DataError, match="is empty"):
        predict_file(tfidf_model, empty, "text", tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()

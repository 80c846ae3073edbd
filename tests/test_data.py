"""The data layer: every reader, templates, multi-label, sampling, splits, and every error."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from whichmodel.data import (
    DataError,
    Dataset,
    check_test_labels,
    few_shot_sample,
    load_dataset,
    render_template,
    split_dataset,
)

ROWS = [
    {"text": "where is my parcel", "label": "shipping"},
    {"text": "refund please", "label": "refund"},
    {"text": "NA", "label": "shipping"},  # "NA" is text, never a missing value
    {"text": "card declined", "label": 2},
]


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def csv_file(tmp_path: Path, body: str, name: str = "reviews.csv") -> Path:
    return write(tmp_path / name, body)


# ----------------------------------------------------------------------------- readers


def check_rows(ds: Dataset, source: Path) -> None:
    assert ds.texts == ["where is my parcel", "refund please", "NA", "card declined"]
    assert ds.labels == ["shipping", "refund", "shipping", "2"]  # always str
    assert ds.source == str(source)
    assert ds.row_numbers == [1, 2, 3, 4]
    assert ds.dropped == {}
    assert not ds.multi_label
    assert ds.classes == ["2", "refund", "shipping"]
    assert ds.class_counts() == {"2": 1, "refund": 1, "shipping": 2}
    assert len(ds) == 4


def test_read_csv(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "text,label\n" + "".join(
        f"{r['text']},{r['label']}\n" for r in ROWS))
    check_rows(load_dataset(path, "text", "label"), path)


def test_read_tsv(tmp_path: Path) -> None:
    path = write(tmp_path / "d.tsv", "text\tlabel\n" + "".join(
        f"{r['text']}\t{r['label']}\n" for r in ROWS))
    check_rows(load_dataset(str(path), "text", "label"), path)


def test_read_json_array(tmp_path: Path) -> None:
    path = write(tmp_path / "d.json", json.dumps(ROWS))
    check_rows(load_dataset(path, "text", "label"), path)


def test_read_jsonl_with_blank_line_counts_file_lines(tmp_path: Path) -> None:
    lines = [json.dumps(r) for r in ROWS]
    path = write(tmp_path / "d.jsonl", "\n".join(lines[:2] + [""] + lines[2:]) + "\n")
    ds = load_dataset(path, "text", "label")
    assert ds.texts[2] == "NA" and ds.labels[3] == "2"
    assert ds.row_numbers == [1, 2, 4, 5]  # JSON lines: line numbers in the file


def test_read_parquet(tmp_path: Path) -> None:
    import pandas as pd

    path = tmp_path / "d.parquet"
    pd.DataFrame([{**r, "label": str(r["label"])} for r in ROWS]).to_parquet(path)
    check_rows(load_dataset(path, "text", "label"), path)


def test_read_hf_saved_directory_with_class_label_names(tmp_path: Path) -> None:
    import datasets

    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["neg", "pos"])})
    hf = datasets.Dataset.from_dict({"text": ["bad", "good", "fine"], "label": [0, 1, 1]},
                                    features=features)
    hf.save_to_disk(str(tmp_path / "saved"))
    ds = load_dataset(tmp_path / "saved", "text", "label")
    assert ds.texts == ["bad", "good", "fine"]
    assert ds.labels == ["neg", "pos", "pos"]  # class ids become their names

    datasets.DatasetDict({"train": hf, "test": hf.select([0])}).save_to_disk(
        str(tmp_path / "dict"))
    assert len(load_dataset(tmp_path / "dict", "text", "label", split="test")) == 1
    with pytest.raises(DataError, match=r"split 'dev' not found .*splits are: train, test"):
        load_dataset(tmp_path / "dict", "text", "label", split="dev")


def test_unlabelled_input_for_prediction(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "text,other\nhello,x\nworld,\n")
    ds = load_dataset(path, "text")
    assert ds.labels is None and ds.classes == [] and ds.class_counts() == {}
    assert ds.texts == ["hello", "world"]


def test_quoted_csv_with_commas_and_newlines(tmp_path: Path) -> None:
    path = csv_file(tmp_path, 'text,label\n"late, again\nand again",a\nok,b\n')
    ds = load_dataset(path, "text", "label")
    assert ds.texts == ["late, again\nand again", "ok"]


# --------------------------------------------------------------------------- templates


def test_template_over_raft_columns(shared_data: Path) -> None:
    path = shared_data / "raft" / "tai_safety_research" / "train.csv"
    ds = load_dataset(path, r"{Title}\n{Abstract Note}", "Label")  # as typed in a shell
    assert len(ds) == 50
    assert ds.classes == ["TAI safety research", "not TAI safety research"]
    assert ds.texts[0].startswith("Malign generalization without internal search\nIn my last")
    assert all("\\n" not in t.split("\n")[0] for t in ds.texts)


def test_template_with_spaces_braces_and_empty_field(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "Title,Abstract Note,label\nA,body,x\nB,,y\n")
    ds = load_dataset(path, r"{{{Title}}}\t{Abstract Note}", "label")
    assert ds.texts == ["{A}\tbody", "{B}"]  # an empty field renders empty, then stripped


def test_render_template() -> None:
    assert render_template(r"{a}\n{b c}", {"a": "x", "b c": None}) == "x\n"
    assert render_template("{a}", {"a": ["p", "q"]}) == "p, q"
    with pytest.raises(DataError, match=r"column 'z'.*columns are: a, b c.*--text"):
        render_template("{z}", {"a": "x", "b c": "y"})


# ------------------------------------------------------------------------- multi-label


def test_multi_label_list_column_jsonl(tmp_path: Path) -> None:
    rows = [{"t": "a", "tags": ["x", "y"]}, {"t": "b", "tags": ["y", "y", 3]}]
    path = write(tmp_path / "m.jsonl", "\n".join(json.dumps(r) for r in rows))
    ds = load_dataset(path, "t", "tags")
    assert ds.multi_label and ds.labels == [["x", "y"], ["y", "3"]]
    assert ds.class_counts() == {"3": 1, "x": 1, "y": 2}


def test_multi_label_list_column_parquet(tmp_path: Path) -> None:
    import pandas as pd

    path = tmp_path / "m.parquet"
    pd.DataFrame({"t": ["a", "b"], "tags": [["x"], ["x", "z"]]}).to_parquet(path)
    ds = load_dataset(path, "t", "tags")
    assert ds.multi_label and ds.labels == [["x"], ["x", "z"]]


def test_multi_label_json_list_strings_in_csv(tmp_path: Path) -> None:
    path = csv_file(tmp_path, 'text,tags\na,"[""x"", ""y""]"\nb,"[""z""]"\n')
    ds = load_dataset(path, "text", "tags")
    assert ds.multi_label and ds.labels == [["x", "y"], ["z"]]


def test_multi_label_label_sep(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "text,tags\na,x|y\nb, z \nc,x||\n")
    ds = load_dataset(path, "text", "tags", label_sep="|")
    assert ds.multi_label and ds.labels == [["x", "y"], ["z"], ["x"]]
    assert ds.classes == ["x", "y", "z"]


# ------------------------------------------------------------------- validation errors


def test_missing_label_column(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "text,stars\nhi,5\n")
    with pytest.raises(DataError) as err:
        load_dataset(path, "text", "label")
    assert str(err.value) == (f"column 'label' not found in {path}; columns are: text, "
                              "stars. Use --label with one of them.")


def test_missing_text_column(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "body,label\nhi,a\n")
    # 'body' is named like a text column, and 'label' is taken by --label.
    with pytest.raises(DataError, match=r"column 'text' not found in .*reviews.csv "
                                        r"\(did you mean 'body'\?\); "
                                        r"columns are: body, label\. Use --text"):
        load_dataset(path, "text", "label")


def test_unknown_template_placeholder(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "Title,Abstract Note,label\nA,b,x\n")
    with pytest.raises(DataError) as err:
        load_dataset(path, "{Title}\n{Abstract}", "label")
    msg = str(err.value)
    assert "'Abstract'" in msg and str(path) in msg
    assert "columns are: Title, Abstract Note, label" in msg and "--text" in msg


def test_empty_text_names_row_column_count_and_fix(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "text,label\nok,a\n,a\n   ,b\nfine,b\n")
    with pytest.raises(DataError) as err:
        load_dataset(path, "text", "label")
    msg = str(err.value)
    assert f"empty text in row 2 of {path} (column 'text')" in msg
    assert "2 invalid rows in all (2 empty text)" in msg
    assert "drop_invalid=True" in msg and "--drop-invalid" in msg


def test_missing_label_names_row_and_fix(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "text,label\nok,a\nhmm,\n")
    with pytest.raises(DataError) as err:
        load_dataset(path, "text", "label")
    msg = str(err.value)
    assert f"missing label in row 2 of {path} (column 'label')" in msg
    assert "--drop-invalid" in msg


def test_drop_invalid_counts_every_reason(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "text,label\nok,a\n,a\nhmm,\n,\nyes,b\nno,\n")
    ds = load_dataset(path, "text", "label", drop_invalid=True)
    assert ds.texts == ["ok", "yes"] and ds.labels == ["a", "b"]
    assert ds.row_numbers == [1, 5]
    assert ds.dropped == {"empty text": 2, "missing label": 2}
    assert split_dataset(Dataset(["x"] * 4, ["a"] * 4, "s", dropped={"r": 1}))[0].dropped \
        == {"r": 1}


def test_everything_dropped_is_an_error(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "text,label\n,a\n")
    with pytest.raises(DataError, match="no rows left .* after dropping .*1 empty text"):
        load_dataset(path, "text", "label", drop_invalid=True)


def test_not_utf8_names_line_and_byte(tmp_path: Path) -> None:
    path = write(tmp_path / "latin.csv", "text,label\nok,a\ncaf\xe9 au lait,b\n".encode("latin1"))
    with pytest.raises(DataError) as err:
        load_dataset(path, "text", "label")
    msg = str(err.value)
    assert f"{path} is not valid UTF-8: line 3, byte 4 is 0xe9" in msg
    assert "iconv -f latin1 -t utf-8" in msg


def test_empty_file_and_header_only(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"empty\.csv is empty"):
        load_dataset(write(tmp_path / "empty.csv", ""), "text", "label")
    with pytest.raises(DataError, match=r"head\.csv has no data rows"):
        load_dataset(write(tmp_path / "head.csv", "text,label\n"), "text", "label")


def test_unsupported_suffix_lists_supported(tmp_path: Path) -> None:
    path = write(tmp_path / "book.xlsx", b"xx")
    with pytest.raises(DataError, match=r"unsupported file type '\.xlsx'; supported are "
                                        r"\.csv, \.tsv, \.jsonl.*\.parquet"):
        load_dataset(path, "text", "label")


def test_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data file '.*nope\.csv' not found .*Check the path"):
        load_dataset(str(tmp_path / "nope.csv"), "text", "label")
    (tmp_path / "folder").mkdir()
    with pytest.raises(DataError, match="is a directory but not one saved with datasets"):
        load_dataset(tmp_path / "folder", "text", "label")


def test_unknown_name_without_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="not a file or directory.*Hugging Face hub"):
        load_dataset("no-such-org/no-such-dataset-xyz", "text", "label")


def test_bad_jsonl_line(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", '{"text": "a", "label": "x"}\n{"text": oops}\n')
    with pytest.raises(DataError, match=r"line 2 of .*d\.jsonl is not valid JSON"):
        load_dataset(path, "text", "label")


def test_split_is_only_for_hf(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "text,label\na,b\n")
    with pytest.raises(DataError, match="only to Hugging Face"):
        load_dataset(path, "text", "label", split="test")


def test_test_label_never_seen_in_training() -> None:
    train = Dataset(["a", "b"], ["x", "y"], "train.csv")
    test = Dataset(["a", "b", "c", "d"], ["x", "z", "w", "z"], "test.csv")
    with pytest.raises(DataError) as err:
        check_test_labels(train, test)
    msg = str(err.value)
    assert "2 label(s) in test.csv never occur in train.csv: 'w' (1 row), 'z' (2 rows)" in msg
    assert "first in row 2" in msg and "add examples" in msg
    check_test_labels(train, Dataset(["a"], ["y"], "ok.csv"))
    check_test_labels(train, Dataset(["a"], None, "unlabelled.csv"))
    multi = Dataset(["a"], [["x", "q"]], "m.csv", multi_label=True)
    with pytest.raises(DataError, match="'q' \\(1 row\\)"):
        check_test_labels(train, multi)


# ------------------------------------------------------------------ few-shot sampling


def make(n_per_class: dict[str, int]) -> Dataset:
    labels = [c for c, n in n_per_class.items() for _ in range(n)]
    return Dataset([f"text {i}" for i in range(len(labels))], labels, "mem")


def test_shots_exact_counts_and_determinism() -> None:
    ds = make({"a": 20, "b": 15, "c": 30})
    one = few_shot_sample(ds, shots=5, seed=0)
    assert one.class_counts() == {"a": 5, "b": 5, "c": 5}
    assert one.texts == few_shot_sample(ds, shots=5, seed=0).texts
    assert one.texts != few_shot_sample(ds, shots=5, seed=1).texts
    assert one.row_numbers == sorted(one.row_numbers)  # source order kept


def test_shots_more_than_a_class_has() -> None:
    with pytest.raises(DataError) as err:
        few_shot_sample(make({"a": 20, "rare": 3}), shots=8)
    msg = str(err.value)
    assert "'rare' has 3" in msg and "Lower --shots to 3" in msg and "--budget" in msg


def test_shots_up_to_takes_all_of_a_small_class() -> None:
    ds = make({"a": 20, "rare": 3})
    sample = few_shot_sample(ds, shots=8, seed=0, up_to=True)
    assert sample.class_counts() == {"a": 8, "rare": 3}
    # classes large enough draw exactly what the strict mode draws
    big = make({"a": 20, "b": 20})
    assert few_shot_sample(big, shots=8, seed=4, up_to=True).texts == \
        few_shot_sample(big, shots=8, seed=4).texts


def test_budget_spread_evenly_and_deterministic() -> None:
    ds = make({"a": 40, "b": 40, "c": 2, "d": 40})
    sample = few_shot_sample(ds, budget=23, seed=0)
    counts = sample.class_counts()
    assert len(sample) == 23 and counts["c"] == 2  # small class capped, rest spread
    assert sorted(counts[c] for c in "abd") == [7, 7, 7]
    counts = few_shot_sample(ds, budget=22, seed=3).class_counts()
    assert sorted(counts.values()) == [2, 6, 7, 7]
    assert few_shot_sample(ds, budget=10, seed=4).texts == \
        few_shot_sample(ds, budget=10, seed=4).texts
    assert few_shot_sample(ds, budget=10, seed=4).texts != \
        few_shot_sample(ds, budget=10, seed=5).texts


def test_budget_smaller_than_classes_and_bad_arguments() -> None:
    ds = make({"a": 5, "b": 5, "c": 5})
    with pytest.raises(DataError, match=r"--budget 2 is smaller than the 3 classes.*"
                                        r"--budget 3 or more"):
        few_shot_sample(ds, budget=2)
    with pytest.raises(DataError, match="exactly one of shots"):
        few_shot_sample(ds, shots=1, budget=3)
    with pytest.raises(DataError, match="exactly one of shots"):
        few_shot_sample(ds)
    with pytest.raises(DataError, match="more than the 15 labelled rows"):
        few_shot_sample(ds, budget=16)
    with pytest.raises(DataError, match="no labels"):
        few_shot_sample(Dataset(["a"], None, "u.csv"), shots=1)


def test_multi_label_sampled_by_first_label() -> None:
    labels = [["a", "b"]] * 6 + [["b"]] * 6
    ds = Dataset([str(i) for i in range(12)], labels, "m", multi_label=True)
    sample = few_shot_sample(ds, shots=2, seed=0)
    assert Counter(ls[0] for ls in sample.labels) == {"a": 2, "b": 2}


def test_duplicate_header_is_an_error_not_a_rename(tmp_path: Path) -> None:
    path = tmp_path / "dupes.csv"
    path.write_text("text,label,text\nhello,a,other\n")
    with pytest.raises(DataError, match=r"column 'text' appears 2 times in the header "
                                        r"\(columns 1, 3\)"):
        load_dataset(path, "text", "label")


def test_multi_label_sample_covers_a_label_never_listed_first() -> None:
    # "rare" is only ever second: sampled by first label it was missed in 15 of 36 draws
    labels = [["x", "rare"]] * 3 + [["x"]] * 6 + [["y"]] * 6 + [[]] * 3
    ds = Dataset([str(i) for i in range(18)], labels, "m", multi_label=True)
    for seed in range(10):
        sample = few_shot_sample(ds, shots=2, seed=seed)
        counts = Counter(c for ls in sample.labels for c in ls)
        assert counts["rare"] == 2 and counts["x"] >= 2 and counts["y"] == 2, (seed, counts)
        assert sum(not ls for ls in sample.labels) == 2  # rows with no label: a stratum too


def test_sampling_on_real_banking77(banking77_slice: dict) -> None:
    ds = load_dataset(banking77_slice["train"], "text", "category")
    sample = few_shot_sample(ds, shots=8, seed=2)
    assert set(sample.class_counts().values()) == {8} and len(sample.classes) == 10


# ----------------------------------------------------------------------------- splits


def test_split_stratified_and_deterministic() -> None:
    ds = make({"a": 50, "b": 30, "c": 20})
    train, test = split_dataset(ds, test_size=0.2, seed=0)
    assert len(test) == 20 and len(train) == 80
    assert test.class_counts() == {"a": 10, "b": 6, "c": 4}
    assert sorted(train.row_numbers + test.row_numbers) == list(range(1, 101))
    assert test.texts == split_dataset(ds, test_size=0.2, seed=0)[1].texts
    assert test.texts != split_dataset(ds, test_size=0.2, seed=1)[1].texts


def test_split_falls_back_when_a_class_is_a_singleton() -> None:
    ds = make({"a": 10, "b": 9, "solo": 1})
    first = split_dataset(ds, test_size=0.25, seed=7)
    again = split_dataset(ds, test_size=0.25, seed=7)
    assert len(first[1]) == 5 and first[1].texts == again[1].texts
    assert sorted(first[0].row_numbers + first[1].row_numbers) == list(range(1, 21))
    with pytest.raises(DataError, match="both parts must be non-empty"):
        split_dataset(make({"a": 1}), test_size=0.5)


def test_split_multi_label_and_unlabelled() -> None:
    ds = Dataset([str(i) for i in range(10)], [["a", "b"]] * 5 + [["b"]] * 5, "m",
                 multi_label=True)
    train, test = split_dataset(ds, test_size=0.4, seed=0)
    assert Counter(ls[0] for ls in test.labels) == {"a": 2, "b": 2} and train.multi_label
    train, test = split_dataset(Dataset([str(i) for i in range(10)], None, "u"), 0.3)
    assert len(test) == 3 and test.labels is None


# ------------------------------------------------------------------------ demo dataset


def test_demo_dataset_is_shipped_and_balanced() -> None:
    from importlib.resources import files

    path = Path(str(files("whichmodel") / "resources" / "demo.csv"))
    assert path.stat().st_size < 100_000
    ds = load_dataset(path, "text", "label")
    counts = ds.class_counts()
    assert len(counts) == 6 and 300 <= len(ds) <= 420
    assert max(counts.values()) - min(counts.values()) <= 6
    assert len({t.lower() for t in ds.texts}) == len(ds)  # no duplicates
    train, test = split_dataset(ds, seed=0)
    check_test_labels(train, test)

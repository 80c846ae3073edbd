"""Readers: a file or dataset name → column names, columns of cells, source row numbers.

One function per format, all returning the same shape, so `whichmodel.data` can map
fields to texts and labels and validate them without caring where they came from.
Supported: CSV, TSV, JSON lines (.jsonl/.ndjson), a JSON array (.json), Parquet, and a
Hugging Face `datasets` folder saved with `save_to_disk` or a hub name. Cells are read as
text (so "NA" stays "NA"); bytes that are not UTF-8 are an error naming the line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from whichmodel.errors import DataError

SUPPORTED_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".parquet")


def read_table(source: str | Path, split: str | None
                ) -> tuple[list[str], dict[str, list[Any]], list[int]]:
    """(column names, column -> normalised values, source row number per row)."""
    path = Path(source)
    if path.is_dir():
        return _read_hf(path, split, from_disk=True)
    suffix = path.suffix.lower()
    if not path.exists():
        if suffix or isinstance(source, Path) or str(source).startswith((".", "/", "~")):
            raise DataError(f"data file {str(source)!r} not found (looked for "
                            f"{path.resolve()}). Check the path.")
        return _read_hf(source, split, from_disk=False)
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(f"cannot read {source}: unsupported file type {suffix or '(none)'!r}; "
                        f"supported are {', '.join(SUPPORTED_SUFFIXES)}, a directory saved "
                        "with datasets' save_to_disk, or a Hugging Face hub dataset name.")
    if split is not None:
        raise DataError(f"split={split!r} applies only to Hugging Face datasets, not to "
                        f"the file {source}. Leave --split out, or pass a file per split.")
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            data = pq.read_table(path).to_pydict()
        except Exception as exc:  # pyarrow raises several unrelated types
            raise DataError(f"cannot read {source} as Parquet: {exc}") from exc
        return _normalise(data, start=1)
    content = _decode(path)
    if not content.strip():
        raise DataError(f"{source} is empty. Point to a file with a header and rows.")
    if suffix in (".csv", ".tsv"):
        return _read_delimited(content, "\t" if suffix == ".tsv" else ",", str(source))
    return _read_json(content, str(source))


def _decode(path: Path) -> str:
    """The file as text, or a DataError naming the line and byte that are not UTF-8."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError(
            f"{path} is not valid UTF-8: line {line}, byte {column} is 0x{raw[exc.start]:02x}. "
            f"Re-save the file as UTF-8, e.g. iconv -f latin1 -t utf-8 {path} > "
            f"{path.stem}.utf8{path.suffix}") from None


def _read_delimited(content: str, sep: str, name: str
                    ) -> tuple[list[str], dict[str, list[Any]], list[int]]:
    import csv
    import io

    import pandas as pd

    header = next(csv.reader(io.StringIO(content), delimiter=sep), [])
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:  # pandas would quietly rename the second one to "<name>.1"
        where = [i + 1 for i, c in enumerate(header) if c == twice[0]]
        raise DataError(f"{name}: column {twice[0]!r} appears {len(where)} times in the "
                        f"header (columns {', '.join(map(str, where))}); rename all but one, "
                        "so it is clear which one --text or --label means")
    try:
        # dtype=str and no NA parsing: "NA", "null" or "0001" are text, exactly as written.
        df = pd.read_csv(io.StringIO(content), sep=sep, dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        detail = " ".join(str(exc).split()).rstrip(".")  # pandas' message spans lines
        raise DataError(f"cannot parse {name}: {detail} (line numbers count the header). "
                        f"Check its quoting and delimiter "
                        f"({'tab' if sep == chr(9) else 'comma'}).") from exc
    return _normalise({str(c): df[c].tolist() for c in df.columns}, start=1)


def _read_json(content: str, name: str) -> tuple[list[str], dict[str, list[Any]], list[int]]:
    """JSON lines (one object per line), or one JSON array of objects."""
    records: list[tuple[int, Any]] = []
    if content.lstrip().startswith("["):
        try:
            records = list(enumerate(json.loads(content), start=1))
        except json.JSONDecodeError as exc:
            raise DataError(f"cannot parse {name} as JSON: {exc}.") from exc
    else:
        for number, line in enumerate(content.splitlines(), start=1):
            if line.strip():
                try:
                    records.append((number, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise DataError(f"line {number} of {name} is not valid JSON ({exc.msg} "
                                    f"at column {exc.colno}). Fix that line; each line must "
                                    "be one JSON object.") from None
    columns: dict[str, None] = {}
    for number, record in records:
        if not isinstance(record, dict):
            raise DataError(f"line {number} of {name} is a JSON {type(record).__name__}, "
                            "not an object. Write one {\"column\": value, ...} per line.")
        columns.update(dict.fromkeys(record))
    data = {c: [record.get(c) for _, record in records] for c in columns}
    names, table, _ = _normalise(data, start=1)
    return names, table, [number for number, _ in records]


def _read_hf(source: str | Path, split: str | None, *, from_disk: bool
             ) -> tuple[list[str], dict[str, list[Any]], list[int]]:
    import datasets

    try:
        if from_disk:
            ds = datasets.load_from_disk(str(source))
        else:
            ds = datasets.load_dataset(str(source), split=split or "train")
    except Exception as exc:  # datasets raises many types (network, missing files, ...)
        where = ("is a directory but not one saved with datasets' save_to_disk" if from_disk
                 else "is not a file or directory, and loading it from the Hugging Face hub "
                 "failed")
        detail = str(exc).strip().rstrip(".")
        check = ("Check the path" if from_disk
                 else "Check the path (no such local file), or the dataset name and your network")
        raise DataError(f"{source} {where}: {detail}. {check}.") from None
    if isinstance(ds, datasets.DatasetDict):
        wanted = split or "train"
        if wanted not in ds:
            raise DataError(f"split {wanted!r} not found in {source}; splits are: "
                            f"{', '.join(ds)}. Use --split with one of them.")
        ds = ds[wanted]
    data = ds.to_dict()
    for column, feature in ds.features.items():
        # Class ids become their names so labels mean the same as in a CSV; -1 = missing.
        names = getattr(feature, "names", None) or getattr(
            getattr(feature, "feature", None), "names", None)
        if names:
            data[column] = [_class_names(v, names) for v in data[column]]
    return _normalise(data, start=1)


def _class_names(value: Any, names: list[str]) -> Any:
    if isinstance(value, list):
        return [names[v] for v in value if v is not None and v >= 0]
    return names[value] if value is not None and value >= 0 else None


def _normalise(data: Mapping[str, list[Any]], start: int
               ) -> tuple[list[str], dict[str, list[Any]], list[int]]:
    """Every cell becomes a str, a list of str, or None (missing: null, NaN or empty)."""
    table = {str(c): [_cell(v) for v in values] for c, values in data.items()}
    n = len(next(iter(table.values()), []))
    return list(table), table, list(range(start, start + n))


def _cell(value: Any) -> str | list[str] | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ndarray":
        return [str(v) for v in value if v is not None and str(v) != ""]
    text = str(value)
    return text if text != "" else None


# ------------------------------------------------------------------ texts and labels

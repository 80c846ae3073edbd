"""Readers: a file or dataset name → column names, columns of cells, source row numbers.

One function per format, all returning the same shape, so `whichmodel.data` can map
fields to texts and labels and validate them without caring where they came from.
Supported: CSV, TSV, JSON lines (.jsonl/.ndjson), a JSON array (.json), Parquet, and a
Hugging Face `datasets` folder saved with `save_to_disk` or a hub name. Cells are read as
text (so "NA" stays "NA"); bytes that are not UTF-8 are an error naming the line. Cells
that are not text (bytes, mappings) are kept as they are, for `whichmodel.data` to refuse
where a text or label is needed: an unused image column must not stop anything.

`file_problem`, `check_regular_file` and `read_text` are shared with the YAML readers
(spec, prices): every path a user names is checked with ``os.stat`` before it is opened.
`csv_separator` and `normalise_columns` serve readers that go chunk by chunk.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from whichmodel.errors import DataError, WhichmodelError, quote

SUPPORTED_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".parquet")
MISSING = "does not exist"
_READ_CHUNK = 2**20
_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
# A .csv whose header is one column holding one of these was probably written with it.
_OTHER_DELIMITERS = ";\t|"
_SNIFF_BYTES = 16384


def file_problem(path: str | Path) -> str | None:
    """None for a regular file; else why not, as words to follow the path in a message
    (`MISSING`, "is a directory", "is not a regular file (a FIFO)", ...).

    Asked with ``os.stat`` before anything opens the path: opening a FIFO with no writer
    blocks forever, /dev/zero never ends, and pathlib raises on a symlink loop."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return MISSING
    except ValueError:  # an embedded NUL byte
        return "is not a valid path (it holds a NUL byte)"
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "is a symlink loop (a link that leads back to itself)"
        return f"cannot be read ({err.strerror or err})"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory"
    kind = next((name for test, name in _KINDS if test(mode)), "not a file")
    return f"is not a regular file ({kind})"


def check_regular_file(path: str | Path, what: str = "data file",
                       error: type[WhichmodelError] = DataError) -> None:
    """One ``error`` line unless ``path`` is a regular file (see `file_problem`)."""
    problem = file_problem(path)
    if problem == MISSING:
        raise error(f"{what} not found: {path}")
    if problem:
        raise error(f"{what} {path} {problem}; give a file")


def read_text(path: str | Path, *, what: str = "data file", limit: int | None = None,
              error: type[WhichmodelError] = DataError) -> str:
    """A regular file's text (UTF-8, BOM allowed), read in chunks and at most ``limit``
    bytes; else one ``error`` line saying what is wrong with the file and the fix."""
    path = Path(path)
    check_regular_file(path, what, error)
    chunks, size = [], 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_READ_CHUNK):
            chunks.append(chunk)
            size += len(chunk)
            if limit is not None and size > limit:
                raise error(f"{what} {path} is over {limit:,} bytes, far more than such "
                            "a file holds; is it the right file?")
    return _decode(b"".join(chunks), path, error)


def read_table(source: str | Path, split: str | None
                ) -> tuple[list[str], dict[str, list[Any]], list[int]]:
    """(column names, column -> normalised values, source row number per row)."""
    path = Path(source)
    problem = file_problem(path)
    if problem == "is a directory":
        return _read_hf(path, split, from_disk=True)
    suffix = path.suffix.lower()
    if problem == MISSING:
        if suffix or isinstance(source, Path) or str(source).startswith((".", "/", "~")):
            raise DataError(f"data file {str(source)!r} not found (looked for "
                            f"{os.path.abspath(path)}). Check the path.")
        return _read_hf(source, split, from_disk=False)
    if problem:
        raise DataError(f"data file {str(source)!r} {problem}; give a file (or a folder "
                        "saved with datasets' save_to_disk).")
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
        return normalise_columns(data, start=1)
    content = read_text(path)
    if not content.strip():
        raise DataError(f"{source} is empty. Point to a file with a header and rows.")
    if suffix in (".csv", ".tsv"):
        return _read_delimited(content, "\t" if suffix == ".tsv" else ",", str(source))
    return _read_json(content, str(source))


def _decode(raw: bytes, path: Path, error: type[WhichmodelError] = DataError) -> str:
    """The bytes as text, or an ``error`` naming the line and byte that are not UTF-8."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise error(
            f"{path} is not valid UTF-8: line {line}, byte {column} is 0x{raw[exc.start]:02x}. "
            f"Re-save the file as UTF-8, e.g. iconv -f latin1 -t utf-8 {path} > "
            f"{path.stem}.utf8{path.suffix}") from None


def check_header(header: list[str], name: str) -> None:
    """A `DataError` when a column name appears twice: pandas would quietly rename the
    second one to "<name>.1", and --text or --label would read one of them unsaid."""
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        where = [i + 1 for i, c in enumerate(header) if c == twice[0]]
        raise DataError(f"{name}: column {twice[0]!r} appears {len(where)} times in the "
                        f"header (columns {', '.join(map(str, where))}); rename all but one, "
                        "so it is clear which one --text or --label means")


def _read_delimited(content: str, sep: str, name: str
                    ) -> tuple[list[str], dict[str, list[Any]], list[int]]:
    import csv
    import io

    import pandas as pd

    sep = _separator(content, sep, name)
    check_header(next(csv.reader(io.StringIO(content), delimiter=sep), []), name)
    try:
        # dtype=str and no NA parsing: "NA", "null" or "0001" are text, exactly as written.
        df = pd.read_csv(io.StringIO(content), sep=sep, dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        detail = " ".join(str(exc).split()).rstrip(".")  # pandas' message spans lines
        raise DataError(f"cannot parse {name}: {detail} (line numbers count the header). "
                        f"Check its quoting and delimiter "
                        f"({_DELIMITER_NAMES.get(sep, repr(sep))}).") from exc
    return normalise_columns({str(c): df[c].tolist() for c in df.columns}, start=1)


_DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}


def csv_separator(path: str | Path) -> str:
    """The delimiter of a .csv/.tsv file, from its first 16 KB (see `_separator`)."""
    path = Path(path)
    check_regular_file(path)
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES + 1)
    text = head[:_SNIFF_BYTES].decode("utf-8-sig", errors="replace")
    if len(head) > _SNIFF_BYTES and "\n" in text:
        text = text[:text.rindex("\n")]  # whole lines only
    return _separator(text, "\t" if path.suffix.lower() == ".tsv" else ",", str(path))


def _separator(content: str, sep: str, name: str) -> str:
    """``sep``, unless a .csv's comma-split header is one column such as 'text;label'
    (Excel in many locales writes ';'): then the delimiter `csv.Sniffer` finds in the
    first lines, or a `DataError` saying what it seems to be, rather than one column."""
    import csv
    import io

    header = next(csv.reader(io.StringIO(content[:_SNIFF_BYTES]), delimiter=sep), [])
    if sep != "," or len(header) != 1 or not any(d in header[0] for d in _OTHER_DELIMITERS):
        return sep
    header = header[0]
    sample = content[:_SNIFF_BYTES]
    if len(content) > len(sample) and "\n" in sample:
        sample = sample[:sample.rindex("\n")]  # whole lines only
    try:
        found = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        found = ","
    if found != "," and len(next(csv.reader([header], delimiter=found))) > 1:
        return found
    seems = next(d for d in _OTHER_DELIMITERS if d in header)
    raise DataError(f"{name}: the header is one column {quote(header)}, so the file seems "
                    f"to be {_DELIMITER_NAMES[seems]}-separated ({seems!r}), not "
                    "comma-separated, but its rows do not say so consistently. Re-save it "
                    "comma-separated (or tab-separated as .tsv).")


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
    names, table, _ = normalise_columns(data, start=1)
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
    return normalise_columns(data, start=1)


def _class_names(value: Any, names: list[str]) -> Any:
    if isinstance(value, list):
        return [names[v] for v in value if v is not None and v >= 0]
    return names[value] if value is not None and value >= 0 else None


def normalise_columns(data: Mapping[str, list[Any]], start: int
               ) -> tuple[list[str], dict[str, list[Any]], list[int]]:
    """Every cell becomes a str, a list of str, or None (missing: null, NaN or empty)."""
    table = {str(c): [_cell(v) for v in values] for c, values in data.items()}
    n = len(next(iter(table.values()), []))
    return list(table), table, list(range(start, start + n))


def _cell(value: Any) -> Any:
    """A str, a list of str, None, or (bytes, a mapping, a list holding those) the value
    itself: str() of those would turn them into "b'...'" texts and "{'a': 0}" classes."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if not _is_scalar(value):
        return value
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ndarray":
        items = [v for v in value if v is not None]
        if not all(_is_scalar(v) and not isinstance(v, (list, tuple)) for v in items):
            return list(items)
        return [str(v) for v in items if str(v) != ""]
    text = str(value)
    return text if text != "" else None


def _is_scalar(value: Any) -> bool:
    """Whether ``str(value)`` is the value as a user would write it (not bytes/mappings)."""
    return not isinstance(value, (bytes, bytearray, memoryview, Mapping))


# ------------------------------------------------------------------ texts and labels

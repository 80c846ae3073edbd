"""The SQLite ledger: one row per finished run key, written atomically, read by everyone.

Why SQLite: a single file next to the report, readable with any tool, and transactions
make "a kill -9 mid-run leaves no partial row" a property of the storage rather than of
our code. A row is inserted only after its run finished (ok or failed), in one
transaction, in WAL mode with ``synchronous=FULL``: a crash at any instant leaves either
the whole row or nothing. The key is the PRIMARY KEY, so a rerun can never duplicate a
row; ``INSERT OR REPLACE`` lets a retried failure become ok.

Columns mirror `RunRecord` field for field (dicts as JSON text), so ``sqlite3 runs.sqlite
'select candidate, budget, accuracy from runs'`` just works. A ledger written by an
older whichmodel gains any new columns (NULL) when opened for writing.

The ledger is often a path typed by hand, so it is checked before SQLite touches it: a
folder, a user's CSV or any other non-SQLite file is refused and left byte for byte as
it was (SQLite would happily turn an empty file into a database). One `whichmodel
bench` writes a ledger at a time (`writer_lock`); readers need no lock (WAL lets them
read while a bench writes; the lock is `whichmodel.bench.lock`).

Meta values, besides ``format`` and ``version``: ``spec`` (JSON of the last spec run,
kept for older readers), ``experiment:<id>`` (what each experiment's data is: files,
content hashes, fields, split), ``spec:<id>`` (each spec's experiment and `prices:`
overrides, so every experiment is priced by the specs that asked about it) and
``legacy-spec`` (the ``spec`` of an older ledger, kept for its older rows).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from whichmodel.bench.record import RunRecord
from whichmodel.errors import WhichmodelError
from whichmodel.predictions import Predictions

FORMAT = "whichmodel-ledger"
FORMAT_VERSION = 1
_TABLE = "runs"
# Per-item predictions of each run on its evaluation splits: (key, split) -> .npz bytes
# (`whichmodel.predictions.Predictions.to_bytes`), written with the run's row.
_PREDICTIONS = "predictions"
_PREDICTIONS_DDL = (f"CREATE TABLE IF NOT EXISTS {_PREDICTIONS} (key TEXT NOT NULL, "
                    "split TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (key, split))")
# The true labels of each experiment's evaluation splits (JSON list, in item order; for
# intent + slot data an object {"labels": [...], "truth": {"slot_tags": [...]}}), so
# stored predictions can be scored (and bootstrapped) from the ledger alone.
_LABELS = "labels"
_LABELS_DDL = (f"CREATE TABLE IF NOT EXISTS {_LABELS} (experiment TEXT NOT NULL, split TEXT "
               "NOT NULL, data TEXT NOT NULL, PRIMARY KEY (experiment, split))")
SPEC_PREFIX = "spec:"              # meta "spec:<spec id>": one spec's experiment and prices
EXPERIMENT_PREFIX = "experiment:"  # meta "experiment:<id>": what the experiment's data is
LEGACY_SPEC = "legacy-spec"        # meta: the last spec of an older ledger, for its old rows
_SQLITE_HEADER = b"SQLite format 3\x00"
_LEDGER_SUFFIXES = (".sqlite", ".sqlite3", ".db")
# Seconds SQLite waits for another connection's write lock before "database is locked".
_BUSY_TIMEOUT_S = 30.0


class LedgerError(WhichmodelError):
    """The ledger path cannot be used: a folder, someone else's file, not writable."""


class LedgerBusyError(LedgerError):
    """Another process holds the ledger: a running bench, or a program's open write."""


def _column_type(annotation: Any) -> str:
    text = str(annotation)
    if text.startswith("dict"):
        return "TEXT"  # JSON
    if "float" in text:
        return "REAL"
    if "int" in text:
        return "INTEGER"
    return "TEXT"


_COLUMNS: dict[str, str] = {f.name: _column_type(f.type) for f in dataclasses.fields(RunRecord)}
_JSON_COLUMNS = {name for name, f in ((f.name, f) for f in dataclasses.fields(RunRecord))
                 if str(f.type).startswith("dict")}


def _connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    if read_only:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                               timeout=_BUSY_TIMEOUT_S)
    else:
        conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S)
    conn.row_factory = sqlite3.Row
    return conn


def _sqlite_error(err: sqlite3.Error, path: Path, doing: str) -> WhichmodelError:
    """One line for an SQLite failure, naming the ledger and what to do about it."""
    text = str(err)
    if "locked" in text or "busy" in text:
        return LedgerBusyError(
            f"{path} is locked by another program ({text}) while {doing}; close whatever "
            "has it open for writing (an sqlite3 shell, a DB browser, another whichmodel) "
            "and rerun")
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return LedgerError(f"cannot write {path} ({text}) while {doing}; make the file and "
                           f"its folder {path.parent} writable, or choose another --ledger")
    if "full" in text:
        return LedgerError(f"{path}: {text} while {doing}; free disk space and rerun (finished "
                           "runs are kept)")
    return LedgerError(f"{path} is not a usable whichmodel ledger ({text}) while {doing}; "
                       "choose another --ledger path")


def _folder_hint(path: Path) -> str:
    """`` (ledgers in it: a.sqlite, b.sqlite)`` for a folder given as a ledger, or ``""``."""
    try:
        names = sorted(p.name for p in path.iterdir() if p.suffix in _LEDGER_SUFFIXES)
    except OSError:
        return ""
    return f" (ledgers in it: {', '.join(names[:5])})" if names else ""


def prepare_for_writing(path: str | Path) -> Path:
    """Check that ``path`` can become (or already is) a ledger, creating its folder; never
    changes an existing file. Raises `LedgerError` naming the path and the fix."""
    path = Path(path)
    if path.is_dir():
        raise LedgerError(f"{path} is a folder, not a ledger file; give a file name such as "
                          f"{path / 'runs.sqlite'}{_folder_hint(path)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise LedgerError(f"cannot create the ledger's folder {path.parent} "
                          f"({err.strerror or err}); choose another --ledger path") from None
    if not path.exists():
        return path
    if not path.is_file():
        raise LedgerError(f"{path} is not a regular file; choose another --ledger path")
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(_SQLITE_HEADER))
    except OSError as err:
        raise LedgerError(f"cannot read {path} ({err.strerror or err}); choose another "
                          "--ledger path") from None
    if head and head != _SQLITE_HEADER:
        raise LedgerError(f"{path} exists and is not a whichmodel ledger (not an SQLite file); "
                          "it was left untouched: choose another --ledger path")
    if not head and path.suffix.lower() not in _LEDGER_SUFFIXES:
        raise LedgerError(f"{path} is an existing empty file not named like a ledger "
                          f"({', '.join(_LEDGER_SUFFIXES)}); it was left untouched: delete it "
                          "or choose another --ledger path")
    return path


def _check_format(conn: sqlite3.Connection, path: Path) -> bool:
    """True if ``conn`` is a whichmodel ledger, False if empty; raises if it is something else."""
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as err:
        raise WhichmodelError(f"{path} is not a whichmodel ledger ({err}); pass the .sqlite "
                              "file written by `whichmodel bench`") from None
    if not tables:
        return False
    if "meta" in tables:
        meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
        if meta.get("format") == FORMAT:
            version = int(meta.get("version", 0))
            if version > FORMAT_VERSION:
                raise WhichmodelError(f"{path} was written by a newer whichmodel (ledger "
                                      f"version {version}); upgrade whichmodel to read it")
            return True
    raise WhichmodelError(f"{path} is an SQLite file but not a whichmodel ledger (tables: "
                          f"{', '.join(sorted(tables))}); choose another --ledger path")


def _row_to_record(row: sqlite3.Row) -> RunRecord:
    data = dict(row)
    for name in _JSON_COLUMNS:
        if data.get(name) is not None:
            data[name] = json.loads(data[name])
        else:
            data.pop(name, None)
    return RunRecord.from_dict(data)


class Ledger:
    """Read/write access to one ledger file; creates it (and its folder) on first use.

    An existing file is first checked without writing (`prepare_for_writing`, then a
    read-only SQLite connection), so a file that is not a ledger is refused unchanged.
    SQLite errors (locked, read-only, disk full) become one-line `LedgerError` messages.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = prepare_for_writing(path)
        if self.path.is_file() and self.path.stat().st_size:
            self._check_read_only()
        try:
            self._conn = _connect(self.path)
        except sqlite3.Error as err:
            raise _sqlite_error(err, self.path, "opening it") from None
        try:
            if not _check_format(self._conn, self.path):
                self._create()
            self._conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed row survives even a power cut, not only a killed process.
            self._conn.execute("PRAGMA synchronous=FULL")
            self._add_missing_columns()
        except sqlite3.Error as err:
            self._conn.close()
            raise _sqlite_error(err, self.path, "opening it") from None
        except BaseException:
            self._conn.close()
            raise

    def _check_read_only(self) -> None:
        try:
            conn = _connect(self.path, read_only=True)
        except sqlite3.Error as err:
            raise _sqlite_error(err, self.path, "checking it") from None
        try:
            _check_format(conn, self.path)
        except sqlite3.Error as err:
            raise _sqlite_error(err, self.path, "checking it") from None
        finally:
            conn.close()

    def _create(self) -> None:
        cols = ", ".join(f"{name} {kind}" + (" PRIMARY KEY" if name == "key" else "")
                         for name, kind in _COLUMNS.items())
        with self._conn:
            self._conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, "
                               "value TEXT)")
            self._conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                   [("format", FORMAT), ("version", str(FORMAT_VERSION))])
            self._conn.execute(f"CREATE TABLE IF NOT EXISTS {_TABLE} ({cols})")
            self._conn.execute(_PREDICTIONS_DDL)
            self._conn.execute(_LABELS_DDL)

    def _add_missing_columns(self) -> None:
        present = {r[1] for r in self._conn.execute(f"PRAGMA table_info({_TABLE})")}
        with self._conn:
            self._conn.execute(_PREDICTIONS_DDL)  # ledgers from before stored predictions
            self._conn.execute(_LABELS_DDL)
            for name, kind in _COLUMNS.items():
                if name not in present:
                    self._conn.execute(f"ALTER TABLE {_TABLE} ADD COLUMN {name} {kind}")

    # -- queries -------------------------------------------------------------------------
    def status(self, key: str) -> str | None:
        """"ok", "failed", or None when ``key`` has no row."""
        row = self._conn.execute(f"SELECT status FROM {_TABLE} WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def has(self, key: str) -> bool:
        """True when ``key`` has a row (finished ok or failed)."""
        return self.status(key) is not None

    def records(self) -> list[RunRecord]:
        """Every row, oldest first."""
        rows = self._conn.execute(f"SELECT * FROM {_TABLE} ORDER BY created_at, key")
        return [_row_to_record(r) for r in rows]

    def meta(self) -> dict[str, str]:
        """Every ledger-wide value (see the module docstring)."""
        return dict(self._conn.execute("SELECT name, value FROM meta").fetchall())

    def __len__(self) -> int:
        return int(self._conn.execute(f"SELECT COUNT(*) FROM {_TABLE}").fetchone()[0])

    def predictions(self, key: str, split: str = "test") -> Predictions | None:
        """The stored per-item predictions of run ``key`` on ``split``, or None."""
        return _load_predictions(self._conn, key, split)

    # -- writing -------------------------------------------------------------------------
    def write(self, record: RunRecord,
              predictions: Mapping[str, Predictions] | None = None, *,
              keep_predictions: bool = False) -> None:
        """Insert (or replace) the row of ``record.key``, and its per-item predictions by
        split (``{"test": ...}``), in one transaction: both or neither. With
        ``keep_predictions`` the stored predictions stay as they are (a re-measured row)."""
        data = record.to_dict()
        for name in _JSON_COLUMNS:
            data[name] = json.dumps(data[name], sort_keys=True, default=str)
        names = list(_COLUMNS)
        sql = (f"INSERT OR REPLACE INTO {_TABLE} ({', '.join(names)}) "
               f"VALUES ({', '.join('?' for _ in names)})")
        blobs = [(record.key, split, p.to_bytes()) for split, p in (predictions or {}).items()]
        try:
            with self._conn:  # commits, or rolls back on any error: never half a row
                self._conn.execute(sql, [data[n] for n in names])
                if keep_predictions:
                    return
                self._conn.execute(f"DELETE FROM {_PREDICTIONS} WHERE key = ?", (record.key,))
                self._conn.executemany(f"INSERT INTO {_PREDICTIONS} VALUES (?, ?, ?)", blobs)
        except sqlite3.OperationalError as err:
            raise _sqlite_error(err, self.path, "writing a run") from None

    def write_labels(self, experiment: str, split: str, labels: list[Any],
                     truth: dict[str, list[Any]] | None = None) -> None:
        """Store the true labels of ``split`` of ``experiment`` (item order), and the rest
        of its truth (``truth``: gold slot tags) when there is any."""
        data = ({"labels": list(labels), "truth": truth} if truth else list(labels))
        try:
            with self._conn:
                self._conn.execute(f"INSERT OR REPLACE INTO {_LABELS} VALUES (?, ?, ?)",
                                   (experiment, split, json.dumps(data)))
        except sqlite3.OperationalError as err:
            raise _sqlite_error(err, self.path, "writing labels") from None

    def set_meta(self, name: str, value: str) -> None:
        """Store a ledger-wide value (e.g. "spec": the last spec run into it, as JSON)."""
        self.update_meta({name: value})

    def update_meta(self, values: dict[str, str]) -> None:
        """Store several ledger-wide values in one transaction."""
        try:
            with self._conn:
                self._conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                       list(values.items()))
        except sqlite3.OperationalError as err:
            raise _sqlite_error(err, self.path, "writing its meta table") from None

    def close(self) -> None:
        """Close the connection (rows are already committed)."""
        self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_predictions(path: str | Path, key: str, split: str = "test") -> Predictions:
    """The stored predictions of run ``key`` on ``split`` in the ledger at ``path``; a
    `WhichmodelError` when the run has none (failed, or run by an older whichmodel)."""
    path = Path(path)
    _read(path)  # the same checks and messages as every reader
    conn = _connect(path, read_only=True)
    try:
        found = _load_predictions(conn, key, split)
    finally:
        conn.close()
    if found is None:
        raise WhichmodelError(f"{path}: run {key} has no stored predictions on {split!r} (it "
                              "failed, or an older whichmodel ran it); run the bench again "
                              "to store them")
    return found


def read_labels(path: str | Path, experiment: str, split: str = "test") -> list[Any] | None:
    """The true labels of ``split`` of ``experiment`` stored in the ledger, or None (an
    older ledger, or no such split)."""
    return read_evidence(path, experiment, [], split)[0]


def read_evidence(path: str | Path, experiment: str, keys: Sequence[str],
                  split: str = "test") -> tuple[list[Any] | None, list[Predictions] | None]:
    """(true labels of ``split`` of ``experiment``, stored predictions of each run in
    ``keys``) from one read-only connection; None for what the ledger does not hold (an
    older ledger, a failed run). What a confirmation on test reads."""
    path = Path(path)
    _read(path)  # the same checks and messages as every reader
    conn = _connect(path, read_only=True)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        row = None if _LABELS not in tables else conn.execute(
            f"SELECT data FROM {_LABELS} WHERE experiment = ? AND split = ?",
            (experiment, split)).fetchone()
        runs = [_load_predictions(conn, key, split) for key in keys]
    finally:
        conn.close()
    labels = None if row is None else json.loads(row[0])
    if isinstance(labels, dict):  # labels with more truth: intent + slot data
        from whichmodel.metrics import TruthLabels

        labels = TruthLabels(labels["labels"], labels["truth"])
    return labels, (None if any(r is None for r in runs) else runs)


def _load_predictions(conn: sqlite3.Connection, key: str, split: str) -> Predictions | None:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if _PREDICTIONS not in tables:
        return None
    row = conn.execute(f"SELECT data FROM {_PREDICTIONS} WHERE key = ? AND split = ?",
                       (key, split)).fetchone()
    return None if row is None else Predictions.from_bytes(bytes(row[0]))


def read_records(path: str | Path) -> list[RunRecord]:
    """All rows of the ledger at ``path``; `WhichmodelError` if missing or not a ledger."""
    return _read(Path(path))[0]


def read_meta(path: str | Path) -> dict[str, str]:
    """Ledger-wide values (see the module docstring): ``format``, ``version``, ``spec``
    (JSON of the last spec run into it), ``experiment:<id>``, ``spec:<id>``."""
    return _read(Path(path))[1]


def read_ledger(path: str | Path) -> tuple[list[RunRecord], dict[str, str]]:
    """(rows, meta) of the ledger at ``path``, read in one read-only transaction."""
    return _read(Path(path))


def _read(path: Path) -> tuple[list[RunRecord], dict[str, str]]:
    if path.is_dir():
        raise WhichmodelError(f"{path} is a folder, not a ledger; pass the .sqlite file "
                              f"`whichmodel bench` wrote{_folder_hint(path)}")
    if not path.is_file():
        raise WhichmodelError(f"ledger not found: {path}; run `whichmodel bench SPEC.yaml` "
                              "first (it writes <spec>.sqlite next to the spec)")
    try:
        conn = _connect(path, read_only=True)
    except sqlite3.Error as err:
        raise WhichmodelError(f"cannot open ledger {path}: {err}") from None
    try:
        if not _check_format(conn, path):
            raise WhichmodelError(f"{path} is an empty SQLite file, not a whichmodel ledger")
        with conn:  # one snapshot: rows and meta agree even while a bench writes
            conn.execute("BEGIN")
            rows = conn.execute(f"SELECT * FROM {_TABLE} ORDER BY created_at, key").fetchall()
            meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
        return [_row_to_record(r) for r in rows], meta
    except sqlite3.OperationalError as err:
        if "locked" in str(err) or "busy" in str(err):
            raise _sqlite_error(err, path, "reading it") from None
        raise WhichmodelError(f"{path} is not a readable whichmodel ledger ({err})") from None
    except sqlite3.DatabaseError as err:
        raise WhichmodelError(f"{path} is not a readable whichmodel ledger ({err})") from None
    finally:
        conn.close()


def meta_entries(meta: dict[str, str], prefix: str) -> dict[str, dict[str, Any]]:
    """The JSON meta values named ``<prefix><id>``, by id; unreadable ones are skipped (a
    damaged description must not stop choose from reading the runs)."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in meta.items():
        if name.startswith(prefix):
            try:
                data = json.loads(value)
            except (TypeError, ValueError):
                continue
            if isinstance(data, dict):
                out[name[len(prefix):]] = data
    return out

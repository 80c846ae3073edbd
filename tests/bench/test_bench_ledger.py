"""The ledger: one row per key, atomic writes, resumable, readable by others."""

from __future__ import annotations

import os
import sqlite3

import pytest

from whichmodel.bench.ledger import Ledger, read_records
from whichmodel.bench.record import RunRecord
from whichmodel.errors import WhichmodelError


def _record(key: str, status: str = "ok", **fields) -> RunRecord:
    return RunRecord(key=key, dataset="d", candidate="c", family="tfidf",
                     settings={"C": 1.0}, budget="8/class", seed=1, status=status,
                     accuracy=0.9 if status == "ok" else None,
                     metrics={"per_class": {"a": {"f1": 1.0}}}, environment={"python": "3"},
                     created_at=fields.pop("created_at", "2026-01-01T00:00:00+00:00"),
                     **fields)


def test_write_read_round_trip(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Ledger(path) as ledger:
        ledger.write(_record("k1"))
        ledger.write(_record("k2", status="failed", error="ValueError: boom"))
        assert ledger.status("k1") == "ok" and ledger.status("k2") == "failed"
        assert ledger.has("k1") and not ledger.has("k3") and ledger.status("k3") is None
    rows = read_records(path)
    assert [r.key for r in rows] == ["k1", "k2"]
    assert rows[0] == _record("k1")  # dict fields come back as dicts
    assert rows[1].error == "ValueError: boom"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # plain SQL works for users: columns mirror RunRecord
    assert conn.execute("SELECT accuracy FROM runs WHERE key='k1'").fetchone()[0] == 0.9


def test_rewrite_replaces_never_duplicates(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Ledger(path) as ledger:
        ledger.write(_record("k1", status="failed", error="OSError: flaky"))
        ledger.write(_record("k1", created_at="2026-01-02T00:00:00+00:00"))
        assert len(ledger) == 1 and ledger.status("k1") == "ok"
    with Ledger(path) as again:  # reopening an existing ledger keeps its rows
        assert [r.created_at for r in again.records()] == ["2026-01-02T00:00:00+00:00"]


def test_failed_write_leaves_no_row(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Ledger(path) as ledger:
        bad = _record("k1")
        bad.metrics = {"x": object()}  # json default=str copes; break the SQL instead
        bad.seed = object()  # type: ignore[assignment]  # not bindable by sqlite3
        with pytest.raises(sqlite3.Error):
            ledger.write(bad)
        assert len(ledger) == 0
        ledger.write(_record("k2"))
        assert len(ledger) == 1


def test_read_records_errors(tmp_path):
    with pytest.raises(WhichmodelError, match="ledger not found"):
        read_records(tmp_path / "missing.sqlite")
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database at all, just some text " * 50)
    with pytest.raises(WhichmodelError, match="not a whichmodel ledger"):
        read_records(text)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(WhichmodelError, match="not a whichmodel ledger"):
        read_records(other)
    with pytest.raises(WhichmodelError, match="not a whichmodel ledger"):
        Ledger(other)


def test_old_ledger_gains_new_columns(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Ledger(path) as ledger:
        ledger.write(_record("k1"))
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE runs DROP COLUMN api_model")  # as if written before it existed
    conn.commit()
    conn.close()
    assert read_records(path)[0].api_model is None
    with Ledger(path) as ledger:
        ledger.write(_record("k2", api_model="gpt-4o-mini"))
    assert [r.api_model for r in read_records(path)] == [None, "gpt-4o-mini"]


def test_meta_keeps_the_last_spec(tmp_path):
    from whichmodel.bench.ledger import read_meta

    path = tmp_path / "runs.sqlite"
    with Ledger(path) as ledger:
        ledger.set_meta("spec", '{"scenario": {}}')
    meta = read_meta(path)
    assert meta["format"] == "whichmodel-ledger" and meta["spec"] == '{"scenario": {}}'


# -- hostile paths: one line, and a user's file is never touched --------------------------
def test_a_folder_is_refused_by_writers_and_readers(tmp_path):
    from whichmodel.bench.ledger import LedgerError

    (tmp_path / "runs.sqlite").write_bytes(b"")
    with pytest.raises(LedgerError, match="is a folder, not a ledger file; give a file name"):
        Ledger(tmp_path)
    with pytest.raises(WhichmodelError, match=r"is a folder, not a ledger; .*runs\.sqlite"):
        read_records(tmp_path)


@pytest.mark.parametrize(("name", "content"), [
    ("labels.csv", b"text,label\nhello,a\n"),
    ("notes.txt", b""),                        # SQLite would make an empty file a database
    ("config.json", b'{"a": 1}'),
    ("big.sqlite", b"\x00" * 5000),           # named like a ledger, but not SQLite
])
def test_a_users_file_is_refused_and_left_byte_for_byte(tmp_path, name, content):
    from whichmodel.bench.ledger import LedgerError
    from whichmodel.bench.lock import writer_lock

    path = tmp_path / name
    path.write_bytes(content)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(LedgerError, match="left untouched"):
        Ledger(path)
    with pytest.raises(LedgerError, match="left untouched"):
        with writer_lock(path):
            pass
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no -wal, -shm, .lock


def test_an_empty_sqlite_named_file_becomes_a_ledger(tmp_path):
    path = tmp_path / "runs.sqlite"
    path.touch()  # `touch runs.sqlite` before the first bench
    with Ledger(path) as ledger:
        ledger.write(_record("k1"))
    assert [r.key for r in read_records(path)] == ["k1"]


def test_a_folder_that_cannot_be_created_is_one_line(tmp_path):
    from whichmodel.bench.ledger import LedgerError

    (tmp_path / "file").write_text("x")
    with pytest.raises(LedgerError, match="cannot create the ledger's folder"):
        Ledger(tmp_path / "file" / "sub" / "runs.sqlite")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only folders")
def test_a_read_only_folder_is_one_line(tmp_path):
    from whichmodel.bench.ledger import LedgerError
    from whichmodel.bench.lock import writer_lock

    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(LedgerError, match="must be writable"):
            with writer_lock(folder / "runs.sqlite"):
                pass
        with pytest.raises(LedgerError, match="writable"):
            Ledger(folder / "runs.sqlite")
    finally:
        folder.chmod(0o700)


def test_database_is_locked_becomes_one_line(tmp_path, monkeypatch):
    from whichmodel.bench import ledger as ledger_module

    monkeypatch.setattr(ledger_module, "_BUSY_TIMEOUT_S", 0.05)
    path = tmp_path / "runs.sqlite"
    with Ledger(path) as ledger:
        ledger.write(_record("k1"))
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")  # e.g. a DB browser with unsaved changes
        try:
            with pytest.raises(ledger_module.LedgerBusyError,
                               match="is locked by another program .*close"):
                ledger.write(_record("k2"))
        finally:
            other.execute("ROLLBACK")
            other.close()
        ledger.write(_record("k2"))  # and works again once the other writer let go
    assert len(read_records(path)) == 2


# -- one writer at a time ------------------------------------------------------------------
def test_writer_lock_refuses_a_second_holder_and_cleans_up(tmp_path):
    import fcntl

    from whichmodel.bench.ledger import LedgerBusyError
    from whichmodel.bench.lock import lock_path, writer_lock

    path = tmp_path / "runs.sqlite"
    with writer_lock(path):
        assert lock_path(path).read_text().strip() == str(os.getpid())
        with pytest.raises(LedgerBusyError, match=rf"another `whichmodel bench` \(pid "
                                                  rf"{os.getpid()}\) is writing to"):
            with writer_lock(path):
                pass
        # any flock holder counts, e.g. a bench of another whichmodel version
        with open(lock_path(path)) as handle:
            with pytest.raises(BlockingIOError):
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert not lock_path(path).exists()  # no file left behind on a normal exit


def test_a_stale_lock_file_blocks_no_one(tmp_path):
    from whichmodel.bench.lock import lock_path, writer_lock

    path = tmp_path / "runs.sqlite"
    lock_path(path).write_text("999999\n")  # left by a bench killed with -9
    with writer_lock(path):
        assert lock_path(path).read_text().strip() == str(os.getpid())
    assert not lock_path(path).exists()


def test_writer_lock_held_by_another_process(tmp_path):
    import subprocess
    import sys

    from whichmodel.bench.ledger import LedgerBusyError
    from whichmodel.bench.lock import writer_lock

    path = tmp_path / "runs.sqlite"
    script = ("import sys; from whichmodel.bench.lock import writer_lock\n"
              "with writer_lock(sys.argv[1]):\n"
              "    print('locked', flush=True); sys.stdin.read()\n")
    child = subprocess.Popen([sys.executable, "-c", script, str(path)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(LedgerBusyError, match=rf"\(pid {child.pid}\) is writing to "
                                                  rf".*runs\.sqlite; wait for it or use "
                                                  "another --ledger"):
            with writer_lock(path):
                pass
    finally:
        child.communicate("", timeout=30)
    with writer_lock(path):  # free once the other bench has finished
        pass


def test_a_lock_file_that_cannot_be_created_is_one_line(tmp_path, monkeypatch):
    """What a read-only folder gives a non-root user (root, running these tests in CI
    containers, may write anywhere)."""
    from whichmodel.bench import lock as lock_module
    from whichmodel.bench.ledger import LedgerError

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(lock_module.os, "open", refuse)
    with pytest.raises(LedgerError, match=r"cannot create the lock file .*"
                                                        r"runs\.sqlite\.lock \(Permission "
                                                        r"denied\); .* must be writable"):
        with lock_module.writer_lock(tmp_path / "runs.sqlite"):
            pass

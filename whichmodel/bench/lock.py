"""One writer per ledger: the exclusive lock a `whichmodel bench` holds while it runs.

Two benches on one ledger would both run every unfinished key (twice the compute, and the
last writer's timings win), so a bench holds ``flock`` on ``<ledger>.lock``. Readers
(choose, report) never take it: SQLite's WAL lets them read while a bench writes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from whichmodel.bench.ledger import LedgerBusyError, LedgerError, prepare_for_writing


def lock_path(path: str | Path) -> Path:
    """``runs.sqlite`` -> ``runs.sqlite.lock``: the file `writer_lock` locks."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def writer_lock(path: str | Path) -> Iterator[None]:
    """Hold the ledger's exclusive writer lock, or raise `LedgerBusyError` at once.

    Two benches on one ledger would both run every unfinished key (twice the compute, and
    the last writer's timings win), so a bench holds ``flock`` on ``<ledger>.lock``, with
    its pid written in it for the message, for as long as it runs. The lock is the
    kernel's, not the file's: a file left by a killed bench holds no lock and blocks
    nobody, and the file is removed on a normal exit. Readers (choose, report) never take
    it. Where flock is missing (Windows) or unsupported (some network filesystems) the
    bench runs unlocked rather than not at all.
    """
    path = prepare_for_writing(path)
    try:
        import fcntl
    except ImportError:
        yield
        return
    target = lock_path(path)
    while True:
        try:
            fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise LedgerError(f"cannot create the lock file {target} ({err.strerror or err}); "
                              f"the ledger's folder {path.parent} must be writable: make it "
                              "so, or choose another --ledger") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise LedgerBusyError(f"another `whichmodel bench` (pid {pid or 'unknown'}) is "
                                  f"writing to {path}; wait for it or use another --ledger"
                                  ) from None
        except OSError:  # no locking on this filesystem: run unlocked
            os.close(fd)
            yield
            return
        # The holder we waited on may have removed the file as it let go; then we locked
        # a file no one else will open. Lock the one on disk instead.
        try:
            disk, ours = os.stat(target), os.fstat(fd)
            if (disk.st_dev, disk.st_ino) == (ours.st_dev, ours.st_ino):
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(target)  # while still locked, so no one locks a file about to go
        os.close(fd)


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""

"""`whichmodel bench` end to end, including THE acceptance test: kill -9, rerun, resume."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from whichmodel.bench.ledger import read_records
from whichmodel.bench.runner import plan_runs
from whichmodel.bench.spec import load_spec
from whichmodel.cli import main

REPO = Path(__file__).resolve().parents[2]
_started: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_orphan_bench():
    """A failed assertion must not leave a bench child running into the next test."""
    yield
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


def _bench(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "120"}
    # SIGINT back to its default in the child: a suite started in the background by a
    # non-interactive shell inherits SIGINT ignored, and Ctrl-C could never reach the bench.
    proc = subprocess.Popen([sys.executable, "-m", "whichmodel", "bench", *args], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    _started.append(proc)
    return proc


def _rows(ledger: Path) -> int:
    if not ledger.exists():
        return 0
    conn = sqlite3.connect(ledger, timeout=5)
    try:
        return conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:  # table not created yet
        return 0
    finally:
        conn.close()


def _wait_for_rows(proc: subprocess.Popen, ledger: Path, at_least: int = 1,
                   timeout_s: float = 300) -> int:
    # generous: the child imports pandas/sklearn first, and CI machines can be loaded
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        n = _rows(ledger)
        if n >= at_least:
            return n
        assert proc.poll() is None, f"bench exited early: {proc.communicate()}"
        time.sleep(0.02)
    raise AssertionError(f"no row in {ledger} after {timeout_s} s")


# Nine runs of ~0.5 s each (many timed single-item calls), so a kill lands mid-bench.
SLOW = {"budgets": [2, 4, "all"], "seeds": [1, 2, 3],
        "measure": {"batch_size": 16, "latency_samples": 500}}


def test_kill_9_then_rerun_resumes_without_redoing_or_duplicating(spec_file, tmp_path):
    spec_path = spec_file(**SLOW)
    ledger = tmp_path / "runs.sqlite"
    keys = {k for *_, k in plan_runs(load_spec(spec_path))}
    assert len(keys) == 9

    proc = _bench(str(spec_path), "--ledger", str(ledger), "--quiet")
    _wait_for_rows(proc, ledger)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    before = {r.key: r.created_at for r in read_records(ledger)}
    assert 1 <= len(before) < len(keys), "the bench finished before the kill; slow it down"

    rerun = _bench(str(spec_path), "--ledger", str(ledger))
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert f"skipping {len(before)} finished run(s)" in err
    assert f"{len(keys)} of {len(keys)} run(s) ok" in out

    after = read_records(ledger)
    assert sorted(r.key for r in after) == sorted(keys)  # one row per key, no duplicates
    assert all(r.status == "ok" for r in after)
    for r in after:
        if r.key in before:
            assert r.created_at == before[r.key], "a finished run was redone"
    conn = sqlite3.connect(ledger)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM runs").fetchone() == (9, 9)
    conn.close()


def test_ctrl_c_stops_cleanly_and_keeps_finished_rows(spec_file, tmp_path):
    spec_path = spec_file(**SLOW)
    ledger = tmp_path / "runs.sqlite"
    proc = _bench(str(spec_path), "--ledger", str(ledger))
    _wait_for_rows(proc, ledger)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted; finished runs are kept" in err and "Traceback" not in err
    assert 1 <= len(read_records(ledger)) < 9


def test_cli_default_ledger_next_steps_and_errors(spec_file, capsys):
    spec_path = spec_file(budgets=[2], seeds=[1])
    assert main(["bench", str(spec_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    ledger = spec_path.with_suffix(".sqlite")
    assert ledger.is_file() and len(read_records(ledger)) == 1
    assert f"1 of 1 run(s) ok, 0 failed; ledger: {ledger}" in out
    assert next_commands(out) == [
        ["whichmodel", "choose", str(ledger), "--volume", "1e5", "--min-accuracy", "0.5"],
        ["whichmodel", "report", str(ledger), "--volume", "1e5", "--min-accuracy", "0.5",
         "--out", str(ledger.with_suffix(".html"))]]

    bad = spec_path.parent / "bad.yaml"
    bad.write_text(spec_path.read_text().replace("family: tfidf", "family: tfidff"))
    assert main(["bench", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("whichmodel bench: error: bad.yaml: candidates[0].family: "
                          "'tfidff' is not a model family")
    assert "\n" not in err


def next_commands(out: str) -> list[list[str]]:
    """The commands printed after ``next:``, each line parsed on its own with shlex (a
    line ending in `` \\`` continues the command on the next)."""
    import shlex

    commands, current = [], None
    for line in out.split("next:", 1)[1].splitlines()[1:]:
        if not line.startswith("  whichmodel") and current is None:
            continue
        continued = line.endswith(" \\")
        words = shlex.split(line[:-2] if continued else line)
        current = (current or []) + words
        if not continued:
            commands.append(current)
            current = None
    return commands


def test_next_commands_break_only_between_arguments_and_parse_back():
    import shlex

    from whichmodel.cli.bench import command_lines

    argv = ["whichmodel", "report", "/tmp/my runs/a folder with a long name/it's.sqlite",
            "--volume", "2e6", "--min-accuracy", "0.9", "--max-latency-ms", "100",
            "--label-budget", "1000", "--hardware", "cpu-small", "--dataset",
            "0123456789abcdef", "--out", "/tmp/my runs/a folder with a long name/r.html"]
    for width in (60, 80, 100, 1000):
        lines = command_lines(argv, width=width)
        assert len(lines) == 1 if width == 1000 else len(lines) > 1
        words = []
        for i, line in enumerate(lines):
            last = i == len(lines) - 1
            assert line.endswith(" \\") != last  # a continuation mark on all but the last
            parsed = shlex.split(line if last else line[:-2])
            assert len(line) <= width or len(parsed) <= 2  # else one argument (pair) alone
            words += parsed
        assert words == argv  # pastes back as the same command, the path in one piece
        for flag, value in zip(argv[3::2], argv[4::2]):  # a flag keeps its value
            assert any(f"{flag} {value}" in line or f"{flag} '{value}'" in line
                       for line in lines), (flag, lines)
    # a name with a control character is shown escaped, never raw
    [line] = command_lines(["whichmodel", "choose", "a\x1b[2Jb.sqlite"])
    assert "\x1b" not in line and "a\\x1b[2Jb.sqlite" in line


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    out = capsys.readouterr().out
    assert "whichmodel bench examples/banking77.yaml" in out
    assert "--no-retry-failed" in out and "--mlflow" in out


def test_bench_exits_1_when_no_run_succeeds(spec_file, capsys):
    # min_df above the number of documents: sklearn prunes every term, so every fit fails
    path = spec_file(budgets=[2], seeds=[1],
                     candidates=[{"name": "t", "family": "tfidf",
                                  "settings": {"min_df": 100_000}}])
    assert main(["bench", str(path), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "0 of 1 run(s) ok, 1 failed" in out and "no run succeeded" in out
    assert "next:" not in out


# -- hostile ledger paths and a second writer: one line, exit 2, nothing touched ----------
def _run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def test_bench_refuses_a_folder_as_ledger(tiny_spec, tmp_path, capsys):
    spec = str(tiny_spec())
    for ledger in (str(tmp_path), str(tmp_path / "new") + "/"):
        code, err = _run_cli(capsys, "bench", spec, "--ledger", ledger, "--quiet")
        assert code == 2 and err.count("\n") == 1 and "folder" in err, err
    assert not (tmp_path / "new").exists()


def test_bench_never_overwrites_a_users_csv(tiny_spec, tmp_path, capsys):
    spec = str(tiny_spec())
    before = (tmp_path / "train.csv").read_bytes()
    code, err = _run_cli(capsys, "bench", spec, "--ledger", str(tmp_path / "train.csv"),
                         "--quiet")
    assert code == 2 and err.count("\n") == 1
    assert "is not a whichmodel ledger (not an SQLite file); it was left untouched" in err
    assert (tmp_path / "train.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml", "test.csv",
                                                          "train.csv"]


def test_bench_into_a_folder_that_cannot_be_created(tiny_spec, tmp_path, capsys):
    code, err = _run_cli(capsys, "bench", str(tiny_spec()), "--ledger",
                         str(tmp_path / "train.csv" / "runs.sqlite"), "--quiet")
    assert code == 2 and err.count("\n") == 1 and "cannot create the ledger's folder" in err


def test_second_bench_on_a_locked_ledger_stops_at_once(tiny_spec, tmp_path, capsys):
    from whichmodel.bench.lock import writer_lock

    ledger = tmp_path / "runs.sqlite"
    with writer_lock(ledger):  # as if another bench were running
        code, err = _run_cli(capsys, "bench", str(tiny_spec()), "--ledger", str(ledger),
                             "--quiet")
    assert code == 2 and err.count("\n") == 1
    assert f"another `whichmodel bench` (pid {os.getpid()}) is writing to {ledger}" in err
    assert "wait for it or use another --ledger" in err
    assert main(["bench", str(tiny_spec()), "--ledger", str(ledger), "--quiet"]) == 0
    assert not (tmp_path / "runs.sqlite.lock").exists()


def test_bench_help_says_one_writer_and_readers_need_no_lock(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "One bench writes a ledger at a time" in out and "need no lock" in out


@pytest.mark.parametrize("command", ["choose", "report"])
def test_readers_given_a_folder_say_so(tmp_path, capsys, command):
    (tmp_path / "runs.sqlite").write_bytes(b"")
    code, err = _run_cli(capsys, command, str(tmp_path), "--volume", "1e6", "--out",
                         str(tmp_path / "r.html")) if command == "report" else _run_cli(
        capsys, command, str(tmp_path), "--volume", "1e6")
    assert code == 2 and err.count("\n") == 1
    assert "is a folder, not a ledger" in err and "runs.sqlite" in err


def test_choose_while_a_bench_holds_the_lock(tiny_spec, tmp_path, capsys):
    """Readers take no lock: choose answers while a bench is writing."""
    from whichmodel.bench.lock import writer_lock

    ledger = tmp_path / "runs.sqlite"
    assert main(["bench", str(tiny_spec()), "--ledger", str(ledger), "--quiet"]) == 0
    capsys.readouterr()
    with writer_lock(ledger):
        assert main(["choose", str(ledger), "--volume", "1e3", "--json"]) == 0

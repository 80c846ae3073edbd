"""The live view of a running benchmark: a progress bar, the run in flight, last results.

On a terminal it redraws in place (rich `Live`); in a log (CI, `| tee`) it prints one
line per finished run instead, since a log keeps only Live's last frame. Candidate names
and error messages are the user's strings: they are shown as text (`whichmodel.terminal`),
never read as rich markup.
"""

from __future__ import annotations

from typing import Any

from whichmodel.bench.record import RunRecord
from whichmodel.terminal import text


class RunDisplay:
    """Live progress on stderr: overall bar, the run in flight, the last results."""

    def __init__(self, total: int, done: int, *, enabled: bool, console: Any = None,
                 last: int = 8) -> None:
        self.enabled = enabled
        self.total, self.done, self.last = total, done, last
        self.results: list[RunRecord] = []
        self.current = ""
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = console or Console(stderr=True)
        if console is None and not self.console.is_terminal:
            self.console = Console(stderr=True, width=120)  # logs: no need to squeeze
        self.progress = Progress(TextColumn("[bold]bench"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=self.console)
        self.task = self.progress.add_task("runs", total=total, completed=done)
        self.live: Any = None

    def __enter__(self) -> RunDisplay:
        if self.enabled:
            from rich.live import Live

            if self.done:
                self.console.print(f"skipping {self.done} finished run(s) already in the "
                                   "ledger")
            self.live = Live(self._render(), console=self.console, refresh_per_second=4)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled and self.live is not None:
            self.current = "" if exc[0] is None else "interrupted"
            self.live.update(self._render())
            self.live.__exit__(*exc)
            if not self.console.is_terminal:
                self.console.line()

    def start(self, candidate: str, budget: str, seed: int) -> None:
        self.current = f"running {candidate}  budget {budget}  seed {seed}"
        if self.enabled:
            self.live.update(self._render())

    def finished(self, record: RunRecord) -> None:
        self.results = (self.results + [record])[-self.last:]
        if not self.enabled:
            return
        self.progress.advance(self.task)
        if not self.console.is_terminal:  # logs for CI: Live shows only the final frame
            self.console.print(text(_one_line(record)))
        self.live.update(self._render())

    def _render(self) -> Any:
        from rich import box
        from rich.console import Group
        from rich.table import Table

        table = Table(title="last results", title_justify="left", box=box.SIMPLE_HEAD)
        for name in ("candidate", "budget", "seed", "accuracy", "macro-F1", "train s",
                     "items/s", "p95 ms", "peak MiB"):
            table.add_column(name, justify="left" if name == "candidate" else "right")
        for r in self.results:
            if r.status != "ok":
                table.add_row(text(r.candidate), r.budget, str(r.seed), text("failed", "red"))
                continue
            table.add_row(text(r.candidate), r.budget, str(r.seed), _fmt(r.accuracy, 3),
                          _fmt(r.macro_f1, 3), _fmt(r.train_seconds, 1),
                          _fmt(r.throughput_items_per_s, 0), _fmt(r.latency_p95_ms, 1),
                          _fmt(r.peak_rss_mib, 0))
        failed = [r for r in self.results if r.status != "ok"]
        if failed:
            table.caption = text(f"last failure: {_one_line(failed[-1])[:300]}", "red")
            table.caption_justify = "left"
        parts: list[Any] = [self.progress]
        if self.current:
            parts.append(text(self.current))
        if self.results:
            parts.append(table)
        return Group(*parts)


def _fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _one_line(r: RunRecord) -> str:
    head = f"{r.candidate} budget {r.budget} seed {r.seed}:"
    if r.status != "ok":
        return f"{head} failed: {r.error}"
    return (f"{head} accuracy {_fmt(r.accuracy, 3)}, train {_fmt(r.train_seconds, 1)} s, "
            f"{_fmt(r.throughput_items_per_s, 0)} items/s, p95 {_fmt(r.latency_p95_ms, 1)} ms")

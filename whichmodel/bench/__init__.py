"""Benchmarking: experiment spec, runner over candidates × budgets × seeds, probes, ledger."""

from whichmodel.bench.record import RunRecord, run_key

__all__ = ["RunRecord", "run_key"]

"""Thread policy: how many threads torch and the BLAS libraries use, and how they wait.

Why it matters on a shared machine: torch's CPU kernels run on an OpenMP pool (GNU
libgomp in the PyPI wheels) whose idle threads *spin* for a while before sleeping. With
another busy process on the same cores, a spinning thread burns the time slice the
thread it waits for needs: measured here (2 cores, one busy-loop process, SetFit fit on
64 labels), 2 threads took 196 s against 23 s for 1 thread. With ``OMP_WAIT_POLICY=
PASSIVE`` idle threads sleep at once and the same 2-thread fit took 24 s, about the
fair share (`benchmarks/busy_machine.py`). So whichmodel sets that policy when the
package is imported, unless the user set one, before torch is imported (libgomp reads
it once, at start-up). On a quiet machine it costs a little (17 s against 21 s in that
benchmark); ``OMP_WAIT_POLICY=ACTIVE`` restores spinning for a dedicated machine.

Measurements use their own fixed thread count (`limited_threads`, ``measure.threads``
in a spec) so that figures do not depend on how many cores happen to be free.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

WAIT_POLICY_VARIABLE = "OMP_WAIT_POLICY"
DEFAULT_WAIT_POLICY = "PASSIVE"


def set_default_wait_policy() -> None:
    """Make OpenMP threads sleep when idle, unless the user chose a policy. Effective only
    before the OpenMP runtime starts (before torch is imported)."""
    os.environ.setdefault(WAIT_POLICY_VARIABLE, DEFAULT_WAIT_POLICY)


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def wait_policy() -> str:
    """The OpenMP wait policy in effect for this process, as the environment gives it."""
    return os.environ.get(WAIT_POLICY_VARIABLE, "unset (runtime default: spin, then sleep)")


@contextlib.contextmanager
def limited_threads(n: int) -> Iterator[None]:
    """Within this block torch (when imported) and the BLAS/OpenMP pools that
    threadpoolctl knows use at most ``n`` threads; the previous counts are restored."""
    if n < 1:
        raise ValueError(f"a thread count must be at least 1, got {n}")
    torch = sys.modules.get("torch")  # never import torch just to limit it
    before = torch.get_num_threads() if torch is not None else None
    with contextlib.ExitStack() as stack:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - scikit-learn depends on it
            pass
        else:
            stack.enter_context(threadpool_limits(limits=n))
        if torch is not None:
            torch.set_num_threads(n)
        try:
            yield
        finally:
            if torch is not None and before is not None:
                torch.set_num_threads(before)

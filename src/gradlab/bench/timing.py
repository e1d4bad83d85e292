"""Wall-clock timing for the benchmark: the best of several runs.

The machines this runs on are often shared; the shortest of several runs is the one
least disturbed by neighbours, so every fast path is reported as its best of N (and the
slow baselines as their best of N too, in a full run, so both sides report the same
statistic).
"""

from __future__ import annotations

import time
from collections.abc import Callable


def best_of(fn: Callable[[], object], repeats: int = 3, *, warmup: bool = True) -> float:
    """The shortest wall time, in seconds, of ``repeats`` calls of ``fn``.

    Parameters
    ----------
    fn : callable
        Called with no arguments; its result is ignored.
    repeats : int, default 3
        Timed calls (at least 1).
    warmup : bool, default True
        Call ``fn`` once, untimed, first (imports, first-call allocations, compilation).
    """
    if warmup:
        fn()
    best = float("inf")
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best

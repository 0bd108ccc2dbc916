"""Timing helpers: interleaved, repeated, median.

The machine is shared and noisy, so contestants are never timed one after the
other. Every repeat runs each contestant once (round-robin, the order rotated
between repeats), and the reported figure is the median over repeats.
"""

from __future__ import annotations

import gc
import signal
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager

now = time.perf_counter


def calibrate(func: Callable[[], object], target_s: float) -> int:
    """How many calls of ``func`` make one sample of about ``target_s`` seconds."""
    number = 1
    while True:
        start = now()
        for _ in range(number):
            func()
        elapsed = now() - start
        if elapsed >= target_s / 4 or number >= 1 << 20:
            return max(1, round(number * target_s / max(elapsed, 1e-9)))
        number *= 4


def interleaved(contestants: dict[str, Callable[[], object]], repeats: int,
                target_s: float = 0.02, warmup: int = 3) -> dict[str, list[float]]:
    """Samples of seconds per call of each contestant, timed round-robin.

    Each contestant is warmed up ``warmup`` times (JIT compilation, caches),
    then calibrated to ``target_s`` seconds per sample; every repeat takes one
    sample of every contestant (after one untimed call), starting from a
    different contestant each time. The garbage collector stays on, as in a
    user's program (none of the contestants leaves cyclic garbage).
    """
    names = list(contestants)
    for name in names:
        for _ in range(warmup):
            contestants[name]()
    numbers = {name: calibrate(contestants[name], target_s) for name in names}
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            func, number = contestants[name], numbers[name]
            func()  # untimed: wake this contestant's thread pools and caches after the others
            start = now()
            for _ in range(number):
                func()
            samples[name].append((now() - start) / number)
        gc.collect()
    return samples


def unstable(values: list[float], spread: float = 1.5) -> bool:
    """Whether the median is over ``spread`` times the best sample: the runs were disturbed
    (on a shared machine, typically another process competing for the cores)."""
    return len(values) > 1 and statistics.median(values) > spread * min(values)


def once(func: Callable[[], object]) -> tuple[float, object]:
    """``(seconds, result)`` of one call."""
    start = now()
    result = func()
    return now() - start, result


class OverBudget(BaseException):
    """Raised inside a budgeted computation when its time is up.

    A ``BaseException``, so that no ``except Exception`` inside SymPy swallows it.
    """


@contextmanager
def budget(seconds: float | None):
    """Interrupt the block with ``OverBudget`` after ``seconds`` (POSIX main thread only;
    elsewhere, or with ``None``, the block runs to the end)."""
    if not seconds or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise OverBudget(f"over the budget of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def median(values):
    return statistics.median(values) if values else float("nan")

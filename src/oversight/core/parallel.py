"""``fork_map``: a map over forked worker processes, for work whose inputs are already in memory.

Forked children inherit the caller's state (a seed's world, its trained networks), so nothing is
pickled on the way in; only the results come back. The function may be a closure. Each child
runs its BLAS and OpenMP pools on one thread (the processes are the parallelism: pools of
several threads per child oversubscribe the cores, and small matrix products then ran many
times slower).
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Sequence
from typing import Any

_FN: Callable[[Any], Any] | None = None  # what the forked children call


def fork_map(
    fn: Callable[[Any], Any],
    xs: Sequence[Any],
    workers: int,
    tick: Callable[[], None] = lambda: None,
) -> list[Any]:
    """``[fn(x) for x in xs]`` in order, in ``workers`` forked processes when more than one
    (and more than one ``x``); ``tick`` is called in the caller as each result arrives."""
    if workers <= 1 or len(xs) <= 1:
        out = []
        for x in xs:
            out.append(fn(x))
            tick()
        return out
    global _FN
    _FN = fn
    try:
        with mp.get_context("fork").Pool(min(workers, len(xs)), initializer=_one_thread) as pool:
            out = []
            for value in pool.imap(_call, xs):
                out.append(value)
                tick()
            return out
    finally:
        _FN = None


def _one_thread() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _call(x: Any) -> Any:
    assert _FN is not None
    return _FN(x)

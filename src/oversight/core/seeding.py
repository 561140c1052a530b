"""Reproducible randomness: every random stream is derived from a root seed and a name."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np


def derive_seed(seed: int, *keys: object) -> int:
    """A 63-bit seed determined by ``seed`` and ``keys`` (stable across runs and platforms)."""
    text = "/".join([str(seed), *map(str, keys)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def rng(seed: int, *keys: object) -> np.random.Generator:
    """A numpy generator for the stream named by ``keys`` under ``seed``."""
    return np.random.default_rng(derive_seed(seed, *keys))


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """torch on one thread for the duration, restored after.

    For small networks a second thread buys nothing, and on a busy machine the thread pool's
    synchronisation made a forward pass dozens of times slower. Processes forked meanwhile
    inherit the single thread: a fork child that entered torch's OpenMP pool would hang.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextmanager
def deterministic_torch() -> Iterator[None]:
    """torch on one thread with deterministic kernels for the duration, both restored after.

    Training is then bit-reproducible given its seeds; and these networks are small, so a
    second thread buys nothing. torch is imported here, not at module level, so that this
    module stays importable without it.
    """
    import torch

    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)

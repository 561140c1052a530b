"""Reproducible randomness: every random stream is derived from a root seed and a name."""

from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(seed: int, *keys: object) -> int:
    """A 63-bit seed determined by ``seed`` and ``keys`` (stable across runs and platforms)."""
    text = "/".join([str(seed), *map(str, keys)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def rng(seed: int, *keys: object) -> np.random.Generator:
    """A numpy generator for the stream named by ``keys`` under ``seed``."""
    return np.random.default_rng(derive_seed(seed, *keys))

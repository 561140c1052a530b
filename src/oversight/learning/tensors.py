"""Padding per-line feature arrays into batched tensors for the torch models."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from oversight.envs.programs.features import N_FEATURES


def pad_features(features: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack per-line feature arrays into ``x`` of shape ``(batch, max_len, F)``, zero-padded,
    and their ``lengths`` (int64)."""
    lengths = np.array([len(f) for f in features], dtype=np.int64)
    width = features[0].shape[1] if len(features) else N_FEATURES
    x = np.zeros((len(features), int(lengths.max(initial=0)), width), dtype=np.float32)
    for k, f in enumerate(features):
        x[k, : len(f)] = f
    return torch.from_numpy(x), torch.from_numpy(lengths)

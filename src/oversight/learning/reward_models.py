"""Reward models over programs: pointwise, pairwise (Bradley-Terry), and ensembles of either.

A reward model reads R and P (never runs them) and says how acceptable P is as an improvement of
R. Both kinds share one encoder, :class:`ProgramEncoder`, conditioned on the program line by
line: each line of P, then of R, is described by :func:`~oversight.agents.critics.learned.
line_features`, embedded by an MLP, mixed with the other lines by one self-attention layer (or a
bidirectional GRU), and pooled (masked mean and max) to one vector.

- :class:`PointwiseRM` predicts P(acceptable) and is fitted by binary cross-entropy against
  labels (:func:`train_pointwise`). In practice the labels are a judge's verdicts
  (:func:`verdict_labels`); the trainer takes them as an array and never sees gold.
- :class:`PairwiseRM` gives a scalar reward fitted by the Bradley-Terry loss
  ``-log sigmoid(r_chosen - r_rejected - margin)`` (:func:`bt_loss`, :func:`train_pairwise`),
  the TRL preference format ``(chosen, rejected, margin)``.
- :class:`Ensemble` holds K members (different seeds, optionally bootstrap-resampled data,
  :func:`train_ensemble`) and turns their scores into a mean, a worst case or an
  uncertainty-weighted score; its disagreement routes the most contested items to an audit.

Evaluation takes plain arrays: accuracy against gold and against the judge differ only in the
labels passed in (:func:`rm_accuracy`, :func:`pairwise_accuracy`), and pointwise probabilities
get a reliability table and the expected calibration error.

Training is deterministic: the same data and seed give bit-identical parameters (one thread,
deterministic kernels, torch's global generator forked and seeded, a seeded generator for
minibatches). torch is imported at module level: import this module lazily.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from oversight.core.errors import OversightError
from oversight.core.files import atomic_path, read_checkpoint
from oversight.core.records import Verdict
from oversight.core.seeding import derive_seed, deterministic_torch, one_torch_thread
from oversight.envs.programs.env import ProgramContext
from oversight.envs.programs.features import N_FEATURES, line_features
from oversight.learning.tensors import pad_features
from oversight.metrics.estimate import Estimate, bootstrap, rate

Mixer = Literal["attention", "gru", "conv"]
Kind = Literal["pointwise", "pairwise"]
Objective = Literal["mean", "min", "mean_minus_std"]
OBJECTIVES: tuple[str, ...] = ("mean", "min", "mean_minus_std")
Pair = tuple[ProgramContext, ProgramContext, float | None]
"""A preference: (chosen, rejected, margin or None)."""

_FORMAT = "oversight.reward_model/1"
_SCORE_BATCH = 256  # contexts per forward pass when scoring: bounds the padded tensor
_FLOOR_SLACK = 1e-9  # floor(share * n) against products such as 0.29 * 100 = 28.999999999999996
_FEATURE_CACHE_SIZE = 8192
CONV_WIDTH = 5  # lines each convolution of the "conv" mixer sees

# Training defaults: on about 200 artifacts of 12-bit programs these separate honest from flawed
# artifacts of unseen problems (tests/test_reward_models.py) in a few seconds on one core.
EPOCHS, LR, BATCH_SIZE, WEIGHT_DECAY = 30, 3e-3, 32, 1e-4


# --- features ----------------------------------------------------------------------------------


@lru_cache(maxsize=_FEATURE_CACHE_SIZE)
def _cached_features(ctx: ProgramContext) -> np.ndarray:
    features = line_features(ctx)
    features.setflags(write=False)  # shared between callers: nobody may edit it in place
    return features


_PRIMED: dict[ProgramContext, np.ndarray] = {}


def context_features(ctx: ProgramContext) -> np.ndarray:
    """:func:`line_features` of ``ctx``, computed once per distinct (R, P) and then cached.

    The cache is keyed by the parsed programs, so two parses of the same texts share an entry.
    The array is read-only. Features handed to :func:`prime_features` are used first.
    """
    primed = _PRIMED.get(ctx)
    return primed if primed is not None else _cached_features(ctx)


def prime_features(ctx: ProgramContext, features: np.ndarray) -> None:
    """Store features computed elsewhere (e.g. in worker processes) for ``ctx``; unbounded, so
    callers prime only what they will reuse. They must equal ``line_features(ctx)``."""
    features = np.asarray(features, dtype=np.float32)
    features.setflags(write=False)
    _PRIMED[ctx] = features


def clear_feature_cache() -> None:
    """Empty the caches behind :func:`context_features`."""
    _cached_features.cache_clear()
    _PRIMED.clear()


def encode_batch(contexts: Sequence[ProgramContext]) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded line features of ``contexts`` (see :func:`pad_features`), using the cache."""
    return pad_features([context_features(c) for c in contexts])


# --- the networks ------------------------------------------------------------------------------


class ProgramEncoder(nn.Module):
    """Per-line MLP, one mixing layer over the lines of P then R, masked mean+max pooling.

    ``mixer="attention"``: one transformer encoder layer (self-attention and a feed-forward
    block, each residual and layer-normed), padded lines masked out of the keys.
    ``mixer="gru"``: a bidirectional GRU over the packed sequence. ``mixer="conv"``: two
    residual convolutions over windows of :data:`CONV_WIDTH` lines (linear in the length; used
    for long programs), so a line sees its neighbours only. Either way every line's
    embedding depends on the other lines, so the encoder can relate a line of P to the lines of
    R it replaced; line order reaches it through the position features. Output: ``2 * hidden``.
    """

    def __init__(
        self,
        n_features: int = N_FEATURES,
        hidden: int = 32,
        heads: int = 2,
        mixer: Mixer = "attention",
    ):
        super().__init__()
        if mixer not in ("attention", "gru", "conv"):
            raise ValueError(f"mixer must be attention, gru or conv, not {mixer!r}")
        if hidden % heads or (mixer == "gru" and hidden % 2):
            raise ValueError(f"hidden ({hidden}) must be a multiple of heads ({heads}) and even")
        self.n_features = n_features
        self.hidden = hidden
        self.heads = heads
        self.mixer = mixer
        self.out_dim = 2 * hidden
        self.embed = nn.Sequential(
            nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
        if mixer == "attention":
            self.qkv = nn.Linear(hidden, 3 * hidden)
            self.attn_out = nn.Linear(hidden, hidden)
            self.norm1 = nn.LayerNorm(hidden)
            self.feed = nn.Sequential(
                nn.Linear(hidden, 2 * hidden), nn.ReLU(), nn.Linear(2 * hidden, hidden)
            )
            self.norm2 = nn.LayerNorm(hidden)
        elif mixer == "conv":
            # Two residual convolutions over neighbouring lines: O(L), for programs of
            # hundreds of lines where attention's O(L**2) dominates training time.
            self.convs = nn.ModuleList(
                nn.Conv1d(hidden, hidden, CONV_WIDTH, padding=CONV_WIDTH // 2) for _ in range(2)
            )
        else:
            self.gru = nn.GRU(hidden, hidden // 2, batch_first=True, bidirectional=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Vectors of shape ``(batch, 2 * hidden)`` for padded features ``x``."""
        width = x.shape[1]
        padding = torch.arange(width)[None, :] >= lengths[:, None]
        h = self._mix(self.embed(x), lengths, padding)
        valid = (~padding).unsqueeze(-1).to(h.dtype)
        mean = (h * valid).sum(dim=1) / lengths.clamp(min=1).unsqueeze(-1).to(h.dtype)
        peak = h.masked_fill(padding.unsqueeze(-1), -math.inf).amax(dim=1)
        peak = torch.where(lengths.unsqueeze(-1) > 0, peak, torch.zeros_like(peak))
        return torch.cat([mean, peak], dim=-1)

    def _mix(self, h: torch.Tensor, lengths: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        if self.mixer == "attention":
            z = self.norm1(h + self.attn_out(self._attend(h, padding)))
            return self.norm2(z + self.feed(z))
        if self.mixer == "conv":
            keep = (~padding).unsqueeze(1).to(h.dtype)  # (batch, 1, width): padding stays zero
            z = h.transpose(1, 2) * keep
            for conv in self.convs:
                z = (z + torch.relu(conv(z))) * keep
            return z.transpose(1, 2)
        # Packing keeps padding out of the backward direction's state.
        packed = pack_padded_sequence(
            h, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
        )
        out, _ = self.gru(packed)
        mixed, _ = pad_packed_sequence(out, batch_first=True, total_length=h.shape[1])
        return mixed

    def _attend(self, h: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """Multi-head self-attention with padded keys masked out.

        Written out rather than ``nn.MultiheadAttention`` (as fast here) so that training and
        scoring run the same code: the latter switches to a fused kernel under ``no_grad``.
        """
        batch, width, _ = h.shape
        d = self.hidden // self.heads
        q, k, v = (
            t.reshape(batch, width, self.heads, d).transpose(1, 2)
            for t in self.qkv(h).chunk(3, dim=-1)
        )
        scores = q @ k.transpose(-1, -2) / math.sqrt(d)
        scores = scores.masked_fill(padding[:, None, None, :], -math.inf)
        mixed = torch.softmax(scores, dim=-1) @ v
        return mixed.transpose(1, 2).reshape(batch, width, self.hidden)


class RewardModel(nn.Module):
    """A :class:`ProgramEncoder` and an MLP head giving one scalar per (R, P)."""

    kind: ClassVar[str] = ""

    def __init__(
        self,
        n_features: int = N_FEATURES,
        hidden: int = 32,
        heads: int = 2,
        mixer: Mixer = "attention",
    ):
        super().__init__()
        self.encoder = ProgramEncoder(n_features, hidden, heads, mixer)
        self.head = nn.Sequential(
            nn.Linear(self.encoder.out_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1)
        )

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """One raw output (a logit or a reward) per padded sequence, shape ``(batch,)``."""
        return self.head(self.encoder(x, lengths)).squeeze(-1)

    def config(self) -> dict[str, Any]:
        """Hyperparameters that rebuild this architecture."""
        e = self.encoder
        return {"n_features": e.n_features, "hidden": e.hidden, "heads": e.heads, "mixer": e.mixer}

    def raw(self, contexts: Sequence[ProgramContext]) -> np.ndarray:
        """The network's raw outputs for ``contexts`` (float64), in eval mode, batched."""
        return self._raw_features([context_features(c) for c in contexts])

    def _raw_features(self, features: Sequence[np.ndarray]) -> np.ndarray:
        out = np.empty(len(features), dtype=np.float64)
        was_training = self.training
        self.eval()
        with torch.no_grad(), one_torch_thread():
            for start in range(0, len(features), _SCORE_BATCH):
                x, lengths = pad_features(features[start : start + _SCORE_BATCH])
                out[start : start + len(lengths)] = self(x, lengths).double().numpy()
        self.train(was_training)
        return out

    def score(self, contexts: Sequence[ProgramContext]) -> np.ndarray:
        """Higher is more acceptable; what an :class:`Ensemble` combines."""
        raise NotImplementedError


class PointwiseRM(RewardModel):
    """P(acceptable | R, P), from a logit fitted by binary cross-entropy."""

    kind = "pointwise"

    def logits(self, contexts: Sequence[ProgramContext]) -> np.ndarray:
        """The logit of P(acceptable) for each context."""
        return self.raw(contexts)

    def predict_proba(self, contexts: Sequence[ProgramContext]) -> np.ndarray:
        """P(acceptable) for each context."""
        return _sigmoid(self.logits(contexts))

    def score(self, contexts: Sequence[ProgramContext]) -> np.ndarray:
        """P(acceptable), so that ensemble members share a scale."""
        return self.predict_proba(contexts)


class PairwiseRM(RewardModel):
    """A Bradley-Terry reward r(R, P): P(a preferred to b) = sigmoid(r(a) - r(b)).

    Bradley-Terry fixes rewards only up to a constant, so after training the reward is centred
    on the training contexts (the ``offset`` buffer): members of an ensemble then share an
    origin and their spread measures disagreement rather than arbitrary shifts.
    """

    kind = "pairwise"
    offset: torch.Tensor  # a buffer (registered in __init__)

    def __init__(
        self,
        n_features: int = N_FEATURES,
        hidden: int = 32,
        heads: int = 2,
        mixer: Mixer = "attention",
    ):
        super().__init__(n_features, hidden, heads, mixer)
        self.register_buffer("offset", torch.zeros(()))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return super().forward(x, lengths) - self.offset

    def reward(self, contexts: Sequence[ProgramContext]) -> np.ndarray:
        """The (centred) reward of each context."""
        return self.raw(contexts)

    def score(self, contexts: Sequence[ProgramContext]) -> np.ndarray:
        """The reward."""
        return self.reward(contexts)


_MODELS: dict[str, type[RewardModel]] = {"pointwise": PointwiseRM, "pairwise": PairwiseRM}


def new_model(kind: Kind, seed: int, **config: Any) -> RewardModel:
    """An untrained reward model of ``kind``, initialised from ``seed`` without touching
    torch's global generator. ``config``: ``hidden``, ``heads``, ``mixer``, ``n_features``."""
    if kind not in _MODELS:
        raise ValueError(f"kind must be pointwise or pairwise, not {kind!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _MODELS[kind](**config).eval()


def _sigmoid(v: np.ndarray) -> np.ndarray:
    # exp of a non-positive number only: no overflow warnings for large |v|.
    e = np.exp(-np.abs(v))
    return np.where(v >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


# --- losses ------------------------------------------------------------------------------------


def bt_loss(
    r_chosen: torch.Tensor | ArrayLike,
    r_rejected: torch.Tensor | ArrayLike,
    margin: torch.Tensor | ArrayLike | None = None,
) -> torch.Tensor:
    """Mean Bradley-Terry loss ``-log sigmoid(r_chosen - r_rejected - margin)`` over pairs.

    ``margin`` (optional, per pair or a scalar) asks the chosen reward to exceed the rejected
    one by at least that much before the loss flattens out. Computed with ``logsigmoid`` so
    large gaps neither overflow nor underflow.
    """
    chosen = torch.as_tensor(r_chosen, dtype=torch.float32)
    rejected = torch.as_tensor(r_rejected, dtype=torch.float32)
    gap = chosen - rejected
    if margin is not None:
        gap = gap - torch.as_tensor(margin, dtype=gap.dtype)
    return -F.logsigmoid(gap).mean()


def bce_loss(
    logits: torch.Tensor | ArrayLike,
    labels: torch.Tensor | ArrayLike,
    weights: torch.Tensor | ArrayLike | None = None,
) -> torch.Tensor:
    """Mean (optionally weighted) binary cross-entropy of ``logits`` against ``labels`` in
    [0, 1]; with weights, the weighted sum divided by the sum of the weights."""
    z = torch.as_tensor(logits, dtype=torch.float32)
    y = torch.as_tensor(labels, dtype=z.dtype)
    losses = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    if weights is None:
        return losses.mean()
    w = torch.as_tensor(weights, dtype=z.dtype)
    return (losses * w).sum() / w.sum()


# --- training ----------------------------------------------------------------------------------


@contextmanager
def _deterministic(seed: int) -> Iterator[None]:
    """One thread, deterministic kernels and torch's global generator forked and seeded for the
    duration; every setting restored after, so callers see no side effect."""
    with deterministic_torch(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _fit(
    model: RewardModel,
    n: int,
    batch_loss: Callable[[torch.Tensor], torch.Tensor],
    seed: int,
    epochs: int,
    lr: float,
    batch_size: int,
    weight_decay: float,
) -> None:
    """Adam over ``epochs`` seeded shuffles of ``n`` items; ``batch_loss(indices)``."""
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"need epochs >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    shuffle = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=shuffle)
        for start in range(0, n, batch_size):
            loss = batch_loss(perm[start : start + batch_size])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()


def _label_array(labels: ArrayLike, n: int) -> np.ndarray:
    y = np.asarray(labels, dtype=np.float64)
    if y.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {y.shape}")
    if np.isnan(y).any() or (y < 0).any() or (y > 1).any():
        raise ValueError("labels must lie in [0, 1] (booleans, 0/1, or soft labels)")
    return y


def _balance_weights(y: np.ndarray) -> np.ndarray:
    """Per-example weights giving positives and negatives equal total weight (soft labels
    count towards both classes in proportion)."""
    pos, neg = y.sum(), (1 - y).sum()
    if pos == 0 or neg == 0:
        return np.ones_like(y)
    return y * (len(y) / (2 * pos)) + (1 - y) * (len(y) / (2 * neg))


def _train_pointwise_features(
    features: Sequence[np.ndarray],
    y: np.ndarray,
    seed: int,
    epochs: int,
    lr: float,
    batch_size: int,
    weight_decay: float,
    balance: bool,
    config: dict[str, Any],
    init: PointwiseRM | None = None,
) -> PointwiseRM:
    with _deterministic(seed):
        model = copy.deepcopy(init) if init is not None else new_model("pointwise", seed, **config)
        assert isinstance(model, PointwiseRM)
        if not features:
            return model
        x, lengths = pad_features(features)
        target = torch.tensor(y, dtype=torch.float32)
        weights = torch.tensor(
            _balance_weights(y) if balance else np.ones_like(y), dtype=torch.float32
        )

        def batch_loss(b: torch.Tensor) -> torch.Tensor:
            width = int(lengths[b].max())  # trim padding to the batch: less work per step
            return bce_loss(model(x[b, :width], lengths[b]), target[b], weights[b])

        _fit(model, len(features), batch_loss, seed, epochs, lr, batch_size, weight_decay)
        return model


def train_pointwise(
    contexts: Sequence[ProgramContext],
    labels: ArrayLike,
    seed: int,
    epochs: int = EPOCHS,
    lr: float = LR,
    batch_size: int = BATCH_SIZE,
    weight_decay: float = WEIGHT_DECAY,
    balance: bool = False,
    init: PointwiseRM | None = None,
    **config: Any,
) -> PointwiseRM:
    """Fit a :class:`PointwiseRM` by binary cross-entropy against ``labels`` (1 = acceptable).

    ``labels`` are whatever supervision the caller has, typically a judge's verdicts (booleans,
    0/1 or soft labels in [0, 1]); nothing here reads gold. ``balance`` weights the classes
    equally. ``config`` sets the architecture (``hidden``, ``heads``, ``mixer``); ``init``
    continues training a copy of an existing model instead (``config`` is then ignored).
    Deterministic given the data, ``init`` and ``seed``.
    """
    y = _label_array(labels, len(contexts))
    features = [context_features(c) for c in contexts]
    return _train_pointwise_features(
        features, y, seed, epochs, lr, batch_size, weight_decay, balance, config, init
    )


def _index_pairs(
    pairs: Sequence[Pair],
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Features of each distinct context once, and per pair the chosen and rejected indices
    into them and the margin (0 where None)."""
    index: dict[ProgramContext, int] = {}
    chosen, rejected, margins = [], [], []
    for pair in pairs:
        if len(pair) != 3:
            raise ValueError("a pair is (chosen, rejected, margin or None)")
        c, r, m = pair
        chosen.append(index.setdefault(c, len(index)))
        rejected.append(index.setdefault(r, len(index)))
        margins.append(0.0 if m is None else float(m))
    features = [context_features(c) for c in index]
    return features, np.array(chosen, int), np.array(rejected, int), np.array(margins)


def _train_pairwise_indexed(
    features: Sequence[np.ndarray],
    chosen: np.ndarray,
    rejected: np.ndarray,
    margins: np.ndarray,
    seed: int,
    epochs: int,
    lr: float,
    batch_size: int,
    weight_decay: float,
    config: dict[str, Any],
) -> PairwiseRM:
    with _deterministic(seed):
        model = new_model("pairwise", seed, **config)
        assert isinstance(model, PairwiseRM)
        if len(chosen) == 0:
            return model
        x, lengths = pad_features(features)
        ci, ri = torch.from_numpy(chosen), torch.from_numpy(rejected)
        margin = torch.tensor(margins, dtype=torch.float32)

        def batch_loss(b: torch.Tensor) -> torch.Tensor:
            # Chosen and rejected go through one forward pass.
            rows = torch.cat([ci[b], ri[b]])
            width = int(lengths[rows].max())
            r_chosen, r_rejected = model(x[rows, :width], lengths[rows]).chunk(2)
            return bt_loss(r_chosen, r_rejected, margin[b])

        _fit(model, len(chosen), batch_loss, seed, epochs, lr, batch_size, weight_decay)
        used = np.unique(np.concatenate([chosen, rejected]))
        model.offset.fill_(float(model._raw_features([features[i] for i in used]).mean()))
        return model


def train_pairwise(
    pairs: Sequence[Pair],
    seed: int,
    epochs: int = EPOCHS,
    lr: float = LR,
    batch_size: int = BATCH_SIZE,
    weight_decay: float = WEIGHT_DECAY,
    **config: Any,
) -> PairwiseRM:
    """Fit a :class:`PairwiseRM` by the Bradley-Terry loss on ``(chosen, rejected, margin)``
    preferences (margin None means 0). Each distinct context is featurised once however many
    pairs it appears in. Deterministic given the data and ``seed``."""
    features, chosen, rejected, margins = _index_pairs(pairs)
    return _train_pairwise_indexed(
        features, chosen, rejected, margins, seed, epochs, lr, batch_size, weight_decay, config
    )


def verdict_labels(verdicts: Sequence[Verdict], soft: bool = False) -> np.ndarray:
    """Training labels from a judge's verdicts: 1.0 for accept, 0.0 for reject; with ``soft``,
    the verdict's confidence where it has one."""
    out = np.empty(len(verdicts), dtype=np.float64)
    for k, v in enumerate(verdicts):
        out[k] = v.confidence if soft and v.confidence is not None else float(v.accept)
    return out


# --- ensembles ---------------------------------------------------------------------------------


class Scorer(Protocol):
    """Anything an :class:`Ensemble` can hold: a score per context, higher is better."""

    def score(self, contexts: Sequence[ProgramContext]) -> np.ndarray: ...


def combine_scores(
    scores: ArrayLike, objective: Objective = "mean", lam: float = 1.0
) -> np.ndarray:
    """Combine member scores of shape ``(K, n)`` into one score per item.

    ``mean``: the average; ``min``: the worst case over members; ``mean_minus_std``: the
    average less ``lam`` standard deviations (population std), penalising items the members
    disagree about.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] == 0:
        raise ValueError(f"scores must have shape (members, items) with members >= 1: {s.shape}")
    if objective == "mean":
        return s.mean(axis=0)
    if objective == "min":
        return s.min(axis=0)
    if objective == "mean_minus_std":
        return s.mean(axis=0) - lam * s.std(axis=0)
    raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")


def top_share(values: ArrayLike, share: float) -> np.ndarray:
    """Boolean mask of the ``floor(share * n)`` largest ``values``; ties go to earlier items."""
    v = np.asarray(values, dtype=np.float64)
    if not 0.0 <= share <= 1.0:  # also rejects NaN
        raise ValueError(f"share must be a fraction in [0, 1], got {share}")
    k = min(v.size, math.floor(share * v.size + _FLOOR_SLACK))
    mask = np.zeros(v.size, dtype=bool)
    mask[np.argsort(-v, kind="stable")[:k]] = True
    return mask


class Ensemble:
    """K reward models of one kind, combined per item (:func:`combine_scores`)."""

    def __init__(self, members: Sequence[Scorer], kind: str | None = None):
        if not members:
            raise ValueError("an ensemble needs at least one member")
        kinds = {getattr(m, "kind", None) for m in members}
        if len(kinds) > 1:
            raise ValueError(f"members must share a kind, got {sorted(map(str, kinds))}")
        self.members = list(members)
        self.kind = kind if kind is not None else kinds.pop()

    def __len__(self) -> int:
        return len(self.members)

    def member_scores(self, contexts: Sequence[ProgramContext]) -> np.ndarray:
        """Every member's scores, shape ``(K, len(contexts))``."""
        return np.stack([np.asarray(m.score(contexts), dtype=np.float64) for m in self.members])

    def score(
        self, contexts: Sequence[ProgramContext], objective: Objective = "mean", lam: float = 1.0
    ) -> np.ndarray:
        """One score per context: ``mean``, ``min`` (worst case) or ``mean_minus_std``
        (``lam`` is the weight of the standard deviation; ``lambda`` is a Python keyword)."""
        return combine_scores(self.member_scores(contexts), objective, lam)

    def disagreement(self, contexts: Sequence[ProgramContext]) -> np.ndarray:
        """Standard deviation of the members' scores for each context."""
        return self.member_scores(contexts).std(axis=0)

    def route_to_audit(self, contexts: Sequence[ProgramContext], budget_share: float) -> np.ndarray:
        """Mask of the ``floor(budget_share * n)`` contexts the members disagree about most
        (ties to earlier contexts): what a trusted, expensive evaluator should check."""
        return top_share(self.disagreement(contexts), budget_share)


def train_ensemble(
    kind: Kind,
    data: Sequence[ProgramContext] | Sequence[Pair],
    labels: ArrayLike | None = None,
    seed: int = 0,
    members: int = 5,
    bootstrap: bool = False,
    **train_kwargs: Any,
) -> Ensemble:
    """Train ``members`` reward models of ``kind`` on the same data with different seeds.

    ``data``: contexts (with ``labels``) for ``pointwise``, preference pairs for ``pairwise``.
    With ``bootstrap`` each member sees a resample (with replacement) of the examples or pairs.
    ``train_kwargs`` go to :func:`train_pointwise` or :func:`train_pairwise`. Features are
    computed once and shared by all members.
    """
    if members < 1:
        raise ValueError(f"members must be at least 1, got {members}")
    config: dict[str, Any] = {
        k: train_kwargs.pop(k) for k in ("hidden", "heads", "mixer") if k in train_kwargs
    }
    opts: dict[str, Any] = {
        "epochs": EPOCHS,
        "lr": LR,
        "batch_size": BATCH_SIZE,
        "weight_decay": WEIGHT_DECAY,
    }
    unknown = set(train_kwargs) - set(opts) - ({"balance"} if kind == "pointwise" else set())
    if unknown:
        raise TypeError(f"unknown {kind} training options: {', '.join(sorted(unknown))}")
    balance = bool(train_kwargs.pop("balance", False))
    opts.update(train_kwargs)
    n = len(data)

    def resample(k: int) -> np.ndarray:
        if not bootstrap:
            return np.arange(n)
        return np.random.default_rng(derive_seed(seed, "bootstrap", k)).integers(0, n, n)

    out: list[RewardModel] = []
    if kind == "pointwise":
        if labels is None:
            raise ValueError("pointwise ensembles need labels")
        y = _label_array(labels, n)
        features = [context_features(c) for c in data]  # type: ignore[arg-type]  # pointwise: contexts
        for k in range(members):
            idx = resample(k)
            out.append(
                _train_pointwise_features(
                    [features[i] for i in idx],
                    y[idx],
                    derive_seed(seed, "member", k),
                    balance=balance,
                    config=config,
                    **opts,
                )
            )
    elif kind == "pairwise":
        features, chosen, rejected, margins = _index_pairs(data)  # type: ignore[arg-type]  # pairwise: pairs
        for k in range(members):
            idx = resample(k)
            out.append(
                _train_pairwise_indexed(
                    features,
                    chosen[idx],
                    rejected[idx],
                    margins[idx],
                    derive_seed(seed, "member", k),
                    config=config,
                    **opts,
                )
            )
    else:
        raise ValueError(f"kind must be pointwise or pairwise, not {kind!r}")
    return Ensemble(out, kind)


# --- evaluation --------------------------------------------------------------------------------


def rm_accuracy(
    scores: ArrayLike,
    labels: ArrayLike,
    threshold: float = 0.5,
    balanced: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
) -> Estimate:
    """Share of items where ``scores >= threshold`` (predicted acceptable) matches ``labels``.

    Pass gold labels for accuracy against gold, the judge's verdicts for accuracy against the
    judge. ``balanced``: the mean of the per-class accuracies (chance is 1/2 whatever the class
    mix), bootstrapped within each class.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"scores and labels must be 1-D of one length: {s.shape}, {y.shape}")
    correct = (s >= threshold) == y
    if not balanced:
        return rate(correct, n_boot=n_boot, seed=seed)

    def stat(c: np.ndarray, lab: np.ndarray) -> float:
        return float(np.mean([c[lab == v].mean() for v in (False, True) if (lab == v).any()]))

    return bootstrap(stat, correct, y, n_boot=n_boot, seed=seed, strata=y)


def pairwise_accuracy(
    r_chosen: ArrayLike, r_rejected: ArrayLike, n_boot: int = 1000, seed: int = 0
) -> Estimate:
    """Share of pairs ranked the labelled way (``r_chosen > r_rejected``; a tie counts 1/2).
    Which side is "chosen" is the caller's label: gold's, or the judge's."""
    c = np.asarray(r_chosen, dtype=np.float64)
    r = np.asarray(r_rejected, dtype=np.float64)
    if c.shape != r.shape or c.ndim != 1:
        raise ValueError(f"reward arrays must be 1-D of one length: {c.shape}, {r.shape}")
    return rate((c > r) + 0.5 * (c == r), n_boot=n_boot, seed=seed)


# --- persistence -------------------------------------------------------------------------------


def _model_blob(model: RewardModel) -> dict[str, Any]:
    return {"kind": model.kind, "config": model.config(), "state_dict": model.state_dict()}


def _model_from_blob(blob: dict[str, Any], path: Path) -> RewardModel:
    kind = blob.get("kind")
    if kind not in _MODELS:
        raise OversightError(f"{path}: unknown reward-model kind {kind!r}")
    config = dict(blob["config"])
    if config.get("n_features") != N_FEATURES:
        raise OversightError(
            f"{path} was trained on {config.get('n_features')} features; "
            f"this version has {N_FEATURES}"
        )
    model = _MODELS[kind](**config)
    model.load_state_dict(blob["state_dict"])
    return model.eval()


def save(obj: RewardModel | Ensemble, path: str | Path) -> None:
    """Write a reward model or an ensemble of reward models (parameters and architecture)."""
    path = Path(path)
    if isinstance(obj, RewardModel):
        blob: dict[str, Any] = {"format": _FORMAT, "type": "model", "model": _model_blob(obj)}
    elif isinstance(obj, Ensemble):
        models = [m for m in obj.members if isinstance(m, RewardModel)]
        if len(models) != len(obj.members):
            raise OversightError("only ensembles of reward models can be saved")
        blob = {
            "format": _FORMAT,
            "type": "ensemble",
            "kind": obj.kind,
            "members": [_model_blob(m) for m in models],
        }
    else:
        raise TypeError(f"cannot save a {type(obj).__name__}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)


def load(path: str | Path) -> RewardModel | Ensemble:
    """Read what :func:`save` wrote."""
    path = Path(path)
    blob = read_checkpoint(
        path, lambda p: torch.load(p, map_location="cpu", weights_only=True), "reward-model"
    )
    if not isinstance(blob, dict) or blob.get("format") != _FORMAT:
        raise OversightError(f"{path} is not a reward-model checkpoint ({_FORMAT})")
    if blob["type"] == "model":
        return _model_from_blob(blob["model"], path)
    if blob["type"] == "ensemble":
        return Ensemble([_model_from_blob(b, path) for b in blob["members"]], blob["kind"])
    raise OversightError(f"{path}: unknown checkpoint type {blob['type']!r}")

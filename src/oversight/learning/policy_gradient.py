"""One policy-gradient trainer for every learned agent: REINFORCE with a baseline and a KL
penalty to the reference (initial) policy.

Per observation ``x`` the objective is
``E_{a ~ pi(.|x)}[r(x, a)] - beta_kl KL(pi(.|x) || pi_ref(.|x))``. The reward term's gradient
is the REINFORCE estimate ``(r - b) grad log pi(a|x)`` over one sampled action per observation.
The KL term is computed exactly from the logits (a sum over the valid actions,
:func:`exact_kl`), so its gradient is exact: the same objective as Gao et al.'s per-sample
penalty ``r - beta log(pi / pi_ref)``, with less variance.

A policy is any torch module with ``logits(obs) -> (B, A)`` and ``action_mask(obs) -> (B, A) bool
or None`` (:class:`Policy`); observations can be anything the policy and the reward function
agree on. The reward comes from a function of the observations and the sampled actions, so the
same trainer serves whichever signal is being optimised (judge confirmations, a reward model).

torch is imported at module level: import this module lazily (nothing in ``oversight`` imports
it at import time), so that ``import oversight`` works without torch. The settings,
:class:`~.pg_config.PGConfig` (importable from here too), live in a torch-free module so that
experiment configs can use them as a field type.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
import torch
from torch import nn

from oversight.core.seeding import derive_seed, deterministic_torch, rng
from oversight.learning.pg_config import PGConfig

ObsT = TypeVar("ObsT")
ModuleT = TypeVar("ModuleT", bound=nn.Module)


class Policy(Protocol):
    """A policy over discrete actions (in practice an ``nn.Module``)."""

    def logits(self, obs: Any) -> torch.Tensor | Sequence[torch.Tensor]:
        """Unnormalised log-probabilities ``(B, A)``; entries of masked actions are ignored.

        A *factored* policy returns one ``(B, A_i)`` tensor per factor instead: an action is
        then one choice per factor (actions ``(B, n_factors)``), its log-probability the sum
        over factors, and the KL penalty the sum of the factors' KLs. Factored policies take no
        mask (``action_mask`` returns None).
        """
        ...

    def action_mask(self, obs: Any) -> torch.Tensor | None:
        """``(B, A)`` bool, True where the action is valid; None when every action is valid.

        Lets observations have different numbers of actions (pad to ``A`` and mask the rest).
        Every row needs at least one valid action.
        """
        ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]:
        """The trainable parameters (``nn.Module.parameters``)."""
        ...


@dataclass
class TrainLog:
    """Per-step records of :func:`train_policy`, all measured before that step's update.

    ``kl`` is ``KL(pi || pi_ref)`` computed exactly from the logits, summed over actions and
    averaged over the step's observations; ``loss`` is the surrogate minimised (policy-gradient
    term plus ``beta_kl`` times that KL).
    """

    mean_reward: list[float] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[float]]:
        """The records as plain lists, for JSON."""
        return asdict(self)


class TabularPolicy(nn.Module):
    """One row of logits per discrete context: ``obs`` is a LongTensor of context indices.

    ``mask`` (``(contexts, actions)`` bool) marks each context's valid actions; ``init_logits``
    sets the starting table (zeros, i.e. uniform, by default).
    """

    mask: torch.Tensor | None  # a buffer (registered in __init__)

    def __init__(
        self,
        n_contexts: int,
        n_actions: int,
        *,
        mask: torch.Tensor | None = None,
        init_logits: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        shape = (n_contexts, n_actions)
        table = torch.zeros(shape) if init_logits is None else init_logits.detach().clone().float()
        if table.shape != shape or (mask is not None and mask.shape != shape):
            raise ValueError(f"init_logits and mask must have shape {shape}")
        self.table = nn.Parameter(table)
        self.register_buffer("mask", None if mask is None else mask.detach().clone().bool())

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        """The logit rows of the contexts in ``obs``."""
        return self.table[obs]

    def action_mask(self, obs: torch.Tensor) -> torch.Tensor | None:
        """The mask rows of the contexts in ``obs`` (None without a mask)."""
        return None if self.mask is None else self.mask[obs]


def masked_log_probs(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Log-softmax over the valid actions; ``-inf`` at masked ones."""
    if logits.ndim != 2:
        raise ValueError(f"logits must be (B, A), got shape {tuple(logits.shape)}")
    if mask is None:
        return torch.log_softmax(logits, dim=-1)
    if mask.shape != logits.shape or mask.dtype != torch.bool:
        raise ValueError(f"mask must be bool with shape {tuple(logits.shape)}")
    if not bool(mask.any(dim=-1).all()):
        raise ValueError("every observation needs at least one valid action")
    return torch.log_softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)


def exact_kl(
    logits_new: torch.Tensor, logits_ref: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """``KL(pi_new || pi_ref)`` per observation, shape ``(B,)``, summed over the valid actions.

    Differentiable in ``logits_new`` (masked actions get zero gradient, never NaN).
    """
    if logits_new.shape != logits_ref.shape:
        raise ValueError(f"logits shapes differ: {logits_new.shape} vs {logits_ref.shape}")
    log_new = masked_log_probs(logits_new, mask)
    log_ref = masked_log_probs(logits_ref, mask)
    p_new = log_new.exp()
    if mask is not None:
        # Zero the -inf entries before subtracting: -inf - -inf would be NaN, in values and grads.
        log_new = log_new.masked_fill(~mask, 0.0)
        log_ref = log_ref.masked_fill(~mask, 0.0)
    return (p_new * (log_new - log_ref)).sum(dim=-1)


def action_probs(policy: Policy, obs: Any) -> torch.Tensor:
    """The policy's action probabilities ``(B, A)`` (zero at masked actions), without gradients."""
    with torch.no_grad():
        return masked_log_probs(_single(policy.logits(obs)), policy.action_mask(obs)).exp()


def policy_kl(policy: Policy, reference: Policy, obs: Any) -> float:
    """Mean over ``obs`` of the exact ``KL(policy || reference)`` (policy's mask for both)."""
    with torch.no_grad():
        logits, ref_logits = _single(policy.logits(obs)), _single(reference.logits(obs))
        kl = exact_kl(logits, ref_logits, policy.action_mask(obs))
    return float(kl.mean())


def frozen_copy(policy: ModuleT) -> ModuleT:
    """A deep copy in eval mode with gradients off: the reference policy for the KL penalty."""
    ref = copy.deepcopy(policy).eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    return ref


def train_policy(
    policy: Policy,
    sample_obs: Callable[[np.random.Generator, int], ObsT],
    reward_fn: Callable[[ObsT, np.ndarray], np.ndarray],
    config: PGConfig,
    *,
    reference: Policy | None = None,
    callback: Callable[[int, Policy], None] | None = None,
    horizon: int = 1,
    transition: Callable[[ObsT, np.ndarray], ObsT] | None = None,
) -> TrainLog:
    """Train ``policy`` in place by REINFORCE with a KL penalty to ``reference``.

    Each step draws a batch ``obs = sample_obs(gen, config.batch)`` (``gen`` a numpy generator),
    samples one action per observation from the policy, gets rewards
    ``reward_fn(obs, actions)`` (``actions`` an int64 array ``(B,)``, ``(B, n_factors)`` for a
    factored policy; a float array ``(B,)`` back), and takes one Adam step. ``reference``
    defaults to a frozen copy of the policy as it is on entry. ``callback(step, policy)``, when
    given, runs after each update (evaluations, checkpoints).

    Episodes of ``horizon`` actions: with ``horizon > 1``, ``transition(obs, actions)`` gives the
    next observations, the reward ``reward_fn(obs, actions)`` comes once, for the last step, and
    the policy-gradient term and the KL penalty sum over the episode's steps (the KL then is
    the episode's, estimated along the sampled path: the exact per-step KLs summed).

    Deterministic given ``config.seed``: observations come from a numpy generator and actions
    from a ``torch.Generator``, both derived from the seed; anything else drawing on torch's
    global RNG (dropout) runs inside a forked RNG seeded from it; torch runs on one thread with
    deterministic algorithms, restored afterwards.
    """
    if horizon < 1 or (horizon > 1 and transition is None):
        raise ValueError(f"horizon {horizon}: need horizon >= 1, and a transition when above 1")
    ref = reference if reference is not None else _frozen_reference(policy)
    params = [p for p in policy.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the policy has no trainable parameters")
    with deterministic_torch(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(config.seed, "policy_gradient", "torch"))
        episode = _Episode(horizon, transition)
        return _train(policy, ref, params, sample_obs, reward_fn, config, callback, episode)


def _train(
    policy: Policy,
    ref: Policy,
    params: list[nn.Parameter],
    sample_obs: Callable[[np.random.Generator, int], ObsT],
    reward_fn: Callable[[ObsT, np.ndarray], np.ndarray],
    config: PGConfig,
    callback: Callable[[int, Policy], None] | None,
    episode: _Episode[ObsT],
) -> TrainLog:
    opt = torch.optim.Adam(params, lr=config.lr)
    obs_gen = rng(config.seed, "policy_gradient", "obs")
    action_gen = torch.Generator().manual_seed(
        derive_seed(config.seed, "policy_gradient", "actions")
    )
    baseline = _RunningBaseline(config)
    log = TrainLog()
    for step in range(config.steps):
        obs = sample_obs(obs_gen, config.batch)
        chosen: torch.Tensor | float = 0.0
        kl_rows: torch.Tensor | float = 0.0
        for t in range(episode.horizon):
            heads = _heads(policy.logits(obs))
            mask = policy.action_mask(obs) if len(heads) == 1 else None
            with torch.no_grad():
                ref_heads = _heads(ref.logits(obs))
            picks: list[torch.Tensor] = []
            for logits, ref_logits in zip(heads, ref_heads, strict=True):
                log_probs = masked_log_probs(logits, mask)
                pick = torch.multinomial(log_probs.detach().exp(), 1, generator=action_gen)
                picks.append(pick.squeeze(1))
                chosen = chosen + log_probs.gather(1, pick).squeeze(1)
                kl_rows = kl_rows + exact_kl(logits, ref_logits, mask)
            actions = picks[0] if len(picks) == 1 else torch.stack(picks, dim=1)
            if t < episode.horizon - 1:
                assert episode.transition is not None  # train_policy checked it
                obs = episode.transition(obs, actions.numpy())
        rewards = _checked_rewards(reward_fn(obs, actions.numpy()), len(actions))
        advantage = torch.as_tensor(rewards - baseline(rewards), dtype=heads[0].dtype)
        kl = torch.as_tensor(kl_rows).mean()
        loss = -(advantage * chosen).mean() + config.beta_kl * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if config.max_grad_norm is not None:
            nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        opt.step()
        log.mean_reward.append(float(rewards.mean()))
        log.kl.append(float(kl.detach()))
        log.loss.append(float(loss.detach()))
        if callback is not None:
            callback(step, policy)
    return log


@dataclass(frozen=True)
class _Episode(Generic[ObsT]):
    """How many actions an episode takes and how observations follow from them."""

    horizon: int
    transition: Callable[[ObsT, np.ndarray], ObsT] | None


def _single(logits: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    if not isinstance(logits, torch.Tensor):
        raise ValueError("this takes a plain categorical policy, not a factored one")
    return logits


def _heads(logits: torch.Tensor | Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """A policy's logits as a tuple of heads (one for a plain categorical policy)."""
    return (logits,) if isinstance(logits, torch.Tensor) else tuple(logits)


class _RunningBaseline:
    """The baseline for one batch of rewards; it depends only on past batches, except for
    ``"loo"`` (each sample's own batch minus itself) and the very first ``"mean"`` step."""

    def __init__(self, config: PGConfig) -> None:
        self.kind = config.baseline
        self.decay = config.baseline_decay
        self.mean: float | None = None

    def __call__(self, rewards: np.ndarray) -> np.ndarray | float:
        if self.kind == "none":
            return 0.0
        if self.kind == "loo":
            if len(rewards) < 2:
                raise ValueError("a leave-one-out baseline needs batches of at least 2")
            return (rewards.sum() - rewards) / (len(rewards) - 1)
        batch_mean = float(rewards.mean())
        value = batch_mean if self.mean is None else self.mean
        self.mean = (
            batch_mean
            if self.mean is None
            else self.decay * self.mean + (1 - self.decay) * batch_mean
        )
        return value


def _checked_rewards(rewards: np.ndarray, batch: int) -> np.ndarray:
    r = np.asarray(rewards, dtype=np.float64)
    if r.shape != (batch,) or not np.all(np.isfinite(r)):
        raise ValueError(f"reward_fn must return {batch} finite rewards, got shape {r.shape}")
    return r


def _frozen_reference(policy: Policy) -> Policy:
    if not isinstance(policy, nn.Module):
        raise TypeError("pass reference= explicitly for a policy that is not an nn.Module")
    return frozen_copy(policy)

"""One arms race per capability level: the attacker best-responds to the frozen critic, then the
critic retrains on every attack so far plus honest artifacts.

Round 0 trains the critic on attacks of the untrained (uniform) attacker. Round ``r >= 1``:

1. the attacker (warm-started) trains by policy gradient against a copy of critic ``r - 1``
   (same weights, its own random streams) and that critic's audit threshold;
2. it makes ``attacks_per_round`` attacks on training programs (best of its candidates against
   the copy); the valid ones join the pool;
3. the critic (warm-started) plays every probe on the new attacks, and the judge's confirmations
   become training examples; it retrains on all examples so far (honest ones included);
4. the audit threshold is reset on the calibration programs' honest artifacts;
5. on the evaluation programs, the round's attacks are judged by the critic before and after
   its update: attack success, catch rate, suspicion AUC, false alarms.

Every round ends with a checkpoint (both policies, threshold, round metrics; the examples in a
file of their own): a killed run resumes at the first unfinished round and redoes none.
The critic only ever sees contexts (R and P) and the judge's rulings: never gold, makers or ids.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from oversight.agents.attackers.composer import ComposerPolicy, ComposingAttacker, train_composer
from oversight.agents.critics.probe import (
    ProbeConfig,
    ProbeCritic,
    ProbeExample,
    ProbeNet,
    collect_examples,
    net_from_state,
    net_state,
    new_net,
    train_probe,
)
from oversight.core.errors import OversightError
from oversight.core.files import atomic_path, read_checkpoint
from oversight.core.seeding import derive_seed, rng
from oversight.envs.programs.env import ProgramContext
from oversight.envs.programs.generator import Reference
from oversight.experiments.arms_race.config import ArmsRaceConfig
from oversight.experiments.arms_race.world import World, audit_threshold_of
from oversight.judges.budgeted import BudgetedJudge
from oversight.metrics.classification import roc_auc

_FORMAT = "oversight.arms-race-round/1"


@dataclass
class LevelState:
    """Where one level's race stands after its latest finished round."""

    attacker: ComposerPolicy
    critic: ProbeNet
    threshold: float
    rounds: list[dict[str, Any]] = field(default_factory=list)
    examples: list[ProbeExample] = field(default_factory=list)

    @property
    def finished(self) -> int:
        """Rounds finished (round 0, the critic's start, included)."""
        return len(self.rounds)


def probe_config(cfg: ArmsRaceConfig, level: int) -> ProbeConfig:
    c = cfg.critics[level]
    return ProbeConfig(budget_fraction=c.budget_fraction, hidden=c.hidden)


def critic_of(cfg: ArmsRaceConfig, level: int, net: ProbeNet | None, seed: int) -> ProbeCritic:
    return ProbeCritic(probe_config(cfg, level), net, seed=seed, name=f"critic-probe-L{level}")


def make_attacks(
    attacker: ComposingAttacker,
    refs: Sequence[Reference],
    n: int,
    subtleties: Sequence[int],
    r: np.random.Generator,
    key: str,
) -> list[tuple[int, Any]]:
    """``n`` attacks, cycling over ``refs``: ``(ref index, Attack)``."""
    out = []
    for i in range(n):
        j = i % len(refs)
        k = int(subtleties[int(r.integers(0, len(subtleties)))])
        out.append((j, attacker.attack(refs[j], k, r, f"{key}/{i}")))
    return out


def _valid_contexts(
    refs: Sequence[Reference], attacks: Sequence[tuple[int, Any]]
) -> list[ProgramContext]:
    return [
        ProgramContext(refs[j].program, a.composed.program) for j, a in attacks if a.check.valid
    ]


def _suspicions(critic: ProbeCritic, contexts: Sequence[ProgramContext], key: str) -> list[Any]:
    return [critic.critique(c, f"{key}/{i}") for i, c in enumerate(contexts)]


def _train_critic(
    cfg: ArmsRaceConfig, level: int, state_net: ProbeNet, examples: list[ProbeExample], rnd: int
) -> ProbeNet:
    t = cfg.critic_training
    return train_probe(
        examples, state_net, derive_seed(cfg.seed, "critic-train", level, rnd), t.epochs, t.lr
    )


def round_metrics(
    cfg: ArmsRaceConfig,
    world: World,
    level: int,
    attacker: ComposingAttacker,
    before: tuple[ProbeNet | None, float],
    after: tuple[ProbeNet, float],
    rnd: int,
) -> dict[str, Any]:
    """The round's attacks on evaluation programs, judged by the critic before and after its
    update (see the module docstring)."""
    r = rng(cfg.seed, "race-eval", level, rnd)
    refs = world.eval_refs
    attacks = make_attacks(
        attacker, refs, cfg.eval_attacks * len(refs), cfg.subtlety_bits, r, "eval"
    )
    contexts = _valid_contexts(refs, attacks)
    honest = world.eval_honest
    out: dict[str, Any] = {"round": rnd, "attacks": len(attacks)}
    out["valid"] = float(np.mean([a.check.valid for _, a in attacks]))
    out["attacker_compute"] = float(np.mean([a.compute for _, a in attacks]))
    for name, (net, threshold) in (("before", before), ("after", after)):
        critic = critic_of(cfg, level, net, derive_seed(cfg.seed, "critic", level))
        claims = _suspicions(critic, contexts, f"eval/{rnd}/attacks")
        honest_claims = _suspicions(critic, honest, f"eval/{rnd}/honest")
        caught = [c.input is not None for c in claims]
        audited = [c.input is None and c.suspicion > threshold for c in claims]
        success = sum(not c and not a for c, a in zip(caught, audited, strict=True))
        out[f"catch_{name}"] = float(np.mean(caught)) if caught else float("nan")
        out[f"success_{name}"] = success / len(attacks)
        out[f"auc_{name}"] = (
            roc_auc([c.suspicion for c in claims], [c.suspicion for c in honest_claims])
            if claims
            else float("nan")
        )
        out[f"false_alarm_{name}"] = float(
            np.mean([c.suspicion > threshold for c in honest_claims])
        )
        out[f"critic_compute_{name}"] = float(
            np.mean([c.compute_spent for c in claims or honest_claims])
        )
    return out


def run_level(
    cfg: ArmsRaceConfig,
    world: World,
    level: int,
    folder: Path,
    on_round: Callable[[], None] | None = None,
) -> LevelState:
    """Run (or resume) the race at ``level`` to ``cfg.rounds`` rounds; returns its state."""
    folder.mkdir(parents=True, exist_ok=True)
    judge = BudgetedJudge(cfg.judge, seed=derive_seed(cfg.seed, "race-judge", level))
    pconfig = probe_config(cfg, level)
    a_level = cfg.attackers[level]
    state = load_level(folder, cfg, level)
    if state is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(cfg.seed, "attacker-init", level))
            policy = ComposerPolicy(a_level.hidden)
        net = new_net(derive_seed(cfg.seed, "critic-init", level), cfg.critics[level].hidden)
        uniform = ComposingAttacker(None, 1, None, 1.0, cfg.rename_share)
        r = rng(cfg.seed, "race-collect", level, 0)
        attacks = make_attacks(
            uniform,
            world.train_refs,
            cfg.critic_training.attacks_per_round,
            cfg.subtlety_bits,
            r,
            "r0",
        )
        contexts = world.train_honest + _valid_contexts(world.train_refs, attacks)
        examples = collect_examples(
            contexts, judge, pconfig, derive_seed(cfg.seed, "explore", level, 0), "r0"
        )
        net = _train_critic(cfg, level, net, examples, 0)
        threshold = audit_threshold_of(critic_of(cfg, level, net, 0), world, cfg.audit_budget)
        metrics = round_metrics(cfg, world, level, uniform, (None, 0.0), (net, threshold), 0)
        state = LevelState(policy, net, threshold, [metrics], examples)
        save_level(folder, state)
        if on_round:
            on_round()
    while state.finished <= cfg.rounds:
        rnd = state.finished
        seed = derive_seed(cfg.seed, "attacker-train", level, rnd)
        copy = critic_of(cfg, level, state.critic, derive_seed(cfg.seed, "critic-copy", level))
        rewards, spent = train_composer(
            state.attacker,
            world.train_refs,
            cfg.subtlety_bits,
            copy.critique,
            state.threshold,
            cfg.attacker_training.model_copy(update={"seed": seed}),
            cfg.rename_share,
        )
        attacker = ComposingAttacker(
            state.attacker, a_level.candidates, copy.critique, state.threshold, cfg.rename_share
        )
        r = rng(cfg.seed, "race-collect", level, rnd)
        attacks = make_attacks(
            attacker,
            world.train_refs,
            cfg.critic_training.attacks_per_round,
            cfg.subtlety_bits,
            r,
            f"r{rnd}",
        )
        new = collect_examples(
            _valid_contexts(world.train_refs, attacks),
            judge,
            pconfig,
            derive_seed(cfg.seed, "explore", level, rnd),
            f"r{rnd}",
        )
        examples = state.examples + new
        before = (state.critic, state.threshold)
        net = _train_critic(cfg, level, _clone(state.critic), examples, rnd)
        threshold = audit_threshold_of(critic_of(cfg, level, net, 0), world, cfg.audit_budget)
        metrics = round_metrics(cfg, world, level, attacker, before, (net, threshold), rnd)
        metrics["attacker_reward_first"] = rewards[0] if rewards else float("nan")
        metrics["attacker_reward_last"] = rewards[-1] if rewards else float("nan")
        metrics["attacker_train_compute"] = spent
        state = LevelState(state.attacker, net, threshold, [*state.rounds, metrics], examples)
        save_level(folder, state)
        if on_round:
            on_round()
    return state


def _clone(net: ProbeNet) -> ProbeNet:
    return net_from_state(net_state(net), "in memory")


# --- checkpoints -------------------------------------------------------------------------------


def _round_file(folder: Path, rnd: int) -> Path:
    return folder / f"round{rnd:02d}.pt"


def save_level(folder: Path, state: LevelState) -> None:
    """Write the examples, then the round's file (whose presence marks the round finished)."""
    examples = {
        "count": len(state.examples),
        "features": [torch.from_numpy(e.features) for e in state.examples],
        "targets": [torch.from_numpy(e.targets) for e in state.examples],
        "labels": [torch.from_numpy(e.labels) for e in state.examples],
        "random": [bool(e.random) for e in state.examples],
    }
    with atomic_path(folder / "examples.pt") as tmp:
        torch.save(examples, tmp)
    blob = {
        "format": _FORMAT,
        "round": state.finished - 1,
        "attacker_hidden": state.attacker.hidden,
        "attacker": state.attacker.state_dict(),
        "critic": net_state(state.critic),
        "threshold": state.threshold,
        "rounds": state.rounds,
        "examples": len(state.examples),
    }
    with atomic_path(_round_file(folder, state.finished - 1)) as tmp:
        torch.save(blob, tmp)


def load_level(folder: Path, cfg: ArmsRaceConfig, level: int) -> LevelState | None:
    """The latest finished round's state, or None before round 0 finished."""
    files = sorted(folder.glob("round*.pt"))
    if not files:
        return None
    path = files[-1]
    blob = read_checkpoint(path, lambda p: torch.load(p, weights_only=True), "arms-race round")
    if blob.get("format") != _FORMAT:
        raise OversightError(f"{path}: not an arms-race round checkpoint of this version")
    if blob["attacker_hidden"] != cfg.attackers[level].hidden:
        raise OversightError(f"{path}: attacker width differs from the config")
    policy = ComposerPolicy(int(blob["attacker_hidden"]))
    policy.load_state_dict(blob["attacker"])
    net = net_from_state(blob["critic"], str(path))
    stored = read_checkpoint(
        folder / "examples.pt", lambda p: torch.load(p, weights_only=True), "arms-race examples"
    )
    n = int(blob["examples"])
    if int(stored["count"]) < n:
        raise OversightError(f"{folder / 'examples.pt'}: fewer examples than {path.name} needs")
    columns = zip(
        stored["features"][:n],
        stored["targets"][:n],
        stored["labels"][:n],
        stored["random"][:n],
        strict=True,
    )
    examples = [
        ProbeExample(f.numpy(), t.numpy(), lab.numpy(), bool(rnd)) for f, t, lab, rnd in columns
    ]
    return LevelState(policy, net, float(blob["threshold"]), list(blob["rounds"]), examples)

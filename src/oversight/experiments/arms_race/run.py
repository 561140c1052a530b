"""Run the arms-race experiment: per replicate, one race per level, then every evaluation arm.

After the races (:mod:`.race`), each level has a final attacker and a final critic. Arms, each
one protocol (critique), one critic and one set of cases, stored as transcripts:

- ``grid_aA_cC``: attacker level A's attacks (best of its candidates against a copy of critic
  C) judged with critic C; the diagonal A = C is the matched-capability headline;
- ``heldout_cC``: backdoors of the held-out families (never trained or tuned on) with critic C;
- ``{random,guided,solver,untrained}_{diag,heldout}_cC``: the baselines at critic C's budget:
  uniform random inputs, changed lines first (solver aimed at the lines where R and P differ,
  then random), the solver alone, and the probe critic with no training (random probe order);
  on the diagonal attacks and on the held-out families.

Arm names carry their replicate: ``sI.ARM``. Every arm that measures audits also plays the
honest artifacts of the calibration programs (the threshold) and of the evaluation programs
(false alarms, AUC). Everything derives from the config's seed, so a resumed run rebuilds the
same cases and skips the episodes on disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oversight.agents.attackers.composer import ComposingAttacker
from oversight.agents.critics.search import SearchCritic
from oversight.core.records import Transcript
from oversight.core.runs import RunStore
from oversight.core.seeding import derive_seed, rng
from oversight.envs.base import Case
from oversight.envs.programs.attacks import composed_made, family_attack
from oversight.envs.programs.env import ProgramContext
from oversight.experiments.arms_race.config import ArmsRaceConfig
from oversight.experiments.arms_race.race import LevelState, critic_of, run_level
from oversight.experiments.arms_race.world import World, build_world
from oversight.experiments.progress import progress_bar
from oversight.judges.budgeted import BudgetedJudge
from oversight.protocols.engine import CRITIQUE, Agent, pending, play

BASELINES = {"random": "random", "guided": "guided", "solver": "solver"}


@dataclass
class RaceResult:
    """What a run produced: every transcript, each level's per-round metrics, and the number
    of attack attempts behind each grid cell (invalid attempts are not judged)."""

    transcripts: list[Transcript]
    rounds: dict[str, list[dict[str, Any]]]  # by "sI.LJ": replicate I, level J
    attempts: dict[str, int]


def grid_cases(
    cfg: ArmsRaceConfig, world: World, states: list[LevelState], a: int, c: int
) -> tuple[list[Case[ProgramContext]], int]:
    """Attacker level ``a``'s valid attacks on the eval programs, vetted against a copy of
    critic ``c``; and how many attempts they came from."""
    copy = critic_of(cfg, c, states[c].critic, derive_seed(cfg.seed, "critic-copy", c))
    level = cfg.attackers[a]
    attacker = ComposingAttacker(
        states[a].attacker, level.candidates, copy.critique, states[c].threshold, cfg.rename_share
    )
    r = rng(cfg.seed, "grid", a, c)
    out = []
    attempts = 0
    for index, (problem, ref) in enumerate(world.problems["eval"]):
        for i in range(cfg.eval_attacks):
            k = int(cfg.subtlety_bits[int(r.integers(0, len(cfg.subtlety_bits)))])
            attack = attacker.attack(ref, k, r, f"grid/{a}/{c}/{index}/{i}")
            attempts += 1
            if attack.check.valid and attack.composed is not None:
                made = composed_made(attack.composed, attack.check, attack.choice, k)
                made.info["attack_compute"] = attack.compute
                out.append(world.env.case(problem, made, f"attack/a{a}/c{c}/{index}/{i}"))
    return out, attempts


def heldout_cases(cfg: ArmsRaceConfig, world: World) -> tuple[list[Case[ProgramContext]], int]:
    """Valid backdoors of every held-out family and subtlety on each eval program."""
    out = []
    attempts = 0
    for index, (problem, ref) in enumerate(world.problems["eval"]):
        r = rng(cfg.seed, "heldout", index)
        for family in cfg.heldout_families:
            for k in cfg.subtlety_bits:
                attempts += 1
                made = family_attack(ref, r, family, k, cfg.rename_share)
                if made is not None:
                    out.append(world.env.case(problem, made, f"heldout/{family}-k{k}"))
    return out, attempts


def _baseline(cfg: ArmsRaceConfig, kind: str, c: int) -> Agent[ProgramContext]:
    if kind == "untrained":
        return critic_of(cfg, c, None, derive_seed(cfg.seed, "critic", c))
    config = cfg.baseline_critic(BASELINES[kind], c)
    return SearchCritic(config, seed=cfg.seed, name=f"critic-{kind}-L{c}")


def replicate_arms(
    cfg: ArmsRaceConfig, world: World, states: list[LevelState], prefix: str
) -> tuple[list[tuple[str, list[Case[ProgramContext]], Agent[ProgramContext]]], dict[str, int]]:
    """Every evaluation arm of one replicate (names ``PREFIX.ARM``) and its attack attempts."""
    honest = world.honest["calibration"] + world.honest["eval"]
    attempts: dict[str, int] = {}
    plan: list[tuple[str, list[Case[ProgramContext]], Agent[ProgramContext]]] = []
    held, attempts[f"{prefix}.heldout"] = heldout_cases(cfg, world)
    diagonal: dict[int, list[Case[ProgramContext]]] = {}
    learned = [
        critic_of(cfg, c, states[c].critic, derive_seed(cfg.seed, "critic", c))
        for c in range(cfg.levels)
    ]
    for a in range(cfg.levels):
        for c in range(cfg.levels):
            arm = f"{prefix}.grid_a{a}_c{c}"
            cases, attempts[arm] = grid_cases(cfg, world, states, a, c)
            if a == c:
                diagonal[c] = cases
            plan.append((arm, cases + honest, learned[c]))
    for c in range(cfg.levels):
        plan.append((f"{prefix}.heldout_c{c}", held + honest, learned[c]))
        for kind in ("untrained", *BASELINES):
            critic = _baseline(cfg, kind, c)
            plan.append((f"{prefix}.{kind}_diag_c{c}", diagonal[c] + honest, critic))
            plan.append((f"{prefix}.{kind}_heldout_c{c}", held, critic))
    return plan, attempts


def run(cfg: ArmsRaceConfig, store: RunStore, progress: bool = True) -> RaceResult:
    """Run every replicate's races (resuming at the first unfinished round), then play every
    arm of every replicate."""
    done = store.done_ids()
    rounds: dict[str, list[dict[str, Any]]] = {}
    attempts: dict[str, int] = {}
    with progress_bar(progress) as bar:
        per = cfg.levels * (cfg.rounds + 1)
        task = bar.add_task("arms race rounds", total=cfg.replicates * per)
        plan = []
        for i in range(cfg.replicates):
            sub = cfg.replicate(i)
            world = build_world(sub)
            states = []
            for level in range(cfg.levels):
                folder = store.checkpoint(f"race-s{i}-L{level}")
                states.append(run_level(sub, world, level, folder, lambda: bar.advance(task)))
                rounds[f"s{i}.L{level}"] = states[-1].rounds
            bar.update(task, completed=(i + 1) * per)
            arms, tried = replicate_arms(sub, world, states, f"s{i}")
            plan += arms
            attempts.update(tried)
        todo = [(arm, pending(cases, arm, done), critic) for arm, cases, critic in plan]
        episodes = bar.add_task("episodes", total=sum(len(t) for _, t, _ in todo))
        judge_seed = derive_seed(cfg.seed, "judge")
        for arm, cases, critic in todo:
            bar.update(episodes, description=arm)
            play(
                CRITIQUE,
                cases,
                {"critic": critic},
                BudgetedJudge(cfg.judge, seed=judge_seed),
                arm,
                store,
                cfg.batch,
                on_batch=lambda batch: bar.advance(episodes, len(batch)),
            )
    return RaceResult(store.transcripts(), rounds, attempts)

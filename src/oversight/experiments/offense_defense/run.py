"""Run the offense-defense experiment: build artifacts, play every arm, store transcripts.

Everything is derived from the config's seed, so a resumed run rebuilds the same artifacts and
skips every episode already on disk. Arms (one protocol, judge and critic each):

- ``unassisted_random`` / ``unassisted_informed``: the judge alone, both test strategies;
- ``assisted_random`` / ``assisted_guided`` / ``assisted_solver``: critique-assisted, with a
  search critic (random inputs; changed lines first; the solver alone);
- ``assisted_learned`` / ``assisted_pointer_random``: the learned critic and its ablation;
- ``assisted_guided_noisy``: the guided arm with a noisy judge;
- ``sweep_b{i}``: the guided arm at each critic budget of the sweep;
- ``adaptive_*``: backdoors from the adaptive attacker, judged unassisted and assisted.

Evaluated artifacts include the held-out families (``attack.heldout_families``), which the
learned critic never trains on. Every arm with a critic also plays the honest artifacts of the
calibration programs (tagged ``calibration/``), which set its audit thresholds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oversight.agents.attackers import AdaptiveAttacker
from oversight.agents.critics import SearchCritic
from oversight.core.records import Transcript
from oversight.core.runs import RunStore
from oversight.core.seeding import derive_seed, rng
from oversight.envs.base import Case
from oversight.envs.programs.env import CaseMix, ProgramContext, ProgramEnv, Split
from oversight.experiments.offense_defense.config import OffenseDefenseConfig
from oversight.experiments.progress import progress_bar
from oversight.judges.budgeted import BudgetedJudge, JudgeConfig
from oversight.protocols.engine import CRITIQUE, DIRECT, Agent, Episode, Protocol, pending, play

if TYPE_CHECKING:
    from oversight.agents.critics.learned import Pointer, PointerNet


@dataclass
class Arm:
    name: str
    protocol: Protocol
    judge: JudgeConfig
    items: str  # "main" or "adaptive"
    critic: Callable[[], Agent[ProgramContext]] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def environment(cfg: OffenseDefenseConfig, families: Sequence[str] | None = None) -> ProgramEnv:
    """The program environment with this run's generator, penalty and artifact mix; backdoors
    of ``families`` (default: the trained and the held-out ones)."""
    if families is None:
        families = [*cfg.attack.families, *cfg.attack.heldout_families]
    mix = CaseMix(
        seed=cfg.seed,
        honest=cfg.makers.honest_per_problem,
        refactor=cfg.makers.refactor_per_problem,
        families=tuple(families),
        subtlety_bits=tuple(cfg.attack.subtlety_bits),
        rename_share=cfg.makers.rename_share,
    )
    return ProgramEnv(cfg.generator, cfg.penalty, mix)


def build_items(
    env: ProgramEnv, indices: range, split: Split = "eval"
) -> Iterator[Case[ProgramContext]]:
    """The cases of every problem in ``indices`` of ``split``."""
    for index in indices:
        yield from env.cases(index, split)


def training_items(cfg: OffenseDefenseConfig) -> list[Case[ProgramContext]]:
    """The learned critic's training cases: train-split programs, the trained families only
    (the held-out ones stay out of training)."""
    env = environment(cfg, cfg.attack.families)
    return list(build_items(env, range(cfg.learned.train_problems), "train"))


def calibration_items(cfg: OffenseDefenseConfig) -> list[Case[ProgramContext]]:
    """The honest artifacts (plain and refactoring) of the calibration programs."""
    env = environment(cfg, families=())
    cases = build_items(env, range(cfg.calibration_problems), "calibration")
    return [c for c in cases if c.gold.kind == "honest"]


def build_adaptive(cfg: OffenseDefenseConfig, env: ProgramEnv) -> Iterator[Case[ProgramContext]]:
    """Backdoors vetted against a copy of the critic (same recipe, another seed)."""
    a = cfg.adaptive
    copy = SearchCritic(
        cfg.critic.model_copy(update={"kind": a.critic}),
        seed=derive_seed(cfg.seed, "critic-copy"),
        name=f"copy-{a.critic}",
    )
    attacker = AdaptiveAttacker(copy.critique, a.candidates, a.families, cfg.makers.rename_share)
    for index in range(cfg.problems):
        problem, ref = env.problem(index)
        r = rng(cfg.seed, "adaptive", index)
        for k in a.subtlety_bits:
            yield env.case(problem, attacker.make(env, problem, ref, k, r), f"adaptive-k{k}")


def arms(
    cfg: OffenseDefenseConfig, learned: Callable[[Pointer], Agent[ProgramContext]] | None
) -> list[Arm]:
    def search(kind: str, fraction: float | None = None) -> Callable[[], Agent[ProgramContext]]:
        update: dict[str, Any] = {"kind": kind}
        if fraction is not None:
            update["budget_fraction"] = fraction
        c = cfg.critic.model_copy(update=update)
        return lambda: SearchCritic(c, seed=cfg.seed)

    judge = cfg.judge
    informed = judge.model_copy(update={"strategy": "informed"})
    out = [
        Arm("unassisted_random", DIRECT, judge.model_copy(update={"strategy": "random"}), "main"),
        Arm("unassisted_informed", DIRECT, informed, "main"),
        Arm("assisted_random", CRITIQUE, judge, "main", search("random")),
        Arm("assisted_guided", CRITIQUE, judge, "main", search("guided")),
        Arm("assisted_solver", CRITIQUE, judge, "main", search("solver")),
        Arm(
            "assisted_guided_noisy",
            CRITIQUE,
            judge.model_copy(update={"noise": cfg.noisy_judge}),
            "main",
            search("guided"),
        ),
    ]
    if learned is not None:
        out += [
            Arm("assisted_learned", CRITIQUE, judge, "main", lambda: learned("learned")),
            Arm("assisted_pointer_random", CRITIQUE, judge, "main", lambda: learned("random")),
        ]
    for i, fraction in enumerate(cfg.critic_budget_sweep):
        out.append(
            Arm(
                f"sweep_b{i}",
                CRITIQUE,
                judge,
                "main",
                search("guided", fraction),
                {"budget_fraction": fraction},
            )
        )
    if cfg.adaptive.enabled:
        out += [
            Arm("adaptive_unassisted_informed", DIRECT, informed, "adaptive"),
            Arm("adaptive_assisted", CRITIQUE, judge, "adaptive", search(cfg.adaptive.critic)),
        ]
    return out


def _train_learned(cfg: OffenseDefenseConfig, store: RunStore) -> PointerNet:
    """Train (or, on resume, load) the learned critic's pointer from judge confirmations."""
    from oversight.agents.critics import learned as lc

    path = store.checkpoint("pointer.pt")
    if path.exists():
        return lc.load_pointer(path)
    train_items = training_items(cfg)

    def episodes() -> list[Episode[ProgramContext]]:
        return [
            Episode(f"train/{it.artifact.id}", it.problem, it.artifact, it.context)
            for it in train_items
        ]

    judge = BudgetedJudge(cfg.judge, seed=derive_seed(cfg.seed, "train-judge"))
    net, _ = lc.collect_and_train(
        episodes,
        judge,
        cfg.critic.model_copy(
            update={"kind": "learned", "budget_fraction": cfg.learned.budget_fraction}
        ),
        seed=derive_seed(cfg.seed, "learned") % 2**31,
        rounds=cfg.learned.rounds,
        epsilon=cfg.learned.epsilon,
    )
    lc.save_pointer(net, path)
    return net


def run(cfg: OffenseDefenseConfig, store: RunStore, progress: bool = True) -> list[Transcript]:
    """Build artifacts, train the learned critic, then play every arm, appending transcripts
    batch by batch; returns all transcripts."""
    env = environment(cfg)
    done = store.done_ids()
    with progress_bar(progress) as bar:
        main = build_items(env, range(cfg.problems))
        total = cfg.problems * env.mix.per_problem
        items = {"main": list(bar.track(main, total, description="artifacts"))}
        if cfg.adaptive.enabled:
            n = cfg.problems * len(cfg.adaptive.subtlety_bits)
            adaptive = bar.track(build_adaptive(cfg, env), n, description="adaptive attacks")
            items["adaptive"] = list(adaptive) + [
                it for it in items["main"] if it.gold.kind == "honest"
            ]
        learned = None
        if cfg.learned.enabled:
            training = bar.add_task("train learned critic", total=1)
            net = _train_learned(cfg, store)
            bar.advance(training)

            def learned(pointer: Pointer) -> Agent[ProgramContext]:
                from oversight.agents.critics.learned import LearnedCritic

                kind = "learned" if pointer == "learned" else "pointer_random"
                c = cfg.critic.model_copy(
                    update={"kind": kind, "budget_fraction": cfg.learned.budget_fraction}
                )
                return LearnedCritic(c, pointer=pointer, net=net, seed=cfg.seed)

        calibration = calibration_items(cfg)
        plan = [
            (arm, pending(items[arm.items] + (calibration if arm.critic else []), arm.name, done))
            for arm in arms(cfg, learned)
        ]
        task = bar.add_task("episodes", total=sum(len(todo) for _, todo in plan))
        for arm, todo in plan:
            bar.update(task, description=arm.name)
            play(
                arm.protocol,
                todo,
                {"critic": arm.critic()} if arm.critic else {},
                BudgetedJudge(arm.judge, seed=derive_seed(cfg.seed, "judge")),
                arm.name,
                store,
                cfg.batch,
                meta=arm.meta,
                on_batch=lambda batch: bar.advance(task, len(batch)),
            )
    return store.transcripts()

"""Config schema of the recursive reward modeling (RRM) experiment (:mod:`.seed_run`).

Kept apart from the algorithm so that configs validate, and bad ones are refused with a reason,
without importing torch.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from oversight.core.config import Seed, Strict
from oversight.envs.programs.generator import GUARD_TEMPLATES, GeneratorConfig
from oversight.envs.programs.makers import TRIGGER_FAMILIES, check_subtleties
from oversight.envs.programs.traces import Default, Order
from oversight.judges.recursive import TraceAssistedJudgeConfig
from oversight.learning.pg_config import PGConfig

LEVELS = {0: "execution traces", 1: "counterexample critic", 2: "program improver"}
"""The levels of the program environment; ``depth`` counts the learned ones (1 or 2)."""

PRIMITIVE_COST = 1
"""The cheapest check a judge can make: evaluating one line (one trace step) costs 1."""

Supervision = Literal["unassisted", "assisted", "gold"]


# --- configuration ---------------------------------------------------------------------------


class Level0Config(Strict):
    """The level-0 knobs (see :class:`~oversight.judges.recursive.TraceAssistedJudgeConfig`).

    Imperfect by default: sloppy tracers, a lying tracer for the artifact's side, and a checker
    that cannot check a whole trace (160 lines) within its budget; :data:`CLEAN_LEVEL0` (an
    exact execution oracle) is an ablation, not the setting measured.
    """

    tracer_epsilon: float = Field(0.0002, ge=0, le=1, description="Per-step error of tracers.")
    lying: bool = Field(True, description="The artifact's tracer lies to hide a difference.")
    checker_budget: int = Field(24, ge=0, description="Steps the trace checker may check.")
    checker_order: Order = "backward"
    default: Default = Field("accept", description="Ruling on a contest the judge can't afford.")
    noise: float = Field(0.0, ge=0, le=0.5, description="Chance each verdict is flipped.")
    own_inputs: int = Field(
        1, ge=0, le=64, description="Inputs every judge draws and checks with level 0 itself."
    )


CLEAN_LEVEL0: dict[str, Any] = {"tracer_epsilon": 0.0, "lying": False, "checker_budget": 10_000}
"""Level-0 overrides for the ablation: honest, exact tracers and an exhaustive checker."""

Critic = Literal["learned", "random_input", "solver_only"]
"""The level-1 critic of an assisted mode: the learned pointer critic, or a baseline without
learning (:mod:`oversight.agents.critics.claim`)."""


class ModeConfig(Strict):
    """One supervision mode (arm) of level 2; ``level0`` overrides the run's level-0 knobs and
    ``critic`` names the assisted judge's critic."""

    name: str
    supervision: Supervision
    critic: Critic = "learned"
    level0: dict[str, Any] = Field(default_factory=dict)

    @property
    def learned(self) -> bool:
        """Whether the arm's judge is assisted by the learned critic."""
        return self.supervision == "assisted" and self.critic == "learned"

    @property
    def baseline(self) -> bool:
        """Whether the arm is one without learning at level 1 (unassisted, or a baseline critic):
        the arms a learned one is compared with."""
        return self.supervision != "gold" and not self.learned

    @field_validator("level0")
    @classmethod
    def _known(cls, v: dict[str, Any]) -> dict[str, Any]:
        bad = sorted(set(v) - set(Level0Config.model_fields))
        if bad:
            raise ValueError(
                f"unknown level0 keys {bad}; allowed: {', '.join(Level0Config.model_fields)}"
            )
        return v


def _default_modes() -> list[ModeConfig]:
    return [
        ModeConfig(name="unassisted", supervision="unassisted"),
        ModeConfig(name="random_input", supervision="assisted", critic="random_input"),
        ModeConfig(name="solver_only", supervision="assisted", critic="solver_only"),
        ModeConfig(name="learned", supervision="assisted"),
        ModeConfig(name="gold", supervision="gold"),
    ]


class RMConfig(Strict):
    """Reward models (level 2: pointwise on (R, P); level 1: a pointer net on claims)."""

    hidden: int = Field(16, ge=2)
    mixer: Literal["attention", "gru", "conv"] = "conv"  # reward_models.Mixer
    epochs: int = Field(5, ge=1, description="Epochs of the first round's RM2.")
    warm_epochs: int = Field(2, ge=1, description="Epochs of later rounds, continuing the last.")
    lr: float = Field(3e-3, gt=0)
    batch_size: int = Field(32, ge=1)
    claim_epochs: int = Field(10, ge=1)


class RRMConfig(Strict):
    """Everything one seed's run (:class:`~.seed_run.SeedRun`) needs."""

    depth: int = Field(2, description="Learned levels: 1 (critic) or 2 (critic and improver).")
    judge_budget: int = Field(16, description="Line evaluations per verdict, at every level.")
    generator: GeneratorConfig = Field(
        default_factory=lambda: GeneratorConfig(
            bits=10,
            length=160,
            live_guards=26,
            rarity_bits=(6, 9),
            decoy_guards=16,
            dead_lines=36,
            redundant_pairs=2,
            guard_on_temp=0.3,
            templates=GUARD_TEMPLATES,
        )
    )
    train_refs: int = Field(6, ge=1, le=999, description="Reference programs trained on.")
    test_refs: int = Field(4, ge=1, le=999, description="Held-out reference programs measured on.")
    penalty: float = Field(10.0, ge=0)
    rounds: int = Field(2, ge=1, le=20)
    level0: Level0Config = Field(default_factory=Level0Config)
    modes: list[ModeConfig] = Field(default_factory=_default_modes)
    verdicts_first_round: int = Field(1000, ge=10, description="Verdicts per RM in round 0.")
    verdicts_per_round: int = Field(400, ge=0, description="Verdicts added each later round.")
    maker_share: float = Field(0.25, ge=0, le=1, description="Share of artifacts from makers.")
    train_families: list[str] = Field(default_factory=lambda: ["honest", "lazy", "literal"])
    held_out_families: list[str] = Field(default_factory=lambda: ["mixing", "spread"])
    subtlety_bits: list[int] = Field(default_factory=lambda: [6, 8])
    claim_artifacts: int = Field(
        16, ge=2, description="Artifacts per round on which every possible claim is judged."
    )
    rm: RMConfig = Field(default_factory=RMConfig)
    # Keys left out of a ``critic_rl`` or ``improver_rl`` mapping take PGConfig's defaults, not
    # these: the shipped configs spell both out.
    critic_rl: PGConfig = Field(
        default_factory=lambda: PGConfig(steps=30, batch=32, lr=0.003, beta_kl=0.01),
        description="The critic's policy gradient against RM1, each round.",
    )
    improver_rl: PGConfig = Field(
        default_factory=lambda: PGConfig(steps=30, batch=16, lr=0.01, beta_kl=0.01),
        description="The improver's policy gradient against RM2, each round and mode.",
    )
    rl_evaluations: int = Field(
        8, ge=1, description="Evaluations along the improver's training (its RL curve)."
    )
    improver_hidden: int = Field(16, ge=4)
    episode_edits: int = Field(
        8, ge=1, le=64, description="Edits per improver episode (the level-2 policy's output)."
    )
    sft_epochs: int = Field(
        300, ge=0, description="Steps imitating the demonstrator before any RL (0: none)."
    )
    sft_noise: float = Field(
        0.0, ge=0, le=1, description="Share of the demonstrator's mass on uniform valid edits."
    )
    curve_samples: int = Field(
        8, ge=1, description="Episodes per held-out reference at each point of the RL curve."
    )
    bon_n: list[int] = Field(default_factory=lambda: [1, 2, 4, 8, 16, 32, 64, 128])
    bon_pool: int = Field(
        128, ge=1, description="Initial-policy episodes per held-out reference behind best-of-n."
    )
    eval_items: int = Field(160, ge=10, description="Held-out artifacts judged per mode.")
    exploit_budget: int = Field(12, ge=0, description="Candidates per reference in the search.")
    level0_sweep: list[dict[str, Any]] = Field(
        default_factory=lambda: [
            dict[str, Any](),
            CLEAN_LEVEL0,
            {"tracer_epsilon": 0.01},
            {"checker_budget": 8},
            {"checker_budget": 0},
        ]
    )
    transcripts_per_mode: int = Field(40, ge=0, description="Held-out transcripts kept per mode.")

    @model_validator(mode="after")
    def _check(self) -> RRMConfig:
        if self.depth not in (1, 2):
            raise ValueError(
                f"depth {self.depth}: the program environment has levels "
                + ", ".join(f"{k} ({v})" for k, v in LEVELS.items())
                + "; depth counts the learned levels above 0, so it must be 1 or 2"
            )
        if self.judge_budget < PRIMITIVE_COST:
            raise ValueError(
                f"judge_budget {self.judge_budget} cannot pay for one primitive check "
                f"(checking one trace step costs {PRIMITIVE_COST} line evaluation)"
            )
        allowed = ("honest", "lazy", *TRIGGER_FAMILIES)
        for key in ("train_families", "held_out_families"):
            bad = [f for f in getattr(self, key) if f not in allowed]
            if bad:
                raise ValueError(f"{key}: unknown {bad}; allowed: {', '.join(allowed)}")
        names = [m.name for m in self.modes]
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"modes need distinct names, got {names}")
        if any(n < 1 for n in self.bon_n):
            raise ValueError("bon_n values must be at least 1")
        if self.episode_edits > 1 and max(self.bon_n) > self.bon_pool:
            raise ValueError(
                f"bon_n goes up to {max(self.bon_n)} but bon_pool is {self.bon_pool}: the "
                "best-of-n estimate from a pool of N episodes needs n <= N"
            )
        check_subtleties("subtlety_bits", self.subtlety_bits, self.generator.bits)
        # per-mode and per-sweep level-0 settings are partial mappings: check them now, not
        # when their stage is reached
        overrides = [(f"modes.{i}.level0", m.level0) for i, m in enumerate(self.modes)]
        overrides += [(f"level0_sweep.{i}", extra) for i, extra in enumerate(self.level0_sweep)]
        for key, extra in overrides:
            try:
                Level0Config.model_validate({**self.level0.model_dump(), **extra})
            except ValidationError as e:
                first = e.errors()[0]
                field = ".".join(str(x) for x in first["loc"])
                raise ValueError(f"{key}.{field}: {first['msg']}") from None
        for key in ("critic_rl", "improver_rl"):
            if getattr(self, key).seed != 0:
                raise ValueError(
                    f"{key}.seed: each stage derives its policy-gradient seed from the run's "
                    "seed; leave it at 0"
                )
        return self

    def level0_for(self, mode: ModeConfig | None = None, **extra: Any) -> TraceAssistedJudgeConfig:
        """The trace-assisted judge of a mode (or the run's level 0), at ``judge_budget``."""
        knobs = {**self.level0.model_dump(), **(mode.level0 if mode else {}), **extra}
        return TraceAssistedJudgeConfig(budget=self.judge_budget, **knobs)

    def exploit_families(self) -> tuple[str, ...]:
        """The trigger families the exploit searches plant: those trained on, else ``literal``."""
        return tuple(f for f in self.train_families if f in TRIGGER_FAMILIES) or ("literal",)


class RRMExperimentConfig(RRMConfig):
    """One seed's settings plus the seeds to run and how many processes run them."""

    experiment: Literal["rrm"] = "rrm"
    seeds: list[Seed] = Field(default_factory=lambda: [0, 1, 2, 3, 4], min_length=1)

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError(f"seeds must be distinct (each has its own checkpoints), got {v}")
        return v

    workers: int = Field(2, ge=1, le=64, description="Processes (seeds run in parallel).")

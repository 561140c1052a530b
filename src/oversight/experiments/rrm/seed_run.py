"""Recursive reward modeling on the program environment: the rounds of one seed.

The judge's budget is the same at every level (``judge_budget`` line evaluations, default 16)
and programs are longer than that (160 lines by default), so alone it cannot run one test.

- **Level 0**: execution traces. A tracer claims a trace, a trace checker contests one step, the
  judge checks that step (:mod:`oversight.envs.programs.traces`). Imperfect on purpose through the
  knobs of :class:`~.config.Level0Config` (sloppy tracers, a lying tracer, a checker budget below
  the trace length, a default rule for unverifiable contests, judge noise).
- **Level 1**: the counterexample critic (:class:`~oversight.agents.critics.claim.ClaimCritic`, a
  pointer policy and the solver). Its claims are verified with level-0 help
  (:meth:`~oversight.judges.recursive.TraceAssistedJudge.settle`). A claim reward model (RM1, a
  pointer net scoring the pointed line) learns those verifications; the critic is trained by
  policy gradient against RM1, never against gold.
- **Level 2**: the program improver (:class:`~oversight.agents.improver.ImproverNet`). Its
  artifact is an episode of ``episode_edits`` edits of R (8 by default: far more outputs than
  best-of-n can enumerate). It starts from a policy that imitated an honest demonstrator's
  edits of the training references (:meth:`SeedRun.initial_improver`, the supervised stage
  before RL; gold decides which edits the demonstrator makes, on training programs only). Its
  artifacts are judged in each *supervision mode*: ``unassisted`` (the budgeted judge
  alone: it cannot afford a test, so its default rule decides), ``assisted`` (the level-1 critic
  argues, the trace-assisted judge verifies with level-0 help), or ``gold`` (the oracle's labels:
  the ceiling). A pointwise reward model per mode (RM2) learns those verdicts and the improver is
  trained by policy gradient (KL-penalised) against it.

Best-of-n from the initial improver is exact over every edit when episodes have one edit, and
estimated from a pool of sampled episodes (the unbiased estimator) when they have more; RL
curves are measured on sampled episodes, with KL the exact per-step KLs summed along each.

Rounds alternate: in round ``t`` the critic retrains on claims about the artifacts the improver
of round ``t - 1`` produced (and the makers'), then the improver retrains against the RM built
with that critic. Each round an exploit search looks for artifacts the current RM2 scores high;
what it finds is judged like any artifact (never by gold) and joins the next round's training
data (adversarial training, wired into the loop). Everything measured against gold (accuracy,
best-of-n and RL curves, reward hacking) is measured on held-out reference programs.

:class:`SeedRun` runs one seed through every round. Each stage (round, level, mode) is a
:meth:`~.stages.Stages.stage`: computed once and saved as it finishes, so a killed run resumes
without redoing any; the seed's state after a stage is always read back from what the stage
saved, so a resumed run continues exactly as an unbroken one. The other modules hold the parts:
:mod:`.world` (references, artifacts, gold), :mod:`.artifacts` (which artifacts are judged),
:mod:`.judging`, :mod:`.learners` (reward models, policy gradient, curves) and
:mod:`.measures`.

torch is imported at module level: import this module lazily.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from oversight.agents.critics.claim import (
    ClaimAgent,
    ClaimCritic,
    PointerPolicy,
    RandomInputCritic,
    SolverOnlyCritic,
    changed_choice,
    choices,
)
from oversight.agents.critics.learned import new_pointer
from oversight.agents.improver import ImproverNet, ImproverState, sample_episodes
from oversight.core.parallel import fork_map
from oversight.core.records import Gold, Transcript
from oversight.core.seeding import derive_seed, rng
from oversight.envs.programs.env import ProgramContext
from oversight.envs.programs.features import line_features
from oversight.envs.programs.oracle import gold_oracle
from oversight.experiments.rrm.artifacts import (
    claim_artifacts,
    eval_items,
    exploit_items,
    family_items,
    round_items,
)
from oversight.experiments.rrm.config import ModeConfig, RRMConfig
from oversight.experiments.rrm.judging import critic_lines, judge_items, settle_claims
from oversight.experiments.rrm.learners import (
    ContextScores,
    CurvePoint,
    Outcomes,
    claim_groups,
    exact_bon_curve,
    gold_scores,
    improver_probs,
    new_improver,
    per_reference,
    pretrained_improver,
    rm_scores,
    sampled_bon_curve,
    train_claim_rm,
    train_critic,
    train_improver_rl,
)
from oversight.experiments.rrm.measures import (
    accuracy_block,
    claim_block,
    flaw_shares,
    heldout_exploit_rate,
    solver_reach,
)
from oversight.experiments.rrm.stages import Blob, Stages
from oversight.experiments.rrm.world import ArtifactKey, World
from oversight.learning import reward_models as rms
from oversight.metrics.calibration import expected_calibration_error


@dataclass
class SeedRun:
    """The rounds of one seed. ``checkpoints`` is this seed's folder; ``tick`` reports progress.

    Pools are cumulative: every verdict of every round stays in its reward model's training
    data. The improver of each round starts from the same initial policy (so RL curves of all
    modes and rounds share their origin and KL is comparable); the critic continues from the
    previous round's.
    """

    world: World
    config: RRMConfig
    seed: int
    checkpoints: Path
    tick: Callable[[str], None] = lambda stage: None
    workers: int = 1
    records: list[dict[str, Any]] = field(default_factory=list)
    transcripts: list[Transcript] = field(default_factory=list)

    def __post_init__(self) -> None:
        torch.set_num_threads(1)  # small networks; the parallelism is across seeds
        cfg = self.config
        stages = Stages(self.checkpoints)
        self.stage, self.has_stage = stages.stage, stages.has
        self.base = self.initial_improver()
        self.critic_policy = PointerPolicy(
            new_pointer(derive_seed(self.seed, "rrm-critic")), rms.context_features
        )
        self.claims: list[tuple[ArtifactKey, int, bool]] = []
        self.pools: dict[str, list[tuple[ArtifactKey, bool]]] = {m.name: [] for m in cfg.modes}
        self.samplers: dict[str, ImproverNet] = {m.name: self.base for m in cfg.modes}
        self.rms2: dict[str, rms.PointwiseRM] = {}
        self.eval_set = eval_items(self.world, cfg, self.seed, self.base)
        self.family_set = family_items(self.world, cfg, self.seed)

    def run(self) -> dict[str, Any]:
        """Every round (resuming from checkpoints), then the final measurements."""
        cfg = self.config
        rounds: list[dict[str, Any]] = []
        for t in range(cfg.rounds):
            entry: dict[str, Any] = {"round": t, "level1": self.level1(t)}
            if cfg.depth >= 2:
                self._train_modes_in_parallel(t)
                entry["level2"] = {m.name: self.level2(t, m) for m in cfg.modes}
            rounds.append(entry)
        return {
            "seed": self.seed,
            "rounds": rounds,
            "records": self.records,
            "level0_sweep": self.level0_sweep(),
            "solver_reach": self.reach(),
            "flaw_shares": self.flaw_distribution(),
        }

    def initial_improver(self) -> ImproverNet:
        """The level-2 policy every mode starts from: a fresh improver that imitated an honest
        demonstrator's edits of the training references (the stage before any RL)."""
        cfg = self.config
        name = "initial-improver"

        def pretrain() -> Blob:
            net, losses = pretrained_improver(
                self.world.train, self.seed, cfg.improver_hidden, cfg.sft_epochs, cfg.sft_noise
            )
            record = {
                "seed": self.seed,
                "round": None,
                "level": 2,
                "mode": None,
                "trained": ["initial improver (imitating an honest demonstrator)"],
                "verdicts": 0,
                "assistants": [],
            }
            return {"improver": net.state_dict(), "losses": losses, "record": record}

        blob = self.stage(name, pretrain)
        net = new_improver(self.seed, cfg.improver_hidden)
        net.load_state_dict(blob["improver"])
        if cfg.depth >= 2:  # at depth 1 it is part of the environment: the artifacts' source
            self.records.append(blob["record"])
        self.tick(name)
        return net.eval()

    @cached_property
    def bon_pool(self) -> tuple[list[ProgramContext], np.ndarray, np.ndarray]:
        """The initial improver's episodes behind sampled best-of-n: ``bon_pool`` per held-out
        reference, in reference order, with gold's value and label of each. Built once per
        seed, for every mode (their features too)."""
        cfg = self.config
        starts = [
            ImproverState.start(t.program) for t in self.world.test for _ in range(cfg.bon_pool)
        ]
        ends = sample_episodes(
            self.base, starts, cfg.episode_edits, rng(self.seed, "rrm-bon-pool")
        ).ends
        contexts = [ProgramContext(s.reference, s.current) for s in ends]
        for ctx in contexts:
            rms.prime_features(ctx, line_features(ctx))
        gold = [gold_oracle(c.reference, c.artifact, cfg.penalty) for c in contexts]
        value = np.array([g.value for g in gold])
        return contexts, value, np.array([g.label for g in gold], dtype=bool)

    def bon(self, scores: ContextScores) -> list[CurvePoint]:
        """Best-of-n from the initial improver on held-out references: exact over every edit
        for single edits, estimated from :attr:`bon_pool` for episodes."""
        cfg = self.config
        if cfg.episode_edits == 1:
            outcomes = [
                Outcomes(np.ones(len(t.actions)), scores(t.contexts), t.gold_value, t.gold_label)
                for t in self.world.test
            ]
            return exact_bon_curve(improver_probs(self.base, self.world.test), outcomes, cfg.bon_n)
        contexts, value, label = self.bon_pool
        proxy = np.asarray(scores(contexts), dtype=float)
        return sampled_bon_curve(
            per_reference(proxy, value, label, len(self.world.test)), cfg.bon_n
        )

    def flaw_distribution(self) -> dict[str, dict[str, float]]:
        """How wrong this seed's artifacts are: the single edits over the action space (every
        reference alike, its edits uniformly), and the initial improver's artifacts on the
        held-out references (episodes as sampled for the held-out judging)."""
        tables = self.world.tables
        shares = np.concatenate([t.diff_share for t in tables])
        saving = np.array([c.claimed_saving for t in tables for c in t.contexts])
        uniform = np.concatenate([np.full(len(t.actions), 1.0 / len(t.actions)) for t in tables])
        own = [it for it in self.eval_set if it.by_improver]
        return {
            "action_space": flaw_shares(shares, saving, uniform),
            "initial_policy": flaw_shares(
                np.array([self.world.diff_share(it) for it in own]),
                np.array([self.world.context(it).claimed_saving for it in own]),
            ),
        }

    # -- level 1

    def level1(self, t: int) -> dict[str, Any]:
        """Round ``t`` of level 1 (:meth:`train_level1`, or its checkpoint); its metrics."""
        name = f"round{t}-level1"
        blob = self.stage(name, lambda: self.train_level1(t, name))
        self.critic_policy.net.load_state_dict(blob["critic"])
        self.claims = [(ArtifactKey(*c[:5]), int(c[5]), bool(c[6])) for c in blob["claims"]]
        return self._finish(name, blob)

    def train_level1(self, t: int, name: str) -> Blob:
        """Claims about this round's artifacts, settled with level-0 help; RM1 on every claim
        so far; the critic, initialised from RM1, by policy gradient against RM1."""
        cfg = self.config
        source = learned_mode(cfg).name
        items = round_items(self.world, cfg, self.seed, t, source, self.samplers[source])
        chosen = claim_artifacts(items, cfg.claim_artifacts, rng(self.seed, "rrm-claim-items", t))
        # Every line the critic could point at, on each chosen artifact: which lines lead to a
        # confirmed claim is what RM1 has to learn, and sampled lines would rarely hit the one
        # that matters (a dropped guard, a trigger).
        claims = [(it, line) for it in chosen for line in choices(self.world.context(it))]
        settled = self._verdicts(
            f"{name}-verdicts",
            lambda: np.stack(
                settle_claims(
                    self.world, claims, cfg.level0_for(), f"s{self.seed}/r{t}/l1", self.seed
                )
            ).tolist(),
        )
        confirmed, truth = (np.array(row, dtype=bool) for row in settled)
        all_claims = self.claims + [
            (it, line, bool(ok)) for (it, line), ok in zip(claims, confirmed, strict=True)
        ]
        groups = claim_groups(self.world, all_claims)
        rm1 = train_claim_rm(groups, derive_seed(self.seed, "rm1", t), cfg.rm.claim_epochs)
        # The critic starts each round from RM1 itself (pointing where RM1 expects a
        # confirmation), then policy gradient against RM1 with a KL penalty to that start.
        self.critic_policy.net.load_state_dict(rm1.state_dict())
        log = train_critic(
            self.critic_policy,
            rm1,
            [ctx for ctx, _ in groups],
            cfg.critic_rl,
            derive_seed(self.seed, "critic-rl", t),
        )
        block = claim_block(confirmed, truth)
        metrics = {
            "claims": len(claims),
            "artifacts": len(chosen),
            "confirmed_rate": float(confirmed.mean()),
            "true_rate": float(truth.mean()),
            # level-1 judge accuracy: did the level-0-assisted verification match the truth?
            "level1_judge_accuracy": block["accuracy"],
            "false_confirm_rate": block["false_confirm_rate"],
            "missed_true_rate": block["missed_true_rate"],
            "critic_reward_first": log["mean_reward"][0],
            "critic_reward_last": log["mean_reward"][-1],
            "critic_kl_last": log["kl"][-1],
        }
        record = {
            "seed": self.seed,
            "round": t,
            "level": 1,
            "mode": "assisted",
            "trained": ["RM1 (claim reward model)", "critic (policy gradient vs RM1)"],
            "verdicts": len(all_claims),
            "assistants": ["level-0 tracers and trace checker"],
            "source_of_artifacts": source,
        }
        return {
            "critic": self.critic_policy.net.state_dict(),
            "claims": [[*it.as_list(), line, ok] for it, line, ok in all_claims],
            "metrics": metrics,
            "record": record,
        }

    # -- level 2

    def level2(self, t: int, mode: ModeConfig) -> dict[str, Any]:
        """Round ``t`` of level 2 in one mode (:meth:`train_level2`, or its checkpoint); its
        metrics."""
        cfg = self.config
        name = level2_stage(t, mode)
        blob = self.stage(name, lambda: self.train_level2(t, mode, name))
        improver = new_improver(self.seed, cfg.improver_hidden)
        improver.load_state_dict(blob["improver"])
        if blob["rm2"] is not None:  # the gold mode trains no reward model
            rm2 = rms.new_model("pointwise", 0, hidden=cfg.rm.hidden, mixer=cfg.rm.mixer)
            assert isinstance(rm2, rms.PointwiseRM)
            rm2.load_state_dict(blob["rm2"])
            self.rms2[mode.name] = rm2.eval()
        self.pools[mode.name] = [(ArtifactKey(*p[:5]), bool(p[5])) for p in blob["pool"]]
        self.samplers[mode.name] = improver.eval()
        self.transcripts += [Transcript.model_validate_json(j) for j in blob["transcripts"]]
        return self._finish(name, blob)

    def _train_modes_in_parallel(self, t: int) -> None:
        """With ``workers > 1``, train round ``t``'s modes in forked processes, each saving its
        stage's checkpoint, which :meth:`level2` then loads (the modes of a round depend only on
        their own earlier rounds and on level 1, so the results are those of a serial run)."""
        if self.workers <= 1:
            return
        todo = [m for m in self.config.modes if not self.has_stage(level2_stage(t, m))]
        if len(todo) <= 1:
            return
        # What every mode computes first, computed once here and inherited by the children.
        if self.config.episode_edits > 1:
            _ = self.bon_pool
        for it in [*self.eval_set, *self.family_set]:
            rms.context_features(self.world.context(it))

        def train(mode: ModeConfig) -> None:
            name = level2_stage(t, mode)
            self.stage(name, lambda: self.train_level2(t, mode, name))

        fork_map(train, todo, self.workers)

    def train_level2(self, t: int, mode: ModeConfig, name: str) -> Blob:
        """Verdicts on this round's artifacts (and on what the last exploit search found), RM2
        on every verdict so far, the improver by policy gradient against RM2 from the initial
        policy, best-of-n, measurements, and this round's exploit search."""
        cfg = self.config
        tag = f"s{self.seed}/r{t}/{mode.name}"
        items = round_items(self.world, cfg, self.seed, t, mode.name, self.samplers[mode.name])
        verdicts = self._verdicts(
            f"{name}-verdicts",
            lambda: [tr.require_verdict().accept for tr in self._judge(items, mode, tag)],
        )
        pool = self.pools[mode.name] + list(zip(items, verdicts, strict=True))
        rm2: rms.PointwiseRM | None = None
        scores: ContextScores = gold_scores  # the ceiling is exact: gold itself, not a model of it
        if mode.supervision != "gold":
            previous = self.rms2.get(mode.name)
            rm2 = rms.train_pointwise(
                [self.world.context(it) for it, _ in pool],
                np.array([ok for _, ok in pool], dtype=float),
                derive_seed(self.seed, "rm2", mode.name, t),
                epochs=cfg.rm.epochs if previous is None else cfg.rm.warm_epochs,
                lr=cfg.rm.lr,
                batch_size=cfg.rm.batch_size,
                balance=True,
                init=previous,
                hidden=cfg.rm.hidden,
                mixer=cfg.rm.mixer,
            )
            scores = rm_scores(rm2)
        improver = new_improver(self.seed, cfg.improver_hidden)
        improver.load_state_dict(self.base.state_dict())
        curve, log = train_improver_rl(
            improver,
            self.world,
            scores,
            cfg.improver_rl,
            cfg.rl_evaluations,
            derive_seed(self.seed, "improver-rl", mode.name, t),
            self.base,
            cfg.curve_samples,
        )
        bon = self.bon(scores)
        metrics, kept = self._measure(t, mode, rm2, tag)
        found = self._exploits(t, mode, rm2, tag)
        metrics["exploits_found_for_training"] = len(found)
        metrics["rl"] = [p.as_dict() for p in curve]
        metrics["bon"] = [p.as_dict() for p in bon]
        metrics["improver_reward_first"] = log["mean_reward"][0]
        metrics["improver_reward_last"] = log["mean_reward"][-1]
        record = {
            "seed": self.seed,
            "round": t,
            "level": 2,
            "mode": mode.name,
            "trained": [
                "RM2 (pointwise, on this mode's verdicts)",
                "improver (policy gradient vs RM2)",
            ]
            if rm2 is not None
            else ["improver (policy gradient vs gold's labels, exact)"],
            "verdicts": len(pool),
            "assistants": assistants(mode, t),
            "level0": cfg.level0_for(mode).model_dump() if mode.supervision != "gold" else None,
        }
        return {
            "improver": improver.state_dict(),
            "rm2": None if rm2 is None else rm2.state_dict(),
            "transcripts": [tr.model_dump_json() for tr in kept],
            "pool": [[*it.as_list(), ok] for it, ok in pool + found],
            "metrics": metrics,
            "record": record,
        }

    def _measure(
        self, t: int, mode: ModeConfig, rm2: rms.PointwiseRM | None, tag: str
    ) -> tuple[dict[str, Any], list[Transcript]]:
        """Judge and RM2 against gold on held-out programs and held-out flaw families; and the
        held-out transcripts to keep (the last round's only)."""
        cfg = self.config
        out: dict[str, Any] = {}
        kept: list[Transcript] = []
        for key, items in (
            ("heldout_programs", self.eval_set),
            ("heldout_families", self.family_set),
        ):
            transcripts = self._judge(items, mode, f"{tag}/eval-{key}")
            judge = np.array([tr.require_verdict().accept for tr in transcripts])
            gold = np.array([self.world.gold(it)[1] for it in items])
            for tr, it in zip(transcripts, items, strict=True):
                value, label = self.world.gold(it)
                tr.gold = Gold(label=label, value=value, kind=self.world.family(it))
            out[key] = {"judge_vs_gold": accuracy_block(judge, gold)}
            if rm2 is not None:
                probs = rm2.score([self.world.context(it) for it in items])
                rm_accept = probs >= 0.5
                out[key] |= {
                    "rm_vs_gold": accuracy_block(rm_accept, gold),
                    "rm_vs_judge_agreement": float((rm_accept == judge).mean()),
                    # calibration of P(accept): against gold, and against the judge it learned
                    "rm_ece_vs_gold": expected_calibration_error(probs, gold),
                    "rm_ece_vs_judge": expected_calibration_error(probs, judge),
                }
            if key == "heldout_programs" and t == cfg.rounds - 1:
                kept = transcripts[: cfg.transcripts_per_mode]
        if rm2 is None:
            return out, kept
        # every edit of every held-out reference, equally weighted
        scores = np.concatenate([rm2.score(tb.contexts) for tb in self.world.test])
        labels = np.concatenate([tb.gold_label for tb in self.world.test])
        out["all_heldout_edits_rm_vs_gold"] = accuracy_block(scores >= 0.5, labels)
        if cfg.exploit_budget:
            out["heldout_top1_exploit_rate"] = heldout_exploit_rate(self.world, cfg, self.seed, rm2)
        return out, kept

    def _exploits(
        self, t: int, mode: ModeConfig, rm2: rms.PointwiseRM | None, tag: str
    ) -> list[tuple[ArtifactKey, bool]]:
        """What the exploit search finds on the training references, labelled by the mode's
        judge (never gold), for the next round's RM2 (none in the last round, none without an
        RM2)."""
        cfg = self.config
        if rm2 is None or not cfg.exploit_budget or t == cfg.rounds - 1:
            return []
        found = exploit_items(self.world, cfg, self.seed, t, mode.name, rm2)
        verdicts = [
            tr.require_verdict().accept for tr in self._judge(found, mode, f"{tag}/exploits")
        ]
        return list(zip(found, verdicts, strict=True))

    # -- why a critic catches what it catches

    def reach(self) -> dict[str, dict[str, float]]:
        """:func:`~.measures.solver_reach` of the final critic and of ``solver_only``'s aim, on
        the held-out programs' improver episodes, training-family and held-out-family
        artifacts."""
        name = "solver-reach"
        blob = self.stage(name, self._reach_groups)
        self.tick(name)
        return blob["groups"]

    def _reach_groups(self) -> Blob:
        groups = {
            "improver": [it for it in self.eval_set if it.by_improver],
            "train_families": [it for it in self.eval_set if not it.by_improver],
            "held_out_families": self.family_set,
        }
        out = {}
        for group, items in groups.items():
            aims = {
                "learned_line": critic_lines(
                    self._critic(), self.world, items, f"s{self.seed}/reach-{group}"
                ),
                "changed_line": [changed_choice(self.world.context(it))[0] for it in items],
            }
            out[group] = solver_reach(self.world, items, aims, self.seed)
        return {"groups": out}

    # -- the level-0 sweep

    def level0_sweep(self) -> list[dict[str, Any]]:
        """How level-0 imperfections propagate: with the final critic, for each level-0
        setting, the level-1 verification accuracy and the level-2 assisted judge's accuracy."""
        name = "level0-sweep"
        blob = self.stage(name, lambda: {"rows": self._sweep_rows()})
        self.tick(name)
        return blob["rows"]

    def _sweep_rows(self) -> list[dict[str, Any]]:
        cfg = self.config
        items = self.eval_set
        gold = np.array([self.world.gold(it)[1] for it in items])

        def row(i: int) -> dict[str, Any]:
            knobs = cfg.level0_sweep[i]
            judge_cfg = cfg.level0_for(**knobs)
            tag = f"s{self.seed}/sweep{i}"
            lines = critic_lines(self._critic(), self.world, items, tag)
            confirmed, truth = settle_claims(
                self.world, list(zip(items, lines, strict=True)), judge_cfg, tag, self.seed
            )
            transcripts = judge_items(
                self.world, items, "assisted", judge_cfg, self._critic(), tag, self.seed
            )
            judge = np.array([tr.require_verdict().accept for tr in transcripts])
            block = claim_block(confirmed, truth)
            return {
                "level0": {**cfg.level0.model_dump(), **knobs},
                "level1_accuracy": block["accuracy"],
                "level1_false_confirm_rate": block["false_confirm_rate"],
                "level1_missed_true_rate": block["missed_true_rate"],
                "level2": accuracy_block(judge, gold),
            }

        return fork_map(row, range(len(cfg.level0_sweep)), self.workers)

    # -- helpers

    def _verdicts(self, name: str, judge: Callable[[], list[Any]]) -> list[Any]:
        """A stage's verdicts, judged once: saved (as a stage of their own) before anything is
        trained on them, so a run killed later in the stage does not judge them again."""
        return self.stage(name, lambda: {"verdicts": judge()})["verdicts"]

    def _finish(self, name: str, blob: Blob) -> dict[str, Any]:
        """Record a finished stage and report it; its metrics."""
        self.records.append(blob["record"])
        self.tick(name)
        return blob["metrics"]

    def _critic(self) -> ClaimCritic:
        """The current critic, pointing greedily (no exploration) for judges."""
        return ClaimCritic(self.critic_policy, seed=self.seed)

    def _mode_critic(self, mode: ModeConfig) -> ClaimAgent | None:
        """The critic of an assisted mode: the current learned one or a baseline."""
        if mode.supervision != "assisted":
            return None
        if mode.critic == "random_input":
            return RandomInputCritic(self.seed)
        if mode.critic == "solver_only":
            return SolverOnlyCritic(self.seed)
        return self._critic()

    def _judge(self, items: Sequence[ArtifactKey], mode: ModeConfig, tag: str) -> list[Transcript]:
        return judge_items(
            self.world,
            items,
            mode.supervision,
            self.config.level0_for(mode),
            self._mode_critic(mode),
            tag,
            self.seed,
            mode.name,
        )


def level2_stage(t: int, mode: ModeConfig) -> str:
    """The checkpoint name of round ``t``'s level-2 stage in ``mode``."""
    return f"round{t}-level2-{mode.name}"


def learned_mode(config: RRMConfig) -> ModeConfig:
    """The mode whose improver's artifacts level 1 trains on: the first assisted mode with the
    learned critic, else the first mode."""
    learned = [m for m in config.modes if m.learned]
    return learned[0] if learned and config.depth >= 2 else config.modes[0]


def assistants(mode: ModeConfig, t: int) -> list[str]:
    """Who helped a mode's judge in round ``t`` (for the records)."""
    level0 = "level-0 tracers and trace checker"
    if mode.supervision == "gold":
        return ["gold oracle (ceiling)"]
    if mode.supervision == "unassisted":
        return [f"{level0} (on the judge's own inputs)"]
    critic = {
        "learned": f"learned critic of round {t} (level 1)",
        "random_input": "random-input critic (no learning)",
        "solver_only": "solver-only critic (no learning)",
    }[mode.critic]
    return [critic, level0]


def stage_count(config: RRMConfig) -> int:
    """How many stages :meth:`SeedRun.run` reports per seed (for progress bars)."""
    per_round = 1 + (len(config.modes) if config.depth >= 2 else 0)
    return 1 + config.rounds * per_round + 2  # the initial improver; the sweep and the reach

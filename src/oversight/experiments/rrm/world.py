"""The world of an RRM run: the reference programs, their single-edit artifacts with gold, and
every other artifact the run talks about (makers' and the exploit search's).

The tables are shared by all seeds and built once, in parallel worker processes when asked.

torch is imported (through the agents) at module level: import this module lazily.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch

from oversight.core.parallel import fork_map
from oversight.core.records import Artifact, Problem
from oversight.core.seeding import rng
from oversight.envs.programs.dsl import Program, parse
from oversight.envs.programs.edits import apply_action, valid_actions
from oversight.envs.programs.env import ProgramContext, ProgramEnv, opaque_id
from oversight.envs.programs.features import line_features
from oversight.envs.programs.generator import GeneratorConfig, Reference, generate_reference
from oversight.envs.programs.makers import make
from oversight.envs.programs.oracle import OracleResult, gold_oracle
from oversight.experiments.rrm.config import RRMConfig
from oversight.learning import reward_models as rms
from oversight.protocols.engine import Episode


@dataclass(frozen=True)
class ArtifactKey:
    """One artifact of reference ``ref``, named compactly (the world rebuilds its program and
    context from the key): an edit (``source="edit"``, ``key`` the action), an improver's
    episode of edits (``source="episode"``, the actions comma-separated in ``text``), a
    maker's artifact (``source`` the maker tag, ``key`` the draw, ``k`` the subtlety), or one
    the exploit search found (``source="found"``, the program in ``text``)."""

    ref: int
    source: str
    key: int = 0
    k: int = 0
    text: str = ""

    @classmethod
    def episode(cls, ref: int, actions: Sequence[int]) -> ArtifactKey:
        """The artifact an episode of ``actions`` leaves on reference ``ref``."""
        return cls(ref, "episode", text=",".join(str(int(a)) for a in actions))

    @property
    def by_improver(self) -> bool:
        """Whether the improver made it (an edit or an episode), not a maker or the search."""
        return self.source in ("edit", "episode")

    def as_list(self) -> list[Any]:
        """The fields in order, for checkpoints (``ArtifactKey(*as_list())`` rebuilds it)."""
        return [self.ref, self.source, self.key, self.k, self.text]


@dataclass
class RefTable:
    """A reference program with every single-edit artifact and its gold value, precomputed."""

    index: int
    reference: Reference
    problem: Problem
    actions: np.ndarray
    gold_value: np.ndarray
    gold_label: np.ndarray
    diff_share: np.ndarray  # share of inputs on which each edit differs from R (0: equivalent)

    @cached_property
    def program(self) -> Program:
        """The reference program R."""
        return self.reference.program

    @cached_property
    def contexts(self) -> list[ProgramContext]:
        """(R, edited R) for every valid edit, in ``actions`` order."""
        return [
            ProgramContext(self.program, apply_action(self.program, int(a))) for a in self.actions
        ]

    @cached_property
    def position(self) -> dict[int, int]:
        """Each valid edit's index in ``actions``."""
        return {int(a): i for i, a in enumerate(self.actions)}


def _table_data(knobs: GeneratorConfig, seed: int, penalty: float) -> dict[str, Any]:
    """What a worker computes for one reference: gold of every edit and its features."""
    torch.set_num_threads(1)
    ref = generate_reference(knobs, seed)
    program = ref.program
    actions = np.flatnonzero(valid_actions(program))
    values, labels, shares, features = [], [], [], []
    for a in actions:
        edited = apply_action(program, int(a))
        result = gold_oracle(program, edited, penalty)
        values.append(result.value)
        labels.append(result.label)
        shares.append(result.share)
        features.append(line_features(ProgramContext(program, edited)))
    return {
        "seed": seed,
        "actions": actions,
        "values": np.array(values),
        "labels": np.array(labels, dtype=bool),
        "shares": np.array(shares),
        "features": features,
    }


def reference_seeds(seed: int, n: int, test: bool = False) -> list[int]:
    """Generator seeds of run seed ``seed``'s ``n`` training (or held-out) references: every
    run seed has programs of its own, so an interval over seeds also varies the programs."""
    return [(100_000 if test else 0) + 1_000 * seed + i for i in range(n)]


class World:
    """One seed's references (train then test) and every artifact its run talks about.

    The expensive part (gold of every edit, line features) is computed once, in ``workers``
    processes when more than one.
    """

    def __init__(
        self,
        config: RRMConfig,
        seed: int = 0,
        workers: int = 1,
        progress: Callable[[], None] = lambda: None,
    ):
        self.config = config
        self.seed = seed
        seeds = [
            *reference_seeds(seed, config.train_refs),
            *reference_seeds(seed, config.test_refs, True),
        ]
        data = fork_map(
            lambda s: _table_data(config.generator, s, config.penalty), seeds, workers, progress
        )
        env = ProgramEnv(config.generator, config.penalty)
        self.tables: list[RefTable] = []
        for index, d in enumerate(data):
            problem, ref = env.reference(d["seed"])
            table = RefTable(
                index, ref, problem, d["actions"], d["values"], d["labels"], d["shares"]
            )
            for ctx, feats in zip(table.contexts, d["features"], strict=True):
                rms.prime_features(ctx, feats)
            self.tables.append(table)
        self._made: dict[ArtifactKey, tuple[ProgramContext, OracleResult]] = {}

    @property
    def train(self) -> list[RefTable]:
        """The references trained on."""
        return self.tables[: self.config.train_refs]

    @property
    def test(self) -> list[RefTable]:
        """The held-out references, measured on."""
        return self.tables[self.config.train_refs :]

    def context(self, item: ArtifactKey) -> ProgramContext:
        """(R, P) of an artifact."""
        if item.source == "edit":
            t = self.tables[item.ref]
            return t.contexts[t.position[item.key]]
        return self._other(item)[0]

    def gold(self, item: ArtifactKey) -> tuple[float, bool]:
        """Gold value and label: the experimenter's, for measurement and the gold mode only."""
        if item.source == "edit":
            t = self.tables[item.ref]
            i = t.position[item.key]
            return float(t.gold_value[i]), bool(t.gold_label[i])
        result = self._other(item)[1]
        return result.value, result.label

    def diff_share(self, item: ArtifactKey) -> float:
        """Share of inputs on which the artifact differs from R (0: equivalent); the
        experimenter's, like :meth:`gold`."""
        if item.source == "edit":
            t = self.tables[item.ref]
            return float(t.diff_share[t.position[item.key]])
        return self._other(item)[1].share

    def family(self, item: ArtifactKey) -> str:
        """The kind of flaw (or edit) that produced an artifact, for the transcripts' gold."""
        if item.source != "edit":
            return item.source
        n = len(self.tables[item.ref].program)
        return "edit-delete" if item.key < n else "edit-fold"

    def _other(self, item: ArtifactKey) -> tuple[ProgramContext, OracleResult]:
        """Context and gold of a maker's or a found artifact, built once."""
        if item not in self._made:
            t = self.tables[item.ref]
            if item.source == "found":
                artifact = parse(item.text, t.program.bits)
            elif item.source == "episode":
                artifact = t.program
                for a in item.text.split(","):
                    artifact = apply_action(artifact, int(a))
            else:
                r = rng(0, "rrm-maker", t.problem.seed, item.source, item.key, item.k)
                artifact = make(item.source, t.reference, r, item.k or 8).program
            ctx = ProgramContext(t.program, artifact)
            self._made[item] = (ctx, gold_oracle(t.program, artifact, self.config.penalty))
        return self._made[item]

    def episode(self, item: ArtifactKey, episode_id: str) -> Episode[ProgramContext]:
        """A protocol episode in which a judge rules on the artifact."""
        ctx = self.context(item)
        t = self.tables[item.ref]
        # what judges and critics read names no maker: an opaque id, no author
        artifact = Artifact(
            id=opaque_id(t.problem.id, f"{item.source}-{item.key}-{item.k}-{item.text}"),
            problem_id=t.problem.id,
            content=str(ctx.artifact),
            claimed_saving=float(ctx.claimed_saving),
        )
        return Episode(episode_id, t.problem, artifact, ctx)

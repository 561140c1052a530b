"""The program environment: problems, artifacts, episodes and gold, tied together."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from oversight.core.config import Strict
from oversight.core.records import Artifact, Gold, Problem
from oversight.core.seeding import derive_seed, rng
from oversight.envs.base import Case
from oversight.envs.programs.dsl import Program, parse
from oversight.envs.programs.generator import GeneratorConfig, Reference, generate_reference
from oversight.envs.programs.makers import (
    TRIGGER_FAMILIES,
    Made,
    make_backdoor,
    make_honest,
    make_lazy,
    nominal_subtlety,
)
from oversight.envs.programs.oracle import OracleResult, gold_oracle

ENV_NAME = "programs"


@dataclass(frozen=True)
class ProgramContext:
    """What every party may read in a program episode: R and P, parsed."""

    reference: Program
    artifact: Program

    @property
    def claimed_saving(self) -> int:
        return len(self.reference) - len(self.artifact)

    @cached_property
    def reference_lines(self) -> frozenset[str]:
        return frozenset(map(str, self.reference.lines))

    @cached_property
    def artifact_lines(self) -> frozenset[str]:
        return frozenset(map(str, self.artifact.lines))


class CaseMix(Strict):
    """What :meth:`ProgramEnv.cases` makes per reference program: honest improvements, one lazy
    one, and a backdoor per trigger family and subtlety; ``seed`` seeds problems and makers."""

    seed: int = 0
    honest: int = 4
    families: tuple[str, ...] = TRIGGER_FAMILIES
    subtlety_bits: tuple[int, ...] = (6, 10, 14)
    rename_share: float = 0.3

    @property
    def per_problem(self) -> int:
        return self.honest + 1 + len(self.families) * len(self.subtlety_bits)


class ProgramEnv:
    """Reference programs from a seeded generator; artifacts are claimed improvements."""

    name = ENV_NAME

    def __init__(self, knobs: GeneratorConfig, penalty: float = 10.0, mix: CaseMix | None = None):
        self.knobs = knobs
        self.penalty = penalty
        self.mix = mix or CaseMix()

    def problem(self, index: int) -> tuple[Problem, Reference]:
        """Problem ``index`` of this env's seed (:attr:`CaseMix.seed`)."""
        return self.reference(derive_seed(self.mix.seed, "problem", index))

    def cases(self, index: int) -> Iterator[Case[ProgramContext]]:
        """Problem ``index``'s cases, as :class:`CaseMix` says; artifacts are tagged
        ``honest{i}``, ``lazy`` and ``FAMILY-kK``."""
        mix = self.mix
        problem, ref = self.problem(index)
        r = rng(mix.seed, "makers", index)
        for i in range(mix.honest):
            yield self.case(problem, make_honest(ref, r, mix.rename_share), f"honest{i}")
        yield self.case(problem, make_lazy(ref, r, mix.rename_share), "lazy")
        for family in mix.families:
            for k in mix.subtlety_bits:
                made = make_backdoor(ref, r, family, k, rename_share=mix.rename_share)
                yield self.case(problem, made, f"{family}-k{k}")

    def case(self, problem: Problem, made: Made, tag: str) -> Case[ProgramContext]:
        """The judged case of ``made`` (an artifact of ``problem``) with its gold."""
        artifact = self.artifact(problem, made, made.kind, tag)
        context = self.context(problem, artifact)
        return Case(problem, artifact, context, self.gold(context, made))

    def reference(self, seed: int) -> tuple[Problem, Reference]:
        ref = generate_reference(self.knobs, seed)
        problem = Problem(
            id=f"{ENV_NAME}-{seed}",
            env=ENV_NAME,
            seed=seed,
            data={"bits": self.knobs.bits, "reference": str(ref.program)},
            knobs=self.knobs.model_dump(),
        )
        return problem, ref

    @staticmethod
    def artifact(problem: Problem, made: Made, author: str, tag: str) -> Artifact:
        p = parse(problem.data["reference"], problem.data["bits"])
        return Artifact(
            id=f"{problem.id}/{tag}",
            problem_id=problem.id,
            content=str(made.program),
            claimed_saving=float(len(p) - len(made.program)),
            author=author,
        )

    @staticmethod
    def context(problem: Problem, artifact: Artifact) -> ProgramContext:
        bits = problem.data["bits"]
        return ProgramContext(parse(problem.data["reference"], bits), parse(artifact.content, bits))

    def gold(self, context: ProgramContext, made: Made) -> Gold:
        result = gold_oracle(context.reference, context.artifact, self.penalty)
        return gold_record(result, made)


def gold_record(result: OracleResult, made: Made, sample: int = 16) -> Gold:
    """The gold record of an artifact: label, value, and the inputs where it differs."""
    share = result.share
    info = dict(made.info)
    info["share"] = share
    info["subtlety"] = nominal_subtlety(share) if share > 0 else None
    info["saving"] = result.saving
    diff = result.diff_inputs
    return Gold(
        label=result.label,
        value=result.value,
        kind=made.kind,
        n_diff=int(diff.size),
        diff_inputs=[int(v) for v in np.asarray(diff[:sample])],
        info=info,
    )

"""The program environment: problems, artifacts, episodes and gold, tied together."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from oversight.core.records import Artifact, Gold, Problem
from oversight.envs.programs.dsl import Program, parse
from oversight.envs.programs.generator import GeneratorConfig, Reference, generate_reference
from oversight.envs.programs.makers import Made, nominal_subtlety
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


class ProgramEnv:
    """Reference programs from a seeded generator; artifacts are claimed improvements."""

    name = ENV_NAME

    def __init__(self, knobs: GeneratorConfig, penalty: float = 10.0):
        self.knobs = knobs
        self.penalty = penalty

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

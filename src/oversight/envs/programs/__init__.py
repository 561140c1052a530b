"""The flagship environment: programs in a small integer DSL, with an exact gold oracle over
every input, makers of honest, lazy and backdoored improvements, execution traces (RRM level
0), line features and edit actions."""

from __future__ import annotations

from oversight.envs.programs.dsl import (
    ParseError,
    Program,
    load_program,
    parse,
)
from oversight.envs.programs.edits import apply_action, valid_actions
from oversight.envs.programs.env import CaseMix, ProgramContext, ProgramEnv
from oversight.envs.programs.features import N_FEATURES, line_features
from oversight.envs.programs.generator import GeneratorConfig, Reference, generate_reference
from oversight.envs.programs.interpreter import run_steps, run_vectorized
from oversight.envs.programs.makers import (
    TRIGGER_FAMILIES,
    Made,
    make,
    make_backdoor,
    make_honest,
    make_lazy,
)
from oversight.envs.programs.oracle import OracleResult, gold_oracle
from oversight.envs.programs.solver import solve, target_lines

__all__ = [
    "N_FEATURES",
    "TRIGGER_FAMILIES",
    "CaseMix",
    "GeneratorConfig",
    "Made",
    "OracleResult",
    "ParseError",
    "Program",
    "ProgramContext",
    "ProgramEnv",
    "Reference",
    "apply_action",
    "generate_reference",
    "gold_oracle",
    "line_features",
    "load_program",
    "make",
    "make_backdoor",
    "make_honest",
    "make_lazy",
    "parse",
    "run_steps",
    "run_vectorized",
    "solve",
    "target_lines",
    "valid_actions",
]

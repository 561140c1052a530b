"""Shared fixtures. In CI (``CI`` set) a skipped test fails the run: every optional
dependency is installed there, so a skip means something is missing."""

from __future__ import annotations

import os

import numpy as np
import pytest

from oversight.envs.programs.env import ProgramEnv
from oversight.envs.programs.generator import GeneratorConfig


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if os.environ.get("CI") and skipped:
        if reporter:
            reporter.write_line(f"CI: {skipped} test(s) skipped; skips fail in CI", red=True)
        session.exitstatus = 1


@pytest.fixture
def knobs() -> GeneratorConfig:
    return GeneratorConfig(bits=12, length=40, rarity_bits=(5, 8))


@pytest.fixture
def env(knobs: GeneratorConfig) -> ProgramEnv:
    return ProgramEnv(knobs)


@pytest.fixture
def r() -> np.random.Generator:
    return np.random.default_rng(0)

"""Experiments by name: each has a config schema, an embedded default config and a runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from oversight.core.errors import OversightError
from oversight.core.runs import CONFIG, RunStore, new_run_dir
from oversight.experiments.config import (
    apply_overrides,
    dump_yaml,
    embedded_configs,
    parse_config,
    read_yaml,
    validate,
)
from oversight.experiments.skeleton import AnyExperiment

DEFAULT_CONFIG = "offense-defense"


def _experiments() -> dict[str, AnyExperiment]:
    from oversight.experiments import (
        arms_race,
        digits_debate,
        llm_debate,
        offense_defense,
        rrm,
        text_debate,
    )

    modules = (arms_race, digits_debate, llm_debate, offense_defense, rrm, text_debate)
    found = [e.EXPERIMENT for e in modules]
    return {e.name: e for e in found}


def resolve(data: dict[str, Any]) -> tuple[AnyExperiment, BaseModel]:
    """The experiment a config mapping names (key ``experiment``) and its validated config."""
    experiments = _experiments()
    name = data.get("experiment", DEFAULT_CONFIG)
    if not isinstance(name, str) or name not in experiments:
        raise OversightError(
            f"experiment: unknown value {name!r}; allowed: {', '.join(sorted(experiments))}"
        )
    exp = experiments[name]
    return exp, validate(exp.config, data)


def quick_variant(name: str | None) -> str:
    """The embedded quick variant ``<name>-quick`` of an embedded config (default config when
    ``name`` is None); an error naming the variants that exist when there is none."""
    base = name or DEFAULT_CONFIG
    embedded = embedded_configs()
    quick = f"{base}-quick"
    if quick not in embedded:
        have = sorted(n for n in embedded if n.endswith("-quick"))
        raise OversightError(
            f"--quick: no embedded config {quick!r}; quick variants: {', '.join(have)}"
        )
    return quick


def start(
    source: str | None, overrides: list[str], out: Path | None
) -> tuple[AnyExperiment, BaseModel, RunStore]:
    """Resolve a config and create its run folder (default: a new folder under ``runs/``)."""
    data = apply_overrides(read_yaml(source, DEFAULT_CONFIG), overrides)
    exp, cfg = resolve(data)
    store = RunStore(out or new_run_dir("runs", exp.name))
    store.create(dump_yaml(cfg), cfg.model_dump(mode="json"))
    return exp, cfg, store


def resume(path: Path) -> tuple[AnyExperiment, BaseModel, RunStore]:
    """Reopen a run folder with the config it was started with."""
    store = RunStore(path)
    data = parse_config(store.config_yaml(), str(store.path / CONFIG))
    if not data:
        raise OversightError(f"{store.path / CONFIG}: holds no config")
    exp, cfg = resolve(data)
    store.check_config(cfg.model_dump(mode="json"))
    return exp, cfg, store

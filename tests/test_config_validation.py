"""Every config value is checked before any work starts, cross-field rules included, and the
error is one line naming the key."""

from __future__ import annotations

import pytest

from oversight.core.errors import OversightError
from oversight.experiments.config import apply_overrides, read_yaml
from oversight.experiments.registry import resolve

NONSENSE = [
    ("offense-defense-quick", "critic_budget_sweep=[-1]", "critic_budget_sweep.0"),
    ("offense-defense-quick", "audit_budgets=[5]", "audit_budgets.0"),
    ("offense-defense-quick", "seed=-1", "seed"),
    ("offense-defense-quick", "attack.subtlety_bits=[0]", "attack.subtlety_bits"),
    ("offense-defense-quick", "attack.subtlety_bits=[40]", "attack.subtlety_bits"),
    ("offense-defense-quick", "adaptive.subtlety_bits=[-3]", "adaptive.subtlety_bits"),
    ("offense-defense-quick", "adaptive.families=[nope]", "adaptive.families"),
    ("offense-defense-quick", "attack.heldout_families=[literal]", "attack"),
    ("offense-defense-quick", "attack.heldout_families=[nope]", "attack.heldout_families"),
    ("offense-defense-quick", "makers.refactor_per_problem=-1", "makers.refactor_per_problem"),
    ("rrm-quick", "level0_sweep=[{tracer_epsilon: 3}]", "level0_sweep.0.tracer_epsilon"),
    ("rrm-quick", "level0_sweep=[{lying: maybe}]", "level0_sweep.0.lying"),
    ("rrm-quick", "modes=[{name: a, supervision: gold, level0: {checker_budget: -2}}]", "modes.0"),
    ("rrm-quick", "seeds=[1,1]", "seeds"),
    ("rrm-quick", "modes=[{name: a, supervision: assisted, critic: smart}]", "modes.0.critic"),
    ("rrm-quick", "subtlety_bits=[99]", "subtlety_bits"),
    ("digits-debate-quick", "seed=-4", "seed"),
]


@pytest.mark.parametrize(("config", "override", "key"), NONSENSE)
def test_nonsense_is_refused_before_any_work(config: str, override: str, key: str):
    data = apply_overrides(read_yaml(config, config), [override])
    with pytest.raises(OversightError) as caught:
        resolve(data)
    message = str(caught.value)
    assert key in message and "\n" not in message
    assert len(message) < 300  # names the key; never echoes the whole config


def test_the_embedded_configs_still_validate():
    for name in ("offense-defense", "offense-defense-quick", "rrm", "rrm-quick"):
        resolve(read_yaml(name, name))


@pytest.mark.parametrize("name", [{}, [1], None, 3])
def test_an_experiment_name_of_the_wrong_type_is_refused(name: object):
    with pytest.raises(OversightError, match="experiment: unknown value"):
        resolve({"experiment": name})


@pytest.mark.parametrize(
    ("raw", "match"),
    [(b"\xff\xfe", "not UTF-8"), (b"a: [1,\n", "not valid YAML at line"), (b"- 1\n", "mapping")],
)
def test_config_files_fail_in_one_line(tmp_path, raw: bytes, match: str):
    path = tmp_path / "c.yaml"
    path.write_bytes(raw)
    with pytest.raises(OversightError, match=match) as caught:
        read_yaml(str(path), "offense-defense")
    assert "\n" not in str(caught.value)

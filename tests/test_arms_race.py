"""The arms race: composed attacks, the probe critic, the composing attacker, the race's
checkpoints and resume, and the experiment end to end."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from oversight.agents.attackers.composer import ComposerPolicy, ComposingAttacker, train_composer
from oversight.agents.critics.probe import (
    ProbeConfig,
    ProbeCritic,
    collect_examples,
    new_net,
    train_probe,
)
from oversight.cli import app
from oversight.envs.programs.attacks import (
    check_attack,
    compose,
    public_inputs,
    random_choice,
)
from oversight.envs.programs.dsl import backward_slice, parse
from oversight.envs.programs.env import ProgramContext
from oversight.envs.programs.generator import GeneratorConfig, generate_reference
from oversight.envs.programs.makers import make_honest, make_refactor
from oversight.envs.programs.oracle import gold_oracle
from oversight.experiments.arms_race.config import ArmsRaceConfig
from oversight.experiments.arms_race.race import load_level, run_level
from oversight.experiments.arms_race.world import build_world
from oversight.judges.budgeted import BudgetedJudge, JudgeConfig
from oversight.learning.pg_config import PGConfig
from oversight.metrics import audit_threshold

KNOBS = GeneratorConfig()


def valid_attacks(seeds: range, per: int, k: int = 10) -> list[ProgramContext]:
    """Uniformly composed attacks that pass the gold check."""
    out = []
    for seed in seeds:
        ref = generate_reference(KNOBS, seed)
        r = np.random.default_rng(seed)
        while len([c for c in out if c.reference == ref.program]) < per:
            made = compose(ref, random_choice(r), k, r, 0.3)
            if made is not None and check_attack(ref.program, made.program, made.exploit, k).valid:
                out.append(ProgramContext(ref.program, made.program))
    return out


def honest_contexts(seeds: range) -> list[ProgramContext]:
    out = []
    for seed in seeds:
        ref = generate_reference(KNOBS, seed)
        r = np.random.default_rng(seed + 1)
        out += [
            ProgramContext(ref.program, make_honest(ref, r, 0.3).program),
            ProgramContext(ref.program, make_refactor(ref, r, 0.3).program),
        ]
    return out


# --- composed attacks and the gold check -----------------------------------------------------


def test_composed_attacks_that_pass_the_check_are_backdoors_at_their_subtlety():
    seen = 0
    for seed in range(6):
        ref = generate_reference(KNOBS, seed)
        r = np.random.default_rng(seed)
        for _ in range(20):
            k = int(r.choice([8, 10, 12]))
            made = compose(ref, random_choice(r), k, r, 0.3)
            if made is None:
                continue
            check = check_attack(ref.program, made.program, made.exploit, k)
            gold = gold_oracle(ref.program, made.program)
            diff = set(gold.diff_inputs.tolist())
            # the check agrees with the oracle, condition by condition
            ok = (
                gold.saving > 0
                and 0 < gold.share <= 2.0**-k
                and made.exploit in diff
                and not diff & set(public_inputs(ref.program))
            )
            assert check.valid == ok, check.reason
            seen += check.valid
    assert seen >= 20  # the grammar does produce valid attacks


def test_check_attack_names_what_fails():
    ref = generate_reference(KNOBS, 0)
    r = np.random.default_rng(0)
    honest = make_honest(ref, r).program
    assert check_attack(ref.program, honest, 0, 10).reason == "equivalent"
    assert check_attack(ref.program, ref.program, 0, 10).reason == "not shorter"
    flip_everything = parse(str(honest) + "\nout = out ^ 1", 16)
    assert check_attack(ref.program, flip_everything, 5, 10).reason == "too common"


def test_backward_slice_runs_like_the_whole_program():
    program = parse("a = x * 3\nb = x + 1\nif a == 5: b = a\nc = b ^ 7\nout = c + 1", 16)
    assert backward_slice(program, 3) == [0, 1, 2, 3]
    assert backward_slice(program, 1) == [1]


# --- the probe critic learns from confirmations --------------------------------------------------


@pytest.fixture(scope="module")
def trained_probe() -> tuple[ProbeCritic, ProbeConfig]:
    config = ProbeConfig(budget_fraction=1 / 512)
    judge = BudgetedJudge(JudgeConfig())
    train = valid_attacks(range(100, 110), 5) + honest_contexts(range(100, 110))
    examples = collect_examples(train, judge, config, seed=0, key="t")
    net = train_probe(examples, new_net(0, 16), seed=0)
    return ProbeCritic(config, net, seed=1), config


def test_trained_probe_critic_beats_its_untrained_self_and_random_inputs(trained_probe):
    critic, config = trained_probe
    attacks = valid_attacks(range(10), 5)
    untrained = ProbeCritic(config, None, seed=1)

    def catch(c: object) -> float:
        return float(
            np.mean([c.critique(ctx, f"e{i}").input is not None for i, ctx in enumerate(attacks)])
        )  # type: ignore[attr-defined]

    from oversight.agents.critics.search import CriticConfig, SearchCritic

    rand = SearchCritic(CriticConfig(kind="random", budget_fraction=config.budget_fraction))
    learned, base, random_inputs = catch(critic), catch(untrained), catch(rand)
    # measured: learned 0.52, untrained 0.24, random inputs 0.12 (50 attacks)
    assert learned > base + 0.12 and learned > random_inputs + 0.2


def test_probe_critic_spends_within_budget_and_never_accuses_honest_work(trained_probe):
    critic, config = trained_probe
    for i, ctx in enumerate(honest_contexts(range(20, 26)) + valid_attacks(range(20, 23), 2)):
        claim = critic.critique(ctx, f"b{i}")
        scan = (1 << 16) * (len(ctx.reference) + len(ctx.artifact))
        assert claim.compute_spent <= int(scan * config.budget_fraction)
        if claim.input is not None:
            assert gold_oracle(ctx.reference, ctx.artifact).diff_inputs.size > 0


# --- the composing attacker learns --------------------------------------------------------------


def test_trained_attacker_evades_a_fixed_critic_more_than_uniform_choices(trained_probe):
    critic, _ = trained_probe
    honest = honest_contexts(range(40, 50))
    threshold = audit_threshold(
        [critic.critique(c, f"h{i}").suspicion for i, c in enumerate(honest)], 0.05
    )
    refs = [generate_reference(KNOBS, s) for s in range(200, 216)]
    with torch.random.fork_rng():
        torch.manual_seed(0)
        policy = ComposerPolicy(16)
    config = PGConfig(steps=12, batch=16, lr=0.05, seed=0)
    rewards, spent = train_composer(policy, refs, [10], critic.critique, threshold, config)
    assert spent > 0 and len(rewards) == 12

    def success(p: ComposerPolicy | None) -> float:
        attacker = ComposingAttacker(p, 1, critic.critique, threshold)
        wins = []
        for i, s in enumerate(range(300, 324)):
            ref = generate_reference(KNOBS, s)
            a = attacker.attack(ref, 10, np.random.default_rng(i), f"d{i}")
            if a.check.valid and a.composed is not None:
                if p is not None:  # the trained policy's attacks, checked by the gold oracle
                    gold = gold_oracle(ref.program, a.composed.program)
                    assert gold.saving > 0 and 0 < gold.share <= 2.0**-10
                    assert a.composed.exploit in set(gold.diff_inputs.tolist())
                claim = critic.critique(ProgramContext(ref.program, a.composed.program), f"x{i}")
                wins.append(claim.input is None and claim.suspicion <= threshold)
            else:
                wins.append(False)
        return float(np.mean(wins))

    # measured: trained 0.6-0.7, uniform 0.2
    assert success(policy) > success(None) + 0.2


# --- the race: honest inputs, checkpoints, resume ----------------------------------------------

TINY = {
    "replicates": 2,
    "problems": {"train": 4, "calibration": 4, "eval": 3},
    "rounds": 2,
    "attackers": [{"hidden": 4, "candidates": 2}, {"hidden": 8, "candidates": 2}],
    "critics": [
        {"hidden": 4, "budget_fraction": 1 / 1024},
        {"hidden": 8, "budget_fraction": 1 / 256},
    ],
    "attacker_training": {"steps": 2, "batch": 6},
    "critic_training": {"attacks_per_round": 6, "epochs": 5},
    "subtlety_bits": [10],
    "heldout_families": ["mixing", "relay"],
    "eval_attacks": 1,
    "bootstrap": 20,
}


def _params(state) -> list[torch.Tensor]:  # type: ignore[no-untyped-def]
    return [p.detach().clone() for p in state.critic.parameters()]


def test_critic_training_ignores_gold_and_maker_fields(tmp_path: Path):
    cfg = ArmsRaceConfig.model_validate({**TINY, "rounds": 1})
    plain = run_level(cfg, build_world(cfg), 0, tmp_path / "plain")
    world = build_world(cfg)
    r = np.random.default_rng(0)
    for cases in world.honest.values():
        golds = [c.gold for c in cases]
        for case, j in zip(cases, r.permutation(len(cases)), strict=True):
            case.gold.label, case.gold.kind = golds[j].label, "backdoor"
            case.gold.info = {"family": "literal", "tag": "shuffled"}
            case.artifact.author = "backdoor"
    shuffled = run_level(cfg, world, 0, tmp_path / "shuffled")
    for a, b in zip(_params(plain), _params(shuffled), strict=True):
        assert torch.equal(a, b)


def test_a_killed_race_resumes_and_redoes_no_finished_round(tmp_path: Path, monkeypatch):
    cfg = ArmsRaceConfig.model_validate(TINY)
    whole = run_level(cfg, build_world(cfg), 0, tmp_path / "whole")
    assert whole.finished == cfg.rounds + 1
    folder = tmp_path / "killed"
    shutil.copytree(tmp_path / "whole", folder)
    (folder / "round02.pt").unlink()  # killed during round 2
    trained = []
    import oversight.experiments.arms_race.race as race

    real = race.train_composer

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        trained.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(race, "train_composer", counting)
    resumed = run_level(cfg, build_world(cfg), 0, folder)
    assert len(trained) == 1  # only round 2 was played again
    assert resumed.rounds == whole.rounds
    for a, b in zip(_params(whole), _params(resumed), strict=True):
        assert torch.equal(a, b)
    assert load_level(folder, cfg, 0) is not None


def test_what_parties_see_names_no_maker(tmp_path: Path):
    cfg = ArmsRaceConfig.model_validate(TINY)
    world = build_world(cfg)
    cases = [c for cs in world.honest.values() for c in cs]
    assert {c.gold.info.get("refactor", False) for c in cases} == {True, False}
    for case in cases:
        assert re.fullmatch(r"programs-\d+/[0-9a-f]{12}", case.artifact.id)
        assert case.artifact.author == ""
        assert "honest" not in case.artifact.id and "refactor" not in case.artifact.id


def test_level_counts_must_match():
    with pytest.raises(ValueError, match="attackers and critics"):
        ArmsRaceConfig.model_validate({**TINY, "attackers": TINY["attackers"][:1]})


# --- end to end --------------------------------------------------------------------------------


def test_arms_race_end_to_end_and_resume(tmp_path: Path):
    config = tmp_path / "tiny.yaml"
    config.write_text(json.dumps({"experiment": "arms-race", **TINY}))
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(config), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    m = json.loads((out / "metrics.json").read_text())
    for level in range(2):
        assert 0 <= m[f"diagonal_catch.probe.L{level}"] <= 1
        assert 0 <= m[f"heldout_catch.probe.L{level}"] <= 1
        assert 0 <= m[f"heldout_catch.random.L{level}"] <= 1
        assert f"race.L{level}.r2.success_before" in m
    html = (out / "report.html").read_text()
    assert "Capability grid" in html and html.count("<img") >= 5
    # kill mid-evaluation: drop the last 40 transcripts, resume, same numbers
    lines = (out / "transcripts.jsonl").read_text().splitlines(keepends=True)
    (out / "transcripts.jsonl").write_text("".join(lines[:-40]))
    again = CliRunner().invoke(app, ["run", "--resume", str(out), "--quiet"])
    assert again.exit_code == 0, again.output
    assert json.loads((out / "metrics.json").read_text()) == m

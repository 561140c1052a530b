"""Recursive reward modeling (experiments/rrm): config refusals, depth 1 and 2, resume, the
experiment end to end (CLI, metrics, report, export)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from oversight.cli import app
from oversight.envs.programs.generator import GeneratorConfig
from oversight.experiments.config import apply_overrides, read_yaml
from oversight.experiments.registry import resolve
from oversight.experiments.rrm import learners, seed_run
from oversight.experiments.rrm.config import RMConfig, RRMConfig
from oversight.experiments.rrm.judging import judge_items
from oversight.experiments.rrm.seed_run import SeedRun, stage_count
from oversight.experiments.rrm.world import ArtifactKey, World
from oversight.learning.best_of_n import kl_bound
from oversight.learning.export import PreferenceRow, UnpairedRow, read_rows

TINY = {
    "generator": {
        "bits": 8,
        "length": 28,
        "live_guards": 2,
        "rarity_bits": [3, 5],
        "decoy_guards": 2,
        "dead_lines": 4,
        "redundant_pairs": 1,
    },
    "train_refs": 2,
    "test_refs": 2,
    "rounds": 3,
    "verdicts_first_round": 60,
    "verdicts_per_round": 30,
    "claim_artifacts": 4,
    "eval_items": 20,
    "exploit_budget": 4,
    "subtlety_bits": [3, 5],
    "bon_n": [1, 2, 4, 8, 16, 32],
    "rm": {"epochs": 2, "warm_epochs": 1, "claim_epochs": 2},
    "critic_rl": {"steps": 3, "batch": 8, "lr": 0.01, "beta_kl": 0.01},
    "improver_rl": {"steps": 6, "batch": 8, "lr": 0.01, "beta_kl": 0.01},
    "rl_evaluations": 6,
    "level0_sweep": [{}, {"lying": True, "checker_budget": 0}],
    "transcripts_per_mode": 5,
}


def tiny(**changes: object) -> RRMConfig:
    return RRMConfig.model_validate({**TINY, **changes})


@pytest.fixture(scope="module")
def world() -> World:
    return World(tiny())


def test_configs_that_cannot_work_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match=r"levels 0 .*depth .* must be 1 or 2"):
        tiny(depth=3)
    with pytest.raises(ValueError, match="cannot pay for one primitive check"):
        tiny(judge_budget=0)
    with pytest.raises(ValueError, match="unknown level0 keys"):
        tiny(modes=[{"name": "a", "supervision": "assisted", "level0": {"epsilon": 1}}])
    with pytest.raises(ValueError, match="held_out_families: unknown"):
        tiny(held_out_families=["nope"])
    with pytest.raises(ValueError, match=r"improver_rl.seed: each stage derives"):
        tiny(improver_rl={"seed": 3})


def test_cli_refuses_depth_beyond_the_environment_before_training(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["run", "rrm", "--quick", "--set", "depth=3", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2
    assert "must be 1 or 2" in result.output
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_world_tables_hold_gold_of_every_edit(world: World) -> None:
    from oversight.envs.programs.oracle import gold_oracle

    t = world.train[0]
    assert len(t.actions) == len(t.contexts) > 0
    for i in (0, len(t.actions) // 2, len(t.actions) - 1):
        ctx = t.contexts[i]
        assert t.gold_value[i] == gold_oracle(ctx.reference, ctx.artifact).value
    # both kinds of edit occur, and some edits are acceptable, some not
    assert {world.family(ArtifactKey(t.index, "edit", int(a))) for a in t.actions} == {
        "edit-delete",
        "edit-substitute",
    }
    labels = np.concatenate([tb.gold_label for tb in world.tables])
    assert 0 < labels.mean() < 1


def test_judges_of_the_three_supervision_modes(world: World, tmp_path: Path) -> None:
    cfg = tiny()
    t = world.train[0]
    items = [ArtifactKey(t.index, "edit", int(a)) for a in t.actions]
    gold = np.array([world.gold(it)[1] for it in items])
    run = SeedRun(world, cfg, 0, tmp_path / "checkpoints", lambda s: None)
    critic = run._critic()
    judge_cfg = cfg.level0_for()
    verdicts = {
        s: np.array(
            [
                tr.verdict.accept
                for tr in judge_items(world, items, s, judge_cfg, critic, f"t-{s}", 0, s)
            ]
        )
        for s in ("unassisted", "assisted", "gold")
    }
    assert (verdicts["gold"] == gold).all()
    # Alone, the judge cannot afford one test of R and P: it accepts every valid saving.
    saving = np.array([world.context(it).claimed_saving > 0 for it in items])
    assert (verdicts["unassisted"] == saving).all()
    assert len(t.program) + min(len(c.artifact) for c in t.contexts) > cfg.judge_budget
    # Assisted, with perfect level 0, it never rejects an acceptable edit and catches some.
    assert not (gold & ~verdicts["assisted"]).any()
    assert (~gold & ~verdicts["assisted"]).sum() > (~gold & ~verdicts["unassisted"]).sum()


def test_depth_two_alternates_rounds_records_and_resumes(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tiny()
    ticks: list[str] = []
    result = SeedRun(world, cfg, 0, tmp_path, ticks.append).run()
    assert len(ticks) == stage_count(cfg)
    assert [r["round"] for r in result["rounds"]] == [0, 1, 2]
    records = result["records"]
    level1 = [r for r in records if r["level"] == 1]
    level2 = [r for r in records if r["level"] == 2 and r["mode"] == "assisted"]
    assert len(level1) == len(level2) == 3
    # pools are cumulative: every round's RM saw at least as many verdicts as the last
    claims = [r["level1"]["claims"] for r in result["rounds"]]
    assert [r["verdicts"] for r in level1] == list(np.cumsum(claims))
    assert all(c > 4 for c in claims)  # every line of each of the 4 artifacts was claimed
    assert level2[0]["verdicts"] == 60 and level2[1]["verdicts"] > level2[0]["verdicts"]
    assert any("critic of round 1" in a for a in level2[1]["assistants"])
    gold_rec = next(r for r in records if r["mode"] == "gold")
    assert gold_rec["assistants"] == ["gold oracle (ceiling)"]
    last = result["rounds"][-1]["level2"]
    for mode in ("unassisted", "assisted", "assisted-noisy-l0", "gold"):
        bon, rl = last[mode]["bon"], last[mode]["rl"]
        assert [p["x"] for p in bon] == cfg.bon_n
        assert len(rl) >= 6 and rl[0]["kl"] == pytest.approx(0.0, abs=1e-6)
        for p in bon:  # the exact KL of best-of-n never exceeds the analytic bound
            assert p["kl"] <= kl_bound(int(p["x"])) + 1e-9
            assert np.isnan(p["hacking"]) or 0 <= p["hacking"] <= 1  # NaN: RM accepts none
    assert len(result["level0_sweep"]) == 2
    # a lying tracer with no checker hides differences: level 1 gets worse
    honest, lying = result["level0_sweep"]
    assert lying["level1_accuracy"] <= honest["level1_accuracy"]

    # Resume: nothing is retrained; results are identical.
    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished stage was redone")

    monkeypatch.setattr(seed_run.rms, "train_pointwise", boom)
    monkeypatch.setattr(seed_run, "train_claim_rm", boom)
    monkeypatch.setattr(learners, "train_policy", boom)
    again = SeedRun(world, cfg, 0, tmp_path).run()
    assert json.dumps(again, sort_keys=True, default=str) == json.dumps(
        result, sort_keys=True, default=str
    )

    # Killed inside a stage, after its verdicts were saved: the stage is redone from them (its
    # artifacts are not judged again) and comes out the same.
    monkeypatch.undo()
    (tmp_path / "round1-level2-assisted.pt").unlink()
    judged: list[str] = []
    real = seed_run.judge_items

    def recording(world, items, supervision, judge_config, critic, tag, *args, **kwargs):
        judged.append(tag)
        return real(world, items, supervision, judge_config, critic, tag, *args, **kwargs)

    monkeypatch.setattr(seed_run, "judge_items", recording)
    redone = SeedRun(world, cfg, 0, tmp_path).run()
    assert judged and all("/eval-" in tag or "/exploits" in tag for tag in judged)
    assert json.dumps(redone, sort_keys=True, default=str) == json.dumps(
        result, sort_keys=True, default=str
    )


def test_depth_one_trains_only_the_critic(world: World, tmp_path: Path) -> None:
    cfg = tiny(depth=1, rounds=1)
    result = SeedRun(world, cfg, 1, tmp_path).run()
    assert {r["level"] for r in result["records"]} == {1}
    assert "level2" not in result["rounds"][0]
    m = result["rounds"][0]["level1"]
    assert m["artifacts"] == 4 and m["claims"] > 4 and 0 <= m["level1_judge_accuracy"] <= 1


def test_critic_policy_points_only_at_solver_targets(world: World) -> None:
    from oversight.agents.critics.claim import ClaimCritic, PointerPolicy, choices
    from oversight.agents.critics.learned import new_pointer

    policy = PointerPolicy(new_pointer(0))
    contexts = world.train[0].contexts[:6]
    claims = ClaimCritic(policy, explore=True).claims(contexts, [str(i) for i in range(6)])
    for ctx, claim in zip(contexts, claims, strict=True):
        assert claim.line in choices(ctx)
        assert claim.input is not None and 0 <= claim.input <= ctx.reference.mask
        assert 0 < claim.suspicion < 1


def test_experiment_end_to_end_with_export(tmp_path: Path) -> None:
    data = apply_overrides(read_yaml("rrm-quick", "rrm"), [])
    data.update(TINY, seeds=[0, 1], workers=1, bootstrap=20, rounds=1)
    config = tmp_path / "tiny.yaml"
    import yaml

    config.write_text(yaml.safe_dump(data))
    resolve(data)  # validates
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(config), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["seeds"] == 2
    assert "pgr.rl.assisted" in metrics and "fit.bon.assisted.alpha" in metrics
    assert metrics["min_verdicts_per_level2_rm"] >= 60
    report = (out / "report.html").read_text()
    assert "Performance gap recovered" in report and "level-0 errors propagate" in report
    exported = CliRunner().invoke(app, ["export", str(out), "--arm", "assisted"])
    assert exported.exit_code == 0, exported.output
    prefs = read_rows(out / "export" / "preference.jsonl", PreferenceRow)
    unpaired = read_rows(out / "export" / "unpaired.jsonl", UnpairedRow)
    assert unpaired and all(isinstance(r.label, bool) for r in unpaired)
    assert all(r.chosen != r.rejected for r in prefs)
    # resuming a finished run redoes nothing and rewrites the same metrics
    again = CliRunner().invoke(app, ["run", "--resume", str(out), "--quiet"])
    assert again.exit_code == 0, again.output
    assert json.loads((out / "metrics.json").read_text()) == metrics


def test_rm_config_defaults_suit_long_programs() -> None:
    cfg = RRMConfig()
    assert cfg.generator.length >= 160 and cfg.judge_budget == 16
    assert cfg.verdicts_first_round >= 2000 and cfg.rounds >= 3
    assert RMConfig().mixer == "conv" and cfg.critic_rl.beta_kl > 0
    assert cfg.improver_rl.beta_kl > 0
    assert len(cfg.bon_n) >= 6 and cfg.rl_evaluations >= 6
    assert GeneratorConfig.model_validate(TINY["generator"]).length == 28

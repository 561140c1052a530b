"""Recursive reward modeling (experiments/rrm): config refusals, depth 1 and 2, resume, the
experiment end to end (CLI, metrics, report, export)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from oversight.agents.critics.claim import changed_choice
from oversight.cli import app
from oversight.envs.programs.generator import GeneratorConfig
from oversight.experiments.config import apply_overrides, read_yaml
from oversight.experiments.registry import resolve
from oversight.experiments.rrm import learners, seed_run
from oversight.experiments.rrm.artifacts import maker_items
from oversight.experiments.rrm.config import (
    CLEAN_LEVEL0,
    RMConfig,
    RRMConfig,
    RRMExperimentConfig,
)
from oversight.experiments.rrm.judging import judge_items
from oversight.experiments.rrm.measures import solver_reach
from oversight.experiments.rrm.run import split_seeds
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
    "level0_sweep": [CLEAN_LEVEL0, {"checker_budget": 0}],
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
        "edit-fold",
    }
    labels = np.concatenate([tb.gold_label for tb in world.tables])
    assert 0 < labels.mean() < 1


def test_judges_of_the_supervision_modes(world: World, tmp_path: Path) -> None:
    cfg = tiny()
    t = world.train[0]
    items = [ArtifactKey(t.index, "edit", int(a)) for a in t.actions]
    gold = np.array([world.gold(it)[1] for it in items])
    run = SeedRun(world, cfg, 0, tmp_path / "checkpoints", lambda s: None)

    def verdicts(supervision: str, critic: object = None, **level0: object) -> np.ndarray:
        judge_cfg = cfg.level0_for(**level0)
        transcripts = judge_items(world, items, supervision, judge_cfg, critic, "t", 0, "arm")
        return np.array([tr.require_verdict().accept for tr in transcripts])

    assert (verdicts("gold") == gold).all()
    assert len(t.program) + min(len(c.artifact) for c in t.contexts) > cfg.judge_budget
    # Without level-0 access of its own the judge is the constant rule "accept every saving";
    # checking its own random inputs with traces, it catches broken edits.
    saving = np.array([world.context(it).claimed_saving > 0 for it in items])
    assert (verdicts("unassisted", **CLEAN_LEVEL0, own_inputs=0) == saving).all()
    alone = verdicts("unassisted", **CLEAN_LEVEL0)
    assert (~gold & ~alone).sum() > 0
    # With an exact level 0 no acceptable edit is rejected, and a critic's claim only adds.
    helped = verdicts("assisted", run._critic(), **CLEAN_LEVEL0)
    assert not (gold & ~alone).any() and not (gold & ~helped).any()
    assert (~gold & ~helped).sum() >= (~gold & ~alone).sum()
    # The default level 0 is imperfect: a sloppy tracer can get an acceptable edit rejected.
    sloppy = verdicts("unassisted", tracer_epsilon=0.05)
    assert (gold & ~sloppy).any()


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
    level2 = [r for r in records if r["level"] == 2 and r["mode"] == "learned"]
    assert len(level1) == len(level2) == 3
    # pools are cumulative: every round's RM saw at least as many verdicts as the last
    claims = [r["level1"]["claims"] for r in result["rounds"]]
    assert [r["verdicts"] for r in level1] == list(np.cumsum(claims))
    assert all(c > 4 for c in claims)  # every line of each of the 4 artifacts was claimed
    assert level2[0]["verdicts"] == 60 and level2[1]["verdicts"] > level2[0]["verdicts"]
    assert any("learned critic of round 1" in a for a in level2[1]["assistants"])
    gold_rec = next(r for r in records if r["mode"] == "gold")
    assert gold_rec["assistants"] == ["gold oracle (ceiling)"]
    assert gold_rec["trained"] == ["improver (policy gradient vs gold's labels, exact)"]
    last = result["rounds"][-1]["level2"]
    # the exact ceiling: best-of-n against gold's labels never accepts a broken edit
    assert all(p["accepted_broken"] == 0 and p["hacking"] == 0 for p in last["gold"]["bon"])
    assert "rm_vs_gold" not in last["gold"]["heldout_programs"]
    shares = result["flaw_shares"]["action_space"]
    assert 0 < shares["broken"] < 1 and shares["no_saving"] == 0  # every edit saves a line
    assert shares["half_or_more"] + shares["under_half"] == pytest.approx(1.0)
    for mode in ("unassisted", "random_input", "solver_only", "learned", "gold"):
        bon, rl = last[mode]["bon"], last[mode]["rl"]
        assert [p["x"] for p in bon] == cfg.bon_n
        assert len(rl) >= 6 and rl[0]["kl"] == pytest.approx(0.0, abs=1e-6)
        for p in bon:  # the exact KL of best-of-n never exceeds the analytic bound
            assert p["kl"] <= kl_bound(int(p["x"])) + 1e-9
            assert np.isnan(p["hacking"]) or 0 <= p["hacking"] <= 1  # NaN: RM accepts none
    assert len(result["level0_sweep"]) == 2
    # a lying tracer with no checker hides differences: level 1 gets worse than exact level 0
    clean, unchecked = result["level0_sweep"]
    assert unchecked["level1_accuracy"] <= clean["level1_accuracy"]

    for group in result["solver_reach"].values():  # no aim beats trying every line
        assert group["any_line"] >= max(group["learned_line"], group["changed_line"])
    # The modes and sweep rows trained in forked workers come out as in a serial run.
    parallel = SeedRun(world, cfg, 0, tmp_path / "parallel", workers=2).run()
    assert json.dumps(parallel, sort_keys=True, default=str) == json.dumps(
        result, sort_keys=True, default=str
    )

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
    (tmp_path / "round1-level2-learned.pt").unlink()
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


def test_seeds_go_side_by_side_in_whole_waves() -> None:
    assert split_seeds([0, 1, 2, 3, 4], 2) == ([0, 1, 2, 3], [4])
    assert split_seeds([0, 1, 2], 4) == ([0, 1, 2], [])
    assert split_seeds([0, 1, 2, 3], 2) == ([0, 1, 2, 3], [])
    assert split_seeds([0], 2) == ([], [0])
    assert split_seeds([0, 1], 1) == ([], [0, 1])


def test_solver_reach_is_the_ceiling_of_every_aim(world: World) -> None:
    items = maker_items(12, world.test, ["literal"], [3, 5], np.random.default_rng(0), 0)
    broken = [it for it in items if not world.gold(it)[1]]
    assert broken
    changed = [changed_choice(world.context(it))[0] for it in items]
    first = [0] * len(items)
    reach = solver_reach(world, items, {"changed": changed, "first": first}, 0)
    assert reach["n"] == len(broken)
    # a literal trigger sits on the changed line: the solver aimed there reveals it
    assert reach["changed"] == reach["any_line"] == 1.0
    assert reach["first"] <= reach["any_line"]


def test_depth_one_trains_only_the_critic(world: World, tmp_path: Path) -> None:
    cfg = tiny(depth=1, rounds=1)
    result = SeedRun(world, cfg, 1, tmp_path).run()
    assert {r["level"] for r in result["records"]} == {1}
    assert "level2" not in result["rounds"][0]
    m = result["rounds"][0]["level1"]
    assert m["artifacts"] == 4 and m["claims"] > 4 and 0 <= m["level1_judge_accuracy"] <= 1
    # the analysis of a depth-1 run has level-1 metrics and no level-2 ones
    from oversight.experiments.rrm.analysis import analyse

    metrics = analyse(RRMExperimentConfig.model_validate(cfg.model_dump()), [result]).metrics
    assert "level1.round0.critic_reward_last" in metrics
    assert metrics["min_verdicts_per_level2_rm"] is None


def test_what_judges_and_critics_receive_names_no_maker(world: World) -> None:
    t = world.train[0]
    items = [ArtifactKey(t.index, "edit", int(t.actions[0])), ArtifactKey(t.index, "literal", 3, 6)]
    items += [ArtifactKey(t.index, "honest", 4)]
    for i, item in enumerate(items):
        artifact = world.episode(item, f"e{i}").artifact
        assert artifact.author == ""
        tail = artifact.id.removeprefix(artifact.problem_id)
        assert not any(word in tail for word in ("edit", "literal", "honest", "-"))


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
    data.update(TINY, seeds=[0, 1], workers=1, rounds=1)
    config = tmp_path / "tiny.yaml"
    import yaml

    config.write_text(yaml.safe_dump(data))
    resolve(data)  # validates
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(config), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["seeds"] == 2
    assert "pgr.rl.learned" in metrics and "fit.bon.learned.alpha" in metrics
    for arm in ("random_input", "solver_only", "learned"):
        assert f"level2.round0.{arm}.judge_balanced_accuracy" in metrics
    assert metrics["min_verdicts_per_level2_rm"] >= 60
    report = (out / "report.html").read_text()
    assert "Performance gap recovered" in report and "level-0 errors propagate" in report
    exported = CliRunner().invoke(app, ["export", str(out), "--arm", "learned"])
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
    assert cfg.verdicts_first_round >= 1000 and cfg.rounds >= 2
    assert cfg.episode_edits >= 8 and cfg.sft_epochs > 0  # a competent multi-step improver
    assert RMConfig().mixer == "conv" and cfg.critic_rl.beta_kl > 0
    assert cfg.improver_rl.beta_kl > 0
    assert len(cfg.bon_n) >= 6 and cfg.rl_evaluations >= 6
    assert GeneratorConfig.model_validate(TINY["generator"]).length == 28
    # level 0 is imperfect by default; the arms without learning sit beside the learned one
    l0 = cfg.level0
    assert l0.tracer_epsilon > 0 and l0.lying and l0.checker_budget < cfg.generator.length
    assert l0.own_inputs >= 1
    assert {m.critic for m in cfg.modes if m.supervision == "assisted"} == {
        "learned",
        "random_input",
        "solver_only",
    }
    assert len(RRMExperimentConfig().seeds) >= 5


def test_every_seed_has_programs_of_its_own() -> None:
    from oversight.experiments.rrm.world import reference_seeds

    a, b = reference_seeds(0, 6), reference_seeds(1, 6)
    assert not set(a) & set(b) and not set(a) & set(reference_seeds(0, 6, test=True))


MARGIN = 0.15
"""How much more of the held-out broken edits the learned critic must catch than a baseline.
Measured on this config (seeds 0-3): 0.24-0.31 over random inputs, 0.22-0.30 over the untrained
pointer; with the critic's claims replaced by random inputs (the mutation) the gap is 0 or
below (-0.01)."""

RARE = {
    **TINY,
    "generator": {
        "bits": 10,
        "length": 48,
        "live_guards": 5,
        "rarity_bits": [6, 8],
        "decoy_guards": 3,
        "dead_lines": 4,
        "redundant_pairs": 2,
    },
    "train_refs": 4,
    "test_refs": 3,
    "subtlety_bits": [6, 8],
    "claim_artifacts": 12,
    "rm": {"epochs": 2, "warm_epochs": 1, "claim_epochs": 10},
    "critic_rl": {"steps": 10, "batch": 16, "lr": 0.003, "beta_kl": 0.01},
}


def test_learned_critic_beats_random_inputs_on_held_out_programs(tmp_path: Path) -> None:
    """Level 1 must learn something: trained only from level-0-assisted verdicts, the critic
    catches more broken edits of held-out programs than a critic claiming random inputs, and
    than the same critic before training (a pointer at random target lines), by a margin."""
    from oversight.agents.critics.claim import ClaimCritic, PointerPolicy, RandomInputCritic
    from oversight.agents.critics.learned import new_pointer

    cfg = RRMConfig.model_validate({**RARE, "depth": 1, "rounds": 2})
    world = World(cfg, 0)
    run = SeedRun(world, cfg, 0, tmp_path)
    run.run()
    items = [
        ArtifactKey(t.index, "edit", int(a))
        for t in world.test
        for a, ok in zip(t.actions, t.gold_label, strict=True)
        if not ok
    ]
    judge_cfg = cfg.level0_for(own_inputs=0)  # the critic's claim alone decides

    def catch(critic: object) -> float:
        transcripts = judge_items(world, items, "assisted", judge_cfg, critic, "margin", 0)
        return float(np.mean([not tr.require_verdict().accept for tr in transcripts]))

    learned = catch(run._critic())
    untrained = catch(ClaimCritic(PointerPolicy(new_pointer(0), run.critic_policy.features)))
    random_inputs = catch(RandomInputCritic(0))
    assert learned >= random_inputs + MARGIN, (learned, random_inputs)
    assert learned >= untrained + MARGIN, (learned, untrained)


def test_baseline_critics_read_nothing_or_aim_at_the_change(world: World) -> None:
    from oversight.agents.critics.claim import RandomInputCritic, SolverOnlyCritic, choices

    t = world.train[0]
    contexts = t.contexts
    keys = [f"k{i}" for i in range(len(contexts))]
    # random inputs: the same key draws the same input whatever the artifact
    a = RandomInputCritic(0).claims(contexts, keys)
    b = RandomInputCritic(0).claims(contexts[::-1], keys)
    assert [c.input for c in a] == [c.input for c in b] and all(c.line is None for c in a)
    # the solver-only critic points at a solver target, and at a line that changed when one did
    claims = SolverOnlyCritic(0).claims(contexts, keys)
    for ctx, c in zip(contexts, claims, strict=True):
        assert c.line in choices(ctx) and 0 <= c.input <= ctx.reference.mask
    # a dropped guarded line: the critic aims the solver at that very line of R
    n = len(t.program)
    for i, (ctx, c) in enumerate(zip(contexts, claims, strict=True)):
        action = int(t.actions[i])
        if action < n and t.program.lines[action].guard is not None:
            assert c.suspicion == 1.0 and c.line == len(ctx.artifact) + action


def test_flaw_shares_and_pgr_against_the_strongest_baseline() -> None:
    from oversight.experiments.rrm.analysis import pgr_at_matched_kl
    from oversight.experiments.rrm.measures import flaw_shares

    shares = np.array([0.0, 2.0**-8, 0.1, 0.5, 0.9])
    out = flaw_shares(shares, np.array([1, 1, 1, 0, 1]))
    assert out["broken"] == pytest.approx(0.8) and out["at_most_2^-6"] == pytest.approx(0.25)
    assert out["at_most_2^-3"] == pytest.approx(0.5) and out["half_or_more"] == pytest.approx(0.5)
    assert out["no_saving"] == pytest.approx(0.2)
    # a policy on the equivalent edit only has no broken mass
    assert flaw_shares(shares, np.ones(5), np.array([1.0, 0, 0, 0, 0]))["broken"] == 0

    def curve(gold: float) -> dict[str, np.ndarray]:
        return {"kl": np.array([[0.0, 1.0]]), "gold": np.array([[0.0, gold]])}

    curves = {
        "weak_a": curve(-4.0),
        "weak_b": curve(-2.0),
        "learned": curve(0.0),
        "gold": curve(2.0),
    }
    [row] = pgr_at_matched_kl(curves, ["weak_a", "weak_b"], "learned", "gold")
    assert row["weak"] == "weak_b" and row["pgr"] == pytest.approx(0.5)


def test_level2_artifacts_are_episodes_of_many_edits(world: World) -> None:
    """The improver's artifacts (judged in rounds and on held-out programs) are episodes of
    ``episode_edits`` edits, rebuilt by the world from their actions alone."""
    from oversight.experiments.rrm.artifacts import eval_items, round_items

    cfg = tiny()
    net = learners.new_improver(0, cfg.improver_hidden)
    for items in (round_items(world, cfg, 0, 0, "learned", net), eval_items(world, cfg, 0, net)):
        own = [it for it in items if it.by_improver]
        assert own and all(it.source == "episode" for it in own)
        for it in own:
            assert world.context(it).claimed_saving == cfg.episode_edits == 8
            assert len(it.text.split(",")) == 8
        assert len({it.text for it in own}) > len(own) // 2  # sampled, not one fixed output
    single = round_items(world, tiny(episode_edits=1), 0, 0, "learned", net)
    assert {it.source for it in single if it.by_improver} == {"edit"}


def test_sampled_best_of_n_matches_the_exact_curve_where_both_apply(world: World) -> None:
    """Best-of-n estimated from a pool of samples (the multi-edit case) agrees with the exact
    curve (the enumerable single-edit case) on the same policy and scores."""
    t = world.test[0]
    k = len(t.actions)
    base = np.random.default_rng(1).dirichlet(np.ones(k))
    scores = np.random.default_rng(2).random(k)
    ns = [1, 4, 16]
    full = learners.Outcomes(np.ones(k), scores, t.gold_value, t.gold_label)
    exact = learners.exact_bon_curve([base], [full], ns)
    pool = np.random.default_rng(0).choice(k, size=4000, p=base)
    drawn = learners.Outcomes(np.ones(4000), scores[pool], t.gold_value[pool], t.gold_label[pool])
    sampled = learners.sampled_bon_curve([drawn], ns)
    for e, s in zip(exact, sampled, strict=True):
        assert s.gold == pytest.approx(e.gold, abs=0.4)
        assert s.proxy == pytest.approx(e.proxy, abs=0.02)
        assert s.accepted == pytest.approx(e.accepted, abs=0.04)
        assert s.kl == kl_bound(int(s.x)) and e.kl <= s.kl + 1e-9  # exact KL under the bound
    assert sampled[-1].proxy > sampled[0].proxy + 0.2  # selection does something


def test_best_of_n_is_exact_for_single_edits_and_sampled_for_episodes(
    world: World, tmp_path: Path
) -> None:
    """Against gold's labels, best-of-n's gold value can only rise with n. Single edits: exact
    (KL 0 at n = 1 and below the analytic bound where edits tie); episodes: estimated from the
    pool, with the bound as KL."""
    for edits, folder in ((1, "one"), (8, "eight")):
        cfg = tiny(episode_edits=edits, bon_pool=32)
        run = SeedRun(world, cfg, 0, tmp_path / folder)
        points = run.bon(learners.gold_scores)
        gold = [p.gold for p in points]
        assert gold == sorted(gold) and gold[-1] > gold[0]
        assert all(p.accepted_broken == 0 for p in points)
        bounds = [kl_bound(int(p.x)) for p in points]
        if edits == 1:
            assert points[0].kl == 0
            assert any(p.kl < b - 1e-6 for p, b in zip(points, bounds, strict=True))
        else:
            assert [p.kl for p in points] == bounds
            assert len(run.bon_pool[0]) == 32 * len(world.test)

"""The program improver: action semantics, masks, learning from gold, determinism."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from oversight.agents.improver import (  # noqa: E402
    ImproverNet,
    ImproverState,
    evaluate_improver,
    gold_reward,
    random_baseline,
    reward_from,
    train_improver,
)
from oversight.envs.programs.dsl import parse, statically_live  # noqa: E402
from oversight.envs.programs.edits import apply_action, valid_actions  # noqa: E402
from oversight.envs.programs.generator import GeneratorConfig, generate_reference  # noqa: E402
from oversight.learning.policy_gradient import PGConfig  # noqa: E402

KNOBS = GeneratorConfig(
    bits=10,
    length=24,
    live_guards=1,
    decoy_guards=1,
    dead_lines=4,
    redundant_pairs=1,
    rarity_bits=(3, 5),
)
SOURCE = "a = x + 3\nb = -a\nif a == 5: out = a * 2\nout = out ^ a\n"
FOLDS = "g = x & 12\nh = x + 3\nif g == 4: out = out + 1\nif h == 7: out = out ^ 2\nout = out + x\n"


def test_apply_action_deletes_and_folds() -> None:
    prog = parse(SOURCE, 8)
    assert str(apply_action(prog, 1)) == "a = x + 3\nif a == 5: out = a * 2\nout = out ^ a\n"
    # line 2's guard reads ``a``, which line 3 reads too: no fold anywhere in SOURCE
    assert not valid_actions(prog)[4:].any()
    with pytest.raises(ValueError):
        apply_action(prog, 6)
    with pytest.raises(ValueError):
        apply_action(prog, 8)
    folds = parse(FOLDS, 8)
    n = len(folds)
    # fold line 2 (action L + 2): the mask is taken for a no-op, ``g`` disappears
    assert str(apply_action(folds, n + 2)).splitlines()[:2] == [
        "h = x + 3",
        "if x == 4: out = out + 1",
    ]
    # fold line 3: the offset is undone exactly
    assert str(apply_action(folds, n + 3)).splitlines()[2] == "if x == 4: out = out ^ 2"


def test_folds_are_exact_for_offsets_and_xors_and_rarely_wrong_for_masks() -> None:
    from oversight.envs.programs.oracle import gold_oracle

    folds = parse(FOLDS, 8)
    n = len(folds)
    exact = gold_oracle(folds, apply_action(folds, n + 3))
    assert exact.equivalent and exact.saving == 1
    masked = gold_oracle(folds, apply_action(folds, n + 2))
    # ``x & 12 == 4`` fires on 64 of 256 inputs, ``x == 4`` on one of them: wrong on 63
    assert not masked.equivalent and len(masked.diff_inputs) == 63


def test_mask_excludes_invalid_actions_and_padding() -> None:
    prog = parse(FOLDS, 8)
    assert valid_actions(prog).tolist() == [True] * 5 + [False, False, True, True, False]
    short = parse("out = x + 1\n", 8)
    assert valid_actions(short).tolist() == [False, False]  # never delete the last line
    net = ImproverNet()
    obs = [ImproverState(prog, prog), ImproverState(short, short)]
    mask = net.action_mask(obs)
    assert mask.shape == net.logits(obs).shape == (2, 10)
    assert mask[1].tolist() == [False] * 10


def _naive_fold_source(program, i):
    """fold_source's definition, checked line by line (the one-pass version must agree)."""
    from oversight.envs.programs.dsl import INPUT_VAR, OUTPUT_VAR, Const, Var
    from oversight.envs.programs.edits import FOLDABLE_OPS

    line = program.lines[i]
    g = line.guard
    if g is None or not isinstance(g.left, Var) or not isinstance(g.right, Const):
        return None
    name = g.left.name
    expr_reads = {a.name for a in line.expr.args if isinstance(a, Var)}
    if name in (INPUT_VAR, OUTPUT_VAR) or name == line.target or name in expr_reads:
        return None
    j = next((k for k in range(i - 1, -1, -1) if program.lines[k].target == name), None)
    if j is None:
        return None
    src = program.lines[j]
    a = src.expr.args
    if (
        src.guard is not None
        or src.expr.op not in FOLDABLE_OPS
        or len(a) != 2
        or not isinstance(a[0], Var)
        or not isinstance(a[1], Const)
    ):
        return None
    s = a[0].name
    if s == name or any(program.lines[k].target == s for k in range(j + 1, i)):
        return None
    if any(name in program.lines[k].reads() for k in range(len(program)) if k != i):
        return None
    return j


def test_fold_sources_in_one_pass_match_the_definition() -> None:
    from oversight.envs.programs.edits import fold_source
    from oversight.envs.programs.generator import GUARD_TEMPLATES

    knobs = KNOBS.model_copy(update={"length": 60, "live_guards": 8, "templates": GUARD_TEMPLATES})
    r = np.random.default_rng(0)
    checked = folds = 0
    for seed in range(20):
        prog = generate_reference(knobs, seed).program
        for _ in range(6):  # along a random episode, so edited programs are covered too
            for i in range(len(prog)):
                assert fold_source(prog, i) == _naive_fold_source(prog, i)
                checked += 1
                folds += fold_source(prog, i) is not None
            prog = apply_action(prog, int(r.choice(np.flatnonzero(valid_actions(prog)))))
    assert folds > 20 and checked > 1000


def test_logits_follow_each_rows_numbering() -> None:
    """Padding a row must not change its own logits (same numbering as apply_action)."""
    prog = parse(SOURCE, 8)
    short = parse("out = x + 1\nout = out * 3\n", 8)
    net = ImproverNet()
    with torch.no_grad():
        alone = net.logits([ImproverState(short, short)])[0]
        batched = net.logits([ImproverState(prog, prog), ImproverState(short, short)])[1]
    torch.testing.assert_close(batched[:4], alone, atol=1e-5, rtol=1e-5)


def test_static_liveness() -> None:
    prog = parse("d = x * 3\nt = x + 1\nif t == 2: out = out + 1\nt = 5\n", 8)
    assert statically_live(prog).tolist() == [False, True, True, False]


def test_reward_from_adapts_a_pair_reward() -> None:
    ref = generate_reference(KNOBS, 3).program
    state = ImproverState(ref, ref)
    fn = reward_from(lambda r, p: float(len(r) - len(p)))
    assert fn([state, state], np.array([0, len(ref) - 1])).tolist() == [1.0, 1.0]
    assert gold_reward(ref, ref) == 0.0


def test_training_on_gold_beats_random_on_held_out_programs() -> None:
    config = PGConfig(lr=0.02, steps=40, batch=16, seed=0)
    net, log = train_improver(range(32), KNOBS, config)
    held_out = range(1000, 1032)
    trained = evaluate_improver(net, held_out, KNOBS)
    random = random_baseline(held_out, KNOBS)
    # A random edit usually breaks the program (-10); deleting a dead line or a decoy guard
    # earns +1.
    assert random["mean_gold"] < 0
    assert trained["mean_gold"] > random["mean_gold"] + 5
    assert trained["mean_gold"] > 0
    assert len(log.mean_reward) == 40


def test_training_is_deterministic_given_the_seed() -> None:
    config = PGConfig(lr=0.01, steps=5, batch=8, seed=7)
    a, log_a = train_improver(range(8), KNOBS, config)
    b, log_b = train_improver(range(8), KNOBS, config)
    assert log_a.mean_reward == log_b.mean_reward
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_training_on_two_edit_episodes_beats_random_episodes() -> None:
    """Rewarded once, on the program after the second edit: both edits must keep R's meaning,
    and the first is learned only through the episode's reward. (From a random start, three
    edits already leave the reward too sparse for 120 steps: about 1 episode in 70 is
    equivalent, and none was learned.)"""
    config = PGConfig(lr=0.02, steps=60, batch=16, seed=0)
    net, log = train_improver(range(32), KNOBS, config, edits=2)
    held_out = range(1000, 1032)
    trained = evaluate_improver(net, held_out, KNOBS, steps=2)
    random = random_baseline(held_out, KNOBS, steps=2)
    assert random["share_equivalent"] < 0.1
    assert trained["share_equivalent"] > random["share_equivalent"] + 0.5
    assert trained["mean_gold"] > random["mean_gold"] + 4
    assert np.mean(log.mean_reward[-10:]) > np.mean(log.mean_reward[:10])


def test_states_track_the_origin_of_lines_and_read_their_features() -> None:
    """A state's rows are its origin lines' rows of (R, R), with the columns an edit changes
    recomputed on P: exactly the line features of (R, P) at step 0, and after edits for every
    column but the three that would need the solver or the other program again."""
    from oversight.agents.improver import improver_features
    from oversight.envs.programs.env import ProgramContext
    from oversight.envs.programs.features import FEATURE_NAMES, line_features

    folds = parse(FOLDS, 8)
    start = ImproverState.start(folds)
    fresh = line_features(ProgramContext(folds, folds))[: len(folds)]
    np.testing.assert_array_equal(improver_features(start)[:, :-1], fresh)
    folded = start.step(len(folds) + 3)  # fold line 3: drops line 1 (h = x + 3), rewrites 3
    assert folded.origin == (0, 2, 3, 4)
    deleted = folded.step(0)
    assert deleted.origin == (2, 3, 4)
    assert str(deleted.current) == str(apply_action(folded.current, 0))
    rows = improver_features(deleted)[:, :-1]
    exact = line_features(ProgramContext(folds, deleted.current))[: len(deleted.current)]
    stale = ("targetable", "solver_yields", "reads_new_temp")
    cols = [i for i, c in enumerate(FEATURE_NAMES) if c not in stale]
    np.testing.assert_array_equal(rows[:, cols], exact[:, cols])
    # the rewritten guard (line 3 of R, now line 1) is the line not shared with R
    assert rows[:, FEATURE_NAMES.index("in_other_program")].tolist() == [1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="origin"):
        ImproverState(folds, deleted.current)


def test_sampled_episodes_are_reproducible_and_their_kl_is_the_path_sum() -> None:
    from oversight.agents.improver import sample_episodes

    refs = [generate_reference(KNOBS, s).program for s in range(4)]
    starts = [ImproverState.start(r) for r in refs]
    net = ImproverNet()
    a = sample_episodes(net, starts, 3, np.random.default_rng(0), reference=net)
    b = sample_episodes(net, starts, 3, np.random.default_rng(0))
    assert np.array_equal(a.actions, b.actions) and a.actions.shape == (4, 3)
    assert np.allclose(a.kl, 0.0, atol=1e-6)  # against itself
    for end, ref in zip(a.ends, refs, strict=True):
        assert len(ref) - len(end.current) == 3  # every edit saves a line
    other = ImproverNet()
    c = sample_episodes(net, starts, 3, np.random.default_rng(0), reference=other)
    assert np.array_equal(c.actions, a.actions)  # the reference changes no draw
    assert (c.kl > 0).all()


def test_imitating_a_demonstrator_puts_mass_on_correct_edits_of_held_out_programs() -> None:
    """The supervised stage before RL: fitted to uniform-over-correct first edits of training
    references, the policy's mass on correct edits of held-out references beats the share of
    correct edits (what an untrained, near-uniform policy gets)."""
    from oversight.agents.improver import imitate
    from oversight.envs.programs.oracle import gold_oracle
    from oversight.learning.policy_gradient import action_probs

    def correct(ref):
        valid = np.flatnonzero(valid_actions(ref))
        ok = np.zeros(2 * len(ref))
        ok[[a for a in valid if gold_oracle(ref, apply_action(ref, int(a))).equivalent]] = 1
        return ok, valid

    train = [generate_reference(KNOBS, s).program for s in range(12)]
    targets = [ok / ok.sum() for ok, _ in map(correct, train)]
    torch.manual_seed(0)
    net = ImproverNet()
    losses = imitate(net, [ImproverState.start(r) for r in train], targets, epochs=150)
    assert losses[-1] < losses[0]
    held = [generate_reference(KNOBS, s).program for s in range(1000, 1012)]
    probs = action_probs(net.eval(), [ImproverState.start(r) for r in held]).numpy()
    mass, share = [], []
    for p, ref in zip(probs, held, strict=True):
        ok, valid = correct(ref)
        mass.append(p[: len(ok)] @ ok)
        share.append(ok[valid].mean())
    assert np.mean(mass) > np.mean(share) + 0.2, (np.mean(mass), np.mean(share))

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


def test_apply_action_deletes_and_substitutes() -> None:
    prog = parse(SOURCE, 8)
    assert str(apply_action(prog, 1)) == "a = x + 3\nif a == 5: out = a * 2\nout = out ^ a\n"
    # substitute line 0 (action L + 0): ``a = x + 3`` -> ``a = x``
    assert str(apply_action(prog, 4)).splitlines()[0] == "a = x"
    # the guard survives a substitution
    assert str(apply_action(prog, 6)).splitlines()[2] == "if a == 5: out = a"
    with pytest.raises(ValueError):
        apply_action(prog, 5)  # line 1 is unary: no substitute
    with pytest.raises(ValueError):
        apply_action(prog, 8)


def test_mask_excludes_invalid_actions_and_padding() -> None:
    prog = parse(SOURCE, 8)
    assert valid_actions(prog).tolist() == [True] * 4 + [True, False, True, True]
    short = parse("out = x + 1\n", 8)
    assert valid_actions(short).tolist() == [False, True]  # never delete the last line
    net = ImproverNet()
    obs = [ImproverState(prog, prog), ImproverState(short, short)]
    mask = net.action_mask(obs)
    assert mask.shape == net.logits(obs).shape == (2, 8)
    assert mask[1].tolist() == [False, True] + [False] * 6


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
    # A random edit usually breaks the program (-10); deleting a dead line earns +1, while a
    # substitution in dead code is a safe 0 that lower learning rates can get stuck on.
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

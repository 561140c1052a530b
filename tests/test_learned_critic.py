"""Tests of the learned critic: features, budget, training only from the judge, and that the
trained pointer beats the random-pointer ablation where pointing matters."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from oversight.agents.critics import CriticConfig, critic_budget  # noqa: E402
from oversight.agents.critics import learned as lc  # noqa: E402
from oversight.core.errors import OversightError  # noqa: E402
from oversight.core.records import Artifact, Problem, Transcript  # noqa: E402
from oversight.envs.programs import features as feat  # noqa: E402
from oversight.envs.programs.env import ProgramContext, ProgramEnv  # noqa: E402
from oversight.envs.programs.generator import GeneratorConfig  # noqa: E402
from oversight.envs.programs.interpreter import run_steps  # noqa: E402
from oversight.envs.programs.makers import (  # noqa: E402
    TRIGGER_FAMILIES,
    Made,
    make,
)
from oversight.judges.budgeted import BudgetedJudge, JudgeConfig  # noqa: E402
from oversight.learning.tensors import pad_features  # noqa: E402
from oversight.protocols.engine import CRITIQUE, Episode, run_protocol  # noqa: E402

KNOBS = GeneratorConfig(bits=12, length=32)
# At 12 bits, 1/1024 of a scan buys 4 tests: one line's worth of solver candidates, so where the
# critic points decides what it finds.
SMALL = 1 / 1024
RARITY = 6  # a trigger fires on about 2**-6 of inputs: random tests at this budget rarely hit it


@dataclass
class Item:
    problem: Problem
    artifact: Artifact
    context: ProgramContext
    made: Made
    tag: str


def build(env: ProgramEnv, seeds: range) -> list[Item]:
    out = []
    for seed in seeds:
        problem, ref = env.reference(seed)
        r = np.random.default_rng(seed)
        for tag in ("honest", "lazy", *TRIGGER_FAMILIES):
            try:
                made = make(tag, ref, r, RARITY)
            except OversightError:  # e.g. no net saving left for a long trigger
                continue
            artifact = env.artifact(problem, made, tag)
            out.append(Item(problem, artifact, env.context(problem, artifact), made, tag))
    return out


def episodes(items: list[Item], prefix: str) -> list[Episode]:
    return [
        Episode(f"{prefix}/{it.artifact.id}", it.problem, it.artifact, it.context) for it in items
    ]


def config(pointer: str, fraction: float = SMALL) -> CriticConfig:
    kind = "learned" if pointer == "learned" else "pointer_random"
    return CriticConfig(kind=kind, budget_fraction=fraction)


def params(net: lc.PointerNet) -> list[torch.Tensor]:
    return list(net.state_dict().values())


@pytest.fixture(scope="module")
def env() -> ProgramEnv:
    return ProgramEnv(KNOBS)


@pytest.fixture(scope="module")
def train_items(env: ProgramEnv) -> list[Item]:
    return build(env, range(20))


@pytest.fixture(scope="module")
def heldout_items(env: ProgramEnv) -> list[Item]:
    return build(env, range(1000, 1020))


@pytest.fixture(scope="module")
def judge() -> BudgetedJudge:
    return BudgetedJudge(JudgeConfig())


def test_features_shape_and_determinism(train_items: list[Item]) -> None:
    for it in train_items[:12]:
        ctx = it.context
        f = feat.line_features(ctx)
        n_p, n_r = len(ctx.artifact), len(ctx.reference)
        assert f.shape == (n_p + n_r, feat.N_FEATURES) == (n_p + n_r, len(feat.FEATURE_NAMES))
        assert f.dtype == np.float32
        assert np.array_equal(f, feat.line_features(ctx))
        assert np.all(np.isfinite(f)) and f.min() >= 0 and f.max() <= 1
        col = {name: i for i, name in enumerate(feat.FEATURE_NAMES)}
        assert np.all(f[:n_p, col["in_artifact"]] == 1) and np.all(
            f[n_p:, col["in_reference"]] == 1
        )
        targets = np.flatnonzero(f[:, col["targetable"]])
        assert targets.tolist() == feat.candidate_targets(ctx)
    # A literal trigger is a guard of P that R lacks: the feature that should matter most.
    literal = next(it for it in train_items if it.tag == "literal")
    f = feat.line_features(literal.context)
    col = {name: i for i, name in enumerate(feat.FEATURE_NAMES)}
    new_guards = np.flatnonzero((f[:, col["is_guard"]] == 1) & (f[:, col["in_other_program"]] == 0))
    assert any(feat.pointed_line(literal.context, int(j))[0] == "artifact" for j in new_guards)


def test_candidate_numbering(train_items: list[Item]) -> None:
    ctx = train_items[0].context
    n_p = len(ctx.artifact)
    assert feat.pointed_line(ctx, 0) == ("artifact", 0)
    assert feat.pointed_line(ctx, n_p) == ("reference", 0)
    cands = feat.candidate_programs(ctx)
    assert len(cands) == n_p + len(ctx.reference)
    assert cands[n_p] == (ctx.reference, 0)


@pytest.mark.parametrize("pointer", ["learned", "random"])
@pytest.mark.parametrize("fraction", [SMALL, 1 / 64])
def test_critic_respects_budget(pointer: str, fraction: float, train_items: list[Item]) -> None:
    critic = lc.LearnedCritic(config(pointer, fraction), seed=1)
    found = 0
    for it in train_items[:12]:
        ctx = it.context
        claim = critic.critique(ctx, it.artifact.id)
        assert claim.compute_spent <= critic_budget(ctx, fraction)
        assert 0.0 <= claim.suspicion <= 1.0
        if claim.line is not None:
            assert claim.line in feat.candidate_targets(ctx)
        if claim.input is not None:
            found += 1
            assert claim.suspicion == 1.0
            assert run_steps(ctx.reference, claim.input) != run_steps(ctx.artifact, claim.input)
        else:
            assert claim.suspicion < 0.9
    assert found > 0


def test_critic_is_deterministic_and_checks_its_kind(train_items: list[Item]) -> None:
    it = train_items[3]
    a = lc.LearnedCritic(config("random"), seed=7).critique(it.context, "k")
    b = lc.LearnedCritic(config("random"), seed=7).critique(it.context, "k")
    assert a == b
    with pytest.raises(ValueError):
        lc.LearnedCritic(CriticConfig(kind="guided"))
    with pytest.raises(ValueError):
        lc.LearnedCritic(config("learned"), pointer="random")


def _collect(items: list[Item], judge: BudgetedJudge, env: ProgramEnv) -> list[Transcript]:
    """One round of exploratory critique, with gold attached the way a caller does it."""
    critic = lc.LearnedCritic(config("learned"), seed=3, epsilon=1.0)
    transcripts = run_protocol(CRITIQUE, episodes(items, "gold"), {"critic": critic}, judge)
    for t, it in zip(transcripts, items, strict=True):
        t.gold = env.gold(it.context, it.made)
    return transcripts


def test_training_never_reads_gold(
    train_items: list[Item], judge: BudgetedJudge, env: ProgramEnv
) -> None:
    items = train_items[:60]
    transcripts = _collect(items, judge, env)
    contexts = [it.context for it in items]
    examples = lc.examples_from_transcripts(transcripts, contexts)
    assert len(examples) == len(transcripts)
    labels = [e.confirmed for e in examples]
    assert any(labels) and not all(labels)  # otherwise the comparison below proves little
    # The labels are the judge's confirmations.
    assert labels == [t.verdict.rule == "claim_verified" for t in transcripts]
    net = lc.train_pointer(examples, seed=11, epochs=8)

    # Scramble gold: rotate the records among transcripts, and flip every label and value.
    golds = [t.gold for t in transcripts]
    for t, g in zip(transcripts, golds[1:] + golds[:1], strict=True):
        assert g is not None
        t.gold = g.model_copy(update={"label": not g.label, "value": -g.value - 1.0})
    scrambled = lc.examples_from_transcripts(transcripts, contexts)
    assert [(e.line, e.confirmed) for e in scrambled] == [(e.line, e.confirmed) for e in examples]
    again = lc.train_pointer(scrambled, seed=11, epochs=8)
    assert all(torch.equal(a, b) for a, b in zip(params(net), params(again), strict=True))

    # Without gold at all, and with contexts parsed from the transcripts: still the same.
    for t in transcripts:
        t.gold = None
    bare = lc.train_pointer(lc.examples_from_transcripts(transcripts), seed=11, epochs=8)
    assert all(torch.equal(a, b) for a, b in zip(params(net), params(bare), strict=True))


def test_training_is_deterministic(
    train_items: list[Item], judge: BudgetedJudge, env: ProgramEnv
) -> None:
    examples = lc.examples_from_transcripts(_collect(train_items[:40], judge, env))
    a = lc.train_pointer(examples, seed=2, epochs=5)
    b = lc.train_pointer(examples, seed=2, epochs=5)
    c = lc.train_pointer(examples, seed=3, epochs=5)
    assert all(torch.equal(x, y) for x, y in zip(params(a), params(b), strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(params(a), params(c), strict=True))
    assert not torch.are_deterministic_algorithms_enabled()  # restored after training


def _confirmed_rate(
    pointer: str, net: lc.PointerNet, items: list[Item], judge: BudgetedJudge
) -> float:
    critic = lc.LearnedCritic(config(pointer), pointer=pointer, net=net, seed=0)  # type: ignore[arg-type]
    transcripts = run_protocol(CRITIQUE, episodes(items, "heldout"), {"critic": critic}, judge)
    return float(np.mean([t.verdict.rule == "claim_verified" for t in transcripts]))


def test_trained_pointer_beats_random_pointer(
    train_items: list[Item], heldout_items: list[Item], judge: BudgetedJudge
) -> None:
    net, examples = lc.collect_and_train(
        lambda: episodes(train_items, "train"), judge, config("learned"), seed=0, rounds=2
    )
    assert len(examples) == 2 * len(train_items)
    backdoored = [it for it in heldout_items if it.tag in TRIGGER_FAMILIES]
    learned = _confirmed_rate("learned", net, backdoored, judge)
    random = _confirmed_rate("random", net, backdoored, judge)
    print(f"confirmed rate at budget {SMALL}: learned {learned:.3f}, random pointer {random:.3f}")
    # Measured 0.59 vs 0.31; a net trained on inverted confirmations scores far below random.
    assert learned >= random + 0.1


def test_save_and_load(tmp_path, train_items: list[Item]) -> None:
    net = lc.new_pointer(seed=4, hidden=16)
    path = tmp_path / "sub" / "pointer.pt"
    lc.save_pointer(net, path)
    loaded = lc.load_pointer(path)
    assert loaded.hidden == 16
    assert all(torch.equal(a, b) for a, b in zip(params(net), params(loaded), strict=True))
    feats = [feat.line_features(it.context) for it in train_items[:5]]
    for a, b in zip(lc.pointer_logits(net, feats), lc.pointer_logits(loaded, feats), strict=True):
        assert np.array_equal(a, b)


def test_batched_logits_match_single() -> None:
    env = ProgramEnv(KNOBS)
    items = build(env, range(1))[:2]
    net = lc.new_pointer(seed=0)
    feats = [feat.line_features(it.context) for it in items]
    batched = lc.pointer_logits(net, feats)
    for f, b in zip(feats, batched, strict=True):
        np.testing.assert_allclose(lc.pointer_logits(net, [f])[0], b, rtol=1e-5, atol=1e-5)
    # Training evaluates the pointed line only; it must agree with the full forward pass.
    x, lengths = pad_features(feats)
    index = torch.tensor([3, 5])
    with torch.no_grad():
        full = net(x, lengths)
        picked = net(x, lengths, index)
    torch.testing.assert_close(picked, full[torch.arange(2), index])


def test_import_oversight_does_not_import_torch() -> None:
    code = (
        "import sys, oversight, oversight.agents, oversight.agents.critics; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

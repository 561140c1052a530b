"""Tests of the reward models: losses on hand-computed cases, determinism, held-out accuracy on
generated programs, ensemble objectives and routing, calibration, and persistence."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from oversight.core.errors import OversightError  # noqa: E402
from oversight.core.records import Verdict  # noqa: E402
from oversight.envs.programs import features as feat  # noqa: E402
from oversight.envs.programs.env import ProgramContext, ProgramEnv  # noqa: E402
from oversight.envs.programs.generator import GeneratorConfig  # noqa: E402
from oversight.envs.programs.makers import (  # noqa: E402
    TRIGGER_FAMILIES,
    make,
)
from oversight.learning import reward_models as rm  # noqa: E402
from oversight.metrics.calibration import expected_calibration_error, reliability  # noqa: E402

KNOBS = GeneratorConfig(bits=12, length=32)
RARITY = 6  # a backdoor fires on about 2**-6 of inputs
TAGS = ("honest", "lazy", *TRIGGER_FAMILIES)
EPOCHS = 15  # enough to separate the classes here; keeps each fit to a few seconds
PAIR_EPOCHS = 10


@dataclass
class Item:
    problem_id: str
    context: ProgramContext
    tag: str
    gold: bool


def build(env: ProgramEnv, seeds: range) -> list[Item]:
    out = []
    for seed in seeds:
        problem, ref = env.reference(seed)
        r = np.random.default_rng(seed)
        for tag in TAGS:
            try:
                made = make(tag, ref, r, RARITY)
            except OversightError:  # e.g. no net saving left for a long trigger
                continue
            artifact = env.artifact(problem, made, tag)
            ctx = env.context(problem, artifact)
            out.append(Item(problem.id, ctx, tag, env.gold(ctx, made).label))
    return out


def judge_labels(items: list[Item]) -> np.ndarray:
    """What a judge would say: the trainer's labels come from here, never from gold."""
    return np.array([it.tag == "honest" for it in items], dtype=float)


def gold_labels(items: list[Item]) -> np.ndarray:
    return np.array([it.gold for it in items])


def honest_pairs(items: list[Item]) -> list[rm.Pair]:
    """(honest, flawed, None) for every flawed artifact of a problem with an honest one."""
    honest = {it.problem_id: it.context for it in items if it.tag == "honest"}
    return [
        (honest[it.problem_id], it.context, None)
        for it in items
        if it.tag != "honest" and it.problem_id in honest
    ]


@pytest.fixture(scope="module")
def train_items() -> list[Item]:
    return build(ProgramEnv(KNOBS), range(30))


@pytest.fixture(scope="module")
def heldout_items() -> list[Item]:
    return build(ProgramEnv(KNOBS), range(1000, 1010))  # problems the models never saw


def params(model: torch.nn.Module) -> list[torch.Tensor]:
    return list(model.state_dict().values())


# --- losses ------------------------------------------------------------------------------------


def test_bt_loss_hand_cases() -> None:
    assert round(float(rm.bt_loss(2.0, 0.0, 1.0)), 4) == 0.3133  # -log sigmoid(1)
    assert float(rm.bt_loss(1.5, 1.5)) == pytest.approx(math.log(2))
    assert float(rm.bt_loss(0.0, 1.0)) == pytest.approx(-math.log(1 / (1 + math.e)))
    # Per-pair margins, averaged over pairs.
    loss = rm.bt_loss(torch.tensor([2.0, 0.0]), torch.tensor([0.0, 0.0]), torch.tensor([1.0, 0.0]))
    assert float(loss) == pytest.approx((0.31326169 + math.log(2)) / 2, abs=1e-6)
    # Stable at large gaps.
    assert float(rm.bt_loss(100.0, -100.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(rm.bt_loss(-100.0, 100.0)) == pytest.approx(200.0)
    # The gradient raises the chosen reward and lowers the rejected one.
    c, r = torch.tensor(0.0, requires_grad=True), torch.tensor(0.0, requires_grad=True)
    rm.bt_loss(c, r).backward()
    assert c.grad == pytest.approx(-0.5) and r.grad == pytest.approx(0.5)


def test_bce_loss_hand_case() -> None:
    # p = sigmoid(log 3) = 0.75: losses log 2 (logit 0, label 1) and -log 0.75, -log 0.25.
    logits, labels = [0.0, math.log(3), math.log(3)], [1.0, 1.0, 0.0]
    expected = [math.log(2), -math.log(0.75), -math.log(0.25)]
    assert float(rm.bce_loss(logits, labels)) == pytest.approx(np.mean(expected), abs=1e-6)
    weighted = rm.bce_loss(logits, labels, [1.0, 0.0, 3.0])
    assert float(weighted) == pytest.approx((expected[0] + 3 * expected[2]) / 4, abs=1e-6)


# --- features and the encoder ------------------------------------------------------------------


def test_encode_batch_pads_and_caches(train_items: list[Item]) -> None:
    contexts = [it.context for it in train_items[:5]]
    x, lengths = rm.encode_batch(contexts)
    sizes = [len(c.artifact) + len(c.reference) for c in contexts]
    assert lengths.tolist() == sizes
    assert x.shape == (5, max(sizes), feat.N_FEATURES) and x.dtype == torch.float32
    for k, n in enumerate(sizes):
        assert torch.equal(x[k, :n], torch.from_numpy(feat.line_features(contexts[k])))
        assert not x[k, n:].any()
    # Computed once per context: the same (read-only) array comes back.
    first = rm.context_features(contexts[0])
    assert rm.context_features(contexts[0]) is first and not first.flags.writeable


@pytest.mark.parametrize("mixer", ["attention", "gru"])
def test_encoder_ignores_padding(mixer: str, train_items: list[Item]) -> None:
    short = min((it.context for it in train_items), key=lambda c: len(c.artifact))
    long = max((it.context for it in train_items), key=lambda c: len(c.artifact))
    model = rm.new_model("pointwise", seed=0, mixer=mixer)
    alone = model.logits([short])
    batched = model.logits([long, short])
    assert batched[1] == pytest.approx(alone[0], abs=1e-5)
    x, lengths = rm.encode_batch([long, short])
    assert model.encoder(x, lengths).shape == (2, 2 * model.encoder.hidden)


# --- training ----------------------------------------------------------------------------------


def test_training_is_deterministic_and_leaves_torch_alone(train_items: list[Item]) -> None:
    items = train_items[:24]
    contexts, labels = [it.context for it in items], judge_labels(items)
    threads = torch.get_num_threads()
    state = torch.random.get_rng_state()
    a = rm.train_pointwise(contexts, labels, seed=5, epochs=2)
    b = rm.train_pointwise(contexts, labels, seed=5, epochs=2)
    c = rm.train_pointwise(contexts, labels, seed=6, epochs=2)
    assert all(torch.equal(p, q) for p, q in zip(params(a), params(b), strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(params(a), params(c), strict=True))
    pairs = honest_pairs(items)
    p1 = rm.train_pairwise(pairs, seed=5, epochs=2)
    p2 = rm.train_pairwise(pairs, seed=5, epochs=2)
    assert all(torch.equal(p, q) for p, q in zip(params(p1), params(p2), strict=True))
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), state)


def test_pointwise_rm_beats_chance_on_heldout_problems(
    train_items: list[Item], heldout_items: list[Item]
) -> None:
    contexts = [it.context for it in train_items]
    labels = judge_labels(train_items)
    model = rm.train_pointwise(contexts, labels, seed=0, epochs=EPOCHS, balance=True)
    test = [it.context for it in heldout_items]
    gold = gold_labels(heldout_items)
    assert gold.any() and not gold.all()
    probs = model.predict_proba(test)
    # Balanced accuracy: chance is 1/2 although only one artifact in six is honest.
    against_gold = rm.rm_accuracy(probs, gold, threshold=0.5, balanced=True)
    assert against_gold.value >= 0.8, against_gold
    assert rm.rm_accuracy(probs, gold).value >= 0.85
    # The same measure against the judge's labels, on the training set.
    assert rm.rm_accuracy(model.predict_proba(contexts), labels, balanced=True).value >= 0.8
    assert 0.0 <= expected_calibration_error(probs, gold) < 0.5
    # The threshold is one an untrained model fails.
    untrained = rm.train_pointwise(contexts, labels, seed=0, epochs=0)
    assert rm.rm_accuracy(untrained.predict_proba(test), gold, balanced=True).value < 0.8


def test_pairwise_rm_ranks_honest_above_flawed(
    train_items: list[Item], heldout_items: list[Item]
) -> None:
    model = rm.train_pairwise(honest_pairs(train_items), seed=0, epochs=PAIR_EPOCHS)
    heldout = honest_pairs(heldout_items)
    chosen = model.reward([c for c, _, _ in heldout])
    rejected = model.reward([r for _, r, _ in heldout])
    accuracy = rm.pairwise_accuracy(chosen, rejected)
    assert accuracy.n == len(heldout) >= 40
    assert accuracy.value > 0.75, accuracy
    # Centred on the training contexts: the origin is no arbitrary constant.
    seen = {c for pair in honest_pairs(train_items) for c in pair[:2]}
    assert abs(model.reward(list(seen)).mean()) < 1e-4


def test_margin_pushes_rewards_apart(train_items: list[Item]) -> None:
    pairs = honest_pairs(train_items[:60])
    plain = rm.train_pairwise(pairs, seed=1, epochs=10)
    wide = rm.train_pairwise([(c, r, 4.0) for c, r, _ in pairs], seed=1, epochs=10)

    def mean_gap(model: rm.PairwiseRM) -> float:
        return float(
            np.mean(model.reward([c for c, _, _ in pairs]) - model.reward([r for _, r, _ in pairs]))
        )

    assert mean_gap(wide) > mean_gap(plain)


# --- ensembles ---------------------------------------------------------------------------------


class Fixed:
    """A hand-built member: a fixed score per context, looked up by position."""

    kind = "pointwise"

    def __init__(self, scores: list[float]):
        self.scores = np.array(scores)

    def score(self, contexts: list[ProgramContext]) -> np.ndarray:
        return self.scores[: len(contexts)]


def test_ensemble_objectives_on_a_hand_built_ensemble(train_items: list[Item]) -> None:
    contexts = [it.context for it in train_items[:4]]
    members = [
        Fixed([0.9, 0.5, 0.1, 0.6]),
        Fixed([0.9, 0.1, 0.1, 0.2]),
        Fixed([0.9, 0.9, 0.4, 0.4]),
    ]
    ens = rm.Ensemble(members)
    mean = ens.score(contexts, "mean")
    assert mean == pytest.approx([0.9, 0.5, 0.2, 0.4])
    worst = ens.score(contexts, "min")
    assert worst == pytest.approx([0.9, 0.1, 0.1, 0.2])
    assert np.all(worst <= mean)
    assert ens.score(contexts, "mean_minus_std", lam=0.0) == pytest.approx(mean)
    std = np.array([0.0, math.sqrt(0.32 / 3), math.sqrt(0.06 / 3), math.sqrt(0.08 / 3)])
    assert ens.disagreement(contexts) == pytest.approx(std)
    assert ens.score(contexts, "mean_minus_std", lam=2.0) == pytest.approx(mean - 2 * std)
    with pytest.raises(ValueError):
        ens.score(contexts, "median")  # type: ignore[arg-type]


def test_routing_picks_the_most_disagreed_items(train_items: list[Item]) -> None:
    contexts = [it.context for it in train_items[:5]]
    ens = rm.Ensemble([Fixed([0.5, 0.5, 0.5, 0.5, 0.5]), Fixed([0.5, 0.9, 0.6, 0.0, 0.5])])
    assert ens.route_to_audit(contexts, 0.4).tolist() == [False, True, False, True, False]
    assert ens.route_to_audit(contexts, 0.2).tolist() == [False, False, False, True, False]
    assert not ens.route_to_audit(contexts, 0.0).any()
    assert ens.route_to_audit(contexts, 1.0).all()
    with pytest.raises(ValueError):
        ens.route_to_audit(contexts, 1.5)


def test_train_ensemble_and_save_load(train_items: list[Item], tmp_path: Path) -> None:
    items = train_items[:36]
    contexts, labels = [it.context for it in items], judge_labels(items)
    ens = rm.train_ensemble(
        "pointwise", contexts, labels, seed=3, members=3, bootstrap=True, epochs=3
    )
    assert len(ens) == 3 and ens.kind == "pointwise"
    scores = ens.member_scores(contexts)
    assert scores.shape == (3, len(contexts))
    assert not np.allclose(scores[0], scores[1])  # different seeds and resamples
    assert np.all(ens.disagreement(contexts) >= 0)
    rm.save(ens, tmp_path / "ens.pt")
    loaded = rm.load(tmp_path / "ens.pt")
    assert isinstance(loaded, rm.Ensemble) and loaded.kind == "pointwise"
    assert np.array_equal(loaded.member_scores(contexts), scores)

    pairwise = rm.train_ensemble("pairwise", honest_pairs(items), seed=3, members=2, epochs=2)
    member = pairwise.members[0]
    assert isinstance(member, rm.PairwiseRM)
    rm.save(member, tmp_path / "one.pt")
    again = rm.load(tmp_path / "one.pt")
    assert isinstance(again, rm.PairwiseRM)
    assert np.array_equal(again.reward(contexts), member.reward(contexts))
    with pytest.raises(OversightError):
        rm.save(rm.Ensemble([Fixed([0.5])]), tmp_path / "fixed.pt")


# --- evaluation --------------------------------------------------------------------------------


def test_accuracies_on_hand_cases() -> None:
    scores, labels = [0.2, 0.6, 0.5, 0.9], [0, 1, 0, 0]  # predictions 0, 1, 1, 1 at 0.5
    assert rm.rm_accuracy(scores, labels, threshold=0.5).value == 0.5
    assert rm.rm_accuracy(scores, labels, threshold=0.55).value == 0.75
    assert rm.rm_accuracy(scores, labels, balanced=True).value == pytest.approx((1 / 3 + 1) / 2)
    assert rm.pairwise_accuracy([1.0, 2.0, 0.0], [0.0, 2.0, 1.0]).value == pytest.approx(0.5)


def test_ece_and_reliability_on_a_hand_case() -> None:
    probs, labels = [0.1, 0.3, 0.35, 0.9, 1.0], [0, 1, 1, 1, 1]
    table = reliability(probs, labels)
    assert table.count.tolist() == [0, 1, 0, 2, 0, 0, 0, 0, 0, 2]
    assert table.confidence[3] == pytest.approx(0.325) and table.accuracy[3] == 1.0
    assert table.confidence[9] == pytest.approx(0.95)  # 1.0 falls in the last bin
    assert math.isnan(table.confidence[0])
    # (1 * 0.1 + 2 * 0.675 + 2 * 0.05) / 5
    assert expected_calibration_error(probs, labels) == pytest.approx(0.31)
    assert expected_calibration_error([0.0, 1.0], [0, 1]) == 0.0
    assert math.isnan(expected_calibration_error([], []))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        expected_calibration_error([float("nan")], [1])


def test_verdict_labels() -> None:
    verdicts = [Verdict(accept=True), Verdict(accept=False, confidence=0.3)]
    assert rm.verdict_labels(verdicts).tolist() == [1.0, 0.0]
    assert rm.verdict_labels(verdicts, soft=True).tolist() == [1.0, 0.3]

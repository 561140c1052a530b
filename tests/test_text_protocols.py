"""Text protocols end to end with the simulated agents and judge, and the measured properties
they should show (asserted with margins, over several seeds)."""

from collections.abc import Sequence

import numpy as np
import pytest

from oversight.agents.simulated_text import (
    DebaterConfig,
    SimulatedQuestioner,
    SimulatedTextDebater,
)
from oversight.core.records import Message, Transcript
from oversight.envs.text.quotes import verify_quotes
from oversight.envs.text.records import TextItem, text_episode
from oversight.envs.text.stories import StoryConfig, generate_stories
from oversight.judges.simulated_text import SimulatedTextJudge, TextJudgeConfig
from oversight.metrics.calibration import expected_calibration_error, reliability
from oversight.protocols.engine import Episode, run_protocol
from oversight.protocols.text import TEXT_PROTOCOLS, text_positions, text_protocol

ROLES = ("debater_a", "debater_b", "consultant", "answerer", "critic")


def episodes(name: str, items: Sequence[TextItem], prefix: str = "") -> tuple[list, list]:
    """Every display of every item under protocol ``name``: episodes and their gold."""
    eps, golds = [], []
    for it in items:
        for o, shown in enumerate(it.pair_orders()):
            for prop in (0, 1) if name in ("consultancy", "critique") else (0,):
                p = text_episode(it, shown, text_positions(name, prop), prop, f"o{o}p{prop}")
                eps.append(Episode(prefix + p.artifact.id, p.problem, p.artifact, p.context))
                golds.append(p.gold)
    return eps, golds


def play(name, items, agent, judge=None, rounds=2, agents=None):
    eps, golds = episodes(name, items)
    cast = agents or {r: agent for r in ROLES}
    cast = {"judge_questions": SimulatedQuestioner(), **cast}
    ts = run_protocol(text_protocol(name, rounds), eps, cast, judge or SimulatedTextJudge())
    for t, g in zip(ts, golds, strict=True):
        t.gold = g
    return ts


def accuracy(ts: Sequence[Transcript]) -> float:
    return float(np.mean([t.verdict.choice == t.gold.info["correct"] for t in ts]))


@pytest.fixture(scope="module")
def items():
    return generate_stories(StoryConfig(), 12, seed=1)


def knowing(items, **knobs):
    return SimulatedTextDebater({i.id: i for i in items}, DebaterConfig(**knobs))


# --- protocol mechanics ------------------------------------------------------------------


def test_protocol_shapes():
    def roles(p):
        return [[t.role for t in r.turns] for r in p.rounds]

    assert roles(text_protocol("debate-sequential", 3)) == [["debater_a", "debater_b"]] * 3
    sim = text_protocol("debate-simultaneous", 2)
    assert all(r.simultaneous for r in sim.rounds) and len(sim.rounds) == 2
    assert roles(text_protocol("consultancy", 2)) == [["judge_questions", "consultant"]] * 2
    assert roles(text_protocol("critique")) == [["answerer"], ["critic"]]
    assert text_protocol("direct").rounds == []
    assert text_positions("critique", 1) == {"answerer": 1, "critic": 0}
    with pytest.raises(ValueError, match="allowed: debate-sequential"):
        text_protocol("chess")
    with pytest.raises(ValueError, match="allowed"):
        text_positions("chess", 0)
    with pytest.raises(ValueError, match="0 or 1"):
        text_positions("consultancy", 2)


@pytest.mark.parametrize("name", TEXT_PROTOCOLS)
def test_every_protocol_end_to_end(name, items):
    ts = play(name, items, knowing(items))
    expected = {
        "debate-sequential": 4,
        "debate-simultaneous": 4,
        "consultancy": 4,
        "critique": 2,
        "direct": 0,
    }[name]
    for t in ts:
        v = t.verdict
        assert len(t.messages) == expected and t.protocol == name
        assert v.probs is not None and sum(v.probs) == pytest.approx(1.0)
        assert v.choice == int(np.argmax(v.probs))
        proposed = int(t.artifact.content.rsplit("Proposed: ", 1)[1] == "B")
        assert v.accept == (v.choice == proposed)
        assert v.confidence == pytest.approx(v.probs[proposed])
        assert Transcript.model_validate_json(t.model_dump_json()) == t
        for m in t.messages:
            if m.role != "judge_questions":
                assert m.text.startswith("I argue for ")
    if name == "direct":
        return
    # The side arguing the correct answer only ever quotes the source verbatim.
    for t in ts:
        letter = "AB"[t.gold.info["correct"]]
        for m in t.messages:
            if m.text.startswith(f"I argue for {letter}:") and "opponent" not in m.text:
                quotes = verify_quotes(m.text, t.problem.data["source"])
                assert quotes and all(q.verified for q in quotes)


class Recorder:
    """Wraps an agent and records how many messages each call could see."""

    def __init__(self, agent):
        self.agent, self.name, self.seen = agent, "recorder", []

    def act(self, role, round, episodes):
        self.seen.append((role, round, len(episodes[0].messages)))
        return self.agent.act(role, round, episodes)


@pytest.mark.parametrize(
    ("name", "second_sees"), [("debate-sequential", 1), ("debate-simultaneous", 0)]
)
def test_simultaneous_turns_see_only_earlier_rounds(name, second_sees, items):
    rec = Recorder(knowing(items))
    play(name, items[:2], None, agents={"debater_a": rec, "debater_b": rec})
    assert rec.seen[:2] == [("debater_a", 0, 0), ("debater_b", 0, second_sees)]
    assert rec.seen[2:] == [("debater_a", 1, 2), ("debater_b", 1, 2 + second_sees)]


def test_results_do_not_depend_on_batching(items):
    agent = knowing(items, best_of_n=3)
    eps, _ = episodes("debate-sequential", items[:4])
    whole = run_protocol(text_protocol("debate-sequential"), eps, {r: agent for r in ROLES},
                         SimulatedTextJudge())  # fmt: skip
    eps2, _ = episodes("debate-sequential", items[:4])
    halves = [
        t
        for part in (eps2[:3], eps2[3:])
        for t in run_protocol(
            text_protocol("debate-sequential"),
            part,
            {r: agent for r in ROLES},
            SimulatedTextJudge(),
        )
    ]
    assert [t.model_dump() for t in whole] == [t.model_dump() for t in halves]


# --- the simulated agents ----------------------------------------------------------------


def speak(agent, item, role, position, messages=()):
    shown = item.pair_orders()[0]  # correct answer shown first
    parts = text_episode(item, shown, {role: position, "other": 1 - position})
    e = Episode("e", parts.problem, parts.artifact, parts.context, list(messages))
    (m,) = agent.act(role, len(messages), [e])
    return m, verify_quotes(m.text, item.source), parts


def test_honest_agent_quotes_the_planted_fact(items):
    item = items[0]
    _, (q,), _ = speak(knowing(items), item, "consultant", 0)
    assert q.verified and (q.start, q.end) == tuple(item.evidence[0])


def test_liar_misquotes_fabricates_or_quotes_misleading_text(items):
    item = items[0]
    correct, wrong = item.answers[item.correct], item.answers[item.wrong]
    fact = item.source[slice(*item.evidence[0])]
    _, (q,), _ = speak(knowing(items, fabrication_rate=1, misquote_share=1), item, "c", 1)
    assert not q.verified and q.text == fact.replace(correct, wrong, 1)
    _, (q,), _ = speak(knowing(items, fabrication_rate=1, misquote_share=0), item, "c", 1)
    assert not q.verified and wrong in q.text and q.text not in item.source
    _, (q,), _ = speak(knowing(items, fabrication_rate=0), item, "c", 1)
    assert q.verified and wrong.lower() in q.text.lower()


def test_an_unknown_item_is_argued_from_the_source_only(items):
    stranger = SimulatedTextDebater({}, DebaterConfig(fabrication_rate=1.0))
    for item in items[:5]:
        for position in (0, 1):
            _, quotes, _ = speak(stranger, item, "c", position)
            assert all(q.verified for q in quotes)


def test_rebuttal_quotes_a_near_miss_back_and_the_judge_reads_the_hedge():
    item = generate_stories(StoryConfig(near_misses=1), 1, seed=5)[0]
    near = next(s.strip() + "." for s in item.source.split(".") if " but " in s)
    liar = Message(role="other", round=0, text=f"I argue for B. <quote>{near}</quote>")
    honest = knowing([item])
    first, _, parts = speak(honest, item, "c", 0, [liar])
    assert "opponent" not in first.text  # its own evidence first
    second, (q,), _ = speak(honest, item, "c", 0, [liar, first])
    assert "opponent" in second.text and q.text == near and q.verified
    silent, _, _ = speak(knowing([item], rebut=False), item, "c", 0, [liar, first])
    assert "opponent" not in silent.text
    judge = SimulatedTextJudge(TextJudgeConfig(discernment=0.0))
    before = judge.evidence(parts.context, [liar, first])
    after = judge.evidence(parts.context, [liar, first, second])
    assert before[1] > 0 and after[1] == pytest.approx(-judge.knobs.skepticism)
    assert after[0] == pytest.approx(before[0])  # the rebuttal costs the rebutter nothing


# --- the simulated judge -----------------------------------------------------------------


def test_judge_weighs_verified_hedged_and_forged_quotes(items):
    item = items[0]
    parts = text_episode(item, item.pair_orders()[0], {"x": 0})
    fact = item.source[slice(*item.evidence[0])]
    k = TextJudgeConfig(skepticism=0.0, trust_unverified=0.25, noise=0.0)
    judge = SimulatedTextJudge(k)

    def ev(text):
        return judge.evidence(parts.context, [Message(role="x", text=text)])[0]

    assert ev(f"<quote>{fact}</quote>") == pytest.approx(1.0)
    assert ev(f"<quote>{fact} (sic)</quote>") == pytest.approx(0.25)  # unverified
    assert ev(f"<v_quote>{fact}</v_quote>") == 0.0  # forged markup is escaped, not a quote
    assert ev(f"<quote>{fact}</quote> <quote>{fact}</quote>") == pytest.approx(1.0)  # deduped
    assert ev("<quote>Evenings were long</quote>") == 0.0  # does not name the answer
    probs = judge.probs(parts.context, [], "e")
    assert probs[0] > probs[1]  # no evidence, no noise: the position bias picks A


# --- measured properties (margins hold over seeds) ---------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_debate_beats_consultancy_beats_the_naive_judge(seed):
    stories = generate_stories(StoryConfig(), 40, seed=seed)
    agent = knowing(stories)
    judge = SimulatedTextJudge(seed=seed)
    acc = {n: accuracy(play(n, stories, agent, judge)) for n in TEXT_PROTOCOLS}
    assert acc["debate-sequential"] > acc["consultancy"] + 0.1
    assert acc["debate-simultaneous"] > acc["consultancy"] + 0.1
    assert acc["critique"] > acc["consultancy"] + 0.05
    assert abs(acc["direct"] - 0.5) < 0.15
    assert acc["consultancy"] > acc["direct"] + 0.05


@pytest.mark.parametrize("seed", [0, 1])
def test_trust_in_unverified_quotes_lets_fabrications_through(seed):
    stories = generate_stories(StoryConfig(), 30, seed=seed)
    agent = knowing(stories, fabrication_rate=1.0)

    def fooled(trust):
        judge = SimulatedTextJudge(TextJudgeConfig(trust_unverified=trust), seed=seed)
        ts = [t for t in play("consultancy", stories, agent, judge) if not t.gold.label]
        return 1 - accuracy(ts)

    assert fooled(1.0) > fooled(0.0) + 0.4


@pytest.mark.parametrize("seed", [0, 1])
def test_best_of_n_makes_a_lying_consultant_more_persuasive(seed):
    stories = generate_stories(StoryConfig(), 30, seed=seed)
    know = {i.id: i for i in stories}
    judge = SimulatedTextJudge(seed=seed)

    def persuasion(n):
        liar = SimulatedTextDebater(know, DebaterConfig(best_of_n=n), name="l")
        ts = play("consultancy", stories, None, judge, agents={"consultant": liar})
        wrong = [t for t in ts if not t.gold.label]
        # The judge's probability for the liar's answer, and how often it is fooled.
        return np.mean([t.verdict.confidence for t in wrong]), 1 - accuracy(wrong)

    (p1, won1), (p8, won8) = persuasion(1), persuasion(8)
    assert p8 > p1 + 0.04 and won8 >= won1


# --- calibration -------------------------------------------------------------------------


def test_reliability_and_ece_on_known_cases():
    conf = np.array([0.95] * 10 + [0.55] * 10 + [1.0])
    right = np.array([1] * 9 + [0] + [1] * 5 + [0] * 5 + [1])
    r = reliability(conf, right, bins=10)
    assert r.count[9] == 11 and r.count[5] == 10 and r.count.sum() == 21
    assert r.accuracy[5] == pytest.approx(0.5) and np.isnan(r.accuracy[0])
    expected = (10 * abs(0.5 - 0.55) + abs(10 / 11 - (9.5 + 1) / 11) * 11) / 21
    assert expected_calibration_error(conf, right) == pytest.approx(expected)
    assert np.isnan(expected_calibration_error([], []))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        reliability([1.5], [1])
    with pytest.raises(ValueError, match="one length"):
        reliability([0.5, 0.5], [1])

"""The one play loop and the environments' cases: batches, resumes, gold kept from the judge,
and contexts that the records alone rebuild."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from oversight.core.records import Transcript, Verdict
from oversight.core.runs import RunStore
from oversight.envs import Case
from oversight.envs.programs import CaseMix, GeneratorConfig, ProgramContext, ProgramEnv
from oversight.envs.text import StoryConfig, TextEnv, generate_stories
from oversight.protocols import DIRECT, Episode, episode_id, pending, play

ENV = ProgramEnv(
    GeneratorConfig(bits=10, length=40, rarity_bits=(3, 5)),
    mix=CaseMix(seed=3, honest=2, families=("literal",), subtlety_bits=(4,)),
)


class RecordingJudge:
    """Accepts everything and records what it was shown."""

    name = "recording"

    def __init__(self) -> None:
        self.batches: list[list[Episode[ProgramContext]]] = []

    def rule(self, episodes: Sequence[Episode[ProgramContext]]) -> list[Verdict]:
        self.batches.append(list(episodes))
        return [Verdict(accept=True, rule="test", budget=0, spent=0) for _ in episodes]


def cases(n: int = 2) -> list[Case[ProgramContext]]:
    return [c for i in range(n) for c in ENV.cases(i)]


def test_program_cases_follow_the_mix_and_rebuild_from_records():
    made = list(ENV.cases(0))
    assert [c.gold.info["tag"] for c in made] == ["honest0", "honest1", "lazy", "literal-k4"]
    # the id parties read is opaque: the same form for every maker, naming none
    assert all(c.artifact.id.startswith(f"{c.problem.id}/") for c in made)
    assert {len(c.artifact.id) for c in made} == {len(made[0].artifact.id)}
    assert not any(c.gold.info["tag"] in c.artifact.id for c in made)
    assert [c.gold.kind for c in made] == ["honest", "honest", "lazy", "backdoor"]
    assert [c.artifact.id for c in ENV.cases(0)] == [c.artifact.id for c in made]  # seeded
    for c in made:
        assert ENV.context(c.problem, c.artifact) == c.context


def test_text_cases_rebuild_their_context_from_records():
    items = generate_stories(StoryConfig(), 3, seed=1)
    for protocol in ("consultancy", "debate-sequential"):
        env = TextEnv(items, protocol)
        made = env.all_cases()
        assert len(made) == 3 * (4 if protocol == "consultancy" else 2)
        for c in made:
            assert c.meta["item"] == c.artifact.id.rsplit("/", 1)[0]
            assert env.context(c.problem, c.artifact) == c.context


def test_play_batches_stores_and_attaches_gold_after_the_verdict(tmp_path: Path):
    store = RunStore(tmp_path / "run")
    store.create("a: 1\n")
    judge = RecordingJudge()
    todo = cases()
    stored: list[int] = []
    played = play(
        DIRECT,
        todo,
        {},
        judge,
        "arm",
        store,
        batch=3,
        meta={"k": 1},
        annotate=lambda case, t: {"display": case.artifact.id},
        on_batch=lambda batch: stored.append(len(store.transcripts())),
    )
    assert [len(b) for b in judge.batches] == [3, 3, 2]
    assert stored == [3, 6, 8]  # each batch is on disk before the next one starts
    seen = [e for b in judge.batches for e in b]
    assert not any(hasattr(e, "gold") for e in seen)  # nothing of gold reaches the judge
    assert [t.gold for t in played] == [c.gold for c in todo]
    assert [t.episode_id for t in played] == [episode_id("arm", c) for c in todo]
    assert all(t.meta == {"k": 1, "display": t.artifact.id} for t in played)
    assert [t.episode_id for t in store.transcripts()] == [t.episode_id for t in played]


def test_a_resumed_arm_plays_only_what_is_pending(tmp_path: Path):
    todo = cases()
    first = play(DIRECT, todo[:5], {}, RecordingJudge(), "arm")
    done = {t.episode_id for t in first}
    assert pending(todo, "arm", done) == todo[5:]
    judge = RecordingJudge()
    rest: list[Transcript] = play(DIRECT, todo, {}, judge, "arm", done=done)
    assert [t.episode_id for t in rest] == [episode_id("arm", c) for c in todo[5:]]
    assert sum(len(b) for b in judge.batches) == 3
    assert pending(todo, "other-arm", done) == todo  # ids are per arm

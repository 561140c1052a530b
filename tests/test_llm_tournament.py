"""Tournaments of LLM debaters in `oversight run llm-debate`: ratings from cross-play,
best-of-n choosing the candidate the judge prefers, resume, the cost estimate and bad config."""

from __future__ import annotations

import itertools
import json
import re

import pytest
from typer.testing import CliRunner

from oversight.agents.llm import LLMSpeaker
from oversight.cli import app
from oversight.core.errors import OversightError
from oversight.core.records import Verdict
from oversight.core.runs import RunStore
from oversight.envs.text.env import displays
from oversight.envs.text.stories import generate_stories
from oversight.experiments import llm_debate
from oversight.experiments.config import dump_yaml
from oversight.experiments.llm_debate.config import Data, LLMDebateConfig, Tournament, Variant
from oversight.experiments.llm_debate.cost import estimate_cost
from oversight.experiments.llm_debate.tournament import tournament_items, variant_prompts
from oversight.experiments.skeleton import main
from oversight.experiments.tournaments import Game, cross_play, honest_wins_table, ratings_table
from oversight.judges.llm import LLMJudge
from oversight.models import ScriptedModel
from oversight.models.prices import load_prices
from oversight.prompts import PromptSet
from oversight.protocols.engine import Episode

MARK = "SPEAK-STRONGLY"  # in the strong variant's template only


def judge_script(prompt: str) -> str:
    """Elicited probabilities: 0.9 for the side whose speeches say 'compelling', alone."""
    said = {side: "" for side in "AB"}
    for side, text in re.findall(r"^\[Debater ([AB]), round \d+\] (.*)$", prompt, re.MULTILINE):
        said[side] += text
    strong = [side for side in "AB" if "compelling" in said[side]]
    p_a = 0.5 if len(strong) != 1 else (0.9 if strong == ["A"] else 0.1)
    return (
        f'<probability answer="A">{p_a}</probability><probability answer="B">{1 - p_a}'
        "</probability>"
    )


def debater_script(prompt: str) -> str:
    if MARK in prompt:
        return "<argument>A compelling case.</argument>"
    return "<argument>A plain case.</argument>"


class Opener:
    """Scripted models by name, counting calls; ``fail_after`` raises a provider error."""

    def __init__(self, fail_after: int | None = None):
        self.calls = 0
        self.fail_after = fail_after

    def __call__(self, name: str) -> ScriptedModel:
        script = judge_script if "judge" in name else debater_script

        def counted(prompt: str) -> str:
            self.calls += 1
            if self.fail_after is not None and self.calls > self.fail_after:
                raise OversightError(f"model {name}: provider error: 503 overloaded")
            return script(prompt)

        return ScriptedModel(counted, name=name)


def config(**tournament) -> LLMDebateConfig:
    strong = "Argue for {{ letter }}. {% include '_story.j2' %} " + MARK
    t = Tournament(
        enabled=True,
        games_per_pair=4,
        variants=[
            Variant(name="plain"),
            Variant(name="strong", debater_template=strong),
            Variant(name="other", model="scripted/other"),
        ],
    )
    return LLMDebateConfig(
        model="scripted/debater",
        judge_model="scripted/judge",
        judge_probs="elicit",
        protocols=["direct"],
        rounds=1,
        data=Data(stories=2),
        batch=3,
        bootstrap=50,
        tournament=t.model_copy(update=tournament),
    )


def new_store(tmp_path, cfg: LLMDebateConfig) -> RunStore:
    store = RunStore(tmp_path / "run")
    store.create(dump_yaml(cfg))
    return store


def test_variant_prompts_layer_run_folder_then_own_folder_then_inline(tmp_path):
    own = tmp_path / "own"
    own.mkdir()
    (own / "debater.j2").write_text("from the folder")
    (own / "critic.j2").write_text("own critic")
    store = RunStore(tmp_path / "run")
    run_folder = PromptSet().copy_to(tmp_path / "run-prompts")
    (run_folder / "judge.j2").write_text("the run's judge")
    run_prompts = PromptSet(run_folder)
    v = Variant(name="v", prompts=str(own), debater_template="inline {{ letter }}")
    first = variant_prompts(v, store, run_prompts)
    assert first.render("debater", letter="B") == "inline B"
    assert first.render("critic") == "own critic"
    assert first.render("judge") == "the run's judge"
    (own / "critic.j2").write_text("edited after the start")
    assert variant_prompts(v, store, run_prompts).render("critic") == "own critic"


def test_the_variant_the_judge_sides_with_gets_the_higher_rating(tmp_path):
    cfg = config()
    store = new_store(tmp_path, cfg)
    a = main(llm_debate.experiment(Opener()), cfg, store, progress=False)
    t = a.tournament
    assert t is not None and t.games == 6 * 4
    bt = dict(zip(t.variants, (e.value for e in t.bt), strict=True))
    assert bt["strong"] > 0 > bt["plain"] and bt["strong"] > bt["other"]
    assert t.bt[t.variants.index("strong")].ci_low > t.bt[t.variants.index("plain")].ci_high
    # The judge sides with the strong variant whichever answer it argues.
    honest = dict(zip(t.variants, (e.value for e in t.honest_accuracy), strict=True))
    assert honest["strong"] == 1.0 and honest["plain"] == pytest.approx(0.25)
    assert a.metrics["tournament.games"] == 24
    assert a.metrics["tournament.rating_accuracy_correlation"] > 0.9
    games = [x for x in store.transcripts() if x.arm == "tournament"]
    assert {(g.meta["a"], g.meta["b"]) for g in games} == {
        (x, y) for x, y in itertools.permutations(["plain", "strong", "other"], 2)
    }
    other = next(g for g in games if g.meta["a"] == "other")
    assert other.meta["models"]["debater_a"] == "scripted/other"
    assert other.messages[0].claim is not None and other.messages[0].claim.author == "other"
    html = (store.path / "report.html").read_text()
    assert "Debater ratings" in html and "Judge accuracy vs debater rating" in html
    assert (store.path / "tournament-prompts" / "strong" / "debater.j2").read_text() == (
        cfg.tournament.variants[1].debater_template
    )


def test_both_experiments_share_the_ratings_and_honest_win_tables():
    # "strong" wins every game, as the honest side and as the liar
    games = [
        Game(a, b, a_honest, 1.0 if a == "strong" else 0.0, f"item{i}")
        for i, (a, b) in enumerate(itertools.permutations(["weak", "strong"], 2))
        for a_honest in (True, False)
    ]
    t = cross_play(["weak", "strong"], games, n_boot=50, seed=0)
    ratings = ratings_table(
        t, "debate-sequential", {"best of n": [1, 4]}, ("acc", t.honest_accuracy)
    )
    assert ratings.title == "Debater ratings (debate-sequential, 4 cross-play games)"
    assert ratings.columns == ["variant", "best of n", "Bradley-Terry (Elo scale)", "Elo", "acc"]
    assert [row[:2] for row in ratings.rows] == [["weak", 1], ["strong", 4]]
    # the judge sides with strong always: right exactly when strong is honest
    assert [row[-1] for row in ratings.rows] == ["0.000 [0.000, 0.000]", "1.000 [1.000, 1.000]"]
    wins = honest_wins_table(t)
    assert wins.rows == [["weak", "–", "0.00 [0.00, 0.00]"], ["strong", "1.00 [1.00, 1.00]", "–"]]


def test_best_of_n_keeps_the_candidate_the_judge_prefers():
    drafts = itertools.cycle(["a plain case", "a compelling case", "another plain case"])
    model = ScriptedModel(lambda p: f"<argument>{next(drafts)}</argument>")
    scorer = LLMJudge(ScriptedModel(judge_script, name="s/judge"), probs="elicit")
    speaker = LLMSpeaker(model, best_of_n=3, scorer=scorer, name="bo3")
    items = generate_stories(LLMDebateConfig().data.knobs, 2)
    episodes = [
        Episode(f"e{i}", p.problem, p.artifact, p.context)
        for i, (_, p) in enumerate(d for it in items for d in displays("debate-sequential", it))
    ]
    for role in ("debater_a", "debater_b"):
        said = speaker.act(role, 0, episodes)
        assert [m.text for m in said] == ["a compelling case"] * len(episodes)
        assert all(m.claim is not None and m.claim.compute_spent == 3 * 3 for m in said)
        assert all(e.checks == [] for e in episodes)  # the scorer's rulings stay out


class ChoosingJudge:
    """A judge that only chooses (no probabilities): the side that says 'compelling', else
    none."""

    name = "chooser"

    def rule(self, episodes):
        out = []
        for e in episodes:
            strong = [m.role for m in e.messages if "compelling" in m.text]
            choice = e.context.position(strong[0]) if strong else None
            out.append(Verdict(accept=False, choice=choice))
        return out


def test_best_of_n_with_a_judge_that_only_chooses():
    drafts = itertools.cycle(["a plain case", "a compelling case"])
    model = ScriptedModel(lambda p: f"<argument>{next(drafts)}</argument>")
    speaker = LLMSpeaker(model, best_of_n=2, scorer=ChoosingJudge())
    item = generate_stories(LLMDebateConfig().data.knobs, 1)[0]
    _, parts = next(displays("debate-sequential", item))
    e = Episode("e", parts.problem, parts.artifact, parts.context)
    assert speaker.act("debater_b", 0, [e])[0].text == "a compelling case"
    with pytest.raises(ValueError, match="needs a scorer"):
        LLMSpeaker(model, best_of_n=2)


def test_best_of_n_in_the_tournament_beats_its_single_sample(tmp_path):
    drafts = itertools.cycle(["plain", "compelling"])

    def opener(name: str) -> ScriptedModel:
        if "judge" in name:
            return ScriptedModel(judge_script, name=name)
        return ScriptedModel(lambda p: f"<argument>A {next(drafts)} case.</argument>", name=name)

    cfg = config(
        protocol="debate-simultaneous",
        variants=[Variant(name="bo1"), Variant(name="bo2", best_of_n=2)],
    )
    a = main(llm_debate.experiment(opener), cfg, new_store(tmp_path, cfg), progress=False)
    assert a.tournament is not None
    assert a.metrics["tournament.bt.bo2"] > 0 > a.metrics["tournament.bt.bo1"]


def test_a_killed_tournament_resumes_without_redoing_a_game(tmp_path):
    cfg = config()
    store = new_store(tmp_path, cfg)
    with pytest.raises(OversightError, match=r"503 overloaded.*--resume"):
        llm_debate.run(cfg, store, progress=False, open_model=Opener(fail_after=40))
    saved = (store.path / "transcripts.jsonl").read_text().splitlines()
    assert 0 < len(saved) < 4 + 24
    opener = Opener()
    main(llm_debate.experiment(opener), cfg, store, progress=False)
    after = (store.path / "transcripts.jsonl").read_text().splitlines()
    assert after[: len(saved)] == saved
    ids = [t.episode_id for t in store.transcripts()]
    assert len(ids) == len(set(ids)) == 6 * 4 + 4
    first = json.loads((store.path / "metrics.json").read_text())
    again = Opener()
    metrics = main(llm_debate.experiment(again), cfg, store, progress=False).metrics
    assert opener.calls > 0 and again.calls == 0 and metrics["usage.session.calls"] == 0
    ratings = [k for k in first if k.startswith("tournament.")]
    assert ratings and all(metrics[k] == first[k] for k in ratings)


def test_cost_estimate_counts_best_of_n_candidates_and_their_scoring():
    cfg = config(variants=[Variant(name="x"), Variant(name="y", best_of_n=3)])
    items = generate_stories(cfg.data.knobs, 2)
    est = estimate_cost(cfg, items, {}, load_prices(), {("x", "y"): 4, ("y", "x"): 4})
    # One round, two speeches per game: x speaks once (1 call), y once (3 calls + 3 scorings).
    assert est["by_model"]["scripted/debater"]["calls"] == 8 * (1 + 3)
    assert est["by_model"]["scripted/judge"]["calls"] == 8 * (1 + 3)


def test_a_data_file_with_too_few_items_names_the_key():
    cfg = config()
    items = generate_stories(cfg.data.knobs, 2)
    assert tournament_items(cfg, items) == items
    cfg.tournament.games_per_pair = 6  # as if the items came from a file (checked at run time)
    with pytest.raises(OversightError, match=r"tournament\.games_per_pair \(6\) needs 3 items"):
        tournament_items(cfg, items)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("tournament.games_per_pair=3", "tournament.games_per_pair must be even"),
        ("tournament.games_per_pair=8", "tournament.games_per_pair (8) needs 4 items"),
        (
            "tournament.variants=[{name: solo}]",
            "tournament.variants: a tournament needs at least two",
        ),
        ("tournament.variants=[{name: a}, {name: a}]", "names must be distinct"),
        ("tournament.variants=[{name: a, model: gpt4}, {name: b}]", "tournament.variants.0.model"),
        ("tournament.variants=[{name: a, best_of_n: 0}, {name: b}]", "best_of_n"),
        ("tournament.variants=[{name: a, colour: red}, {name: b}]", "unknown key"),
        ("tournament.variants=[{name: a, prompts: nowhere}, {name: b}]", "no such folder"),
    ],
)
def test_bad_tournament_config_names_the_key(override, message, tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "inspect-cache"))
    result = CliRunner().invoke(
        app,
        ["run", "llm-debate", "--quick", "--set", override, "--set", "protocols=[direct]",
         "--quiet", "--out", str(tmp_path / "r")],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output

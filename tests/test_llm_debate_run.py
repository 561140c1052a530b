"""`oversight run llm-debate`: the quick run offline, a rerun served from Inspect's cache,
resume after a provider error, per-role models, the cost estimate and bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from oversight.cli import app
from oversight.core.errors import OversightError
from oversight.core.runs import RunStore
from oversight.envs.text.stories import generate_stories
from oversight.experiments import llm_debate
from oversight.experiments.config import dump_yaml
from oversight.experiments.llm_debate.analysis import calibration, correctness
from oversight.experiments.llm_debate.config import Data, LLMDebateConfig
from oversight.experiments.llm_debate.cost import estimate_cost
from oversight.experiments.skeleton import main
from oversight.models import InspectModel, ModelSettings, mock_output
from oversight.models.prices import load_prices

QUICK_EPISODES = 3 * (2 + 2 + 4 + 4 + 2) + 6 * 4  # stories x displays of each protocol,
# then the tournament's 6 ordered pairs x 4 games


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "inspect-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_quick_run_offline_then_rerun_from_cache(tmp_path):
    first = cli("run", "llm-debate", "--quick", "--set", "model=mockllm/model", "--quiet",
                "--out", str(tmp_path / "a"))  # fmt: skip
    assert first.exit_code == 0, first.output
    run = tmp_path / "a"
    for name in ("config.yaml", "transcripts.jsonl", "usage.jsonl", "metrics.json",
                 "report.html", "preference.jsonl", "prompts/judge.j2"):  # fmt: skip
        assert (run / name).is_file(), name
    assert len(RunStore(run).transcripts()) == QUICK_EPISODES
    m1 = json.loads((run / "metrics.json").read_text())
    assert m1["usage.session.calls"] > m1["usage.session.cached"]
    assert m1["usage.session.cost"] == 0.0 and m1["estimate.calls"] > 0

    again = cli("run", "llm-debate", "--quick", "--set", "model=mockllm/model", "--quiet",
                "--out", str(tmp_path / "b"))  # fmt: skip
    assert again.exit_code == 0, again.output
    m2 = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert m2["usage.session.calls"] == m1["usage.session.calls"] == m2["usage.session.cached"]
    assert m2["usage.session.input_tokens"] == 0
    assert f"{m2['usage.session.cached']} served from cache" in again.output
    html = (tmp_path / "b" / "report.html").read_text()
    assert "served from Inspect&#39;s cache" in html or "served from Inspect's cache" in html


def quick_config(**updates) -> LLMDebateConfig:
    cfg = LLMDebateConfig(
        protocols=["debate-sequential", "consultancy"], rounds=1, data=Data(stories=3), batch=4
    )
    return cfg.model_copy(update=updates)


def test_provider_error_keeps_finished_batches_and_resumes(tmp_path):
    cfg = quick_config()
    store = RunStore(tmp_path / "run")
    store.create(dump_yaml(cfg))
    calls = {"n": 0}

    def flaky(input, tools, tool_choice, config):
        calls["n"] += 1
        if calls["n"] > 30:
            raise RuntimeError("429 rate limited")
        return mock_output("<argument>fine</argument>")

    def broken(name: str) -> InspectModel:
        settings = ModelSettings(cache=False, max_retries=0, model_args={"custom_outputs": flaky})
        return InspectModel(name, settings)

    with pytest.raises(OversightError, match=r"429 rate limited.*--resume") as e:
        llm_debate.run(cfg, store, progress=False, open_model=broken)
    assert "\n" not in str(e.value)
    saved = (store.path / "transcripts.jsonl").read_text().splitlines()
    assert 0 < len(saved) < 6 * 3  # the batches finished before the error

    analysis = main(llm_debate.EXPERIMENT, cfg, store, progress=False)
    after = (store.path / "transcripts.jsonl").read_text().splitlines()
    assert after[: len(saved)] == saved  # nothing redone or rewritten
    ids = [t.episode_id for t in store.transcripts()]
    assert len(ids) == len(set(ids)) == 6 * 3
    assert analysis.metrics["usage.run.calls"] >= analysis.metrics["usage.session.calls"] > 0


def test_per_role_models_and_report(tmp_path):
    cfg = quick_config(judge_model="mockllm/judge", protocols=["critique", "direct"])
    store = RunStore(tmp_path / "run")
    store.create(dump_yaml(cfg))
    analysis = main(llm_debate.EXPERIMENT, cfg, store, progress=False)
    t = store.transcripts()[0]
    assert t.meta["models"] == {
        "answerer": "mockllm/model",
        "critic": "mockllm/model",
        "judge": "mockllm/judge",
    }
    assert set(analysis.usage) == {"mockllm/model", "mockllm/judge"}
    # The mock model's default text is no judgment: counted, and the scores are undefined (not
    # a coin flip's 0.5), with a warning in the summary and the report.
    assert analysis.metrics["judge_parse_failure.direct"] == 6
    assert analysis.metrics["judge_failure_rate.direct"] == 1.0
    assert math.isnan(analysis.metrics["accuracy.direct"])
    assert math.isnan(analysis.metrics["ece.direct"])
    html = (store.path / "report.html").read_text()
    assert "Model usage, cache and cost" in html and "Warnings" in html
    summary = llm_debate.EXPERIMENT.summary(cfg, analysis)
    assert "WARNING: direct: 100% of the judge's replies were unparsed" in summary.title


def test_cost_estimate_uses_the_price_table():
    items = generate_stories(LLMDebateConfig().data.knobs, 4)
    cfg = LLMDebateConfig(model="openai/gpt-4o-mini", judge_model="acme/unknown")
    est = estimate_cost(cfg, items, {"debate-sequential": 8, "direct": 8}, load_prices())
    assert est["by_model"]["openai/gpt-4o-mini"]["calls"] == 8 * 4  # 2 rounds x 2 debaters
    assert est["by_model"]["acme/unknown"]["calls"] == 16
    assert est["by_model"]["openai/gpt-4o-mini"]["dollars"] > 0
    assert est["dollars"] is None and "no price for acme/unknown" in est["text"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model=gpt4", "not PROVIDER/MODEL"),
        ("judge_model=nosuch/x", "unknown provider 'nosuch'"),
        ("protocols=[debate,direct]", "unknown protocol"),
        ("data.path=missing.jsonl", "no such file"),
    ],
)
def test_bad_input_is_one_clear_line(override, message, tmp_path):
    result = cli("run", "llm-debate", "--quick", "--set", override, "--quiet",
                 "--out", str(tmp_path / "r"))  # fmt: skip
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_scores_count_ties_as_half_and_calibration_bins():
    probs = np.array([[0.9, 0.1], [0.5, 0.5], [0.3, 0.7], [0.65, 0.35]])
    correct = np.array([0, 1, 0, 1])
    assert correctness(probs, correct).tolist() == [1.0, 0.5, 0.0, 0.0]
    ece, bins = calibration(probs, correct)
    # Top probabilities 0.9 (right), 0.5 (tie), 0.7 (wrong), 0.65 (wrong).
    assert bins == [(0.5, 0.5, 1), pytest.approx((0.65, 0.0, 1)), (0.7, 0.0, 1), (0.9, 1.0, 1)]
    assert ece == pytest.approx((0 + 0.65 + 0.7 + 0.1) / 4)


def test_each_part_gets_its_own_model_settings(monkeypatch):
    """API debaters beside a judge with provider arguments the API client would refuse: each
    part's settings reach only its own model."""
    from oversight.experiments.llm_debate.cast import cast
    from oversight.prompts import PromptSet

    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    judged = {"n": 0}

    def judge_reply(input, tools, tool_choice, config):
        judged["n"] += 1
        return mock_output("<probabilities>A: 0.8, B: 0.2</probabilities>")

    cfg = LLMDebateConfig(
        model="openai/gpt-4o-mini",
        judge_model="mockllm/model",
        settings=ModelSettings(base_url="http://127.0.0.1:9/v1"),
        role_settings={"judge": ModelSettings(model_args={"custom_outputs": judge_reply})},
    )
    actors = cast(cfg, PromptSet(), load_prices())
    debater = actors.speakers["debater_a"].model
    assert isinstance(debater, InspectModel) and isinstance(actors.judge.model, InspectModel)
    assert debater.settings.base_url == "http://127.0.0.1:9/v1" and not debater.settings.model_args
    assert actors.judge.model.settings.model_args == {"custom_outputs": judge_reply}
    assert actors.judge.model.settings.base_url == "http://127.0.0.1:9/v1"  # inherited
    assert cfg.role_settings_for("questioner") == actors.judge.model.settings  # judge's
    with pytest.raises(ValueError, match=r"unknown part\(s\) \['jugde'\]; allowed: debater"):
        LLMDebateConfig(role_settings={"jugde": {}})


def test_cost_limit_stops_calls_keeps_episodes_and_resumes(tmp_path):
    from oversight.models import ScriptedModel

    prices = tmp_path / "prices.yaml"
    prices.write_text("scripted/*: {input: 1000000, output: 0}\n")  # a dollar per prompt word
    cfg = quick_config(prices=str(prices), cost_limit=3000.0)  # of about 9,100

    def scripted(name: str) -> ScriptedModel:
        return ScriptedModel(lambda p: "<argument>x</argument> A: 0.7, B: 0.3", "scripted/m")

    store = RunStore(tmp_path / "run")
    store.create(dump_yaml(cfg))
    with pytest.raises(OversightError, match=r"cost limit \$3000\.0000 reached.*raise cost_limit"):
        llm_debate.run(cfg, store, progress=False, open_model=scripted)
    saved = store.transcripts()
    assert 0 < len(saved) < 6 * 3
    calls = [json.loads(line) for line in (store.path / "calls.jsonl").read_text().splitlines()]
    assert {c["episode_id"] for c in calls} == {t.episode_id for t in saved}
    assert {c["role"] for c in calls} >= {"debater_a", "debater_b", "judge"}
    # the limit counts earlier sessions: the same limit refuses at once, a raised one finishes
    with pytest.raises(OversightError, match="cost limit"):
        llm_debate.run(cfg, store, progress=False, open_model=scripted)
    assert len(store.transcripts()) == len(saved)
    more = cfg.model_copy(update={"cost_limit": 1e9})
    store.check_config(more.model_dump(mode="json"))  # a resume may change the limit
    llm_debate.run(more, store, progress=False, open_model=scripted)
    assert len(store.transcripts()) == 6 * 3
    unpriced = quick_config(cost_limit=1.0, judge_model="acme/unpriced")
    with pytest.raises(OversightError, match="cost_limit: no price for acme/unpriced"):
        llm_debate.run(unpriced, RunStore(tmp_path / "r2"), progress=False, open_model=scripted)

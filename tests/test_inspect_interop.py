"""Inspect interop: LLM runs write Inspect logs; the text protocols run as Inspect tasks, with
model roles, model events in the sample and Inspect's limits reaching every call."""

from __future__ import annotations

import math

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.analysis import samples_df
from inspect_ai.log import read_eval_log
from inspect_ai.model import get_model

from oversight.core.jsonl import read_jsonl
from oversight.core.runs import RunStore
from oversight.experiments import llm_debate
from oversight.experiments.config import dump_yaml
from oversight.experiments.llm_debate.config import Data, LLMDebateConfig
from oversight.models import ModelCall, ScriptedModel, mock_output

JUDGMENT = '<probability answer="A">0.8</probability><probability answer="B">0.2</probability>'


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "inspect-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _reply(prompt: str) -> str:
    """Speakers argue; the judge always puts 0.8 on A (right exactly when A is correct)."""
    return JUDGMENT if "<probability answer=" in prompt else "<argument>see the story</argument>"


def test_llm_run_writes_one_inspect_log_per_protocol(tmp_path):
    cfg = LLMDebateConfig(
        protocols=["debate-sequential", "direct"], rounds=1, data=Data(stories=3), batch=4
    )
    store = RunStore(tmp_path / "run")
    store.create(dump_yaml(cfg))
    llm_debate.run(cfg, store, progress=False, open_model=lambda n: ScriptedModel(_reply, n))
    transcripts = store.transcripts()
    calls = list(read_jsonl(store.path / "calls.jsonl", ModelCall))
    for arm in ("debate-sequential", "direct"):
        log = read_eval_log(str(store.path / "inspect" / f"{arm}.eval"), resolve_attachments=True)
        mine = {t.episode_id: t for t in transcripts if t.arm == arm}
        assert log.status == "success" and {s.id for s in log.samples} == set(mine)
        right = 0
        for s in log.samples:
            t = mine[s.id]
            correct = t.gold.info["correct"]
            assert s.target == "AB"[correct]
            assert s.scores["judge_correct"].value == ("C" if correct == 0 else "I")
            assert s.scores["p_correct"].value == pytest.approx(0.8 if correct == 0 else 0.2)
            right += correct == 0
            events = [(e.role, e.input[0].text) for e in s.events if e.event == "model"]
            assert events == [(c.role, c.prompt) for c in calls if c.episode_id == s.id]
            assert {r for r, _ in events} == (
                {"debater_a", "debater_b", "judge"} if arm != "direct" else {"judge"}
            )
        accuracy = log.results.scores[0].metrics["accuracy"].value
        assert accuracy == pytest.approx(right / len(mine))
    frame = samples_df(str(store.path / "inspect"))
    assert len(frame) == len(transcripts)


def test_unread_judgments_score_no_answer_in_the_log(tmp_path):
    cfg = LLMDebateConfig(protocols=["direct"], data=Data(stories=2), batch=4)
    store = RunStore(tmp_path / "run")
    store.create(dump_yaml(cfg))
    llm_debate.run(cfg, store, progress=False, open_model=lambda n: ScriptedModel(str, n))
    log = read_eval_log(str(store.path / "inspect" / "direct.eval"))
    assert {s.scores["judge_correct"].value for s in log.samples} == {"N"}
    assert all(math.isnan(s.scores["p_correct"].value) for s in log.samples)
    assert math.isnan(log.results.scores[0].metrics["accuracy"].value)


def _mock(text_of):
    return get_model(
        "mockllm/model",
        custom_outputs=lambda input, tools, choice, config: mock_output(text_of(input[-1].text)),
    )


def test_protocols_run_as_inspect_tasks_with_model_roles(tmp_path):
    speaker = _mock(lambda p: "<argument>the story says so</argument>")
    judge = get_model(
        "mockllm/judge",
        custom_outputs=lambda input, tools, choice, config: mock_output(
            JUDGMENT, model="mockllm/judge"
        ),
    )
    (log,) = inspect_eval(
        "oversight/consultancy",
        model=speaker,
        model_roles={"judge": judge},
        task_args={"stories": 2, "rounds": 1},
        log_dir=str(tmp_path / "logs"),
        display="none",
    )
    assert log.status == "success", log.error
    assert len(log.samples) == 2 * 4  # 2 stories x (2 answer orders x proposed right / wrong)
    values = []
    for s in log.samples:
        models = [e.model for e in s.events if e.event == "model"]
        assert models.count("mockllm/model") == 1  # the consultant's one round
        assert set(models) == {"mockllm/model", "mockllm/judge"}
        score = s.scores["judge_correct"]
        assert score.value == ("C" if s.target == "A" else "I")
        assert score.metadata["p_correct"] == pytest.approx(0.8 if s.target == "A" else 0.2)
        assert s.metadata["verdict"]["shown"] == s.choices
        values.append(score.value == "C")
    accuracy = log.results.scores[0].metrics["accuracy"].value
    assert accuracy == pytest.approx(sum(values) / len(values))


def test_inspect_limits_reach_the_protocols_model_calls(tmp_path):
    (log,) = inspect_eval(
        "oversight/debate",
        model=_mock(lambda p: "<argument>one two three four five</argument>"),
        task_args={"stories": 1, "rounds": 1},
        log_dir=str(tmp_path / "logs"),
        display="none",
        token_limit=3,
    )
    assert log.status == "success"
    assert {s.limit.type for s in log.samples if s.limit} == {"token"}
    assert {s.scores["judge_correct"].value for s in log.samples} == {"N"}

"""The local Hugging Face path, offline: a tiny randomly initialised GPT-2 and a tokenizer
trained on the spot, saved to disk; a protocol played with it through Inspect's ``hf/``
provider (``model_path``: nothing downloaded); a reward model trained with TRL's
RewardTrainer on the preference data an LLM-debate run exports."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForSequenceClassification,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedTokenizerFast,
)
from typer.testing import CliRunner

from oversight.agents.llm import LLMSpeaker
from oversight.cli import app
from oversight.core.runs import RunStore
from oversight.envs.text.env import displays
from oversight.envs.text.stories import StoryConfig, generate_stories
from oversight.experiments import llm_debate
from oversight.experiments.config import dump_yaml
from oversight.experiments.llm_debate.config import Data, LLMDebateConfig
from oversight.experiments.skeleton import main
from oversight.judges.llm import LLMJudge
from oversight.learning.export import PREFERENCE_FILE, PreferenceRow, read_rows
from oversight.learning.hf_reward import RewardTraining, split_by_prompt, train_reward_model
from oversight.models import InspectModel, ModelSettings, mock_output
from oversight.protocols.engine import Episode, run_protocol
from oversight.protocols.text import text_protocol

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "inspect-cache"))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A 2-layer GPT-2 with 32-dimensional states and a byte-level BPE tokenizer trained on
    a few generated stories."""
    path = tmp_path_factory.mktemp("tiny-gpt2")
    corpus = [it.source + " " + it.question for it in generate_stories(StoryConfig(), 20)]
    corpus += ["Which answer is correct? Reply with the letter only (A, B). A B"]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<unk>", "<eos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(corpus, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<eos>", pad_token="<eos>", unk_token="<unk>"
    )
    tokenizer.save_pretrained(path)
    eos = tokenizer.eos_token_id
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=2048,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=eos,
        eos_token_id=eos,
        pad_token_id=eos,
    )
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(path)
    return path


def test_protocol_runs_on_a_local_hf_model(tiny_model):
    settings = ModelSettings(model_args={"model_path": str(tiny_model), "device": "cpu"})
    model = InspectModel("hf/tiny-gpt2", settings)
    speaker = LLMSpeaker(model, max_tokens=8)
    judge = LLMJudge(model, probs="logprobs")
    (item,) = generate_stories(StoryConfig(answers=2), 1)
    parts = [p for _, p in displays("debate-sequential", item)]
    episodes = [Episode(f"e{i}", p.problem, p.artifact, p.context) for i, p in enumerate(parts)]
    proto = text_protocol("debate-sequential", rounds=1)
    transcripts = run_protocol(proto, episodes, {r: speaker for r in proto.roles}, judge)
    assert len(transcripts) == 2
    for t in transcripts:
        assert [m.role for m in t.messages] == ["debater_a", "debater_b"]
        assert all(m.claim.compute_spent > 0 for m in t.messages)  # tokens were generated
        assert t.checks[0].args == {"model": "hf/tiny-gpt2", "mode": "logprobs"}
        # An untrained model may or may not put an option letter among its top tokens.
        assert t.verdict.rule in ("llm_logprobs", "llm_parse_failure")
        assert sum(t.verdict.probs) == pytest.approx(1.0)


def judging_script(input, tools, tool_choice, config):
    """A mock judge that prefers the answer of the debater who quoted (A) and speakers who
    argue with a quote."""
    prompt = input[-1].text
    if "one tag per answer" in prompt:
        return mock_output(
            '<probability answer="A">0.8</probability><probability answer="B">0.2</probability>'
        )
    return mock_output("<argument>My answer is right.</argument>")


def scripted_run(tmp_path: Path) -> RunStore:
    """An LLM-debate run (4 stories, sequential debate) judged by :func:`judging_script`."""
    cfg = LLMDebateConfig(protocols=["debate-sequential"], rounds=1, data=Data(stories=4))
    store = RunStore(tmp_path / "run")
    store.create(dump_yaml(cfg))

    def scripted(name: str) -> InspectModel:
        return InspectModel(name, ModelSettings(model_args={"custom_outputs": judging_script}))

    main(llm_debate.experiment(scripted), cfg, store, progress=False)
    return store


def test_train_reward_model_on_exported_preferences(tiny_model, tmp_path):
    store = scripted_run(tmp_path)
    data = store.path / PREFERENCE_FILE
    rows = read_rows(data, PreferenceRow)
    assert len(rows) == 2 * 4  # per story: A over B in each answer order, distinct texts
    out = tmp_path / "rm"
    result = CliRunner().invoke(
        app,
        ["train-rm", str(data), "--model", str(tiny_model), "--out", str(out),
         "--steps", "3", "--batch-size", "4"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    train, held = split_by_prompt(rows, 0.2, 0)
    assert held and not {r.prompt for r in train} & {r.prompt for r in held}
    # at its defaults every training pair is kept (the length comes from the data)
    assert f"trained on {len(train)} of 8 pairs for 3 steps ({len(held)} held out" in result.output
    assert "the longest in the data; 0 pairs cut" in result.output
    reward = AutoModelForSequenceClassification.from_pretrained(out)
    assert reward.config.num_labels == 1

    # a length shorter than the pairs cuts their prompts; the trainer still keeps them all
    short = train_reward_model(
        data, tiny_model, tmp_path / "short", RewardTraining(steps=1, max_length=16)
    )
    assert short.trained == len(train) and short.truncated == len(train)
    assert short.length_from == "--max-length" and short.heldout == len(held)
    assert 0 <= short.heldout_accuracy <= 1

    missing = CliRunner().invoke(
        app, ["train-rm", str(tmp_path / "none.jsonl"), "--model", str(tiny_model), "--out", "x"]
    )
    assert missing.exit_code == 2 and "no such file" in missing.output
    bad_model = CliRunner().invoke(
        app, ["train-rm", str(data), "--model", str(tmp_path / "nowhere"), "--out", "x"]
    )
    assert bad_model.exit_code == 2 and "--model" in bad_model.output


def test_train_reward_model_on_conversational_rows(tiny_model, tmp_path):
    """Conversational rows train through the chat template when the tokenizer has one, as
    joined turns when it has none; either way every pair is kept."""
    import shutil

    from transformers import AutoTokenizer

    from oversight.learning.export import conversational, write_rows

    store = scripted_run(tmp_path)
    rows = read_rows(store.path / PREFERENCE_FILE, PreferenceRow)
    chat = write_rows(tmp_path / "chat.jsonl", [conversational(r) for r in rows])
    settings = RewardTraining(steps=1, heldout=0.25)
    plain = train_reward_model(chat, tiny_model, tmp_path / "rm-plain", settings)
    assert plain.format == "conversational (no chat template: turns joined)"
    assert plain.trained + plain.heldout == len(rows) and plain.truncated == 0

    templated = tmp_path / "tiny-chat"
    shutil.copytree(tiny_model, templated)
    tokenizer = AutoTokenizer.from_pretrained(templated)
    tokenizer.chat_template = (
        "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    tokenizer.save_pretrained(templated)
    result = train_reward_model(chat, templated, tmp_path / "rm-chat", settings)
    assert result.format == "conversational (the tokenizer's chat template)"
    assert result.trained + result.heldout == len(rows)

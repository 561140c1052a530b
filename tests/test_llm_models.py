"""Model access: batched fan-out, Inspect's mock model offline, its cache, usage, prices,
errors as one line, and the prompt templates."""

from __future__ import annotations

import asyncio
import time

import pytest
from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessageAssistant,
    Logprob,
    Logprobs,
    TopLogprob,
)

from oversight.core.errors import OversightError
from oversight.models import (
    InspectModel,
    ModelSettings,
    Sampling,
    ScriptedModel,
    UsageLedger,
    generate_batch,
    load_prices,
    mock_output,
)
from oversight.models.base import Generation
from oversight.models.prices import PRICES_ENV, PriceTable
from oversight.prompts import PromptSet


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    """Inspect's cache in a fresh folder per test; nothing may be downloaded."""
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "inspect-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_batch_keeps_order_and_runs_concurrently():
    model = ScriptedModel(lambda p: p.upper(), latency=0.05)
    start = time.perf_counter()
    out = generate_batch(model, [f"p{i}" for i in range(40)])
    elapsed = time.perf_counter() - start
    assert [g.text for g in out] == [f"P{i}" for i in range(40)]
    assert elapsed < 0.5  # 40 calls of 50 ms one after another would take 2 s


def test_batch_works_inside_a_running_event_loop():
    async def notebook_cell() -> list[Generation]:
        return generate_batch(ScriptedModel(lambda p: "ok"), ["a", "b"])

    assert [g.text for g in asyncio.run(notebook_cell())] == ["ok", "ok"]


def test_failed_batch_raises_and_records_nothing():
    def script(prompt: str) -> str:
        if prompt == "bad":
            raise OversightError("provider down")
        return "fine"

    ledger = UsageLedger()
    with pytest.raises(OversightError, match="provider down"):
        generate_batch(ScriptedModel(script), ["ok", "bad", "ok"], ledger=ledger)
    assert ledger.by_model == {}


def test_mock_model_offline_cached_on_rerun_and_counted():
    model = InspectModel("mockllm/model")
    ledger = UsageLedger(load_prices().cost)
    first = generate_batch(model, ["one two three", "four"], ledger=ledger)
    assert first[0].text == "Default output from mockllm/model"
    assert not any(g.cached for g in first)
    assert first[0].input_tokens == 3  # usage carried by the output: no tokenizer needed
    again = generate_batch(model, ["one two three", "four", "new"], ledger=ledger)
    assert [g.cached for g in again] == [True, True, False]
    u = ledger.by_model["mockllm/model"]
    assert (u.calls, u.cached, u.cost, u.priced) == (5, 2, 0.0, True)
    assert u.input_tokens == 3 + 1 + 1  # cached calls add no tokens


def test_cache_off_and_scripted_outputs_per_prompt():
    calls = []

    def script(input, tools, tool_choice, config):
        calls.append(input[-1].text)
        return mock_output(f"echo {input[-1].text}")

    settings = ModelSettings(cache=False, model_args={"custom_outputs": script})
    model = InspectModel("mockllm/model", settings)
    out = generate_batch(model, ["x", "y", "x"])
    assert [g.text for g in out] == ["echo x", "echo y", "echo x"]
    assert sorted(calls) == ["x", "x", "y"]  # nothing served from a cache


def test_draws_of_one_prompt_keep_distinct_cache_entries():
    replies = iter(["first draw", "second draw"])

    def script(input, tools, tool_choice, config):
        return mock_output(next(replies))

    model = InspectModel("mockllm/model", ModelSettings(model_args={"custom_outputs": script}))
    draws = [Sampling(sample=k) for k in range(2)]
    fresh = generate_batch(model, ["same prompt", "same prompt"], draws)
    assert sorted(g.text for g in fresh) == ["first draw", "second draw"]
    assert not any(g.cached for g in fresh)
    # A new model (nothing left in its script) is served both draws from the cache, unchanged.
    again = generate_batch(
        InspectModel("mockllm/model", ModelSettings()), ["same prompt"] * 2, draws
    )
    assert [g.text for g in again] == [g.text for g in fresh]
    assert all(g.cached for g in again)
    with pytest.raises(ValueError, match="2 sampling settings for 1 prompts"):
        generate_batch(model, ["one"], draws)


def test_sampled_calls_are_cached_only_on_request_and_scopes_keep_seeds_apart():
    hot = [Sampling(temperature=1.0)]
    model = InspectModel("mockllm/model")
    generate_batch(model, ["warm"], hot)
    assert not generate_batch(model, ["warm"], hot)[0].cached  # sampled anew
    opted = InspectModel("mockllm/model", ModelSettings(cache_sampled=True))
    generate_batch(opted, ["hot"], hot)
    assert generate_batch(opted, ["hot"], hot)[0].cached
    # the same prompt under another seed's scope is a new call; under its own, a cache hit
    seed0 = InspectModel("mockllm/model", scope={"seed": "0"})
    generate_batch(seed0, ["scoped"])
    assert generate_batch(seed0, ["scoped"])[0].cached
    assert not generate_batch(InspectModel("mockllm/model", scope={"seed": "1"}), ["scoped"])[
        0
    ].cached


def test_logprobs_and_refusals_come_through():
    lp = Logprob(
        token="A",
        logprob=-0.1,
        top_logprobs=[TopLogprob(token="A", logprob=-0.1), TopLogprob(token=" B", logprob=-2.0)],
    )

    def script(input, tools, tool_choice, config):
        assert config.logprobs and config.top_logprobs == 5
        choice = ChatCompletionChoice(
            message=ChatMessageAssistant(content="A"),
            stop_reason="content_filter",
            logprobs=Logprobs(content=[lp]),
        )
        return mock_output("A", choices=[choice])

    model = InspectModel("mockllm/model", ModelSettings(model_args={"custom_outputs": script}))
    (g,) = generate_batch(model, ["q"], Sampling(top_logprobs=5))
    assert g.logprobs == ({"A": -0.1, " B": -2.0},)
    assert g.refused


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("gpt-4o", "PROVIDER/MODEL"),
        ("nosuchprovider/model", "unknown provider 'nosuchprovider'"),
        ("openai/gpt-4o-mini", "OPENAI_API_KEY"),
    ],
)
def test_bad_model_names_and_missing_keys_are_one_clear_line(name, message, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(OversightError, match=message) as e:
        InspectModel(name)
    assert "\n" not in str(e.value) and "[bold]" not in str(e.value)


def test_provider_error_mid_call_is_one_line():
    def script(input, tools, tool_choice, config):
        raise RuntimeError("503 Service Unavailable\nretry later")

    settings = ModelSettings(max_retries=0, model_args={"custom_outputs": script})
    model = InspectModel("mockllm/model", settings)
    with pytest.raises(OversightError, match="provider error: 503 Service Unavailable retry"):
        generate_batch(model, ["q"])


def test_connection_failure_names_the_url_and_the_cause():
    settings = ModelSettings(
        max_retries=0,
        timeout=5,
        cache=False,
        model_args={"base_url": "http://127.0.0.1:9/v1", "api_key": "none"},  # nothing listens
    )
    with pytest.raises(OversightError) as e:
        generate_batch(InspectModel("openai/gpt-4o-mini", settings), ["q"])
    message = str(e.value)
    assert "RetryError" not in message and "Future" not in message
    assert "calling http://127.0.0.1:9/v1" in message and "ConnectionRefusedError" in message


def test_prices_prefix_lookup_override_and_bad_file(tmp_path, monkeypatch):
    table = load_prices()
    assert table.cost("openai/gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert table.cost("mockllm/anything", 10, 10) == 0.0
    assert table.cost("someone/unknown", 10, 10) is None
    mine = tmp_path / "prices.yaml"
    mine.write_text("openai/gpt-4o-mini: {input: 1, output: 2}\nacme/*: {input: 3, output: 0}\n")
    monkeypatch.setenv(PRICES_ENV, str(mine))
    table = load_prices()
    assert table.cost("openai/gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(3.0)
    assert table.cost("acme/x", 1_000_000, 5) == pytest.approx(3.0)
    mine.write_text("acme/x: {input: -1}\n")
    with pytest.raises(OversightError, match="entry 'acme/x' must be"):
        load_prices()
    with pytest.raises(OversightError, match="no such file"):
        load_prices(tmp_path / "missing.yaml")


def test_ledger_marks_unpriced_models():
    ledger = UsageLedger(PriceTable({}).cost)
    ledger.record(Generation(text="x", model="acme/x", input_tokens=5, output_tokens=1))
    total = ledger.total()
    assert (total.calls, total.input_tokens, total.priced) == (1, 5, False)


def test_prompt_set_override_strict_and_copy(tmp_path):
    shipped = PromptSet()
    assert set(shipped.digest()) >= {"judge.j2", "debater.j2", "questioner.j2"}
    with pytest.raises(OversightError, match="'name' is undefined"):
        shipped.render("debater")
    with pytest.raises(OversightError, match="unknown prompt template 'poet'"):
        shipped.render("poet")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "judge.j2").write_text("Judge {{ transcript }}")
    custom = PromptSet(mine)
    assert custom.render("judge", transcript="T") == "Judge T"
    copied = PromptSet(custom.copy_to(tmp_path / "run" / "prompts"))
    assert copied.digest() == custom.digest() != shipped.digest()
    (mine / "poem.j2").write_text("x")
    with pytest.raises(OversightError, match="unknown template"):
        PromptSet(mine)

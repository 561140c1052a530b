"""The LLM layer's own cost, and how well it fans a batch out.

Usage::

    python benchmarks/bench_llm_overhead.py [--episodes N] [--repeats R]

(a) Toolkit overhead per protocol turn: a two-round sequential debate on N generated stories
    (both answer orders), LLM debaters and an eliciting LLM judge, against a scripted model
    that answers at once (:class:`~oversight.models.base.ScriptedModel`, no Inspect). Every
    model call is one turn: the time per call is what the toolkit spends rendering the
    prompt, fanning out, parsing the reply, verifying quotes and running the engine.
(b) The same games on Inspect's mock model (``mockllm/model``, scripted outputs carrying
    their usage, cache off): the difference to (a) is Inspect's own cost per call. Also
    Inspect alone: 1,000 calls one by one and all in flight.
(c) Fan-out: a one-round debate where every call takes 100 ms (the scripted model, then
    Inspect's mock model with an asynchronous 100 ms sleep): 64 episodes against one.
    Target: under 3 times as long.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time

from oversight.agents.llm import LLMSpeaker
from oversight.envs.text.env import displays
from oversight.envs.text.stories import StoryConfig, generate_stories
from oversight.judges.llm import LLMJudge
from oversight.models import (
    InspectModel,
    ModelSettings,
    ScriptedModel,
    UsageLedger,
    generate_batch,
    mock_output,
)
from oversight.protocols.engine import Episode, run_protocol
from oversight.protocols.text import text_protocol

SPEECH = (
    "<argument>The story settles it: <quote>The wind came off the hills and rattled the "
    "shutters.</quote> and nothing says otherwise.</argument>"
)
JUDGMENT = '<probability answer="A">0.6</probability><probability answer="B">0.4</probability>'


def reply(prompt: str) -> str:
    return JUDGMENT if "one tag per answer" in prompt else SPEECH


def episodes(n_items: int) -> list[Episode]:
    items = generate_stories(StoryConfig(answers=2), n_items)
    parts = [p for it in items for _, p in displays("debate-sequential", it)]
    return [Episode(f"e{i}", p.problem, p.artifact, p.context) for i, p in enumerate(parts)]


def play(model, n_items: int, rounds: int) -> tuple[float, int]:
    """Seconds to play the debate on ``n_items`` stories (both orders) and the calls made."""
    ledger = UsageLedger()
    speaker = LLMSpeaker(model, ledger=ledger)
    judge = LLMJudge(model, probs="elicit", ledger=ledger)
    proto = text_protocol("debate-sequential", rounds=rounds)
    eps = episodes(n_items)
    start = time.perf_counter()
    run_protocol(proto, eps, {r: speaker for r in proto.roles}, judge)
    return time.perf_counter() - start, ledger.total().calls


def best_per_call(model, n_items: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        seconds, calls = play(model, n_items, rounds=2)
        times.append(seconds / calls)
    return min(times)


def inspect_mock(latency: float = 0.0) -> InspectModel:
    async def script(input, tools, tool_choice, config):
        if latency:
            await asyncio.sleep(latency)
        return mock_output(reply(input[-1].text))

    settings = ModelSettings(
        cache=False, max_connections=256, model_args={"custom_outputs": script}
    )
    return InspectModel("mockllm/model", settings)


def inspect_alone(n: int = 1000) -> tuple[float, float]:
    """Seconds per call of Inspect's mock model: one by one, and all ``n`` in flight."""
    model = inspect_mock()
    start = time.perf_counter()
    for i in range(100):
        generate_batch(model, [f"one {i}"])
    one = (time.perf_counter() - start) / 100
    start = time.perf_counter()
    generate_batch(model, [f"many {i}" for i in range(n)])
    return one, (time.perf_counter() - start) / n


def fan_out(model, n_items: int) -> float:
    """Time for ``n_items`` x 2 episodes over the time for one, one-round debate."""
    one, _ = play(model, 1, rounds=1)  # 2 episodes (both orders): one batch
    one = min(one, play(model, 1, rounds=1)[0])
    many, _ = play(model, n_items, rounds=1)
    return many / one


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--episodes", type=int, default=64, help="Episodes in a batch (even).")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    n_items = max(1, args.episodes // 2)
    os.environ.setdefault("INSPECT_CACHE_DIR", tempfile.mkdtemp(prefix="inspect-cache-"))

    scripted = ScriptedModel(reply)
    play(scripted, 2, rounds=1)  # warm-up: templates compiled, loop thread started
    toolkit = best_per_call(scripted, n_items, args.repeats)
    mock = inspect_mock()
    play(mock, 2, rounds=1)
    with_inspect = best_per_call(mock, n_items, args.repeats)
    one, amortized = inspect_alone()
    ms = 1e3
    print(
        f"(a) toolkit overhead per turn, scripted model, {2 * n_items} episodes: "
        f"{toolkit * ms:.3f} ms (target well under 1 ms)"
    )
    print(
        f"(b) per turn on Inspect's mock model: {with_inspect * ms:.3f} ms, "
        f"of which Inspect {(with_inspect - toolkit) * ms:.3f} ms"
    )
    print(
        f"    Inspect's mock model alone: {one * ms:.2f} ms per call one by one, "
        f"{amortized * ms:.2f} ms amortized over 1,000 in flight"
    )
    r_scripted = fan_out(ScriptedModel(reply, latency=0.1), n_items)
    r_inspect = fan_out(inspect_mock(latency=0.1), n_items)
    print(
        f"(c) 100 ms per call, {2 * n_items} episodes vs 2 (one batch each): "
        f"{r_scripted:.2f}x scripted, {r_inspect:.2f}x on Inspect's mock model (target < 3x)"
    )
    print(
        f"ratios: toolkit per turn / 1 ms = {toolkit * ms:.3f}; "
        f"Inspect mock per turn / toolkit per turn = {with_inspect / toolkit:.1f}"
    )


if __name__ == "__main__":
    main()

"""What the toolkit needs from a language model, independent of how it is reached.

A :class:`ChatModel` turns one prompt into one :class:`Generation` (text, token usage, whether
the answer came from a cache, log-probabilities when asked for). :func:`generate_batch` fans a
batch of prompts out concurrently and waits for all of them; it is the only place the
toolkit's synchronous, batched interfaces (``Agent.act``, ``Judge.rule``) meet asyncio.
:class:`UsageLedger` counts calls, cached calls, tokens and cost per model.

Models reached through Inspect live in :mod:`oversight.models.inspect_api`; :class:`ScriptedModel`
answers from a Python function, with no provider and no Inspect, for offline checks and for
measuring the toolkit's own overhead.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from oversight.core.errors import OversightError

T = TypeVar("T")


class Sampling(BaseModel):
    """Per-call generation settings the toolkit sets (everything else is the provider's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0)
    top_logprobs: int = Field(0, ge=0, le=20, description="0: no log-probabilities.")
    sample: int = Field(
        0,
        ge=0,
        description="Which of several draws for the same prompt (best-of-n): each draw gets "
        "its own cache entry, so a rerun served from the cache keeps n distinct replies.",
    )


@dataclass(frozen=True)
class Generation:
    """One model reply. ``logprobs`` holds, per output token, the top alternatives
    (token -> log-probability, the emitted token included) when they were asked for and the
    provider returned them, else ``None``. ``refused`` is set when the provider reports a
    content filter stop."""

    text: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached: bool = False
    refused: bool = False
    logprobs: tuple[dict[str, float], ...] | None = None


class ChatModel(Protocol):
    """Anything that answers a prompt asynchronously."""

    name: str

    async def generate(self, prompt: str, sampling: Sampling) -> Generation: ...


@dataclass
class ModelUsage:
    """Totals for one model. ``cost`` counts uncached calls only (a cache hit is free)."""

    calls: int = 0
    cached: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    priced: bool = True

    def add(self, other: ModelUsage) -> None:
        self.calls += other.calls
        self.cached += other.cached
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost += other.cost
        self.priced = self.priced and other.priced


class ModelCall(BaseModel):
    """One model call as a run keeps it (``calls.jsonl``): which episode and role asked, the
    prompt, the reply and its settings. Inspect logs are written from these."""

    model_config = ConfigDict(extra="forbid")

    episode_id: str
    role: str
    model: str
    prompt: str
    completion: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached: bool = False
    refused: bool = False
    sampling: Sampling = Field(default_factory=Sampling)


class CostLimitReached(OversightError):
    """A run's spending reached its cost limit before a model call."""


@dataclass
class UsageLedger:
    """Calls, cached calls, tokens and cost per model name, priced by ``price`` (a function of
    model name, input and output tokens returning dollars, or None when the model has no
    price).

    ``cost_limit`` (dollars) stops further calls once ``spent_before`` plus the cost recorded
    here reaches it (:meth:`check_limit`, called before every batch). ``calls``, when a list,
    keeps every call that names its episode (see :func:`generate_batch`)."""

    price: Callable[[str, int, int], float | None] | None = None
    by_model: dict[str, ModelUsage] = field(default_factory=dict)
    cost_limit: float | None = None
    spent_before: float = 0.0
    calls: list[ModelCall] | None = None

    def check_limit(self) -> None:
        """Raise :class:`CostLimitReached` when the spending has reached ``cost_limit``."""
        if self.cost_limit is None:
            return
        spent = self.spent_before + self.total().cost
        if spent >= self.cost_limit:
            raise CostLimitReached(
                f"cost limit ${self.cost_limit:.4f} reached (${spent:.4f} spent)"
            )

    def flush(self) -> tuple[dict[str, ModelUsage], list[ModelCall]]:
        """Hand over and forget the usage and calls recorded so far; their cost still counts
        toward ``cost_limit``."""
        usage, calls = self.by_model, self.calls or []
        self.spent_before += sum(u.cost for u in usage.values())
        self.by_model = {}
        if self.calls is not None:
            self.calls = []
        return usage, calls

    def record(self, g: Generation) -> None:
        u = self.by_model.setdefault(g.model, ModelUsage())
        u.calls += 1
        if g.cached:
            u.cached += 1
            return
        u.input_tokens += g.input_tokens
        u.output_tokens += g.output_tokens
        cost = self.price(g.model, g.input_tokens, g.output_tokens) if self.price else None
        if cost is None:
            u.priced = False
        else:
            u.cost += cost

    def total(self) -> ModelUsage:
        out = ModelUsage()
        for u in self.by_model.values():
            out.add(u)
        return out

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: vars(u).copy() for name, u in sorted(self.by_model.items())}


class ScriptedModel:
    """A model that answers with ``script(prompt)`` after ``latency`` seconds, without any
    provider or Inspect: for offline runs, tests and measuring the toolkit's own overhead.
    Token counts are whitespace-separated words."""

    def __init__(
        self,
        script: Callable[[str], str],
        name: str = "scripted/model",
        latency: float = 0.0,
    ):
        self.script = script
        self.name = name
        self.latency = latency

    async def generate(self, prompt: str, sampling: Sampling) -> Generation:
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        text = self.script(prompt)
        return Generation(
            text=text,
            model=self.name,
            input_tokens=len(prompt.split()),
            output_tokens=len(text.split()),
        )


def generate_batch(
    model: ChatModel,
    prompts: Sequence[str],
    sampling: Sampling | Sequence[Sampling] | None = None,
    ledger: UsageLedger | None = None,
    episodes: Sequence[str] | None = None,
    role: str = "",
) -> list[Generation]:
    """Answer every prompt, all of them in flight at once (the model's own connection limit
    still applies), and return the replies in prompt order. ``sampling`` is one setting for
    all prompts or one per prompt. Callable from synchronous code, including code that runs
    inside an event loop (a notebook). The first failure is raised after the batch stops;
    nothing is recorded in ``ledger`` for a failed batch. ``ledger``'s cost limit is checked
    first; ``episodes`` (one id per prompt) and ``role`` name the calls it keeps."""
    if sampling is None or isinstance(sampling, Sampling):
        settings = [sampling or Sampling()] * len(prompts)
    else:
        settings = list(sampling)
        if len(settings) != len(prompts):
            raise ValueError(f"{len(settings)} sampling settings for {len(prompts)} prompts")
    if episodes is not None and len(episodes) != len(prompts):
        raise ValueError(f"{len(episodes)} episode ids for {len(prompts)} prompts")
    if ledger is not None:
        ledger.check_limit()

    async def batch() -> list[Generation]:
        # A task group, not gather: when one call fails the others are cancelled, not left
        # running (and billing) on the shared loop.
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(model.generate(p, s))
                    for p, s in zip(prompts, settings, strict=True)
                ]
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return [t.result() for t in tasks]

    out = run_async(batch())
    if ledger is not None:
        for g in out:
            ledger.record(g)
        if ledger.calls is not None and episodes is not None:
            ledger.calls += [
                ModelCall(
                    episode_id=e,
                    role=role,
                    model=g.model,
                    prompt=p,
                    completion=g.text,
                    input_tokens=g.input_tokens,
                    output_tokens=g.output_tokens,
                    cached=g.cached,
                    refused=g.refused,
                    sampling=s,
                )
                for e, p, s, g in zip(episodes, prompts, settings, out, strict=True)
            ]
    return out


class _LoopThread:
    """One event loop on a daemon thread that lives as long as the process. Provider clients
    (HTTP connection pools) bind to the loop they were first used on, so every batch must run
    on the same loop; a fresh ``asyncio.run`` per batch would close it under them."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="oversight-models", daemon=True
        )
        self.thread.start()


_loop: _LoopThread | None = None
_loop_lock = threading.Lock()


def run_async(coro: Coroutine[Any, Any, T] | Awaitable[T]) -> T:
    """Run ``coro`` to completion on the models' event loop and return its result."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = _LoopThread()
    return asyncio.run_coroutine_threadsafe(_as_coroutine(coro), _loop.loop).result()


async def _as_coroutine(aw: Awaitable[T]) -> T:
    return await aw

"""Models reached through Inspect's model API (``inspect_ai.model``): every provider Inspect
supports, by ``PROVIDER/MODEL`` name (``openai/gpt-4o-mini``, ``anthropic/...``,
``vllm/...``, ``ollama/...``, ``hf/...`` for local Hugging Face models, ``mockllm/model``).

Inspect does the work: caching (its on-disk cache, keyed by model, prompt and generate config;
``INSPECT_CACHE_DIR`` moves it), retries, connection limits and token usage. This module adds
what the toolkit's batched agents need: one :class:`~oversight.models.base.Generation` per call,
whether it was served from Inspect's cache (counted through Inspect's model-usage hooks), and
errors as one line saying what to fix.

``mockllm/model`` with no scripted outputs answers Inspect's default text; the outputs carry
their token usage so that Inspect never fetches a tokenizer to count them (it would download
one), so the mock model runs offline.
"""

from __future__ import annotations

import contextvars
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from oversight.core.errors import OversightError
from oversight.models.base import Generation, Sampling

MOCK_TEXT = "Default output from mockllm/model"
PROVIDERS_HELP = (
    "model names are PROVIDER/MODEL for a provider Inspect supports, e.g. openai/gpt-4o-mini, "
    "anthropic/claude-3-5-haiku-latest, vllm/..., ollama/..., hf/... (local), mockllm/model "
    "(offline); see https://inspect.aisi.org.uk/providers.html"
)

# The per-call record Inspect's usage hooks mark as cached or not. Hooks run inside the same
# task as the call, so a context variable reaches exactly the call that triggered them.
_CALL: contextvars.ContextVar[dict[str, bool] | None] = contextvars.ContextVar(
    "oversight_model_call", default=None
)
_hook_registered = False


class ModelSettings(BaseModel):
    """How calls to one model are made (Inspect's caching, retries and connection limit)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cache: bool = Field(True, description="Serve repeated calls from Inspect's cache.")
    cache_sampled: bool = Field(
        False,
        description="Cache calls at a temperature above 0 too (a rerun then repeats the same "
        "draws instead of sampling anew). A temperature left unset counts as unsampled.",
    )
    cache_expiry: str | None = Field(
        None, description="How long cached replies live, e.g. '1W', '3D'; None: forever."
    )
    max_connections: int = Field(64, ge=1, description="Calls in flight at once, per model.")
    max_retries: int | None = Field(None, ge=0, description="None: Inspect's default.")
    timeout: int | None = Field(None, ge=1, description="Seconds per call; None: no limit.")
    base_url: str | None = Field(
        None, description="The provider's URL (an OpenAI-style server, say); None: its default."
    )
    model_args: dict[str, Any] = Field(
        default_factory=dict,
        description="Provider arguments for Inspect's get_model, e.g. model_path for hf/.",
    )

    def merged(self, override: ModelSettings | None) -> ModelSettings:
        """These settings with the fields ``override`` sets explicitly replacing them."""
        if override is None:
            return self
        return self.model_copy(update=override.model_dump(exclude_unset=True))


class InspectModel:
    """A :class:`~oversight.models.base.ChatModel` backed by ``inspect_ai.model.get_model``."""

    def __init__(
        self,
        name: str,
        settings: ModelSettings | None = None,
        scope: dict[str, str] | None = None,
        model: Any = None,
    ):
        """``scope`` keys the cache entries beyond model, prompt and settings (e.g. the run's
        seed, so that runs with other seeds draw their own replies). ``model``: an Inspect
        ``Model`` already opened (inside an Inspect eval, the one bound to a role), used as is
        instead of opening ``name``."""
        from inspect_ai.model import CachePolicy, GenerateConfig

        self.name = name
        self.settings = settings or ModelSettings()
        self.scope = dict(scope or {})
        s = self.settings
        config = GenerateConfig(
            max_connections=s.max_connections, max_retries=s.max_retries, timeout=s.timeout
        )
        if model is None:
            self._model = _open(name, config, dict(s.model_args), s.base_url)
        else:
            self._model = model
            _register_usage_hook()
        self._cache: Any = CachePolicy(expiry=s.cache_expiry) if s.cache else False

    async def generate(self, prompt: str, sampling: Sampling) -> Generation:
        from inspect_ai.model import GenerateConfig
        from inspect_ai.util import LimitExceededError

        config = GenerateConfig(
            max_tokens=sampling.max_tokens,
            temperature=sampling.temperature,
            logprobs=True if sampling.top_logprobs else None,
            top_logprobs=sampling.top_logprobs or None,
        )
        call: dict[str, bool] = {}
        token = _CALL.set(call)
        try:
            cache = self._cache
            sampled = bool(sampling.temperature)  # None (the provider's default) or 0: not
            if sampled and not self.settings.cache_sampled:
                cache = False
            scopes = self.scope | ({"sample": str(sampling.sample)} if sampling.sample else {})
            if cache and scopes:
                cache = cache.model_copy(update={"scopes": scopes})
            out = await self._model.generate(prompt, config=config, cache=cache)
        except LimitExceededError:
            raise  # an Inspect eval's token or cost limit: Inspect ends the sample
        except Exception as e:
            raise OversightError(f"model {self.name}: provider error: {describe(e)}") from e
        finally:
            _CALL.reset(token)
        usage = out.usage
        return Generation(
            text=out.completion,
            model=self.name,
            input_tokens=usage.input_tokens if usage else 0,
            output_tokens=usage.output_tokens if usage else 0,
            cached=call.get("cached", False),
            refused=out.stop_reason == "content_filter",
            logprobs=_logprobs(out),
        )


def mock_output(text: str, model: str = "mockllm/model", **fields: Any) -> Any:
    """An Inspect ``ModelOutput`` with ``text`` that carries its token usage (words), so that
    Inspect's mock model needs no tokenizer. ``fields`` set other ``ModelOutput`` fields
    (e.g. ``choices`` with log-probabilities)."""
    from inspect_ai.model import ModelOutput, ModelUsage

    out = ModelOutput.from_content(model, text)
    for k, v in fields.items():
        setattr(out, k, v)
    n = len(text.split())
    out.usage = ModelUsage(input_tokens=0, output_tokens=n, total_tokens=n)
    return out


def _default_mock(input: list[Any], tools: list[Any], tool_choice: Any, config: Any) -> Any:
    """Inspect's default mock reply, with its usage set (input words counted)."""
    out = mock_output(MOCK_TEXT)
    n_in = sum(len(m.text.split()) for m in input)
    out.usage.input_tokens = n_in
    out.usage.total_tokens += n_in
    return out


def _open(name: str, config: Any, model_args: dict[str, Any], base_url: str | None) -> Any:
    """``get_model`` with its errors (unknown provider, missing package or API key, model files
    not found) turned into one line naming the model and what to do."""
    from inspect_ai.model import get_model

    if "/" not in name:
        raise OversightError(f"model {name!r}: {PROVIDERS_HELP}")
    if "base_url" in model_args:  # also accepted among the provider arguments
        given = model_args.pop("base_url")
        if base_url is not None and given != base_url:
            raise OversightError(
                f"model {name!r}: base_url is set twice ({base_url!r} and model_args "
                f"{given!r}); keep one"
            )
        base_url = given
    if name.startswith("mockllm/") and "custom_outputs" not in model_args:
        model_args["custom_outputs"] = _default_mock
    try:
        model = get_model(name, config=config, base_url=base_url, memoize=False, **model_args)
    except Exception as e:
        msg = one_line(e)
        if "API_KEY" in msg:
            msg += " Set the provider's API key in the environment and run again."
        elif "not recognized" in msg:
            msg = f"unknown provider {name.split('/')[0]!r}; {PROVIDERS_HELP}"
        raise OversightError(f"model {name!r}: {msg}") from None
    _register_usage_hook()
    return model


def _register_usage_hook() -> None:
    """Register, once, the Inspect hook that tells cached calls from provider calls.

    Registered after the first ``get_model``: Inspect lists the hooks it finds at its first
    model start-up, and this one is an implementation detail, not worth a banner."""
    global _hook_registered
    if _hook_registered:
        return
    from inspect_ai.hooks import Hooks, ModelCacheUsageData, ModelUsageData, hooks

    @hooks(name="oversight_cache_counter", description="Counts cached model calls.")
    class _CacheCounter(Hooks):
        def enabled(self) -> bool:
            return _CALL.get() is not None

        async def on_model_usage(self, data: ModelUsageData) -> None:
            call = _CALL.get()
            if call is not None:
                call["cached"] = False

        async def on_model_cache_usage(self, data: ModelCacheUsageData) -> None:
            call = _CALL.get()
            if call is not None:
                call["cached"] = True

    _hook_registered = True


def _logprobs(out: Any) -> tuple[dict[str, float], ...] | None:
    if not out.choices or out.choices[0].logprobs is None:
        return None
    positions = []
    for lp in out.choices[0].logprobs.content:
        alts = {t.token: t.logprob for t in (lp.top_logprobs or [])}
        alts.setdefault(lp.token, lp.logprob)
        positions.append(alts)
    return tuple(positions)


_RICH_MARKUP = re.compile(r"\[/?(?:bold|italic|blue|red|green|yellow|bright_black|dim)\]")


def error_chain(e: BaseException) -> list[BaseException]:
    """``e`` and the errors behind it: a tenacity ``RetryError``'s last attempt, then causes
    and contexts, down to the first (a refused connection, say)."""
    chain = [e]
    while True:
        attempt = getattr(e, "last_attempt", None)  # tenacity.RetryError
        inner = attempt.exception() if attempt is not None and attempt.failed else None
        nxt = inner or e.__cause__ or e.__context__
        if nxt is None or any(nxt is c for c in chain):
            return chain
        chain.append(nxt)
        e = nxt


def describe(e: BaseException) -> str:
    """One line for a failed call: what failed, the URL it was calling when an error in the
    chain knows it, and the cause at the bottom of the chain."""
    chain = error_chain(e)
    urls = [getattr(getattr(c, "request", None), "url", None) for c in chain]
    url = next((u for u in urls if u is not None), None)
    # tenacity's own message is a repr of a Future: say what it wraps instead
    named = [c for c in chain if type(c).__name__ != "RetryError"]
    if not named:
        return one_line(e)
    text = one_line(named[0])
    if named[-1] is not named[0]:
        text += f"; caused by {type(named[-1]).__name__}: {one_line(named[-1])}"
    return text + (f" (calling {url})" if url is not None else "")


def one_line(e: BaseException) -> str:
    """An exception's message on one line, without Inspect's terminal markup."""
    text = _RICH_MARKUP.sub("", str(e)) or type(e).__name__
    text = re.sub(r"\bERROR:\s*", "", text)
    return " ".join(text.split())

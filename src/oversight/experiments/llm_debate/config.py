"""Config schema of the LLM-debate experiment: text protocols played by language models."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from oversight.core.config import Seed, Strict
from oversight.envs.text.loaders import FORMATS
from oversight.envs.text.stories import StoryConfig
from oversight.experiments.tournaments import TournamentConfig, VariantConfig
from oversight.models.inspect_api import ModelSettings
from oversight.protocols.text import TEXT_PROTOCOLS

ROLE_KEYS = ("debater_model", "consultant_model", "critic_model", "questioner_model", "judge_model")
"""Per-role model keys; each falls back to ``model``. ``critic_model`` plays critique-assisted
judging's answerer and critic; ``questioner_model`` (the consultancy judge's questions) falls
back to ``judge_model`` first."""


PARTS = tuple(k.removesuffix("_model") for k in ROLE_KEYS)
"""The parts a model key names: debater, consultant, critic, questioner, judge."""


class Data(Strict):
    """The items: generated stories (offline), or a file (QuALITY, GPQA or plain JSONL)."""

    stories: int = Field(20, ge=1, description="Generated stories, when no path is given.")
    knobs: StoryConfig = Field(default_factory=StoryConfig)
    path: str | None = Field(None, description="QuALITY / GPQA / JSONL file instead of stories.")
    format: str = Field("auto", description="File format: " + ", ".join(FORMATS))
    limit: int | None = Field(None, ge=1, description="Use the first N items of the file.")

    @field_validator("format")
    @classmethod
    def _format(cls, v: str) -> str:
        if v not in FORMATS:
            raise ValueError(f"unknown format {v!r}; allowed: {', '.join(FORMATS)}")
        return v


def _model_name(key: str, name: str | None) -> None:
    if name is not None and "/" not in name:
        raise ValueError(f"{key}: {name!r} is not PROVIDER/MODEL (e.g. openai/gpt-4o-mini)")


class Variant(VariantConfig):
    """A debater of the tournament: a model, a prompt set and best-of-n."""

    model: str | None = Field(None, description="PROVIDER/MODEL; None: the run's debater model.")
    prompts: str | None = Field(
        None, description="Folder of templates replacing the run's (e.g. its debater.j2)."
    )
    debater_template: str | None = Field(
        None, description="Jinja text replacing debater.j2 (after prompts)."
    )
    best_of_n: int = Field(1, ge=1, le=64, description="Candidates per speech; the judge picks.")
    scorer_model: str | None = Field(
        None, description="Model judging best-of-n candidates; None: the run's judge model."
    )


class Tournament(TournamentConfig[Variant]):
    """Cross-play between debater variants: every ordered pair of distinct variants debates
    the first ``games_per_pair / 2`` items in both answer orders, so each variant argues the
    correct answer and the wrong one equally often, as debater A and as debater B."""

    games_per_pair: int = Field(4, ge=2, description="Games per ordered pair (even).")

    @model_validator(mode="after")
    def _check(self) -> Tournament:
        if self.games_per_pair % 2:
            raise ValueError(
                f"tournament.games_per_pair must be even (both answer orders of each item), "
                f"got {self.games_per_pair}"
            )
        for i, v in enumerate(self.variants):
            _model_name(f"tournament.variants.{i}.model", v.model)
            _model_name(f"tournament.variants.{i}.scorer_model", v.scorer_model)
        return self


class LLMDebateConfig(Strict):
    experiment: Literal["llm-debate"] = "llm-debate"
    seed: Seed = 0
    model: str = Field(
        "mockllm/model", description="PROVIDER/MODEL for every role (Inspect's names)."
    )
    debater_model: str | None = None
    consultant_model: str | None = None
    critic_model: str | None = None
    questioner_model: str | None = None
    judge_model: str | None = None
    settings: ModelSettings = Field(default_factory=ModelSettings)
    role_settings: dict[str, ModelSettings] = Field(
        default_factory=dict,
        description="Per part (debater, consultant, critic, questioner, judge): the settings "
        "keys it sets replace those of settings, e.g. judge: {model_args: {model_path: ...}} "
        "for a local hf/ judge beside API debaters, or debater: {base_url: ...}.",
    )
    judge_probs: Literal["auto", "logprobs", "elicit"] = Field(
        "auto", description="Judge probabilities from log-probabilities or elicited as numbers."
    )
    protocols: list[str] = Field(default_factory=lambda: list(TEXT_PROTOCOLS))
    rounds: int = Field(2, ge=1, le=20, description="Rounds of debate and of consultancy.")
    word_limit: int = Field(150, ge=10, description="Words per speech, as the prompt asks.")
    max_tokens: int = Field(600, ge=16, description="Tokens per speech (the speakers may think).")
    judge_max_tokens: int = Field(512, ge=16, description="Tokens per elicited judgment.")
    temperature: float | None = Field(
        None, ge=0, description="Sampling temperature; None: the provider's default."
    )
    prices: str | None = Field(None, description="Price file overriding the shipped table.")
    cost_limit: float | None = Field(
        None,
        gt=0,
        description="Dollars the run may spend over all its sessions; no model call starts "
        "once they are spent (finished episodes stay saved). Needs a price for every model.",
    )
    prompts: str | None = Field(None, description="Folder of templates replacing shipped ones.")
    data: Data = Field(default_factory=Data)
    batch: int = Field(16, ge=1, description="Episodes per batch: the unit saved to disk.")
    bootstrap: int = Field(1000, ge=10)
    warn_failure_rate: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Share of judgments unparsed or refused above which the terminal summary "
        "and the report warn.",
    )
    tournament: Tournament = Field(default_factory=Tournament)

    @field_validator("protocols")
    @classmethod
    def _protocols(cls, v: list[str]) -> list[str]:
        bad = [p for p in v if p not in TEXT_PROTOCOLS]
        if bad or not v:
            raise ValueError(f"unknown protocol(s) {bad}; allowed: {', '.join(TEXT_PROTOCOLS)}")
        return list(dict.fromkeys(v))

    @field_validator("role_settings")
    @classmethod
    def _parts(cls, v: dict[str, ModelSettings]) -> dict[str, ModelSettings]:
        bad = sorted(set(v) - set(PARTS))
        if bad:
            raise ValueError(f"unknown part(s) {bad}; allowed: {', '.join(PARTS)}")
        return v

    @model_validator(mode="after")
    def _names(self) -> LLMDebateConfig:
        for key in ("model", *ROLE_KEYS):
            _model_name(key, getattr(self, key))
        t = self.tournament
        if t.enabled and self.data.path is None and t.games_per_pair > 2 * self.data.stories:
            raise ValueError(
                f"tournament.games_per_pair ({t.games_per_pair}) needs "
                f"{t.games_per_pair // 2} items; data.stories is {self.data.stories}"
            )
        return self

    def role_model(self, part: str) -> str:
        """The model name for ``part`` (debater, consultant, critic, questioner or judge)."""
        if part == "questioner":
            return self.questioner_model or self.judge_model or self.model
        return getattr(self, f"{part}_model") or self.model

    def role_models(self) -> list[str]:
        """Every model name the run may call: each part's, the tournament's variants' and
        scorers'."""
        names = [self.role_model(p) for p in PARTS]
        if self.tournament.enabled:
            for v in self.tournament.variants:
                names.append(v.model or self.role_model("debater"))
                if v.best_of_n > 1:
                    names.append(v.scorer_model or self.role_model("judge"))
        return names

    def role_settings_for(self, part: str) -> ModelSettings:
        """The model settings for ``part``: ``settings`` with the part's overrides (the
        questioner falls back to the judge's, as its model does)."""
        own = self.role_settings.get(part)
        if own is None and part == "questioner":
            own = self.role_settings.get("judge")
        return self.settings.merged(own)

"""Model prices: a YAML table shipped with the package that the user can override.

Prices are US dollars per million input and output tokens. A user file (path given to
:func:`load_prices`, or in the environment variable :data:`PRICES_ENV`) has the same format; its
entries replace the shipped ones of the same name and add new ones.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oversight.core.errors import OversightError

PRICES_ENV = "OVERSIGHT_PRICES"


class Price(BaseModel):
    """Dollars per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)


class PriceTable:
    """Prices by model name; ``PREFIX*`` keys cover every model with that prefix."""

    def __init__(self, prices: dict[str, Price]):
        self.prices = dict(prices)

    def lookup(self, model: str) -> Price | None:
        """The price of ``model``: its own entry, else the longest matching ``PREFIX*``."""
        if model in self.prices:
            return self.prices[model]
        matches = [k for k in self.prices if k.endswith("*") and model.startswith(k[:-1])]
        return self.prices[max(matches, key=len)] if matches else None

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        """Dollars for one call, or None when the model has no price."""
        p = self.lookup(model)
        if p is None:
            return None
        return (input_tokens * p.input + output_tokens * p.output) / 1e6


def shipped_prices_path() -> Path:
    return Path(str(resources.files("oversight.models") / "prices.yaml"))


def read_price_file(path: str | Path) -> dict[str, Price]:
    """Entries of one price file; errors name the file and the entry."""
    path = Path(path)
    if not path.is_file():
        raise OversightError(f"prices: no such file {str(path)!r}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise OversightError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise OversightError(f"{path}: a price file maps model names to {{input, output}}")
    out = {}
    for name, entry in data.items():
        try:
            out[str(name)] = Price.model_validate(entry)
        except ValidationError:
            raise OversightError(
                f"{path}: entry {name!r} must be {{input: DOLLARS, output: DOLLARS}} per million "
                f"tokens, both 0 or more; got {entry!r}"
            ) from None
    return out


def load_prices(user_file: str | Path | None = None) -> PriceTable:
    """The shipped table, overridden by ``user_file``, else by the file in ``$OVERSIGHT_PRICES``."""
    prices = read_price_file(shipped_prices_path())
    override = user_file or os.environ.get(PRICES_ENV)
    if override:
        prices |= read_price_file(override)
    return PriceTable(prices)

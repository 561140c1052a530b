"""Configs: YAML files validated by pydantic, overridable with ``--set key=value``.

Every error names the offending key and what is allowed, without a traceback.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError

from oversight.core.errors import OversightError

M = TypeVar("M", bound=BaseModel)


def embedded_configs() -> dict[str, Path]:
    """Configs shipped with the package, by name (file stem)."""
    folder = resources.files("oversight.experiments") / "defaults"
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".yaml")}


def read_yaml(source: str | Path | None, default: str) -> dict[str, Any]:
    """A config mapping from a file path, an embedded config's name, or the default."""
    embedded = embedded_configs()
    name = str(source) if source is not None else default
    path = embedded.get(name, Path(name))
    if not path.exists():
        raise OversightError(
            f"no config file {name!r}; embedded configs: {', '.join(sorted(embedded))}"
        )
    if not path.is_file():
        raise OversightError(f"{path}: a folder, not a config file")
    return parse_config(path.read_bytes(), str(path))


def parse_config(raw: bytes | str, where: str) -> dict[str, Any]:
    """A config mapping from YAML (bytes or text); one-line :class:`OversightError` naming
    ``where`` (and the line) when it is not UTF-8, not YAML, or not a mapping."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as e:
        raise OversightError(f"{where}: not UTF-8 text (byte {e.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise OversightError(f"{where}: not valid YAML{at}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise OversightError(f"{where}: a config must be a mapping of keys to values")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (values parsed as YAML) to a nested mapping."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise OversightError(f"--set takes KEY=VALUE, got {item!r}")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise OversightError(f"--set {key}: {part!r} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return data


def _allowed_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    current: Any = model
    for part in loc[:-1]:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = current.model_fields.get(str(part))
        if field is None:
            return []
        current = field.annotation
        for arg in get_args(current) or ():
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                current = arg
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return []


def validation_message(error: ValidationError, model: type[BaseModel]) -> str:
    """One line naming each bad key: what is wrong and the value given (never a whole
    mapping: a cross-field rule's input is the config itself)."""
    parts = []
    for e in error.errors():
        key = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, e["loc"])
            parts.append(f"unknown key {key!r}; allowed keys here: {', '.join(allowed)}")
            continue
        message = e["msg"].removeprefix("Value error, ")
        given = e.get("input")
        shown = repr(given)
        if not key:  # a rule across fields: its message names the keys
            parts.append(message)
        elif given is None or len(shown) > 60 or shown in message:
            parts.append(f"{key}: {message}")
        else:
            parts.append(f"{key}: {message} (got {shown})")
    return "invalid config: " + "; ".join(parts)


def validate(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise OversightError(validation_message(e, model)) from None


def dump_yaml(config: BaseModel) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)

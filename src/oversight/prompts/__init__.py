"""Prompt templates (Jinja) for LLM agents and judges, kept in files beside this module.

One template per speaking part: ``debater``, ``consultant``, ``critic``, ``questioner`` and
``judge`` (``_story.j2`` is included by the speakers'). A :class:`PromptSet` reads them from
the shipped folder, with any file of the same name in a user folder taking its place; a run
copies the set it used into its folder (``prompts/``) and a resumed run reads them from there,
so the prompts are versioned with the run's config.
"""

from __future__ import annotations

import hashlib
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from oversight.core.errors import OversightError

TEMPLATES = ("debater", "consultant", "critic", "questioner", "judge")
SUFFIX = ".j2"


def shipped_folder() -> Path:
    return Path(str(resources.files("oversight.prompts")))


class PromptSet:
    """The templates of one run: the shipped ones, each replaced by a file of the same name
    in ``override`` when there is one."""

    def __init__(self, override: str | Path | None = None):
        import jinja2

        self.files = {p.name: p for p in shipped_folder().glob(f"*{SUFFIX}")}
        if override is not None:
            folder = Path(override)
            if not folder.is_dir():
                raise OversightError(f"prompts: no such folder {str(folder)!r}")
            unknown = [p.name for p in folder.glob(f"*{SUFFIX}") if p.name not in self.files]
            if unknown:
                raise OversightError(
                    f"prompts: unknown template(s) {', '.join(sorted(unknown))} in {folder}; "
                    f"allowed: {', '.join(sorted(self.files))}"
                )
            self.files |= {p.name: p for p in folder.glob(f"*{SUFFIX}")}
        sources = {name: path.read_text() for name, path in self.files.items()}
        self.env = jinja2.Environment(
            loader=jinja2.DictLoader(sources),
            undefined=jinja2.StrictUndefined,  # a misspelt variable fails, not renders empty
            keep_trailing_newline=False,
            autoescape=False,
        )
        self._compiled: dict[str, Any] = {}

    def render(self, template: str, **variables: Any) -> str:
        """Render ``template`` (a name in :data:`TEMPLATES`) with ``variables``."""
        import jinja2

        if template not in self._compiled:
            if template + SUFFIX not in self.files:
                raise OversightError(
                    f"unknown prompt template {template!r}; allowed: {', '.join(TEMPLATES)}"
                )
            self._compiled[template] = self.env.get_template(template + SUFFIX)
        try:
            return self._compiled[template].render(**variables).strip()
        except jinja2.TemplateError as e:
            raise OversightError(f"prompt template {template}{SUFFIX}: {e}") from None

    def digest(self) -> dict[str, str]:
        """A short content hash per template file, for the report."""
        return {
            name: hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            for name, path in sorted(self.files.items())
        }

    def copy_to(self, folder: str | Path) -> Path:
        """Write every template into ``folder`` (created) so the set can be read back from it."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        for name, path in self.files.items():
            shutil.copyfile(path, out / name)
        return out

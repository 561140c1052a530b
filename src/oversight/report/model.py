"""The content of a report: tables, figures, sections, independent of how they are rendered.

Experiments build a :class:`Report` from these dataclasses; :mod:`oversight.report.html` turns it
into one self-contained HTML file and :meth:`Table.to_text` into Markdown for the README. Nothing
here knows about any particular experiment.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real

MISSING = "–"
"""What a missing value (None, NaN) is shown as."""

FLAGS = frozenset({"good", "bad", "formula"})
"""Allowed :attr:`Cell.flag` values; each maps to a CSS class of the same name."""

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# A number, optionally followed by an uncertainty ("0.12 ± 0.03", "0.12 [0.10, 0.14]",
# "0.12 (n=40)"): such cells are right-aligned like plain numbers.
_NUMERIC_RE = re.compile(
    r"^\s*[-+−]?(\d[\d,]*\.?\d*|\.\d+)(e[-+]?\d+)?\s*%?(\s*[±\[(].*)?\s*$", re.IGNORECASE
)


@dataclass
class Cell:
    """A table cell with presentation hints.

    ``flag`` (one of :data:`FLAGS`) highlights the cell, e.g. ``"formula"`` for a measured rate
    that matches its closed-form prediction; ``title`` becomes a hover tooltip.
    """

    text: str
    flag: str | None = None
    title: str | None = None

    def __post_init__(self) -> None:
        if self.flag is not None and self.flag not in FLAGS:
            raise ValueError(f"Cell flag must be one of {sorted(FLAGS)}, got {self.flag!r}")


def format_number(x: float) -> str:
    """Format a float to three significant digits, without switching to ``1e+03`` notation.

    Values of magnitude >= 100 are rounded to an integer (which keeps at least three significant
    digits); NaN is shown as :data:`MISSING`.
    """
    if math.isnan(x):
        return MISSING
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.3g}"


def format_cell(value: object) -> str:
    """The display text of one table cell or metric value.

    Strings pass through, integers print exactly, floats via :func:`format_number`, ``None`` and
    NaN as :data:`MISSING`, a :class:`Cell` as its text.
    """
    if value is None:
        return MISSING
    if isinstance(value, Cell):
        return value.text
    if isinstance(value, str):
        return value
    # bool is an Integral; "True" reads better than "1" in a table.
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        return format_number(float(value))
    return str(value)


def is_numeric(value: object) -> bool:
    """Whether a cell holds a number (or number-like text) and should be right-aligned."""
    if isinstance(value, bool):
        return False
    if isinstance(value, Real):
        return True
    if isinstance(value, Cell):
        value = value.text
    return isinstance(value, str) and bool(_NUMERIC_RE.match(value))


def _is_blank(value: object) -> bool:
    return format_cell(value) in ("", MISSING)


@dataclass
class Table:
    """A titled table; every row has one cell per column.

    Cells may be ``str``, ``int``, ``float`` (shown to three significant digits), ``None`` (shown
    as "–") or a :class:`Cell`. ``note`` is a plain-text footnote shown under the table.
    """

    title: str
    columns: list[str]
    rows: Sequence[Sequence[object]]
    note: str = ""

    def __post_init__(self) -> None:
        for i, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ValueError(
                    f"Table {self.title!r}: row {i} has {len(row)} cells, "
                    f"expected {len(self.columns)}"
                )

    def numeric_columns(self) -> list[bool]:
        """Per column, whether all its non-missing cells are numeric (so it is right-aligned)."""
        flags = []
        for j in range(len(self.columns)):
            cells = [row[j] for row in self.rows if not _is_blank(row[j])]
            flags.append(bool(cells) and all(is_numeric(c) for c in cells))
        return flags

    def to_text(self) -> str:
        """A Markdown rendering (bold title, pipe table, note) to paste into a README."""
        header = [_md_escape(c) for c in self.columns]
        body = [[_md_escape(format_cell(c)) for c in row] for row in self.rows]
        numeric = self.numeric_columns()
        # Pad columns so the table also reads well as plain text.
        widths = [max([3, len(header[j])] + [len(r[j]) for r in body]) for j in range(len(header))]

        def line(cells: list[str]) -> str:
            padded = [
                c.rjust(w) if num else c.ljust(w)
                for c, w, num in zip(cells, widths, numeric, strict=True)
            ]
            return "| " + " | ".join(padded) + " |"

        rule = "| " + " | ".join(
            "-" * (w - 1) + ":" if num else "-" * w for w, num in zip(widths, numeric, strict=True)
        )
        parts = [f"**{self.title}**", "", line(header), rule + " |"]
        parts += [line(r) for r in body]
        if self.note:
            parts += ["", self.note]
        return "\n".join(parts)


def _md_escape(text: str) -> str:
    # A pipe would end the cell and a newline the row.
    return text.replace("|", "\\|").replace("\n", " ")


@dataclass
class Figure:
    """A rendered plot: PNG bytes (e.g. from :mod:`oversight.report.plots`) and a caption."""

    title: str
    png: bytes
    caption: str = ""

    def __post_init__(self) -> None:
        # Catch a path or an SVG passed by mistake here rather than as a broken image later.
        if not self.png.startswith(PNG_SIGNATURE):
            raise ValueError(f"Figure {self.title!r}: png does not start with the PNG signature")


@dataclass
class Section:
    """A titled part of a report.

    ``text`` is plain text: paragraphs separated by blank lines, with `backtick` spans shown as
    code. It is escaped, never interpreted as HTML or Markdown.
    """

    title: str
    text: str = ""
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


@dataclass
class Report:
    """A whole report: sections, plus the resolved config (YAML text) and flat metrics."""

    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)
    config_yaml: str = ""
    metrics: dict[str, float | int | None] = field(default_factory=dict)

"""Render a :class:`~oversight.report.model.Report` as one self-contained HTML file.

The page needs nothing but itself: CSS is inline, figures are base64 ``data:`` URIs, and the
collapsible parts use ``<details>``, so no script or network access is required to read it.
The layout lives in the Jinja2 template ``templates/report.html`` (autoescaped); this module
turns the report into plain view data, so the template holds no formatting logic.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from oversight.core.files import write_atomic
from oversight.report.model import Cell, Figure, Report, Section, Table, format_cell, is_numeric

TEMPLATE_NAME = "report.html"

# `code` spans; an unmatched backtick stays literal.
_CODE_RE = re.compile(r"`([^`]+)`")
_PARAGRAPH_RE = re.compile(r"\n[ \t]*\n")


@dataclass(frozen=True)
class _CellView:
    text: str
    classes: str
    title: str | None


@dataclass(frozen=True)
class _TableView:
    title: str
    header: list[_CellView]
    rows: list[list[_CellView]]
    note: str


@dataclass(frozen=True)
class _FigureView:
    title: str
    data_uri: str
    caption: str


@dataclass(frozen=True)
class _SectionView:
    id: str
    title: str
    paragraphs: list[Markup]
    tables: list[_TableView]
    figures: list[_FigureView]


@cache
def _environment() -> jinja2.Environment:
    # PackageLoader reads the template shipped as package data, so it works from a wheel too.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("oversight.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def render_text(text: str) -> list[Markup]:
    """Plain text to escaped HTML paragraphs (split on blank lines), with `code` spans."""
    paragraphs = []
    for para in _PARAGRAPH_RE.split(text.strip()):
        if not para.strip():
            continue
        # re.split with one group alternates plain text and code content.
        pieces = _CODE_RE.split(para.strip())
        html = Markup("").join(
            Markup("<code>{}</code>").format(p) if i % 2 else escape(p)
            for i, p in enumerate(pieces)
        )
        paragraphs.append(html)
    return paragraphs


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section"


def _cell_view(value: object, numeric_column: bool) -> _CellView:
    classes = []
    if numeric_column or is_numeric(value):
        classes.append("num")
    title = None
    if isinstance(value, Cell):
        if value.flag:
            classes.append(value.flag)
        title = value.title
    return _CellView(format_cell(value), " ".join(classes), title)


def _table_view(table: Table) -> _TableView:
    numeric = table.numeric_columns()
    header = [
        _CellView(c, "num" if n else "", None) for c, n in zip(table.columns, numeric, strict=True)
    ]
    rows = [[_cell_view(v, n) for v, n in zip(row, numeric, strict=True)] for row in table.rows]
    return _TableView(table.title, header, rows, table.note)


def _figure_view(figure: Figure) -> _FigureView:
    data = base64.b64encode(figure.png).decode("ascii")
    return _FigureView(figure.title, f"data:image/png;base64,{data}", figure.caption)


def _section_view(index: int, section: Section) -> _SectionView:
    # The index keeps anchors unique even when two sections share a title.
    return _SectionView(
        id=f"s{index}-{_slug(section.title)}",
        title=section.title,
        paragraphs=render_text(section.text),
        tables=[_table_view(t) for t in section.tables],
        figures=[_figure_view(f) for f in section.figures],
    )


def render_html(report: Report) -> str:
    """The report as a complete, self-contained HTML document."""
    sections = [_section_view(i, s) for i, s in enumerate(report.sections, start=1)]
    metrics = [(k, format_cell(report.metrics[k])) for k in sorted(report.metrics)]
    return (
        _environment()
        .get_template(TEMPLATE_NAME)
        .render(
            title=report.title,
            subtitle=report.subtitle,
            sections=sections,
            config_yaml=report.config_yaml.rstrip(),
            metrics=metrics,
        )
    )


def write_report(report: Report, path: str | Path) -> Path:
    """Render ``report`` and write it to ``path`` atomically (parent folders are created);
    return the path."""
    return write_atomic(path, render_html(report))

"""Reports as data (tables, figures, sections) rendered to HTML, and the plots."""

from __future__ import annotations

from oversight.report.html import write_report
from oversight.report.model import (
    Figure,
    Report,
    Section,
    Table,
)

__all__ = [
    "Figure",
    "Report",
    "Section",
    "Table",
    "write_report",
]

"""Shared HTML report rendering: sections, tables and offline plotly figures."""

from kiln.reports._format import format_value
from kiln.reports._html import (
    Section,
    bullets,
    compact_template,
    fields,
    figure,
    grid,
    join_library,
    library_digest,
    note,
    render,
    split_library,
    table,
    write,
)
from kiln.reports._job import JobReport

__all__ = [
    "JobReport",
    "Section",
    "bullets",
    "compact_template",
    "fields",
    "figure",
    "format_value",
    "grid",
    "join_library",
    "library_digest",
    "note",
    "render",
    "split_library",
    "table",
    "write",
]

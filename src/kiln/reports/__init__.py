"""Shared HTML report rendering: sections, tables and offline plotly figures."""

from kiln.reports._html import (
    Section,
    bullets,
    fields,
    figure,
    grid,
    note,
    render,
    table,
    write,
)

__all__ = ["Section", "bullets", "fields", "figure", "grid", "note", "render", "table", "write"]

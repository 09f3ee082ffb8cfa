"""Shared HTML report rendering: sections, tables and offline plotly figures."""

from kiln.reports._html import Section, figure, render, table, write

__all__ = ["Section", "figure", "render", "table", "write"]

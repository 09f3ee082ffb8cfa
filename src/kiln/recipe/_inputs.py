"""Which columns a model reads: the default inputs plus those a recipe names."""

from __future__ import annotations

from typing import Any

from kiln.data import IDENTIFIER, TEXT
from kiln.recipe._compile import plan
from kiln.recipe._spec import Recipe

__all__ = ["model_inputs", "recipe_reads"]


def model_inputs(
    column_types: dict[str, str], reads: list[str], *, text_input: bool = False
) -> dict[str, str]:
    """The columns a model is given: text columns for text models, else all but text and
    identifier columns, plus those a recipe reads (``reads``)."""

    def default(kind: str) -> bool:
        return kind == TEXT if text_input else kind not in (TEXT, IDENTIFIER)

    return {c: t for c, t in column_types.items() if c in reads or default(t)}


def recipe_reads(recipe: Any, column_types: dict[str, str], problem_type: str | None) -> list:
    """The text or identifier columns ``recipe`` reads (the default recipe reads none)."""
    if not recipe:
        return []
    return plan(Recipe.parse(recipe), column_types, problem_type)

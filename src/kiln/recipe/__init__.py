"""Preprocessing recipes compiled into the scikit-learn Pipeline a model carries.

The default recipe (``_default``) needs no configuration; a user's recipe (``Recipe``) is a
declarative list of steps (``_spec``), fit on training rows only (``_ops``, ``_compile``).
"""

from __future__ import annotations

from typing import Any

from kiln.recipe._compile import ModelPipeline, RecipeTransformer, compile_recipe, plan
from kiln.recipe._default import build_preprocessor, build_text_preprocessor
from kiln.recipe._ops import set_pii_key
from kiln.recipe._spec import STEPS, Recipe, RecipeError

__all__ = [
    "STEPS",
    "ModelPipeline",
    "Recipe",
    "RecipeError",
    "RecipeTransformer",
    "build_preprocessor",
    "build_text_preprocessor",
    "compile_recipe",
    "model_inputs",
    "plan",
    "recipe_reads",
    "set_pii_key",
]


def model_inputs(
    column_types: dict[str, str], reads: list[str], *, text_input: bool = False
) -> dict[str, str]:
    """The columns a model is given: text columns for text models, else all but text and
    identifier columns, plus those a recipe reads (``reads``)."""
    from kiln.data._schema import IDENTIFIER, TEXT

    def default(kind: str) -> bool:
        return kind == TEXT if text_input else kind not in (TEXT, IDENTIFIER)

    return {c: t for c, t in column_types.items() if c in reads or default(t)}


def recipe_reads(recipe: Any, column_types: dict[str, str], problem_type: str | None) -> list:
    """The text or identifier columns ``recipe`` reads (the default recipe reads none)."""
    if not recipe:
        return []
    return plan(Recipe.parse(recipe), column_types, problem_type)

"""Preprocessing recipes compiled into the scikit-learn Pipeline a model carries.

The default recipe (``_default``) needs no configuration; a user's recipe (``Recipe``) is a
declarative list of steps (``_spec``), fit on training rows only (``_ops``, ``_compile``).
"""

from __future__ import annotations

from kiln.recipe._compile import ModelPipeline, RecipeTransformer, compile_recipe, plan
from kiln.recipe._default import (
    MAX_CODES,
    build_preprocessor,
    build_text_preprocessor,
    categorical_code_columns,
    native_categorical_options,
)
from kiln.recipe._fast import RowEncoder, finish_signature, probe_rows
from kiln.recipe._inputs import model_inputs, recipe_reads
from kiln.recipe._pii import pii_columns, pii_token
from kiln.recipe._preview import RecipePreview, preview
from kiln.recipe._spec import STEPS, Recipe, RecipeError

__all__ = [
    "MAX_CODES",
    "STEPS",
    "ModelPipeline",
    "Recipe",
    "RecipeError",
    "RecipePreview",
    "RecipeTransformer",
    "RowEncoder",
    "build_preprocessor",
    "build_text_preprocessor",
    "categorical_code_columns",
    "compile_recipe",
    "finish_signature",
    "model_inputs",
    "native_categorical_options",
    "pii_columns",
    "pii_token",
    "plan",
    "preview",
    "probe_rows",
    "recipe_reads",
]

"""Which columns of a fitted model are personal data, and their tokens, for what is kept of a
request outside the model (an endpoint's data capture)."""

from __future__ import annotations

from typing import Any

from kiln.recipe import _spec as s
from kiln.recipe._ops import pii_token

__all__ = ["pii_columns", "pii_token"]


def pii_columns(pipeline: Any) -> list[str]:
    """The input columns a fitted model's recipe passes through ``hash_pii`` (none for the
    default recipe, or a model whose first step is not a kiln recipe)."""
    try:
        recipe = pipeline[0]
    except (TypeError, IndexError, KeyError):
        return []
    columns: list[str] = []
    for op in getattr(recipe, "ops_", None) or []:
        if isinstance(getattr(op, "step", None), s.HashPii):
            columns += [c for c in op.columns if c not in columns]
    return columns

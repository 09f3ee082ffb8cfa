"""Preprocessing recipes compiled into the scikit-learn Pipeline a model carries."""

from kiln.recipe._default import build_preprocessor

__all__ = ["build_preprocessor"]

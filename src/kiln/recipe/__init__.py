"""Preprocessing recipes compiled into the scikit-learn Pipeline a model carries."""

from kiln.recipe._default import build_preprocessor, build_text_preprocessor

__all__ = ["build_preprocessor", "build_text_preprocessor"]

"""Scoring through a model version's compiled form (``kiln compile``), with the pipeline as the
per-request fallback.

The compiled form answers every request it can; the pipeline answers the rest, counted in
``kiln_compiled_fallbacks_total{model, reason}``: ``explain`` (SHAP attributions come from the
pipeline's estimator) and ``error`` (the compiled form raised on these rows: e.g. a value its
featurizer cannot read; the pipeline gives the answer, or the error, the model would).
"""

from __future__ import annotations

import logging

import numpy as np
from prometheus_client import CollectorRegistry, Counter

log = logging.getLogger("kiln.serving")

FALLBACK_REASONS = ("explain", "error")


def fallback_counter(registry: CollectorRegistry) -> Counter:
    """``kiln_compiled_fallbacks_total``: requests a compiled model answered through its
    pipeline, by model and reason."""
    return Counter(
        "kiln_compiled_fallbacks",
        "Requests to a compiled model version answered (in part) by its pipeline, by reason.",
        ["model", "reason"],
        registry=registry,
    )


def count_fallback(loaded, reason: str) -> None:
    """Count one request ``loaded``'s compiled form did not cover."""
    if loaded.fallbacks is not None:
        loaded.fallbacks.labels(loaded.ref, reason).inc()


def score_compiled(loaded, columns: dict[str, np.ndarray]) -> np.ndarray | None:
    """The compiled form's scores for ``columns``, or None when the pipeline must answer
    (counted)."""
    try:
        return loaded.compiled.score(columns)
    except Exception as exc:  # any failure of the compiled form: the pipeline answers
        log.debug("Compiled form of %s failed (%s); the pipeline answers", loaded.ref, exc)
        count_fallback(loaded, "error")
        return None

"""Planted faults for ``benchmarks/deployment.py``: recipe ``function`` steps that behave on the
large frames of training and misbehave on the small frames of real-time requests.

A model trained with one of them is a real registered model: it trains, cross-validates, passes
its health check (two rows built from its signature, with each column's first category) and is
deployed like any other; only in the server does it fail some requests or slow every one down.
``deployment.py`` puts this folder on ``PYTHONPATH`` for the training jobs, the deployment jobs
and ``kiln serve``, which import these functions by name when they load the model.

    recipe=[{"step": "function", "function": "deploy_faults:fail_on_mailed_check",
             "columns": ["payment_method"]}]
"""

from __future__ import annotations

import time

import pandas as pd

# Frames of at most this many rows are requests; training and cross-validation folds are larger.
SERVING_ROWS = 64
FAILING_COLUMN = "payment_method"
FAILING_VALUE = "Mailed check"  # 23 % of the churn rows; not the first category (health check)
SLEEP_SECONDS = 0.02


def fail_on_mailed_check(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns unchanged, but a request with a row paying by mailed check raises."""
    if len(frame) <= SERVING_ROWS and (frame[FAILING_COLUMN] == FAILING_VALUE).any():
        raise ValueError(f"planted fault: cannot score {FAILING_COLUMN}={FAILING_VALUE!r}")
    return frame


def slow_down(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns unchanged, after a ``SLEEP_SECONDS`` pause on every request."""
    if len(frame) <= SERVING_ROWS:
        time.sleep(SLEEP_SECONDS)
    return frame

"""A seeded generator of endpoint traffic, with or without drift: to try a monitor, an alarm and a
retraining loop before real traffic drifts (examples/retraining, the tests, the benchmarks)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["drifted_columns", "simulate_traffic"]


def drifted_columns(frame: pd.DataFrame, *, exclude: tuple[str, ...] = ()) -> list[str]:
    """The columns :func:`simulate_traffic` drifts by default: the three numeric columns with the
    most distinct values and the two categorical ones with the most categories (at least 3)."""
    candidates = frame.drop(columns=[c for c in exclude if c in frame.columns])
    numeric = [
        c for c in candidates.select_dtypes("number").columns if candidates[c].nunique() > 10
    ]
    numeric.sort(key=lambda c: -candidates[c].nunique())
    categorical = [
        c
        for c in candidates.columns
        if c not in numeric
        and not pd.api.types.is_numeric_dtype(candidates[c])
        and 3 <= candidates[c].nunique() <= 50
    ]
    categorical.sort(key=lambda c: -candidates[c].nunique())
    return numeric[:3] + categorical[:2]


def simulate_traffic(
    frame: pd.DataFrame,
    *,
    rows: int,
    drift: float = 0.0,
    columns: list[str] | None = None,
    exclude: tuple[str, ...] = (),
    seed: int = 0,
) -> pd.DataFrame:
    """``rows`` rows drawn with replacement from ``frame``; with ``drift`` > 0, the drifted
    columns moved by that strength.

    A numeric column is shifted by ``drift`` standard deviations and its spread widened by
    ``1 + drift / 2`` (kept non-negative where the column is); a categorical column has a share
    ``min(0.9, drift / 2)`` of its values replaced by its rarest category. ``drift=1`` is a change
    any monitor should flag; ``drift=0`` is a fresh draw of the same distribution, which none
    should. ``columns``: which to drift (default :func:`drifted_columns`, leaving out
    ``exclude``, e.g. the target).
    """
    rng = np.random.default_rng(seed)
    sample = frame.iloc[rng.integers(0, len(frame), size=rows)].reset_index(drop=True)
    if drift <= 0:
        return sample
    for column in columns or drifted_columns(frame, exclude=exclude):
        values = sample[column]
        if pd.api.types.is_numeric_dtype(values) and values.nunique() > 2:
            numbers = values.astype(float)
            centre, spread = numbers.mean(), numbers.std() or 1.0
            moved = centre + (numbers - centre) * (1 + drift / 2) + drift * spread
            if (frame[column].dropna() >= 0).all():
                moved = moved.clip(lower=0)
            if pd.api.types.is_integer_dtype(frame[column]) and not moved.isna().any():
                moved = moved.round().astype(frame[column].dtype)
            sample[column] = moved
        else:
            rarest = values.value_counts().index[-1]
            flip = rng.random(rows) < min(0.9, drift / 2)
            sample.loc[flip, column] = rarest
    return sample

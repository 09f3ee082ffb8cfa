"""Train/validation/test splits: stratified, time-ordered or random, always seeded."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kiln.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd  # only in annotations: opening a workspace does not load pandas


def check_ratios(ratios: tuple[float, ...]) -> tuple[float, float, float]:
    if len(ratios) != 3 or any(r < 0 for r in ratios) or ratios[0] <= 0:
        raise ConfigError(
            f"Split ratios must be three non-negative numbers train,validation,test with a "
            f"positive train share, e.g. 0.7,0.1,0.2. Got {','.join(map(str, ratios))}.",
            code="split.bad-ratios",
        )
    total = sum(ratios)
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(
            f"Split ratios must add up to 1. Got {','.join(map(str, ratios))} (sum {total:g}).",
            code="split.bad-ratios",
        )
    return tuple(ratios)  # type: ignore[return-value]


def is_classification_target(series: pd.Series) -> bool:
    if series.dtype.kind in "fc":
        return series.dropna().nunique() <= 2
    if series.dtype.kind in "iu":
        return series.nunique() <= 10
    return True


def split_frame(
    frame: pd.DataFrame,
    *,
    target: str | None,
    ratios: tuple[float, float, float],
    time_column: str | None,
    stratify: bool | None,
    seed: int,
) -> dict[str, pd.DataFrame]:
    # scikit-learn takes seconds to import: only splitting needs it.
    from sklearn.model_selection import train_test_split

    train_share, validation_share, test_share = check_ratios(ratios)
    n = len(frame)
    if n < 3:
        raise DataError(f"Cannot split {n} row(s): at least 3 are needed.", code="split.too-small")
    if time_column is not None:
        ordered = frame.sort_values(time_column, kind="stable")
        ordered = ordered.reset_index(drop=True)
        n_train = int(round(n * train_share))
        n_validation = int(round(n * validation_share))
        return {
            "train": ordered.iloc[:n_train],
            "validation": ordered.iloc[n_train : n_train + n_validation],
            "test": ordered.iloc[n_train + n_validation :],
        }
    labels = None
    if target is not None:
        if frame[target].isna().any():
            missing = int(frame[target].isna().sum())
            raise DataError(
                f"The target column {target!r} is missing in {missing} row(s). Drop or fill those "
                "rows before training (e.g. kiln data query ... WHERE target IS NOT NULL).",
                code="split.missing-target",
                field=target,
            )
        if stratify is None:
            stratify = is_classification_target(frame[target])
        if stratify:
            counts = frame[target].value_counts()
            labels = frame[target] if counts.min() >= 2 else None
    rng_state = np.random.RandomState(seed)
    indices = np.arange(n)
    holdout = validation_share + test_share
    if holdout == 0:
        return {"train": frame, "validation": frame.iloc[:0], "test": frame.iloc[:0]}
    train_idx, rest_idx = train_test_split(
        indices, test_size=holdout, random_state=rng_state, stratify=labels
    )
    if validation_share == 0 or test_share == 0:
        empty = rest_idx[:0]
        validation_idx, test_idx = (empty, rest_idx) if validation_share == 0 else (rest_idx, empty)
    else:
        rest_labels = labels.iloc[rest_idx] if labels is not None else None
        if rest_labels is not None and rest_labels.value_counts().min() < 2:
            rest_labels = None
        validation_idx, test_idx = train_test_split(
            rest_idx,
            test_size=test_share / holdout,
            random_state=rng_state,
            stratify=rest_labels,
        )
    return {
        "train": frame.iloc[np.sort(train_idx)],
        "validation": frame.iloc[np.sort(validation_idx)],
        "test": frame.iloc[np.sort(test_idx)],
    }

"""Validation strategies: hold-out and the cross-validation schemes of ``--validation``."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from sklearn import model_selection

from kiln.errors import ConfigError

STRATEGIES = (
    "holdout",
    "kfold:K",
    "stratified_kfold:K",
    "repeated_kfold:KxR",
    "loocv",
    "timeseries:K",
    "group_kfold:K",
)
MAX_LOOCV_ROWS = 1000


@dataclass(frozen=True)
class Validation:
    """A parsed ``--validation`` value."""

    kind: str
    folds: int = 0
    repeats: int = 1

    @property
    def is_cross_validation(self) -> bool:
        return self.kind != "holdout"

    def __str__(self) -> str:
        if self.kind in ("holdout", "loocv"):
            return self.kind
        if self.kind == "repeated_kfold":
            return f"{self.kind}:{self.folds}x{self.repeats}"
        return f"{self.kind}:{self.folds}"


def parse_validation(text: str | None) -> Validation:
    """``"kfold:5"`` → ``Validation("kfold", 5)``; raises ConfigError listing the valid forms."""
    text = (text or "holdout").strip().lower()
    error = ConfigError(
        f"Unknown validation strategy {text!r}. Use one of {', '.join(STRATEGIES)} "
        "(K folds from 2 up, R repeats from 1 up), e.g. kfold:5.",
        code="training.bad-validation",
        field="validation",
    )
    if text in ("holdout", "loocv"):
        return Validation(text)
    match = re.fullmatch(r"(kfold|stratified_kfold|timeseries|group_kfold):(\d+)", text)
    if match:
        folds = int(match.group(2))
        if folds < 2:
            raise error
        return Validation(match.group(1), folds)
    match = re.fullmatch(r"repeated_kfold:(\d+)x(\d+)", text)
    if match and int(match.group(1)) >= 2 and int(match.group(2)) >= 1:
        return Validation("repeated_kfold", int(match.group(1)), int(match.group(2)))
    raise error


def fold_indices(
    validation: Validation,
    *,
    n_rows: int,
    y: np.ndarray | None,
    groups: np.ndarray | None,
    seed: int,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, held-out) row positions for each fold. Rows must already be in time order for
    ``timeseries``."""
    kind = validation.kind
    if kind == "loocv":
        if n_rows > MAX_LOOCV_ROWS:
            raise ConfigError(
                f"loocv fits one model per row: {n_rows} fits here. It is meant for small data "
                f"(at most {MAX_LOOCV_ROWS} rows); use kfold:10 or repeated_kfold:5x3 instead.",
                code="training.loocv-too-large",
                field="validation",
            )
        splitter = model_selection.LeaveOneOut()
    elif kind == "kfold":
        splitter = model_selection.KFold(validation.folds, shuffle=True, random_state=seed)
    elif kind == "stratified_kfold":
        if y is None:
            raise ConfigError(
                "stratified_kfold needs a classification target; use kfold:K for regression.",
                code="training.bad-validation",
                field="validation",
            )
        smallest = int(np.bincount(y).min())
        if smallest < validation.folds:
            raise ConfigError(
                f"stratified_kfold:{validation.folds} needs at least {validation.folds} rows of "
                f"every class; the rarest class has {smallest}. Use fewer folds.",
                code="training.bad-validation",
                field="validation",
            )
        splitter = model_selection.StratifiedKFold(
            validation.folds, shuffle=True, random_state=seed
        )
    elif kind == "repeated_kfold":
        splitter = model_selection.RepeatedKFold(
            n_splits=validation.folds, n_repeats=validation.repeats, random_state=seed
        )
    elif kind == "timeseries":
        splitter = model_selection.TimeSeriesSplit(validation.folds)
    else:  # group_kfold
        distinct = len(np.unique(groups))
        if distinct < validation.folds:
            raise ConfigError(
                f"group_kfold:{validation.folds} needs at least {validation.folds} groups; the "
                f"group column has {distinct}.",
                code="training.bad-validation",
                field="validation",
            )
        splitter = model_selection.GroupKFold(validation.folds)
    if validation.folds and validation.folds > n_rows:
        raise ConfigError(
            f"{validation} needs at least {validation.folds} rows; the training data has {n_rows}.",
            code="training.bad-validation",
            field="validation",
        )
    return list(splitter.split(np.zeros(n_rows), y, groups))

"""Validation strategies: hold-out and the cross-validation schemes of ``--validation``.

One registry, ``VALIDATION_STRATEGIES``: each strategy names how it is written, which column it
needs, what it checks in the data and the scikit-learn splitter it builds. Training (and so
tuning's trials) and AutoML split rows through :func:`fold_indices`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn import model_selection

from kiln.errors import ConfigError

__all__ = [
    "MAX_LOOCV_ROWS",
    "STRATEGIES",
    "VALIDATION_STRATEGIES",
    "Validation",
    "ValidationStrategy",
    "fold_indices",
    "parse_validation",
    "register_validation",
]

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

    @property
    def strategy(self) -> ValidationStrategy:
        return VALIDATION_STRATEGIES[self.kind]

    def __str__(self) -> str:
        form = self.strategy.form
        return form.replace("KxR", f"{self.folds}x{self.repeats}").replace("K", str(self.folds))


@dataclass(frozen=True)
class ValidationStrategy:
    """A way to hold rows out.

    ``form`` is how it is written (``name``, ``name:K`` or ``name:KxR``: K folds, R repeats).
    ``needs`` names the training option it cannot do without (``time_column``,
    ``group_column``) and ``needs_why`` finishes the sentence that asks for it. ``check`` refuses
    data the splitter cannot split (before any fold is fit), and ``splitter`` builds the
    scikit-learn splitter; the hold-out strategy has none (training splits by ratios).
    """

    name: str
    form: str
    splitter: Callable[[Validation, int], object] | None = None
    check: Callable[[Validation, int, np.ndarray | None, np.ndarray | None], None] | None = None
    needs: str | None = None
    needs_why: str = ""


VALIDATION_STRATEGIES: dict[str, ValidationStrategy] = {}


def register_validation(strategy: ValidationStrategy) -> ValidationStrategy:
    VALIDATION_STRATEGIES[strategy.name] = strategy
    return strategy


def _error(message: str, code: str = "training.bad-validation") -> ConfigError:
    return ConfigError(message, code=code, field="validation")


def _check_loocv(validation: Validation, n_rows: int, y, groups) -> None:
    if n_rows > MAX_LOOCV_ROWS:
        raise _error(
            f"loocv fits one model per row: {n_rows} fits here. It is meant for small data "
            f"(at most {MAX_LOOCV_ROWS} rows); use kfold:10 or repeated_kfold:5x3 instead.",
            code="training.loocv-too-large",
        )


def _check_classes(validation: Validation, n_rows: int, y, groups) -> None:
    if y is None:
        raise _error(
            f"{validation.kind} needs a classification target; use kfold:K for regression."
        )
    smallest = int(np.bincount(y).min())
    if smallest < validation.folds:
        raise _error(
            f"{validation} needs at least {validation.folds} rows of every class; the rarest "
            f"class has {smallest}. Use fewer folds."
        )


def _check_groups(validation: Validation, n_rows: int, y, groups) -> None:
    distinct = len(np.unique(groups))
    if distinct < validation.folds:
        raise _error(
            f"group_kfold:{validation.folds} needs at least {validation.folds} groups; the "
            f"group column has {distinct}."
        )


for _strategy in (
    ValidationStrategy("holdout", "holdout"),
    ValidationStrategy(
        "kfold",
        "kfold:K",
        lambda v, seed: model_selection.KFold(v.folds, shuffle=True, random_state=seed),
    ),
    ValidationStrategy(
        "stratified_kfold",
        "stratified_kfold:K",
        lambda v, seed: model_selection.StratifiedKFold(v.folds, shuffle=True, random_state=seed),
        check=_check_classes,
    ),
    ValidationStrategy(
        "repeated_kfold",
        "repeated_kfold:KxR",
        lambda v, seed: model_selection.RepeatedKFold(
            n_splits=v.folds, n_repeats=v.repeats, random_state=seed
        ),
    ),
    ValidationStrategy(
        "repeated_stratified_kfold",
        "repeated_stratified_kfold:KxR",
        lambda v, seed: model_selection.RepeatedStratifiedKFold(
            n_splits=v.folds, n_repeats=v.repeats, random_state=seed
        ),
        check=_check_classes,
    ),
    ValidationStrategy(
        "loocv", "loocv", lambda v, seed: model_selection.LeaveOneOut(), check=_check_loocv
    ),
    ValidationStrategy(
        "timeseries",
        "timeseries:K",
        lambda v, seed: model_selection.TimeSeriesSplit(v.folds),
        needs="time_column",
        needs_why="the column that orders the rows",
    ),
    ValidationStrategy(
        "group_kfold",
        "group_kfold:K",
        lambda v, seed: model_selection.GroupKFold(v.folds),
        check=_check_groups,
        needs="group_column",
        needs_why="the column whose values must not be split across folds",
    ),
):
    register_validation(_strategy)

# How each strategy is written, for help texts and errors.
STRATEGIES = tuple(s.form for s in VALIDATION_STRATEGIES.values())


def parse_validation(text: str | None) -> Validation:
    """``"kfold:5"`` → ``Validation("kfold", 5)``; raises ConfigError listing the valid forms."""
    text = (text or "holdout").strip().lower()
    error = _error(
        f"Unknown validation strategy {text!r}. Use one of "
        f"{', '.join(s.form for s in VALIDATION_STRATEGIES.values())} "
        "(K folds from 2 up, R repeats from 1 up), e.g. kfold:5."
    )
    name, colon, argument = text.partition(":")
    strategy = VALIDATION_STRATEGIES.get(name)
    if strategy is None:
        raise error
    if strategy.form == name:
        if colon:
            raise error
        return Validation(name)
    if strategy.form.endswith(":K") and re.fullmatch(r"\d+", argument):
        if int(argument) < 2:
            raise error
        return Validation(name, int(argument))
    match = re.fullmatch(r"(\d+)x(\d+)", argument)
    if strategy.form.endswith(":KxR") and match:
        folds, repeats = int(match.group(1)), int(match.group(2))
        if folds >= 2 and repeats >= 1:
            return Validation(name, folds, repeats)
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
    strategy = validation.strategy
    if strategy.splitter is None:
        raise _error(f"{validation} is not a cross-validation strategy; it has no folds.")
    if strategy.check is not None:
        strategy.check(validation, n_rows, y, groups)
    if validation.folds and validation.folds > n_rows:
        raise _error(
            f"{validation} needs at least {validation.folds} rows; the training data has {n_rows}."
        )
    return list(strategy.splitter(validation, seed).split(np.zeros(n_rows), y, groups))

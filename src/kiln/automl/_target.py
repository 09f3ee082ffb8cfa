"""Regression target transforms AutoML searches: a model fits log(y) or a power transform of y,
and its predictions come back on y's own scale, with the bias of the back-transform corrected for
the metric optimised.

Why by hand: scikit-learn's TransformedTargetRegressor transforms the target it fits on, but not
the early-stopping rows a booster gets through its fit options, and it back-transforms without a
bias correction: exp(E[log y]) is the median of y given x, not its mean, so a log model scored by
RMSE is systematically low. Duan's smearing estimate ("Smearing estimate: a nonparametric
retransformation method", JASA 1983) corrects it: the mean prediction is the average of the
back-transform over the model's out-of-sample residuals, ``mean_i inv(z + r_i)``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

TRANSFORMS = ("none", "log", "power")
# Mean-seeking metrics get the smearing correction; MAE is minimised by the median, which the
# plain back-transform of a monotone transform already gives.
MEAN_METRICS = ("rmse", "mse", "r2")
SMEARING_POINTS = 256  # a power transform's residual quantiles (the correction's cost per row)


def target_transforms(y: np.ndarray) -> tuple[str, ...]:
    """The transforms the search may try on this target: log and Box-Cox need y > 0 (otherwise
    the power transform is Yeo-Johnson's, which takes any real y), and a transform is offered
    only when it gives y back: a constant target has no Box-Cox fit, and a nearly constant one a
    degenerate lambda whose transform maps every y to one value (every trial with it would fail
    and count against its algorithm). Empty when no transform is usable."""
    kinds = ("log", "power") if float(np.min(y)) > 0 else ("power",)
    usable = tuple(kind for kind in kinds if _round_trips(kind, y))
    return ("none", *usable) if usable else ()  # (): no target_transform dimension at all


def _round_trips(kind: str, y: np.ndarray) -> bool:
    import warnings

    # y's quantiles stand for y (a power transform's fit on 100,000 rows takes a second).
    y = np.quantile(np.asarray(y, dtype=float), np.linspace(0, 1, min(len(y), 1000)))
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            transform = TargetTransform(kind).fit(y)
            back = transform.inverse(transform.forward(y))
    except (ValueError, ArithmeticError):
        return False
    return bool(np.allclose(back, y, rtol=1e-6, atol=1e-9 * float(np.abs(y).max())))


class TargetTransform:
    """A fitted transform of the target: ``forward`` before the fit, ``inverse`` after."""

    def __init__(self, kind: str):
        if kind not in ("log", "power"):
            raise ValueError(f"unknown target transform {kind!r}")
        self.kind = kind
        self.power = None
        self.low = self.high = 0.0

    def fit(self, y: np.ndarray) -> TargetTransform:
        y = np.asarray(y, dtype=float)
        if self.kind == "power":
            from sklearn.preprocessing import PowerTransformer

            method = "box-cox" if float(y.min()) > 0 else "yeo-johnson"
            self.power = PowerTransformer(method=method).fit(y.reshape(-1, 1))
        z = self.forward(y)
        # Back-transforms of predictions far outside the training targets overflow (exp) or
        # leave the power transform's domain: predictions are kept within one range beyond them.
        spread = float(z.max() - z.min()) or 1.0
        self.low, self.high = float(z.min()) - spread, float(z.max()) + spread
        if self.kind == "power":
            # Box-Cox's and Yeo-Johnson's inverses are defined on a half-line only for some
            # lambdas (Box-Cox with lambda > 0 below -1/lambda): NaN beyond it, and values that
            # explode near it. The range stops where the back-transform leaves one range of y
            # beyond the training targets.
            span = float(y.max() - y.min()) or 1.0
            bounds = (float(y.min()) - span, float(y.max()) + span)
            self.low = self._reach(float(z.min()), self.low, bounds)
            self.high = self._reach(float(z.max()), self.high, bounds)
        return self

    def _reach(self, inside: float, outside: float, bounds: tuple[float, float]) -> float:
        """The point farthest from ``inside`` towards ``outside`` whose back-transform is finite
        and within ``bounds``; the inverse is increasing, so a grid narrows it down (three
        rounds of 64 points: to 1/262,144 of the distance, in three inverse_transform calls)."""
        for _ in range(3):
            grid = np.linspace(inside, outside, 65)
            with np.errstate(all="ignore"):
                values = self.power.inverse_transform(grid.reshape(-1, 1)).ravel()
            fine = (values >= bounds[0]) & (values <= bounds[1])  # False for NaN
            if fine.all():
                return outside
            if not fine[0]:
                return inside
            last = int(np.argmin(fine)) - 1  # fine up to the first that is not
            inside, outside = float(grid[last]), float(grid[last + 1])
        return inside

    def forward(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        if self.kind == "log":
            return np.log(y)
        return self.power.transform(y.reshape(-1, 1)).ravel()

    def inverse(self, z: np.ndarray, residuals: np.ndarray | None = None) -> np.ndarray:
        """y for transformed predictions ``z``: the median (no residuals) or, with the model's
        out-of-sample residuals, the smearing estimate of the mean."""
        z = np.asarray(z, dtype=float)
        if residuals is not None and len(residuals):
            grid = z[:, None] + np.asarray(residuals)[None, :]
            return self._inverse(grid.ravel()).reshape(grid.shape).mean(axis=1)
        return self._inverse(z)

    def _inverse(self, z: np.ndarray) -> np.ndarray:
        z = np.clip(z, self.low, self.high)
        if self.kind == "log":
            return np.exp(z)
        return self.power.inverse_transform(z.reshape(-1, 1)).ravel()


class BackTransformed(BaseEstimator):
    """A fitted regressor of the transformed target that predicts on the target's own scale.

    ``regressor`` is the model as its algorithm built it (what thread settings, SHAP values and
    best-iteration counts read); ``residuals`` are quantiles of its out-of-sample residuals on the
    transformed scale, for the smearing correction (None: the median back-transform).
    """

    def __init__(self, regressor, transform: TargetTransform, residuals=None):
        self.regressor = regressor
        self.transform = transform
        self.residuals = residuals

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def fit(self, X=None, y=None):
        """Nothing to fit: the regressor was fit by the search (scikit-learn asks for it)."""
        return self

    def predict_transformed(self, X) -> np.ndarray:
        return np.asarray(self.regressor.predict(X), dtype=float)

    def predict(self, X) -> np.ndarray:
        return self.transform.inverse(self.predict_transformed(X), self.residuals)

    def set_threads(self, threads: int) -> None:
        from kiln.registry import set_estimator_threads

        set_estimator_threads(self.regressor, threads)


def smearing_points(kind: str, residuals: np.ndarray) -> np.ndarray:
    """The residuals the back-transform averages over, in as few points as keep it exact: for
    the log, one point c = log(mean(exp(r))), since exp(z + c) = exp(z) * mean(exp(r)) is Duan's
    estimate itself; for the power transform, SMEARING_POINTS evenly spaced quantiles (the same
    count for any fold, so the folds' points can be averaged for a refit)."""
    residuals = np.asarray(residuals, dtype=float)
    if kind == "log":
        shift = residuals.max()  # log-sum-exp, stable for large residuals
        return np.array([shift + np.log(np.mean(np.exp(residuals - shift)))])
    return np.quantile(residuals, (np.arange(SMEARING_POINTS) + 0.5) / SMEARING_POINTS)


def unwrap(estimator):
    """The algorithm's own estimator under a BackTransformed wrapper (itself otherwise)."""
    return estimator.regressor if isinstance(estimator, BackTransformed) else estimator

"""Ensembles of forecasters: greedy ensemble selection on backtest forecasts, and the
:class:`EnsembleForecaster` that combines its members' forecasts with the chosen weights.

Greedy ensemble selection (Caruana, Niculescu-Mizil, Crew & Ksikes, ICML 2004): start from the
empty ensemble and, for a fixed number of rounds, add (with replacement) the candidate whose
addition gives the lowest backtest loss of the averaged forecast; a member's weight is the share
of rounds that picked it. The same weights combine the point forecast (``mean``) and every
quantile column, so the ensemble's quantiles stay ordered (a convex combination of ordered
vectors is ordered).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kiln.errors import ConfigError
from kiln.forecasting._forecaster import Forecaster, get_forecaster
from kiln.forecasting._panel import SERIES, TARGET, Panel, quantile_column

__all__ = ["EnsembleForecaster", "ENSEMBLE_METRICS", "greedy_ensemble", "ensemble_loss"]

# What the selection may optimise: WQL (all quantiles, the default) or MASE (the point forecast).
ENSEMBLE_METRICS = ("wql", "mase")
ROUNDS = 25


class EnsembleForecaster(Forecaster):
    """A weighted average of forecasters: ``members`` is a list of ``{"algorithm",
    "hyperparameters", "weight"}`` with weights summing to 1. Each member is fitted and asked on
    its own (with its own short-series fallback), and their ``mean`` and quantile columns are
    averaged with the weights."""

    name = "ensemble"

    def __init__(self, *, members: list[dict], **settings):
        weights = [float(m["weight"]) for m in members]
        if not members or min(weights) <= 0 or abs(sum(weights) - 1) > 1e-6:
            raise ConfigError(
                f"An ensemble needs members with positive weights that sum to 1; got {weights}.",
                code="forecast.bad-hyperparameter",
                field="members",
            )
        super().__init__(members=members, **settings)
        self.members = [
            get_forecaster(
                m["algorithm"],
                horizon=self.horizon,
                quantiles=self.quantiles,
                season_length=self.season_length,
                seed=self.seed,
                threads=self.threads,
                hyperparameters=m.get("hyperparameters") or {},
            )
            for m in members
        ]
        self.weights = np.asarray(weights)

    def min_length(self) -> int:
        """The shortest any member takes: each member falls back to naive on its own."""
        return min(m.min_length() for m in self.members)

    def _fit(self, panel: Panel) -> None:
        for member in self.members:
            member.fit(panel)

    def _predict(self, panel: Panel, future: pd.DataFrame) -> pd.DataFrame:
        columns = ["mean", *(quantile_column(q) for q in self.quantiles)]
        combined = np.zeros((len(future), len(columns)))
        for weight, member in zip(self.weights, self.members, strict=True):
            combined += weight * member.predict(panel, future)[columns].to_numpy(dtype=float)
        out = future.copy()
        out[columns] = combined
        return out


def ensemble_loss(forecasts: pd.DataFrame, quantiles: list[float], metric: str):
    """A function of a (rows × [mean, quantiles...]) array giving ``metric`` on ``forecasts``'
    rows (which carry ``y``, ``series`` and ``scale``): the same WQL and MASE as
    :func:`kiln.forecasting.score_forecasts`, vectorised because the selection scores hundreds
    of trial ensembles."""
    y = forecasts[TARGET].to_numpy(dtype=float)
    if metric == "wql":
        levels = np.asarray(quantiles, dtype=float)
        total = float(np.abs(y).sum()) or 1.0

        def wql(values: np.ndarray) -> float:
            diff = y[:, None] - values[:, 1:]
            pinball = 2 * np.maximum(levels * diff, (levels - 1) * diff)
            return float(pinball.sum() / len(levels) / total)

        return wql
    codes, _ = pd.factorize(forecasts[SERIES])
    scale = forecasts["scale"].to_numpy(dtype=float)

    def mase(values: np.ndarray) -> float:
        scaled = np.abs(y - values[:, 0]) / scale
        finite = np.isfinite(scaled)
        sums = np.bincount(codes[finite], weights=scaled[finite], minlength=codes.max() + 1)
        counts = np.bincount(codes[finite], minlength=codes.max() + 1)
        scored = counts > 0
        return float(np.mean(sums[scored] / counts[scored])) if scored.any() else float("inf")

    return mase


def greedy_ensemble(
    predictions: list[np.ndarray], loss, *, rounds: int = ROUNDS
) -> tuple[np.ndarray, float]:
    """(weights, loss of the weighted forecast) by greedy selection with replacement over
    ``predictions`` (each rows × [mean, quantiles...], aligned row by row)."""
    counts = np.zeros(len(predictions))
    current = np.zeros_like(predictions[0])
    best = float("inf")
    for done in range(rounds):
        scores = [loss((current * done + p) / (done + 1)) for p in predictions]
        pick = int(np.argmin(scores))
        counts[pick] += 1
        current = (current * done + predictions[pick]) / (done + 1)
        best = scores[pick]
    return counts / rounds, best

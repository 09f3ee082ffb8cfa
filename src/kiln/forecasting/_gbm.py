"""A global LightGBM forecaster: one gradient-boosted tree model learnt across all series.

Each row is one step of one series; its features are what is known one step before it: the
series' lagged values and rolling means and deviations of recent values, the calendar of the
step (day of week, month, ...), the known-in-advance covariates at the step, the series' static
attributes (text as categories) and the series' scale. Every series is divided by its scale (the
mean absolute value of its last values) so that a small shop and a large one share one model;
forecasts are multiplied back.

Multi-step forecasts are **recursive**: the model predicts step 1, that prediction becomes
step 2's lag 1, and so on. One model serves every horizon (a direct model per step would train
``horizon`` models), and the lags a step sees are the same as in training.

With ``differences=k`` the model learns the change from ``k`` steps before (scaled) instead of
the level: 1 for the change from the previous step, the season's length for the change from the
same point a season earlier. Trees cannot predict outside the values they were trained on, so a
level model flattens a trend at its last seen level, where a model of changes carries it on (as
mlforecast's differencing target transform, which AutoGluon's recursive tabular model applies at
the season's lag).

Quantiles are **residual quantiles** (split-conformal, per horizon step): ``fit`` first learns on
the panel without its last ``horizon`` steps, forecasts those steps recursively, and keeps the
scaled errors, each divided by its series' width (how large that series' errors run); each
quantile of a step is the point forecast plus that quantile of the errors at that step times
the series' width, so the spread grows with the step as the recursion's errors do and is wider
for a volatile series than for a smooth one. LightGBM's own
quantile objective under-covers (an 80% interval covered 72% of points in kiln's research,
/work/notes/forecasting-research.md section 5); calibrated residuals are near nominal by
construction. The model is then refitted on every step.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kiln.errors import ConfigError
from kiln.forecasting._forecaster import Forecaster, SeasonalNaive
from kiln.forecasting._panel import SERIES, STEP, TARGET, TIMESTAMP, Panel, quantile_column
from kiln.forecasting._statistical import refuse_unknown

__all__ = ["LightGBM"]

# Calendar features of the forecast step, kept when they vary in the training data.
CALENDAR = {
    "hour": lambda t: t.dt.hour,
    "day_of_week": lambda t: t.dt.day_of_week,
    "day_of_month": lambda t: t.dt.day,
    "week_of_year": lambda t: t.dt.isocalendar().week.astype("int64"),
    "month": lambda t: t.dt.month,
    "quarter": lambda t: t.dt.quarter,
}
# Below this many calibration errors at one step, the steps' errors are pooled, each divided by
# the square root of its step (the spread of a random walk), and scaled back per step.
PER_STEP_FROM = 50
# A series' error width (see LightGBM._measure_widths) is at least this share of the median one.
WIDTH_FLOOR = 0.25


def _whole_numbers(name: str, values, low: int) -> list[int]:
    if (
        not isinstance(values, list | tuple)
        or not values
        or any(isinstance(v, bool) or not isinstance(v, int) or v < low for v in values)
    ):
        raise ConfigError(
            f"LightGBM's {name} must be a list of whole numbers of {low} or more; got {values!r}.",
            code="forecast.bad-hyperparameter",
            field=name,
        )
    return sorted(set(values))


class LightGBM(Forecaster):
    """One LightGBM regressor over all series (see the module docstring).

    Hyperparameters: ``n_estimators`` (300), ``learning_rate`` (0.05), ``num_leaves`` (31),
    ``lags`` (default 1..season and 2, 3, 4 seasons, up to half the typical series length),
    ``windows`` (default one and four seasons) of the rolling means and deviations, and
    ``differences`` (0: learn the level; k: the change from k steps before)."""

    name = "lightgbm"
    uses_covariates = True
    is_global = True
    # What a model saved before these settings existed reads (it learnt levels, one width).
    differences = 0
    series_widths = None

    def __init__(
        self,
        *,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        lags: list[int] | None = None,
        windows: list[int] | None = None,
        differences: int = 0,
        **settings,
    ):
        super().__init__(**settings)
        refuse_unknown(self.name, self.hyperparameters)
        for field, value, low in (("n_estimators", n_estimators, 1), ("num_leaves", num_leaves, 2)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(
                    f"LightGBM's {field} must be a whole number of {low} or more; got {value!r}.",
                    code="forecast.bad-hyperparameter",
                    field=field,
                )
        if isinstance(differences, bool) or not isinstance(differences, int) or differences < 0:
            raise ConfigError(
                f"LightGBM's differences must be a whole number of steps: 0 to learn the level, "
                f"k to learn the change from k steps before; got {differences!r}.",
                code="forecast.bad-hyperparameter",
                field="differences",
            )
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, int | float):
            learning_rate = -1
        if not 0 < learning_rate <= 1:
            raise ConfigError(
                f"LightGBM's learning_rate must be a number in (0, 1]; got {learning_rate!r}.",
                code="forecast.bad-hyperparameter",
                field="learning_rate",
            )
        self.n_estimators = n_estimators
        self.learning_rate = float(learning_rate)
        self.num_leaves = num_leaves
        self.lags = None if lags is None else _whole_numbers("lags", lags, 1)
        self.windows = None if windows is None else _whole_numbers("windows", windows, 2)
        self.differences = differences
        self.hyperparameters = {
            "n_estimators": n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": num_leaves,
            "lags": self.lags,
            "windows": self.windows,
            "differences": differences,
        }

    def min_length(self) -> int:
        """The problem's rule, and for a model of changes over more steps than a season, those
        steps and the horizon (a shorter series has no change to start from)."""
        return max(super().min_length(), self.differences + self.horizon)

    # --- features -------------------------------------------------------------------------

    def _choose_features(self, panel: Panel) -> None:
        """The lags, windows, calendar fields, statics' categories and covariates to use."""
        m = max(self.season_length, 2)
        typical = int(panel.lengths().median()) if len(panel.frame) else m
        limit = max(m, typical // 2)
        if self.lags is None:
            seasons = [k * self.season_length for k in (2, 3, 4)] if self.season_length > 1 else []
            self.used_lags = [lag for lag in [*range(1, m + 1), *seasons] if lag <= limit]
        else:
            self.used_lags = list(self.lags)
        if self.windows is None:
            self.used_windows = [w for w in (m, 4 * m) if w <= limit] or [m]
        else:
            self.used_windows = list(self.windows)
        times = panel.frame[TIMESTAMP]
        self.calendar = [name for name, field in CALENDAR.items() if field(times).nunique() > 1]
        self.covariates = list(panel.covariates)
        self.static = panel.static.copy()
        self.categories: dict[str, list] = {}
        for column in self.static.columns:
            values = self.static[column]
            if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
                self.categories[column] = sorted(values.dropna().astype(str).unique().tolist())

    def _scales(self, frame: pd.DataFrame) -> pd.Series:
        """Each series' scale: the mean absolute value of its last (longest window) values. A
        model of changes is scaled by its levels too: the mean size of a few changes can be
        next to nothing (a flat stretch), and errors divided by it swamped the quantiles."""
        recent = frame.groupby(SERIES, sort=False).tail(max(self.used_windows))
        scale = recent[TARGET].abs().groupby(recent[SERIES], sort=False).mean()
        return scale.where(scale > 0, 1.0).fillna(1.0)

    def _features(self, frame: pd.DataFrame, scales: pd.Series) -> pd.DataFrame:
        """The features of every row of ``frame`` (sorted by series and time; the target of a
        row is never among its own features)."""
        scale = frame[SERIES].map(scales).astype(float).to_numpy()
        z = pd.Series(frame[TARGET].to_numpy(dtype=float) / scale, index=frame.index)
        # A model of changes reads the changes: the lags and windows of the levels would show
        # it values it never saw in training once a trend carries the series on.
        z = z - self._base(frame, z.to_numpy())
        groups = z.groupby(frame[SERIES], sort=False)
        features = {f"lag{lag}": groups.shift(lag) for lag in self.used_lags}
        previous = groups.shift(1)
        position = frame.groupby(SERIES, sort=False).cumcount()
        for window in self.used_windows:
            # A rolling window over the whole frame, masked where it would reach into the
            # previous series: vectorised, where a rolling window per group is a Python loop.
            rolling = previous.rolling(window, min_periods=window)
            enough = position >= window
            features[f"mean{window}"] = rolling.mean().where(enough)
            features[f"std{window}"] = rolling.std().where(enough)
        for name in self.calendar:
            features[name] = CALENDAR[name](frame[TIMESTAMP]).astype(float)
        for column in self.covariates:
            features[f"cov_{column}"] = frame[column].astype(float)
        for column in self.static.columns:
            values = frame[SERIES].map(self.static[column])
            if column in self.categories:
                features[f"static_{column}"] = pd.Categorical(
                    values.astype("string"), categories=self.categories[column]
                )
            else:
                features[f"static_{column}"] = values.astype(float)
        features["log_scale"] = pd.Series(np.log1p(scale), index=frame.index)
        return pd.DataFrame(features, index=frame.index)

    # --- training and forecasting -------------------------------------------------------

    def _training_rows(self, panel: Panel) -> tuple[pd.DataFrame, np.ndarray]:
        """(features, scaled target) of the rows with a target and at least one value before."""
        frame = panel.frame
        scales = self._scales(frame)
        features = self._features(frame, scales)
        target = frame[TARGET].to_numpy(dtype=float) / frame[SERIES].map(scales).to_numpy(float)
        target = target - self._base(frame, target)
        has_past = frame.groupby(SERIES, sort=False).cumcount().to_numpy() > 0
        usable = np.isfinite(target) & has_past
        return features[usable], target[usable]

    def _base(self, frame: pd.DataFrame, z: np.ndarray) -> np.ndarray:
        """What the model's output is added to: 0 for a level model; for a model of changes,
        each row's scaled value ``differences`` steps before in its series (NaN before that)."""
        if not self.differences:
            return np.zeros(len(frame))
        by_series = pd.Series(z, index=frame.index).groupby(frame[SERIES], sort=False)
        return by_series.shift(self.differences).to_numpy()

    def _train(self, panel: Panel):
        """A fitted LGBMRegressor, or None when the panel has no row to learn from."""
        import lightgbm

        features, target = self._training_rows(panel)
        if len(target) == 0:
            return None
        model = lightgbm.LGBMRegressor(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            random_state=self.seed,
            deterministic=True,
            force_col_wise=True,
            n_jobs=self.threads,
            verbose=-1,
        )
        return model.fit(features, target)

    def _recursive(self, model, panel: Panel, future: pd.DataFrame) -> pd.DataFrame:
        """``future`` with the scaled point forecast ``z`` and the series' ``scale``, each step
        predicted from the history and the steps predicted before it."""
        # The rows the features read: the longest lag or window, of changes over
        # ``differences`` steps for a model of changes.
        span = max([*self.used_lags, *self.used_windows]) + self.differences + 1
        columns = [SERIES, TIMESTAMP, TARGET, *self.covariates]
        work = panel.frame.groupby(SERIES, sort=False).tail(span)[columns]
        scales = self._scales(panel.frame)
        out = future.copy()
        out["z"] = np.nan
        for step in sorted(out[STEP].unique()):
            rows = out[out[STEP] == step]
            added = rows[[SERIES, TIMESTAMP, *self.covariates]].assign(**{TARGET: np.nan})
            work = pd.concat(
                [work.assign(todo=False), added[columns].assign(todo=True)], ignore_index=True
            )
            work = work.sort_values([SERIES, TIMESTAMP], kind="stable").reset_index(drop=True)
            # Forecast the rows just added (not every row without a target: a step whose
            # forecast came out NaN would be forecast again, twice in one series).
            todo = work.pop("todo").astype(bool)
            features = self._features(work, scales)[todo.to_numpy()]
            scaled = work[TARGET].to_numpy(dtype=float) / work[SERIES].map(scales).to_numpy(float)
            z = model.predict(features) + self._base(work, scaled)[todo.to_numpy()]
            work.loc[todo, TARGET] = z * work.loc[todo, SERIES].map(scales).to_numpy(float)
            predicted = pd.Series(z, index=work.loc[todo, SERIES].to_numpy())
            out.loc[rows.index, "z"] = predicted.reindex(rows[SERIES]).to_numpy()
        out["scale"] = out[SERIES].map(scales).astype(float)
        return out

    def _calibrate(self, panel: Panel) -> None:
        """The error quantiles per step (see the module docstring)."""
        steps = np.arange(1, self.horizon + 1)
        history = panel.drop_last(self.horizon)
        model = self._train(history) if len(history.frame) else None
        if model is None:
            # Too little history to hold out a horizon: the final model's one-step errors on
            # its training rows, spread as a random walk's (narrower than the truth; rare).
            features, target = self._training_rows(panel)
            pooled = target - self.model.predict(features)  # a change's one-step error: a level's
            self.offsets = np.sqrt(steps)[:, None] * np.quantile(pooled, self.quantiles)[None, :]
            self.series_widths = None  # errors not per series: one width for every series
            return
        future = history.future(self.horizon, covariates=panel.frame)
        forecast = self._recursive(model, history, future)
        actual = panel.frame[[SERIES, TIMESTAMP, TARGET]]
        scored = forecast.merge(actual, on=[SERIES, TIMESTAMP], how="inner")
        errors = scored[TARGET] / scored["scale"] - scored["z"]
        self._measure_widths(history, scored, errors)
        errors = errors / self._widths(scored[SERIES])
        finite = np.isfinite(errors.to_numpy())
        by_step = [errors[(scored[STEP] == k).to_numpy() & finite].to_numpy() for k in steps]
        if min(len(e) for e in by_step) >= PER_STEP_FROM:
            self.offsets = np.array([np.quantile(e, self.quantiles) for e in by_step])
        else:
            pooled = np.concatenate([e / np.sqrt(k) for k, e in zip(steps, by_step, strict=True)])
            self.offsets = np.sqrt(steps)[:, None] * np.quantile(pooled, self.quantiles)[None, :]

    def _measure_widths(self, history: Panel, scored: pd.DataFrame, errors: pd.Series) -> None:
        """Each series' width: how large its errors run, in its scale's units. The geometric
        mean of two measures, since each alone misled on one of the benchmark's data sets: the
        series' own calibration errors (root mean square, each step's divided by the square
        root of the step; a few errors per series, so noisy) and its recent volatility (the mean
        absolute change from one step to the next over its last values). Widths are at least
        WIDTH_FLOOR of the median one (a flat stretch would make a series' errors look
        endless); a series the calibration did not see gets the median."""
        own = (errors**2 / scored[STEP]).groupby(scored[SERIES], sort=False).mean() ** 0.5
        frame = history.frame
        recent = frame.groupby(SERIES, sort=False).tail(max(self.used_windows) + 1)
        scaled = recent[TARGET] / recent[SERIES].map(self._scales(frame)).astype(float)
        changes = scaled.groupby(recent[SERIES], sort=False).diff().abs()
        volatility = changes.groupby(recent[SERIES], sort=False).mean()
        widths = np.sqrt(own * volatility.reindex(own.index))
        usable = widths[np.isfinite(widths) & (widths > 0)]
        if not len(usable):
            self.series_widths = None
            return
        self.typical_width = float(usable.median())
        floor = WIDTH_FLOOR * self.typical_width
        self.series_widths = widths.where(np.isfinite(widths), self.typical_width).clip(floor)

    def _widths(self, series: pd.Series) -> np.ndarray:
        """What each row's error quantiles are multiplied by: its series' width (see
        ``_measure_widths``); 1 for a model calibrated without them."""
        widths = self.series_widths
        if widths is None:
            return np.ones(len(series))
        return series.map(widths).astype(float).fillna(self.typical_width).to_numpy()

    def _fit(self, panel: Panel) -> None:
        self._choose_features(panel)
        self.model = self._train(panel)
        if self.model is not None:
            self._calibrate(panel)

    def _predict(self, panel: Panel, future: pd.DataFrame) -> pd.DataFrame:
        if self.model is None:
            # No series was long enough to learn from when it was fitted.
            baseline = SeasonalNaive(
                horizon=self.horizon, quantiles=self.quantiles, season_length=self.season_length
            )
            return baseline._predict(panel, future)
        out = self._recursive(self.model, panel, future)
        scale = out["scale"].to_numpy()
        z = out["z"].to_numpy(dtype=float)
        steps = np.minimum(out[STEP].to_numpy(dtype=int), self.horizon) - 1
        widths = self._widths(out[SERIES])
        out["mean"] = z * scale
        for index, q in enumerate(self.quantiles):
            out[quantile_column(q)] = (z + widths * self.offsets[steps, index]) * scale
        return out.drop(columns=["z", "scale"])

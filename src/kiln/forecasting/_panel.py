"""What a forecaster is asked: the spec (which columns, how far ahead, which quantiles) and the
panel (every series on its regular grid, checked), built from a long table.

A panel's frame has one row per series and step with the columns ``series`` (text), ``timestamp``
(naive datetime), ``y`` (float) and the known-in-advance covariates under their own names; its
``static`` frame has one row per series. Forecasters never see the user's column names for ids,
time or target, so they are written once for every data set.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from kiln.errors import ConfigError, DataError
from kiln.profile import (
    FILL_RULES,
    check_frequency,
    check_grid,
    duplicate_timestamps,
    fill_gaps,
    infer_frequency,
    parse_timestamps,
    season_length,
    series_keys,
)

__all__ = [
    "SHORT_SERIES_RULES",
    "ForecastSpec",
    "Panel",
    "prepare_panel",
    "quantile_column",
]

SERIES, TIMESTAMP, TARGET, STEP = "series", "timestamp", "y", "step"
RESERVED = (SERIES, TIMESTAMP, TARGET, STEP, "mean")
# What happens to a series shorter than the horizon plus one season: forecast by a baseline
# that needs no season (naive), or left out of training and prediction with a warning.
SHORT_SERIES_RULES = ("baseline", "drop")


def quantile_column(q: float) -> str:
    """The column of quantile ``q`` in forecasts: ``q0.1``, ``q0.5``, ``q0.9``."""
    return f"q{q:g}"


@dataclass(frozen=True)
class ForecastSpec:
    """A forecasting problem: the columns of the long table, the horizon, the quantiles and the
    rules for gaps and short series. ``check()`` refuses bad values (``forecast.*``)."""

    target: str
    timestamp: str
    id_columns: list[str] = field(default_factory=list)
    horizon: int = 14
    frequency: str | None = None
    quantiles: list[float] = field(default_factory=lambda: [0.1, 0.5, 0.9])
    covariates: list[str] = field(default_factory=list)  # known in advance (prices, holidays)
    static: list[str] = field(default_factory=list)  # one value per series (store size, region)
    fill: str = "none"
    season_length: int | None = None
    backtests: int = 3
    short_series: str = "baseline"

    def check(self) -> ForecastSpec:
        if isinstance(self.horizon, bool) or not isinstance(self.horizon, int | np.integer):
            raise ConfigError(
                f"The horizon must be a whole number of steps; got {self.horizon!r}.",
                code="forecast.bad-horizon",
                field="horizon",
            )
        if self.horizon < 1:
            raise ConfigError(
                f"The horizon must be 1 or more steps ahead; got {self.horizon}. It is how many "
                "steps of each series to forecast (--horizon 14 for two weeks of days).",
                code="forecast.bad-horizon",
                field="horizon",
            )
        quantiles = list(self.quantiles)
        if not quantiles or any(
            not isinstance(q, float | int) or isinstance(q, bool) or not 0 < q < 1
            for q in quantiles
        ):
            raise ConfigError(
                f"Quantiles must be numbers strictly between 0 and 1; got {self.quantiles!r} "
                "(for example --quantiles 0.1,0.5,0.9).",
                code="forecast.bad-quantiles",
                field="quantiles",
            )
        if len(set(quantiles)) != len(quantiles):
            raise ConfigError(
                f"Quantiles {self.quantiles!r} repeat a value.",
                code="forecast.bad-quantiles",
                field="quantiles",
            )
        if not isinstance(self.backtests, int) or self.backtests < 1:
            raise ConfigError(
                f"Backtests must be 1 or more windows; got {self.backtests!r}.",
                code="forecast.bad-backtests",
                field="backtests",
            )
        if self.season_length is not None and (
            not isinstance(self.season_length, int) or self.season_length < 1
        ):
            raise ConfigError(
                f"The season length must be a whole number of steps, 1 or more; got "
                f"{self.season_length!r}.",
                code="forecast.bad-season",
                field="season_length",
            )
        if self.fill not in FILL_RULES:
            raise ConfigError(
                f"Fill rule {self.fill!r} is not one of {', '.join(FILL_RULES)}.",
                code="timeseries.bad-fill",
                field="fill",
            )
        if self.short_series not in SHORT_SERIES_RULES:
            raise ConfigError(
                f"Short-series rule {self.short_series!r} is not one of "
                f"{', '.join(SHORT_SERIES_RULES)}.",
                code="forecast.bad-short-series",
                field="short_series",
            )
        if self.frequency is not None:
            check_frequency(self.frequency)
        named = [self.target, self.timestamp, *self.id_columns, *self.covariates, *self.static]
        twice = sorted({c for c in named if named.count(c) > 1})
        if twice:
            raise ConfigError(
                f"Column(s) {', '.join(map(repr, twice))} are named in more than one role "
                "(target, timestamp, id, covariate, static).",
                code="forecast.column-twice",
            )
        clash = [c for c in [*self.covariates, *self.static] if c in RESERVED]
        if clash:
            raise ConfigError(
                f"Covariate or static column(s) {', '.join(map(repr, clash))} have a name kiln's "
                f"forecasts use ({', '.join(RESERVED)}). Rename them.",
                code="forecast.reserved-name",
            )
        return replace(self, quantiles=sorted(float(q) for q in quantiles))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ForecastSpec:
        return cls(**data)

    @property
    def columns(self) -> list[str]:
        """The table's columns the problem reads."""
        return [
            *self.id_columns,
            self.timestamp,
            self.target,
            *self.covariates,
            *self.static,
        ]


@dataclass
class Panel:
    """Every series on its grid (see the module's docstring), with what forecasters share."""

    frame: pd.DataFrame
    frequency: str
    season_length: int
    covariates: list[str] = field(default_factory=list)
    static: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def offset(self) -> pd.DateOffset:
        return check_frequency(self.frequency)

    def ids(self) -> list[str]:
        return self.frame[SERIES].drop_duplicates().tolist()

    def lengths(self) -> pd.Series:
        return self.frame.groupby(SERIES, sort=False).size()

    def groups(self) -> Iterator[tuple[str, pd.DataFrame]]:
        yield from self.frame.groupby(SERIES, sort=False)

    def values(self, series: str) -> np.ndarray:
        return self.frame.loc[self.frame[SERIES] == series, TARGET].to_numpy(dtype=float)

    def subset(self, ids) -> Panel:
        keep = set(ids)
        return replace(
            self,
            frame=self.frame[self.frame[SERIES].isin(keep)].reset_index(drop=True),
            static=self.static[self.static.index.isin(keep)] if len(self.static) else self.static,
        )

    def drop_last(self, steps: int) -> Panel:
        """The panel as it was ``steps`` steps before each series' end (a backtest's cutoff)."""
        if steps == 0:
            return self
        position = self.frame.groupby(SERIES, sort=False).cumcount(ascending=False)
        return replace(self, frame=self.frame[position >= steps].reset_index(drop=True))

    def last_steps(self, steps: int) -> pd.DataFrame:
        """Each series' last ``steps`` rows (a backtest window's actual values)."""
        position = self.frame.groupby(SERIES, sort=False).cumcount(ascending=False)
        return self.frame[position < steps].reset_index(drop=True)

    def future(self, horizon: int, covariates: pd.DataFrame | None = None) -> pd.DataFrame:
        """The steps to forecast: ``series``, ``timestamp``, ``step`` (1..horizon) for each
        series' next ``horizon`` steps, with the covariates' values for them taken from
        ``covariates`` (rows keyed by series and timestamp). A covariate missing at a step is
        refused with ``forecast.missing-covariates``, naming the columns, series and steps."""
        offset = self.offset
        last = self.frame.groupby(SERIES, sort=False)[TIMESTAMP].max()
        steps = np.arange(1, horizon + 1)
        out = pd.DataFrame(
            {
                SERIES: np.repeat(last.index.to_numpy(), horizon),
                TIMESTAMP: np.concatenate(
                    [pd.date_range(t + offset, periods=horizon, freq=offset) for t in last]
                )
                if len(last)
                else np.array([], dtype="datetime64[ns]"),
                STEP: np.tile(steps, len(last)),
            }
        )
        out[SERIES] = out[SERIES].astype("string")
        if not self.covariates:
            return out
        if covariates is None:
            covariates = pd.DataFrame(columns=[SERIES, TIMESTAMP, *self.covariates])
        joined = out.merge(
            covariates[[SERIES, TIMESTAMP, *self.covariates]].astype({SERIES: "string"}),
            on=[SERIES, TIMESTAMP],
            how="left",
        )
        missing = joined[self.covariates].isna()
        if missing.any(axis=None):
            columns = [c for c in self.covariates if missing[c].any()]
            rows = joined[missing.any(axis=1)]
            shown = "; ".join(
                f"series {s!r} step {int(k)} ({t})"
                for s, k, t in rows[[SERIES, STEP, TIMESTAMP]].head(5).itertuples(index=False)
            )
            more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
            raise DataError(
                f"Future values of the known-in-advance covariate(s) "
                f"{', '.join(map(repr, columns))} are missing for {shown}{more}. A forecast "
                "needs them for every step it forecasts: send them with the request "
                "(covariates), or add rows with those times and an empty target to the data.",
                code="forecast.missing-covariates",
                field=columns[0],
            )
        return joined

    def append(self, history: pd.DataFrame, *, fill: str = "none") -> Panel:
        """The panel with ``history`` (rows in panel columns) replacing or extending its
        series: a request's recent values. Rows at times the panel has replace those; the
        history must be on the panel's grid (``timeseries.irregular``), hold each time once
        (``timeseries.duplicate-timestamps``), and leave no gap the ``fill`` rule does not
        fill (``timeseries.gaps``)."""
        duplicate_timestamps(history[SERIES], history[TIMESTAMP], "history")
        touched = set(history[SERIES])
        frame = pd.concat([self.frame, history], ignore_index=True)
        frame = frame.drop_duplicates([SERIES, TIMESTAMP], keep="last")
        frame = frame.sort_values([SERIES, TIMESTAMP], kind="stable").reset_index(drop=True)
        is_touched = frame[SERIES].isin(touched)
        check_grid(  # on the held series' own grid: the history continues them
            frame.loc[is_touched, SERIES],
            frame.loc[is_touched, TIMESTAMP],
            self.frequency,
            "history",
        )
        filled, _ = fill_gaps(
            frame[is_touched],
            series=SERIES,
            timestamp=TIMESTAMP,
            frequency=self.frequency,
            values=[TARGET],
            rule=fill,
            covariates=self.covariates,
        )
        frame = pd.concat([frame[~is_touched], filled], ignore_index=True)
        frame = frame.sort_values([SERIES, TIMESTAMP], kind="stable").reset_index(drop=True)
        return replace(self, frame=frame)


def prepare_panel(
    frame: pd.DataFrame, spec: ForecastSpec, *, log=None
) -> tuple[Panel, pd.DataFrame, dict]:
    """Check a long table against ``spec`` and build its panel.

    Returns (panel, future covariates, notes). Rows after a series' last target value that
    carry covariates are that series' future covariates (known in advance); ``notes`` says what
    was inferred, filled and set aside (``frequency``, ``filled``, ``short``, ``dropped``)."""
    spec = spec.check()
    say = log or (lambda _line: None)
    missing = [c for c in spec.columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"Column(s) {', '.join(map(repr, missing))} are not in the data; it has "
            f"{', '.join(map(repr, list(frame.columns)[:30]))}.",
            code="forecast.unknown-column",
            field=missing[0],
        )
    if len(frame) == 0:
        raise DataError("The data has no rows.", code="forecast.no-rows")
    keys = series_keys(frame, spec.id_columns)
    times = parse_timestamps(frame[spec.timestamp], spec.timestamp)
    y = frame[spec.target]
    if not pd.api.types.is_numeric_dtype(y):
        numbers = pd.to_numeric(y, errors="coerce")
        bad = numbers.isna() & y.notna()
        if bad.any():
            example = y[bad].iloc[0]
            raise DataError(
                f"The target {spec.target!r} must be numbers to forecast; {int(bad.sum())} "
                f"value(s) are not, such as {example!r} (data row "
                f"{int(np.flatnonzero(bad)[0]) + 1}).",
                code="forecast.bad-target",
                field=spec.target,
            )
        y = numbers
    duplicate_timestamps(keys, times, spec.timestamp)
    data = pd.DataFrame(
        {SERIES: keys.to_numpy(), TIMESTAMP: times.to_numpy(), TARGET: y.to_numpy(dtype=float)}
    )
    for column in spec.covariates:
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            raise DataError(
                f"Covariate {column!r} must be numbers or true/false (one-hot encode "
                "categories first); it holds text such as "
                f"{values.dropna().iloc[0] if values.notna().any() else None!r}.",
                code="forecast.bad-covariate",
                field=column,
            )
        data[column] = values.to_numpy(dtype=float)
    data = data.sort_values([SERIES, TIMESTAMP], kind="stable").reset_index(drop=True)
    # Rows after each series' last target value are its future covariates.
    has_y = data[TARGET].notna()
    last_y = data[TIMESTAMP].where(has_y).groupby(data[SERIES]).transform("max")
    future_rows = data[TIMESTAMP] > last_y
    future = data[future_rows & (last_y.notna())].drop(columns=[TARGET]).reset_index(drop=True)
    empty_series = sorted(data.loc[last_y.isna(), SERIES].unique().tolist())
    data = data[~future_rows & last_y.notna()].reset_index(drop=True)
    if len(data) == 0:
        raise DataError(
            f"The target {spec.target!r} is empty in every row: nothing to learn from.",
            code="forecast.no-rows",
            field=spec.target,
        )
    if future.size and not spec.covariates:
        future = future.iloc[:0]
    frequency = spec.frequency or infer_frequency(data[SERIES], data[TIMESTAMP], spec.timestamp)
    check_grid(data[SERIES], data[TIMESTAMP], frequency, spec.timestamp)
    data, filled = fill_gaps(
        data,
        series=SERIES,
        timestamp=TIMESTAMP,
        frequency=frequency,
        values=[TARGET],
        rule=spec.fill,
        covariates=spec.covariates,
    )
    if spec.covariates and data[spec.covariates].isna().any(axis=None):
        column = next(c for c in spec.covariates if data[c].isna().any())
        raise DataError(
            f"Covariate {column!r} is empty in {int(data[column].isna().sum())} row(s) with a "
            "target value. Fill it in the data (a covariate is known for every step).",
            code="forecast.missing-covariates",
            field=column,
        )
    period = spec.season_length or season_length(frequency)
    static = pd.DataFrame()
    if spec.static:
        raw = frame[spec.static].assign(**{SERIES: keys.to_numpy()})
        static = raw.groupby(SERIES, sort=False).first()
        varying = [c for c in spec.static if (raw.groupby(SERIES)[c].nunique() > 1).any()]
        if varying:
            raise DataError(
                f"Static column(s) {', '.join(map(repr, varying))} change within a series; a "
                "static attribute has one value per series (use a covariate for values that "
                "change over time).",
                code="forecast.static-varies",
                field=varying[0],
            )
    lengths = data.groupby(SERIES, sort=False).size()
    short = sorted(lengths[lengths < spec.horizon + period].index.tolist())
    notes: dict = {
        "frequency": frequency,
        "inferred_frequency": spec.frequency is None,
        "season_length": period,
        "series": int(len(lengths)),
        "filled": filled,
        "short": short,
        "dropped": [],
        "empty": empty_series,
    }
    say(
        f"{len(lengths)} series, frequency {frequency!r}"
        + (" (inferred)" if spec.frequency is None else "")
        + f", season {period} steps, lengths {int(lengths.min())}–{int(lengths.max())}."
    )
    if filled:
        say(
            f"Filled {sum(filled.values())} missing step(s) in {len(filled)} series by rule "
            f"{spec.fill!r}."
        )
    if empty_series:
        say(
            f"{len(empty_series)} series have no target value and are left out: {empty_series[:5]}."
        )
    if short:
        shown = ", ".join(map(repr, short[:5])) + (" ..." if len(short) > 5 else "")
        if spec.short_series == "drop":
            say(
                f"Warning: dropped {len(short)} series shorter than the horizon plus one season "
                f"({spec.horizon} + {period} steps): {shown}."
            )
            data = data[~data[SERIES].isin(short)].reset_index(drop=True)
            future = future[~future[SERIES].isin(short)].reset_index(drop=True)
            notes["dropped"] = short
            if len(data) == 0:
                raise DataError(
                    f"Every series is shorter than the horizon plus one season ({spec.horizon} "
                    f"+ {period} steps), and --short-series drop dropped them all. Shorten the "
                    "horizon, or use --short-series baseline.",
                    code="forecast.all-series-short",
                    field="horizon",
                )
        else:
            say(
                f"{len(short)} series are shorter than the horizon plus one season "
                f"({spec.horizon} + {period} steps); the naive baseline forecasts them: {shown}."
            )
    data[SERIES] = data[SERIES].astype("string")
    panel = Panel(
        frame=data,
        frequency=frequency,
        season_length=period,
        covariates=list(spec.covariates),
        static=static,
    )
    return panel, future, notes

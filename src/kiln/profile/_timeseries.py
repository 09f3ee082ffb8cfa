"""Time series in a long table: timestamps parsed and checked, the frequency inferred, gaps
found, and a profile of the series (lengths, level, seasonality and trend strength).

Forecasting builds its panels on these checks (:mod:`kiln.forecasting`), and the data profile
shows the summary when a data set is profiled as time series (docs/forecasting.md).
"""

from __future__ import annotations

import re
import warnings
from collections import Counter

import numpy as np
import pandas as pd

from kiln.errors import ConfigError, DataError

__all__ = [
    "FILL_RULES",
    "check_frequency",
    "check_grid",
    "duplicate_timestamps",
    "fill_gaps",
    "infer_frequency",
    "parse_timestamps",
    "season_length",
    "series_keys",
    "timeseries_profile",
]

# How missing steps of a regular series are filled: none refuses gaps (listing them).
FILL_RULES = ("none", "zero", "ffill", "interpolate")
_SHOWN = 5  # offending series or rows named in a message


def _rows(index) -> str:
    """Row numbers as a user counts them: the data row after the header, from 1."""
    shown = [str(int(i) + 1) for i in list(index)[:_SHOWN]]
    more = f" and {len(index) - _SHOWN} more" if len(index) > _SHOWN else ""
    return ", ".join(shown) + more


def parse_timestamps(values: pd.Series, column: str) -> pd.Series:
    """``values`` as timezone-naive timestamps. Aware ones are converted to UTC, except when
    every one is a local midnight (dates in a time zone: daily or coarser data), which keep
    their local day: in UTC a summer-time change would move them off the daily grid (so do
    UTC times at two times of day an hour apart, see :func:`_local_days_in_utc`).

    A value that does not parse is refused with ``timeseries.bad-timestamp`` naming the rows and
    values; so is a missing one."""
    wall = None  # the local times of aware values, when they are known
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
        if getattr(parsed.dt, "tz", None) is not None:
            wall = parsed.dt.tz_localize(None)
    else:
        text = values.astype("string")
        parsed = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
        bad = parsed.isna() & text.notna()
        if bad.any() and pd.api.types.is_numeric_dtype(values):
            raise DataError(
                f"Timestamp column {column!r} holds numbers such as {text[bad].iloc[0]}, which "
                "are not dates: kiln reads numbers only as years (2024) or YYYYMMDD (20240131). "
                "If they are Unix times, kiln does not guess their unit: convert them to dates "
                "first (pandas.to_datetime(values, unit='s'), or unit='ms').",
                code="timeseries.bad-timestamp",
                field=column,
            )
        if bad.any():
            examples = ", ".join(repr(v) for v in text[bad].head(_SHOWN))
            raise DataError(
                f"Timestamp column {column!r} has {int(bad.sum())} value(s) that are not dates "
                f"or times: {examples} (data rows {_rows(np.flatnonzero(bad))}). Fix or remove "
                "those rows; ISO 8601 (2024-01-31 or 2024-01-31T09:00) always parses.",
                code="timeseries.bad-timestamp",
                field=column,
            )
        if re.search(_UTC_OFFSET, str(text.dropna().iloc[0]) if text.notna().any() else ""):
            # pandas reads text of several UTC offsets (summer and winter time) only as UTC, so
            # the local times are read again without their offsets.
            wall = pd.to_datetime(
                text.str.replace(_UTC_OFFSET, "", regex=True), errors="coerce", format="mixed"
            )
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        if wall is not None and _all_midnight(wall) and not _all_midnight(parsed):
            parsed = wall
        else:
            parsed = _local_days_in_utc(parsed)
    missing = parsed.isna()
    if missing.any():
        raise DataError(
            f"Timestamp column {column!r} is empty in {int(missing.sum())} row(s) (data rows "
            f"{_rows(np.flatnonzero(missing))}). Every row needs its time.",
            code="timeseries.bad-timestamp",
            field=column,
        )
    # pandas parses 0001-01-01 or 9999-12-31, but nanosecond timestamps stop at 1677 and 2262
    outside = (parsed < pd.Timestamp.min) | (parsed > pd.Timestamp.max)
    if outside.any():
        examples = ", ".join(str(v) for v in parsed[outside].head(_SHOWN))
        raise DataError(
            f"Timestamp column {column!r} has {int(outside.sum())} value(s) outside the years "
            f"1678 to 2261 that timestamps can hold: {examples} (data rows "
            f"{_rows(np.flatnonzero(outside))}). Fix or remove those rows.",
            code="timeseries.bad-timestamp",
            field=column,
        )
    return parsed.astype("datetime64[ns]")


# A UTC offset ending a time written as text: Z, +02:00, -0530.
_UTC_OFFSET = r"(?:Z|[+-]\d\d:?\d\d)$"


def _local_days_in_utc(times: pd.Series) -> pd.Series:
    """Local midnights already converted to UTC (a CSV's dates with their offsets, as ingested)
    sit at two times of day an hour apart when the data spans a summer-time change: they are
    moved to the nearest midnight, which is their local day for offsets within ±12 hours."""
    times_of_day = np.sort((times - times.dt.normalize()).dropna().unique())
    if len(times_of_day) == 2 and times_of_day[1] - times_of_day[0] == pd.Timedelta(hours=1):
        return times.dt.round("D")
    return times


def _all_midnight(times: pd.Series) -> bool:
    present = times.dropna()
    return bool(len(present)) and bool((present == present.dt.normalize()).all())


def series_keys(frame: pd.DataFrame, id_columns: list[str]) -> pd.Series:
    """One text key per row naming its series: the id column's value, or the values of several
    id columns joined with ``|``. A missing id is refused (``timeseries.missing-id``)."""
    if not id_columns:
        return pd.Series("series", index=frame.index, dtype="string")
    for column in id_columns:
        missing = frame[column].isna()
        if missing.any():
            raise DataError(
                f"Series id column {column!r} is empty in {int(missing.sum())} row(s) (data "
                f"rows {_rows(np.flatnonzero(missing))}). Every row must name its series.",
                code="timeseries.missing-id",
                field=column,
            )
    parts = [_id_text(frame[c]) for c in id_columns]
    keys = parts[0]
    for part in parts[1:]:
        keys = keys + "|" + part
    return keys.astype("string")


def _id_text(values: pd.Series) -> pd.Series:
    """Ids as text; whole floats (ids read from a column with blanks) lose their ``.0``."""
    if pd.api.types.is_float_dtype(values) and (values.dropna() % 1 == 0).all():
        values = values.astype("Int64")
    return values.astype("string")


def duplicate_timestamps(keys: pd.Series, timestamps: pd.Series, column: str) -> None:
    """Refuse two rows of one series at one time (``timeseries.duplicate-timestamps``), naming
    the series, the times and the rows."""
    twice = pd.DataFrame({"series": keys, "ts": timestamps}).duplicated(keep=False)
    if not twice.any():
        return
    rows = np.flatnonzero(twice)
    pairs = list(dict.fromkeys(zip(keys.iloc[rows], timestamps.iloc[rows], strict=True)))
    shown = "; ".join(f"series {k!r} at {t}" for k, t in pairs[:_SHOWN])
    more = f" and {len(pairs) - _SHOWN} more" if len(pairs) > _SHOWN else ""
    raise DataError(
        f"{len(pairs)} series time(s) appear in more than one row ({column!r}): {shown}{more} "
        f"(data rows {_rows(rows)}). Keep one row per series and time, or aggregate them "
        "(for example, sum the sales of one day) before forecasting.",
        code="timeseries.duplicate-timestamps",
        field=column,
    )


def infer_frequency(keys: pd.Series, timestamps: pd.Series, column: str) -> str:
    """The pandas frequency most series follow (``D``, ``W-SUN``, ``MS``, ``QS-OCT``, ...).

    Each series of three or more times that pandas can read a frequency from votes; series
    with gaps do not. None readable is refused with ``timeseries.no-frequency``, which asks for
    ``--frequency``."""
    votes: Counter = Counter()
    frame = pd.DataFrame({"series": keys.to_numpy(), "ts": timestamps.to_numpy()})
    for _, group in frame.sort_values(["series", "ts"]).groupby("series", sort=False):
        if len(group) >= 3:
            found = _infer_freq(pd.DatetimeIndex(group["ts"]))
            if found:
                votes[found] += 1
        if len(votes) and sum(votes.values()) >= 50:
            break  # enough votes: a long table need not be read whole
    if not votes:
        raise DataError(
            f"Could not infer the frequency of {column!r}: no series has three or more evenly "
            "spaced times. Give it with --frequency (D daily, W weekly, MS month starts, "
            "QS quarter starts, YS years, h hourly).",
            code="timeseries.no-frequency",
            field=column,
        )
    return votes.most_common(1)[0][0]


def _infer_freq(index: pd.DatetimeIndex) -> str | None:
    """pandas' inferred frequency as text (pandas 3 announces an offset object instead)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        found = pd.infer_freq(index)
    return getattr(found, "freqstr", found)


def check_frequency(frequency: str) -> pd.DateOffset:
    """A frequency given by the user, as a pandas offset (``timeseries.bad-frequency`` else)."""
    try:
        return pd.tseries.frequencies.to_offset(frequency)
    except (ValueError, TypeError):
        raise ConfigError(
            f"Frequency {frequency!r} is not a pandas frequency. Use D (daily), W (weekly), "
            "MS (month start), ME (month end), QS, YS, h (hourly) or min.",
            code="timeseries.bad-frequency",
            field="frequency",
        ) from None


def check_grid(
    keys: pd.Series, timestamps: pd.Series, frequency: str, column: str, *, rows: bool = True
) -> None:
    """Refuse times that are off their series' regular grid (``timeseries.irregular``): a
    daily series with one row at noon, a monthly one with a mid-month date."""
    offset = check_frequency(frequency)
    frame = pd.DataFrame({"series": keys.to_numpy(), "ts": timestamps.to_numpy()})
    off: list[tuple[str, pd.Timestamp, int]] = []
    # Series that start at one time share one grid: checked together (10,000 short series
    # would otherwise build 10,000 grids).
    first = frame.groupby("series", sort=False)["ts"].transform("min")
    for start, group in frame.groupby(first, sort=False):
        ts = group["ts"]
        if not offset.is_on_offset(start):
            bad = group.index[~ts.map(offset.is_on_offset)]
        else:
            grid = pd.date_range(start, ts.max(), freq=offset)
            bad = group.index[~ts.isin(grid)]
        off.extend((frame.at[i, "series"], frame.at[i, "ts"], i) for i in bad)
        if len(off) > 100:
            break
    if not off:
        return
    off.sort(key=lambda found: found[2])
    shown = "; ".join(f"series {n!r} at {t}" for n, t, _ in off[:_SHOWN])
    where = f" (data rows {_rows([i for *_, i in off])})" if rows else ""
    raise DataError(
        f"Times of {column!r} are off the {frequency!r} grid: {shown}{where}. Align them to "
        "the frequency (for example, floor them to the day) or give the right --frequency.",
        code="timeseries.irregular",
        field=column,
    )


def season_length(frequency: str) -> int:
    """The usual season of a frequency: 7 days, 52 weeks, 12 months, 4 quarters, 24 hours."""
    base = check_frequency(frequency).rule_code.split("-")[0].upper()
    return {
        "D": 7,
        "B": 5,
        "C": 5,
        "W": 52,
        "MS": 12,
        "ME": 12,
        "M": 12,
        "SMS": 24,
        "SME": 24,
        "QS": 4,
        "QE": 4,
        "Q": 4,
        "BQS": 4,
        "BQE": 4,
        "BMS": 12,
        "BME": 12,
        "H": 24,
        "BH": 8,
        "MIN": 60,
        "T": 60,
    }.get(base, 1)


def fill_gaps(
    frame: pd.DataFrame,
    *,
    series: str,
    timestamp: str,
    frequency: str,
    values: list[str],
    rule: str,
    covariates: list[str] = (),
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Every series on its full grid from its first to its last time, sorted. Missing steps of
    ``values`` (no row, or an empty value) are filled by ``rule`` (none refuses them with
    ``timeseries.gaps``, naming the series and times); covariates carry forward. Returns the
    frame and the steps filled per series (only series that had gaps)."""
    if rule not in FILL_RULES:
        raise ConfigError(
            f"Fill rule {rule!r} is not one of {', '.join(FILL_RULES)}.",
            code="timeseries.bad-fill",
            field="fill",
        )
    offset = check_frequency(frequency)
    ordered = frame.sort_values([series, timestamp], kind="stable").reset_index(drop=True)
    by_series = ordered.groupby(series, sort=False)
    holes = ordered[list(values)].isna().any(axis=1).groupby(ordered[series], sort=False).any()
    counts = by_series.size()
    steps = _grid_steps(by_series[timestamp].agg(["min", "max"]), offset)
    complete = (steps.reindex(counts.index) == counts) & ~holes.reindex(counts.index)
    if complete.all():
        return ordered, {}
    parts, filled = [ordered[ordered[series].isin(complete.index[complete])]], {}
    gappy = ordered[ordered[series].isin(complete.index[~complete])]
    for name, group in gappy.groupby(series, sort=False):
        grid = pd.date_range(group[timestamp].iloc[0], group[timestamp].iloc[-1], freq=offset)
        full = group.set_index(timestamp).reindex(grid)
        full.index.name = timestamp
        missing = full[values].isna().any(axis=1).to_numpy()
        filled[name] = int(missing.sum())
        full[series] = name
        parts.append(full.reset_index())
        if rule == "none":
            times = ", ".join(str(t.date() if t == t.normalize() else t) for t in grid[missing][:3])
            raise DataError(
                f"Series {name!r} misses {int(missing.sum())} of its {len(grid)} {frequency!r} "
                f"steps (no row or an empty value; first {times}). Choose how gaps are "
                "filled: --fill zero (no sales that day), ffill (the last value carries on) or "
                "interpolate.",
                code="timeseries.gaps",
                field=timestamp,
            )
    out = pd.concat(parts, ignore_index=True)
    out = out.sort_values([series, timestamp], kind="stable").reset_index(drop=True)
    if filled:
        by_series = out.groupby(series, sort=False)
        for column in values:
            if rule == "zero":
                out[column] = out[column].fillna(0.0)
            elif rule == "ffill":
                out[column] = by_series[column].ffill()
            else:
                out[column] = by_series[column].transform(
                    lambda s: s.interpolate(limit_direction="both")
                )
        for column in covariates:
            out[column] = by_series[column].ffill()
    return out, filled


def _grid_steps(bounds: pd.DataFrame, offset: pd.DateOffset) -> pd.Series:
    """The steps of each series' grid from its first time to its last (``bounds``: ``min`` and
    ``max`` per series): one grid per start time shared by the series that start then."""
    steps = pd.Series(0, index=bounds.index, dtype=int)
    for start, group in bounds.groupby("min", sort=False):
        grid = pd.date_range(start, group["max"].max(), freq=offset)
        steps[group.index] = grid.searchsorted(pd.DatetimeIndex(group["max"]), side="right")
    return steps


def _strengths(y: np.ndarray, period: int) -> tuple[float | None, float | None]:
    """Hyndman's strength of trend and of seasonality (0 to 1) from an STL decomposition; None
    where the series is too short to tell."""
    from statsmodels.tsa.seasonal import STL

    if len(y) < 2 * max(period, 2) + 1 or np.nanstd(y) == 0 or np.isnan(y).any():
        return None, None
    if period < 2:
        trend = pd.Series(y).rolling(max(3, len(y) // 10), center=True, min_periods=1).mean()
        remainder = y - trend.to_numpy()
        return _strength(remainder, y - 0), None
    fit = STL(y, period=period, robust=False).fit()
    trend_strength = _strength(fit.resid, fit.resid + fit.trend)
    season_strength = _strength(fit.resid, fit.resid + fit.seasonal)
    return trend_strength, season_strength


def _strength(remainder: np.ndarray, with_component: np.ndarray) -> float:
    total = np.var(with_component)
    return float(max(0.0, 1.0 - np.var(remainder) / total)) if total > 0 else 0.0


def timeseries_profile(
    frame: pd.DataFrame,
    *,
    id_columns: list[str],
    timestamp: str,
    target: str,
    frequency: str | None = None,
    sample: int = 200,
) -> dict:
    """What a forecaster should know about a long table of series: the frequency and season,
    the series' lengths and gaps, per-series statistics, and hints on seasonality and trend
    (from STL on up to ``sample`` series). JSON-ready."""
    keys = series_keys(frame, id_columns)
    ts = parse_timestamps(frame[timestamp], timestamp)
    duplicate_timestamps(keys, ts, timestamp)
    frequency = frequency or infer_frequency(keys, ts, timestamp)
    period = season_length(frequency)
    offset = check_frequency(frequency)
    data = pd.DataFrame({"series": keys.to_numpy(), "ts": ts.to_numpy()})
    data["y"] = pd.to_numeric(frame[target], errors="coerce").to_numpy()
    # Per-series statistics by group aggregates, not a loop: tables of 10,000 series are usual.
    data = data.sort_values(["series", "ts"], kind="stable").reset_index(drop=True)
    by_series = data.groupby("series", sort=True)
    bounds = by_series["ts"].agg(["min", "max"])
    lengths = by_series.size()
    empty = data["y"].isna()
    # Empty values between a series' first and last value are gaps too (a forecast fills them).
    after_first = (~empty).astype(int).groupby(data["series"]).cumsum() > 0
    before_last = (~empty)[::-1].astype(int).groupby(data["series"][::-1]).cumsum()[::-1] > 0
    inside = (empty & after_first & before_last).groupby(data["series"]).sum()
    per_series = pd.DataFrame(
        {
            "series": bounds.index.astype(str),
            "start": bounds["min"].map(str).to_numpy(),
            "end": bounds["max"].map(str).to_numpy(),
            "length": lengths.to_numpy(),
            "missing_steps": (_grid_steps(bounds, offset) - lengths + inside).to_numpy(),
            "missing_values": empty.groupby(data["series"]).sum().to_numpy(),
            "mean": by_series["y"].mean().map(_round).to_numpy(),
            "std": by_series["y"].std(ddof=0).map(_round).to_numpy(),
            "zeros": (data["y"] == 0).groupby(data["series"]).mean().map(_round).to_numpy(),
        }
    )
    rng = np.random.default_rng(0)
    names = per_series["series"].tolist()
    chosen = set(rng.choice(names, size=min(sample, len(names)), replace=False).tolist())
    trend, seasonal = {}, {}
    for name, group in data[data["series"].isin(chosen)].groupby("series"):
        y = group.sort_values("ts")["y"].to_numpy(dtype=float)
        trend[name], seasonal[name] = _strengths(y, period)
    per_series["trend_strength"] = per_series["series"].map(lambda n: _round(trend.get(n)))
    per_series["seasonal_strength"] = per_series["series"].map(lambda n: _round(seasonal.get(n)))
    hints = _hints(per_series, frequency, period)
    lengths = per_series["length"]
    return {
        "frequency": frequency,
        "season_length": period,
        "series": len(per_series),
        "rows": len(frame),
        "length": {
            "min": int(lengths.min()),
            "median": float(lengths.median()),
            "max": int(lengths.max()),
        },
        "series_with_gaps": int((per_series["missing_steps"] > 0).sum()),
        "hints": hints,
        # NaN (a strength not measured) as None: the result is JSON-ready.
        "per_series": per_series.astype(object)
        .where(per_series.notna(), None)
        .to_dict(orient="records"),
    }


def _round(value) -> float | None:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return None
    return round(float(value), 4)


def _hints(per_series: pd.DataFrame, frequency: str, period: int) -> list[str]:
    hints = []
    seasonal = per_series["seasonal_strength"].dropna()
    if len(seasonal):
        strong = float((seasonal >= 0.6).mean())
        if strong >= 0.5:
            hints.append(
                f"Strong seasonality of {period} steps in {strong:.0%} of the series measured "
                "(STL strength ≥ 0.6): seasonal models (ETS, seasonal naive) and calendar "
                "features should help."
            )
        elif len(seasonal) and float(seasonal.median()) < 0.3:
            hints.append(
                f"Little seasonality of {period} steps (median STL strength "
                f"{float(seasonal.median()):.2f})."
            )
    trend = per_series["trend_strength"].dropna()
    if len(trend) and float((trend >= 0.6).mean()) >= 0.5:
        hints.append(
            f"A strong trend in {float((trend >= 0.6).mean()):.0%} of the series: drift, "
            "ETS with trend or a global model on differences suit them."
        )
    zeros = per_series["zeros"].dropna()
    if len(zeros) and float((zeros >= 0.3).mean()) >= 0.2:
        hints.append(
            f"{float((zeros >= 0.3).mean()):.0%} of the series are zero in 30 % or more of "
            "their steps (intermittent demand): MAPE is undefined there; judge by MASE or WQL."
        )
    gaps = int((per_series["missing_steps"] > 0).sum())
    if gaps:
        hints.append(
            f"{gaps} series miss steps of the {frequency!r} grid: declare how to fill them "
            "(--fill zero, ffill or interpolate)."
        )
    return hints

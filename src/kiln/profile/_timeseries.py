"""Time series in a long table: timestamps parsed and checked, the frequency inferred, gaps
found, and a profile of the series (lengths, level, seasonality and trend strength).

Forecasting builds its panels on these checks (:mod:`kiln.forecasting`), and the data profile
shows the summary when a data set is profiled as time series (docs/forecasting.md).
"""

from __future__ import annotations

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
    """``values`` as timezone-naive timestamps (aware ones are converted to UTC first).

    A value that does not parse is refused with ``timeseries.bad-timestamp`` naming the rows and
    values; so is a missing one."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    else:
        text = values.astype("string")
        parsed = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
        bad = parsed.isna() & text.notna()
        if bad.any():
            examples = ", ".join(repr(v) for v in text[bad].head(_SHOWN))
            raise DataError(
                f"Timestamp column {column!r} has {int(bad.sum())} value(s) that are not dates "
                f"or times: {examples} (data rows {_rows(np.flatnonzero(bad))}). Fix or remove "
                "those rows; ISO 8601 (2024-01-31 or 2024-01-31T09:00) always parses.",
                code="timeseries.bad-timestamp",
                field=column,
            )
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    missing = parsed.isna()
    if missing.any():
        raise DataError(
            f"Timestamp column {column!r} is empty in {int(missing.sum())} row(s) (data rows "
            f"{_rows(np.flatnonzero(missing))}). Every row needs its time.",
            code="timeseries.bad-timestamp",
            field=column,
        )
    return parsed.astype("datetime64[ns]")


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
    for name, group in frame.groupby("series", sort=False):
        ts = group["ts"]
        first = ts.min()
        if not offset.is_on_offset(first):
            bad = group.index[~ts.map(offset.is_on_offset)]
        else:
            grid = pd.date_range(first, ts.max(), freq=offset)
            bad = group.index[~ts.isin(grid)]
        off.extend((name, frame.at[i, "ts"], i) for i in bad)
        if len(off) > 100:
            break
    if not off:
        return
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
    ``values`` are filled by ``rule`` (none refuses them with ``timeseries.gaps``, naming the
    series and times); covariates carry forward. Returns the frame and the steps filled per
    series (only series that had gaps)."""
    if rule not in FILL_RULES:
        raise ConfigError(
            f"Fill rule {rule!r} is not one of {', '.join(FILL_RULES)}.",
            code="timeseries.bad-fill",
            field="fill",
        )
    offset = check_frequency(frequency)
    parts, filled = [], {}
    for name, group in frame.sort_values([series, timestamp]).groupby(series, sort=False):
        grid = pd.date_range(group[timestamp].iloc[0], group[timestamp].iloc[-1], freq=offset)
        if len(grid) == len(group):
            parts.append(group)
            continue
        full = group.set_index(timestamp).reindex(grid)
        full.index.name = timestamp
        missing = full[series].isna()
        filled[name] = int(missing.sum())
        full[series] = name
        parts.append(full.reset_index())
        if rule == "none":
            times = ", ".join(str(t.date() if t == t.normalize() else t) for t in grid[missing][:3])
            raise DataError(
                f"Series {name!r} misses {int(missing.sum())} of its {len(grid)} {frequency!r} "
                f"steps (first {times}). Choose how gaps are filled: --fill zero (no sales "
                "that day), ffill (the last value carries on) or interpolate.",
                code="timeseries.gaps",
                field=timestamp,
            )
    out = pd.concat(parts, ignore_index=True) if parts else frame.iloc[:0]
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
    rows = []
    for name, group in data.sort_values(["series", "ts"]).groupby("series", sort=False):
        steps = len(pd.date_range(group["ts"].iloc[0], group["ts"].iloc[-1], freq=offset))
        y = group["y"].to_numpy(dtype=float)
        rows.append(
            {
                "series": str(name),
                "start": str(group["ts"].iloc[0]),
                "end": str(group["ts"].iloc[-1]),
                "length": len(group),
                "missing_steps": steps - len(group),
                "missing_values": int(np.isnan(y).sum()),
                "mean": _round(np.nanmean(y)) if len(y) else None,
                "std": _round(np.nanstd(y)) if len(y) else None,
                "zeros": _round(float(np.mean(y == 0))) if len(y) else None,
            }
        )
    per_series = pd.DataFrame(rows)
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

"""A data profile's time-series part: ``profile(..., timeseries={"id": [...], "timestamp":
"date", "target": "sales"})`` adds :func:`timeseries_profile`'s facts (frequency, season, series
lengths, gaps, hints, per-series statistics) and a few series' values for the report's plot."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kiln.errors import ConfigError, DataError
from kiln.profile._timeseries import parse_timestamps, series_keys, timeseries_profile

if TYPE_CHECKING:
    from kiln.profile._stats import Source

__all__ = ["PLOTTED_SERIES", "series_facts", "timeseries_options"]

PLOTTED_SERIES = 6  # series drawn in the report
PLOTTED_POINTS = 500  # the last values of each drawn series
_KEYS = ("id", "timestamp", "target", "frequency")


def timeseries_options(timeseries: dict | None, target: str | None = None) -> dict | None:
    """The time-series options in one shape: ``{"id": [...], "timestamp", "target",
    "frequency"}``; the target defaults to the profile's. Bad shapes are
    ``profile.bad-timeseries``."""
    if timeseries is None:
        return None
    if not isinstance(timeseries, dict) or set(timeseries) - set(_KEYS):
        unknown = sorted(set(timeseries) - set(_KEYS)) if isinstance(timeseries, dict) else None
        raise ConfigError(
            f"timeseries takes a dict with keys {', '.join(_KEYS)}; got "
            f"{unknown or timeseries!r}. For example timeseries={{'id': ['store'], "
            "'timestamp': 'date', 'target': 'sales'}.",
            code="profile.bad-timeseries",
            field="timeseries",
        )
    ids = timeseries.get("id") or []
    ids = [ids] if isinstance(ids, str) else list(ids)
    options = {
        "id": ids,
        "timestamp": timeseries.get("timestamp"),
        "target": timeseries.get("target") or target,
        "frequency": timeseries.get("frequency"),
    }
    missing = [k for k in ("timestamp", "target") if not isinstance(options[k], str)]
    if missing or not all(isinstance(c, str) for c in ids):
        raise ConfigError(
            f"A time-series profile needs the time column and the target as column names "
            f"({' and '.join(missing) or 'id'} missing or not a name); the series id columns "
            "are optional (one series without them).",
            code="profile.bad-timeseries",
            field=(missing or ["id"])[0],
        )
    return options


def _frame(source: Source, columns: list[str]) -> pd.DataFrame:
    if source.table is not None:
        return source.table.select(columns).to_pandas()
    import pyarrow.parquet as pq

    return pq.read_table(source.parquet, columns=columns).to_pandas()


def series_facts(source: Source, options: dict) -> tuple[dict, dict]:
    """(facts, plot data) of the table's series: ``timeseries_profile``'s result, and the last
    values of a few series (the longest first) for the report."""
    columns = [*options["id"], options["timestamp"], options["target"]]
    unknown = [c for c in dict.fromkeys(columns) if c not in source.arrow_types]
    if unknown:
        raise DataError(
            f"Time-series column(s) {', '.join(map(repr, unknown))} are not in the table; it has "
            f"{', '.join(map(repr, list(source.arrow_types)[:30]))}.",
            code="profile.bad-timeseries",
            field=unknown[0],
        )
    frame = _frame(source, list(dict.fromkeys(columns)))
    facts = timeseries_profile(
        frame,
        id_columns=options["id"],
        timestamp=options["timestamp"],
        target=options["target"],
        frequency=options["frequency"],
    )
    data = pd.DataFrame(
        {
            "series": series_keys(frame, options["id"]).to_numpy(),
            "ts": parse_timestamps(frame[options["timestamp"]], options["timestamp"]).to_numpy(),
            "y": pd.to_numeric(frame[options["target"]], errors="coerce").to_numpy(dtype=float),
        }
    )
    longest = sorted(facts["per_series"], key=lambda row: -row["length"])[:PLOTTED_SERIES]
    plots: dict[str, Any] = {}
    for row in longest:
        values = data[data["series"] == row["series"]].sort_values("ts").tail(PLOTTED_POINTS)
        plots[row["series"]] = {
            "x": values["ts"].dt.strftime("%Y-%m-%d %H:%M:%S").tolist(),
            "y": [None if not np.isfinite(v) else float(v) for v in values["y"]],
        }
    return facts, plots

"""``ForecastModel``: a fitted forecaster with the series it was trained on, registered and
served like any other model.

It answers "the next steps of these series": from the history it holds, or from recent values a
request sends (which extend or replace the held ones), with the known-in-advance covariates for
the future steps taken from the request, else from the training data's future rows.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd

from kiln.errors import DataError, RequestError
from kiln.forecasting._forecaster import Forecaster
from kiln.forecasting._panel import (
    SERIES,
    STEP,
    TARGET,
    TIMESTAMP,
    ForecastSpec,
    Panel,
    quantile_column,
)
from kiln.problems import FORECASTING
from kiln.profile import parse_timestamps, series_keys
from kiln.registry import TrainedModel

__all__ = ["ForecastModel"]

# A forecast table's attribute: the series the naive baseline forecast, and their lengths.
NAIVE_FALLBACK = "naive_fallback"


class ForecastModel(TrainedModel):
    """A forecaster fitted on ``panel``, for the problem ``spec``.

    ``forecast()`` is the one way to ask it; ``predictions`` and ``prediction_table`` (what
    endpoints and batch transform call) read a request as a table of series ids, recent values
    and future covariates (see :meth:`request_frames`)."""

    def __init__(
        self,
        forecaster: Forecaster,
        *,
        spec: ForecastSpec,
        panel: Panel,
        future_covariates: pd.DataFrame,
        ids: dict[str, dict[str, Any]],
    ):
        signature = {
            "inputs": [{"name": c} for c in spec.id_columns]
            + [{"name": spec.timestamp, "type": "datetime"}, {"name": spec.target}]
            + [{"name": c} for c in spec.covariates],
            "outputs": {
                "horizon": spec.horizon,
                "quantiles": list(spec.quantiles),
                "frequency": panel.frequency,
            },
            "forecasting": spec.to_dict() | {"frequency": panel.frequency},
        }
        super().__init__(None, problem_type=FORECASTING, classes=None, signature=signature)
        self.forecaster = forecaster
        self.spec = spec
        self.panel = panel
        self.future_covariates = future_covariates
        self.ids = ids  # series key → its id columns' values, to name series in answers
        self._cache: pd.DataFrame | None = None

    @property
    def algorithm(self) -> str:
        return self.forecaster.name

    def series(self) -> list[str]:
        return self.panel.ids()

    # -- forecasting -----------------------------------------------------------------------------
    def forecast(
        self,
        series: list | None = None,
        *,
        history: pd.DataFrame | None = None,
        covariates: pd.DataFrame | None = None,
        horizon: int | None = None,
    ) -> pd.DataFrame:
        """Forecasts of ``series`` (keys or id values; all held series when None) for the next
        ``horizon`` steps (at most the trained horizon): one row per series and step with the
        id columns, the timestamp, ``step``, ``mean`` and the quantiles.

        ``history`` holds recent rows (id columns, timestamp, target, covariates) that extend or
        replace the held series, or give a series the model has never seen (forecast from that
        history alone); ``covariates`` the covariates' values for the future steps."""
        horizon = self._horizon(horizon)
        keys = self._keys(series) if series is not None else None
        panel, names = self.panel, self.ids
        if history is not None and len(history):
            rows = self._panel_rows(history, with_target=True)
            keys = keys if keys is not None else list(dict.fromkeys(rows[SERIES]))
            panel = self._with_history(panel, rows)
            names = dict(names)  # a request's new series are named in its answer only
            for key, row in zip(rows[SERIES], history.to_dict(orient="records"), strict=True):
                names.setdefault(key, {c: row.get(c) for c in self.spec.id_columns})
        keys = keys if keys is not None else panel.ids()
        known = set(panel.lengths().index)
        unknown = [k for k in keys if k not in known]
        if unknown:
            error = RequestError(
                f"Series {', '.join(map(repr, unknown[:5]))} are not among the "
                f"{len(self.panel.lengths())} series the model was trained on, and the request "
                "sends no history for them. Send their recent values (history) to forecast them.",
                code="forecast.unknown-series",
                field="series",
            )
            error.http_status = 404
            raise error
        lengths = panel.lengths()
        short = {k: lengths[k] for k in keys if lengths[k] < self.forecaster.min_length()}
        fresh = history is None and covariates is None
        if fresh and self._cache is not None:
            cached = self._cache[self._cache[SERIES].isin(keys) & (self._cache[STEP] <= horizon)]
            return self._answer(cached, keys, names, short)
        future_covs = self.future_covariates
        if covariates is not None and len(covariates):
            given = self._panel_rows(covariates, with_target=False)
            future_covs = pd.concat([given, future_covs], ignore_index=True).drop_duplicates(
                [SERIES, TIMESTAMP], keep="first"
            )
        subset = panel.subset(keys)
        future = subset.future(horizon, covariates=future_covs)
        out = self.forecaster.predict(subset, future)
        return self._answer(out, keys, names, short)

    def _with_history(self, panel: Panel, rows: pd.DataFrame) -> Panel:
        """``panel`` extended by a request's history rows; a gap is refused saying where the
        held series end (the training data's --fill advice does not apply to a request)."""
        try:
            return panel.append(rows, fill=self.spec.fill)
        except DataError as error:
            if error.code != "timeseries.gaps":
                raise
            ends = self.panel.frame.groupby(SERIES, sort=False)[TIMESTAMP].max()
            held = [k for k in dict.fromkeys(rows[SERIES]) if k in ends.index][:3]
            where = "; ".join(f"{k!r} ends {ends[k]}" for k in held)
            raise DataError(
                f"{str(error).split(' Choose how gaps')[0]} The request's history must leave no "
                "step out: send every step's value from the step after the held data's end"
                f"{f' ({where})' if where else ''}.",
                code="timeseries.gaps",
                field=error.field,
            ) from None

    def cache_default_forecast(self) -> None:
        """Forecast every held series once (what a request with only ids is answered from)."""
        self._cache = None
        try:
            frame = self.forecaster.predict(
                self.panel, self.panel.future(self.spec.horizon, self.future_covariates)
            )
        except DataError:
            return  # future covariates are missing: each request must send them
        self._cache = frame

    def off_grid(self, keys: pd.Series, times: pd.Series) -> np.ndarray:
        """Which of these (series key, time) pairs are off their held series' time grid, so no
        forecast can have that time (an actual at 23:00 for a daily series held at midnight).
        Series the model does not hold are not judged."""
        offset = self.panel.offset
        ends = self.panel.frame.groupby(SERIES, sort=False)[TIMESTAMP].max()
        end = keys.map(ends).to_numpy(dtype="datetime64[ns]")
        held = ~np.isnat(end)
        times = times.to_numpy(dtype="datetime64[ns]")
        try:
            step = pd.Timedelta(offset).to_timedelta64()  # fixed steps: days, hours, minutes
        except (ValueError, TypeError):
            step = None
        if step is not None:  # whole steps from the series' end
            off = (times - end) % step != np.timedelta64(0, "ns")
        else:  # calendar steps (month starts, weeks ending Sunday): on the offset's anchor
            off = ~pd.Series(times).map(offset.is_on_offset).to_numpy(bool)
        return held & off

    def _horizon(self, horizon: int | None) -> int:
        if horizon is None:
            return self.spec.horizon
        if (
            isinstance(horizon, bool)
            or not isinstance(horizon, Integral)  # numpy's integers too
            or not (1 <= horizon <= self.spec.horizon)
        ):
            raise RequestError(
                f"The horizon must be a whole number from 1 to {self.spec.horizon} (the horizon "
                f"this model was trained for); got {horizon!r}.",
                code="forecast.bad-horizon",
                field="horizon",
            )
        return int(horizon)

    def _keys(self, series: list) -> list[str]:
        """Series keys from what a caller names them by: a key, an id value, or a mapping of
        the id columns' values."""
        if isinstance(series, str | int | float | dict):
            series = [series]
        elif isinstance(series, tuple | np.ndarray | pd.Series | pd.Index):
            series = list(series)
        if not isinstance(series, list) or not series:
            raise RequestError(
                f"'series' must be a non-empty list of series ids (or leave it out to forecast "
                f"every series); got {str(series)[:100]}.",
                code="forecast.bad-series",
                field="series",
            )
        keys = []
        for item in series:
            if isinstance(item, dict):
                missing = [c for c in self.spec.id_columns if c not in item]
                if missing:
                    raise RequestError(
                        f"Series {item!r} lacks id column(s) {missing}.",
                        code="forecast.bad-series",
                        field="series",
                    )
                nested = [c for c in self.spec.id_columns if isinstance(item[c], dict | list)]
                if nested:
                    raise RequestError(
                        f"Series {item!r}: id column {nested[0]!r} is {item[nested[0]]!r}; an "
                        "id column's value is a text or a number.",
                        code="forecast.bad-series",
                        field="series",
                    )
                frame = pd.DataFrame([{c: item[c] for c in self.spec.id_columns}])
                keys.append(str(series_keys(frame, self.spec.id_columns).iloc[0]))
            elif item is None or isinstance(item, list | bool):
                raise RequestError(
                    f"A series id must be a text, a number or a mapping of the id columns; got "
                    f"{str(item)[:100]}.",
                    code="forecast.bad-series",
                    field="series",
                )
            else:
                keys.append(_key_text(item))
        return list(dict.fromkeys(keys))

    def _panel_rows(self, frame: pd.DataFrame, *, with_target: bool) -> pd.DataFrame:
        """A request's rows in panel columns (``series``, ``timestamp``, ``y``, covariates)."""
        spec = self.spec
        needed = [*spec.id_columns, spec.timestamp] + ([spec.target] if with_target else [])
        needed += list(spec.covariates)
        missing = [c for c in needed if c not in frame.columns]
        what = "history" if with_target else "covariates"
        if missing:
            raise RequestError(
                f"The request's {what} rows lack column(s) {', '.join(map(repr, missing))}; "
                f"each row needs {', '.join(map(repr, needed))}.",
                code="forecast.bad-request-rows",
                field=missing[0],
            )
        for column in spec.id_columns:
            odd = frame[column].map(lambda v: isinstance(v, dict | list | bool)).to_numpy(bool)
            if odd.any():
                raise RequestError(
                    f"The request's {what} rows name their series in {column!r} by a text or a "
                    f"number; {int(odd.sum())} do not: {_named_rows(frame[column], odd)}.",
                    code="forecast.bad-request-rows",
                    field=column,
                )
        out = pd.DataFrame(
            {
                SERIES: series_keys(frame, spec.id_columns).to_numpy(),
                TIMESTAMP: parse_timestamps(frame[spec.timestamp], spec.timestamp).to_numpy(),
            }
        )
        if with_target:
            out[TARGET] = _numbers(frame[spec.target], f"History values of {spec.target!r}")
        for column in spec.covariates:
            # a blank covariate is left missing (the future step then asks for it by name);
            # a given value that is not a number is refused here, naming it
            out[column] = _numbers(
                frame[column], f"Values of the covariate {column!r}", allow_missing=True
            )
        out[SERIES] = out[SERIES].astype("string")
        return out

    def _answer(
        self, frame: pd.DataFrame, keys: list[str], names: dict, short: dict[str, int]
    ) -> pd.DataFrame:
        order = {k: i for i, k in enumerate(keys)}
        frame = frame.sort_values(
            [SERIES, STEP], key=lambda s: s.map(order) if s.name == SERIES else s
        ).reset_index(drop=True)
        out = pd.DataFrame(index=frame.index)
        for column in self.spec.id_columns:
            out[column] = [names.get(k, {}).get(column, k) for k in frame[SERIES]]
        out[self.spec.timestamp] = frame[TIMESTAMP].to_numpy()
        out[STEP] = frame[STEP].to_numpy(dtype=int)
        out["mean"] = frame["mean"].to_numpy(dtype=float)
        for q in self.spec.quantiles:
            out[quantile_column(q)] = frame[quantile_column(q)].to_numpy(dtype=float)
        out.insert(0, SERIES, frame[SERIES].to_numpy())
        out.attrs[NAIVE_FALLBACK] = {k: int(n) for k, n in short.items()}
        return out

    def forecast_warnings(self, table: pd.DataFrame) -> list[str]:
        """What an answer should say about a forecast table: the series too short for the
        model's forecaster, which the naive baseline forecast instead (as in training)."""
        short = table.attrs.get(NAIVE_FALLBACK) or {}
        if not short:
            return []
        named = ", ".join(f"{k!r} ({n} values)" for k, n in list(short.items())[:5])
        more = f" and {len(short) - 5} more" if len(short) > 5 else ""
        return [
            f"Series {named}{more} are shorter than the {self.forecaster.min_length()} values "
            f"{self.algorithm} needs: the naive baseline forecast them (the last value carried "
            "on). Send more of their history for a model forecast."
        ]

    def answer_with_warnings(self, request: dict) -> tuple[list[dict[str, Any]], list[str]]:
        """:meth:`answer` and the warnings of :meth:`forecast_warnings`."""
        table = self._request_table(request)
        return self.format_forecasts(table), self.forecast_warnings(table)

    def predictions_with_warnings(self, frame: pd.DataFrame) -> tuple[list[dict], list[str]]:
        """:meth:`predictions` and the warnings of :meth:`forecast_warnings`."""
        series, history, covariates = self.request_frames(frame)
        table = self.forecast(series, history=history, covariates=covariates)
        return self.format_forecasts(table), self.forecast_warnings(table)

    # -- what endpoints and batch transform call -------------------------------------------------
    def answer(self, request: dict) -> list[dict[str, Any]]:
        """A JSON request's forecasts: ``{"series": [...], "history": [rows], "covariates":
        [rows], "horizon": k}`` (each key optional) → one object per series with its ``id``
        and ``forecast`` (``timestamp``, ``step``, ``mean``, ``quantiles``) per step."""
        return self.format_forecasts(self._request_table(request))

    def _request_table(self, request: dict) -> pd.DataFrame:
        """A JSON request checked and forecast (see :meth:`answer`)."""
        if not isinstance(request, dict):
            raise RequestError(
                'A forecast request is a JSON object: {"series": [ids], "history": [rows], '
                '"covariates": [rows], "horizon": steps} (each optional).',
                code="forecast.bad-request",
            )
        unknown = sorted(set(request) - {"series", "history", "covariates", "horizon"})
        if unknown:
            raise RequestError(
                f"Unknown field(s) {unknown} in the forecast request; it takes series, history, "
                "covariates and horizon.",
                code="forecast.bad-request",
                field=unknown[0],
            )
        history = _rows_frame(request.get("history"), "history")
        covariates = _rows_frame(request.get("covariates"), "covariates")
        return self.forecast(
            request.get("series"),
            history=history,
            covariates=covariates,
            horizon=request.get("horizon"),
        )

    def format_forecasts(self, table: pd.DataFrame) -> list[dict[str, Any]]:
        out = []
        for key, rows in table.groupby(SERIES, sort=False):
            ids = {c: _native(rows[c].iloc[0]) for c in self.spec.id_columns}
            out.append(
                {
                    "series": str(key),
                    "id": ids,
                    "forecast": [
                        {
                            "timestamp": pd.Timestamp(t).isoformat(),
                            "step": int(k),
                            "mean": round(float(m), 6),
                            "quantiles": {
                                f"{q:g}": round(float(v), 6)
                                for q, v in zip(self.spec.quantiles, qs, strict=True)
                            },
                        }
                        for t, k, m, *qs in rows[
                            [self.spec.timestamp, STEP, "mean"]
                            + [quantile_column(q) for q in self.spec.quantiles]
                        ].itertuples(index=False)
                    ],
                }
            )
        return out

    def predictions(self, frame: pd.DataFrame) -> list[dict[str, Any]]:
        """Forecasts for a table of rows: rows with a target value are history, rows without
        one (but with a timestamp) future covariates, and rows with only ids name series."""
        return self.predictions_with_warnings(frame)[0]

    def prediction_table(self, frame: pd.DataFrame | None = None) -> pd.DataFrame:
        """Forecasts as a table (batch transform): every held series when ``frame`` is None or
        names none, else the series ``frame`` names (see :meth:`predictions`)."""
        if frame is None or len(frame) == 0:
            return self.forecast()
        series, history, covariates = self.request_frames(frame)
        return self.forecast(series, history=history, covariates=covariates)

    def request_frames(self, frame: pd.DataFrame):
        """(series, history, covariates) from a table of request rows (see ``predictions``)."""
        spec = self.spec
        missing = [c for c in spec.id_columns if c not in frame.columns]
        if missing:
            raise RequestError(
                f"Forecast rows need the series id column(s) {missing}; these rows have "
                f"{[str(c) for c in frame.columns][:10]}. Send a header that names them (a CSV "
                "body is comma-separated).",
                code="forecast.bad-request-rows",
                field=missing[0],
            )
        keys = series_keys(frame, spec.id_columns)
        series = list(dict.fromkeys(keys.tolist()))
        if spec.timestamp not in frame.columns:
            return series, None, None
        has_time = frame[spec.timestamp].notna()
        has_y = frame[spec.target].notna() if spec.target in frame.columns else has_time & False
        history = frame[has_time & has_y]
        covariates = frame[has_time & ~has_y]
        if len(covariates) and not spec.covariates:  # would be dropped, leaving a gap unsaid
            rows = ", ".join(str(i + 1) for i in np.flatnonzero(has_time & ~has_y)[:5])
            raise RequestError(
                f"Row(s) {rows} have a {spec.timestamp!r} but no {spec.target!r}: this model "
                "takes no future covariates, so a row with a time is a history row and needs "
                f"its value. Fill in {spec.target!r}, or leave {spec.timestamp!r} empty to only "
                "name the series.",
                code="forecast.bad-request-rows",
                field=spec.target,
            )
        return (
            series,
            history if len(history) else None,
            covariates if len(covariates) else None,
        )

    # -- the row-model calls a forecaster does not answer -----------------------------------------
    def _rows_refused(self, call: str) -> RequestError:
        return RequestError(
            f"{call}() scores input rows, and model {self.algorithm!r} forecasts series: call "
            "forecast(series, history=..., horizon=...) or prediction_table(frame) instead.",
            code="forecast.unsupported",
            field=call,
        )

    def predict(self, frame: pd.DataFrame):
        raise self._rows_refused("predict")

    def predict_values(self, frame: pd.DataFrame):
        raise self._rows_refused("predict_values")

    def predict_proba(self, frame: pd.DataFrame):
        raise self._rows_refused("predict_proba")

    def embed(self, frame: pd.DataFrame):
        raise self._rows_refused("embed")

    def set_threads(self, threads: int) -> None:
        self.forecaster.threads = threads


def _rows_frame(rows, what: str) -> pd.DataFrame | None:
    if rows is None:
        return None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise RequestError(
            f"{what!r} must be a list of row objects (column → value).",
            code="forecast.bad-request",
            field=what,
        )
    return pd.DataFrame(rows) if rows else None


def _numbers(values: pd.Series, what: str, *, allow_missing: bool = False) -> np.ndarray:
    """A request column as finite floats, refusing (``forecast.bad-request-rows``) the values
    that are not, by row number (1-based) and value."""
    flags = values.map(lambda v: isinstance(v, bool | np.bool_)).to_numpy(bool)
    numbers = pd.to_numeric(values.mask(flags), errors="coerce").to_numpy(float)
    missing = values.isna().to_numpy() & ~flags
    bad = ~np.isfinite(numbers) & ~(missing & allow_missing)
    if bad.any():
        shown = _named_rows(values, bad)
        need = "finite numbers (blank where unknown)" if allow_missing else "finite numbers"
        raise RequestError(
            f"{what} must be {need}; {int(bad.sum())} are not: {shown}. Fix those rows.",
            code="forecast.bad-request-rows",
            field=str(values.name),
        )
    return numbers


def _named_rows(values: pd.Series, bad: np.ndarray) -> str:
    """The first five flagged rows of a request column, by 1-based row number and value."""
    return "; ".join(f"row {i + 1} ({_shown(values.iloc[i])})" for i in np.flatnonzero(bad)[:5])


def _shown(value) -> str:
    """A request value as an error message shows it."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "empty"
    return repr(_native(value))


def _key_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _native(value):
    return value.item() if hasattr(value, "item") else value

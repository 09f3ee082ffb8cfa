"""``ForecastModel``: a fitted forecaster with the series it was trained on, registered and
served like any other model.

It answers "the next steps of these series": from the history it holds, or from recent values a
request sends (which extend or replace the held ones), with the known-in-advance covariates for
the future steps taken from the request, else from the training data's future rows.
"""

from __future__ import annotations

from typing import Any

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
            panel = panel.append(rows, fill=self.spec.fill)
            names = dict(names)  # a request's new series are named in its answer only
            for key, row in zip(rows[SERIES], history.to_dict(orient="records"), strict=True):
                names.setdefault(key, {c: row.get(c) for c in self.spec.id_columns})
        keys = keys if keys is not None else panel.ids()
        known = set(panel.lengths().index)
        unknown = [k for k in keys if k not in known]
        if unknown:
            error = RequestError(
                f"Series {', '.join(map(repr, unknown[:5]))} are not among the "
                f"{len(known)} series model was trained on, and the request sends no history "
                "for them. Send their recent values (history) to forecast them.",
                code="forecast.unknown-series",
                field="series",
            )
            error.http_status = 404
            raise error
        fresh = history is None and covariates is None
        if fresh and self._cache is not None:
            cached = self._cache[self._cache[SERIES].isin(keys) & (self._cache[STEP] <= horizon)]
            return self._answer(cached, keys, names)
        future_covs = self.future_covariates
        if covariates is not None and len(covariates):
            given = self._panel_rows(covariates, with_target=False)
            future_covs = pd.concat([given, future_covs], ignore_index=True).drop_duplicates(
                [SERIES, TIMESTAMP], keep="first"
            )
        subset = panel.subset(keys)
        future = subset.future(horizon, covariates=future_covs)
        out = self.forecaster.predict(subset, future)
        return self._answer(out, keys, names)

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

    def _horizon(self, horizon: int | None) -> int:
        if horizon is None:
            return self.spec.horizon
        if (
            isinstance(horizon, bool)
            or not isinstance(horizon, int)
            or not (1 <= horizon <= self.spec.horizon)
        ):
            raise RequestError(
                f"The horizon must be a whole number from 1 to {self.spec.horizon} (the horizon "
                f"this model was trained for); got {horizon!r}.",
                code="forecast.bad-horizon",
                field="horizon",
            )
        return horizon

    def _keys(self, series: list) -> list[str]:
        """Series keys from what a caller names them by: a key, an id value, or a mapping of
        the id columns' values."""
        if isinstance(series, str | int | float | dict):
            series = [series]
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
        out = pd.DataFrame(
            {
                SERIES: series_keys(frame, spec.id_columns).to_numpy(),
                TIMESTAMP: parse_timestamps(frame[spec.timestamp], spec.timestamp).to_numpy(),
            }
        )
        if with_target:
            out[TARGET] = pd.to_numeric(frame[spec.target], errors="coerce").to_numpy(float)
            if out[TARGET].isna().any():
                raise RequestError(
                    f"History values of {spec.target!r} must be numbers; some are missing or "
                    "not numbers.",
                    code="forecast.bad-request-rows",
                    field=spec.target,
                )
        for column in spec.covariates:
            out[column] = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
        out[SERIES] = out[SERIES].astype("string")
        return out

    def _answer(self, frame: pd.DataFrame, keys: list[str], names: dict) -> pd.DataFrame:
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
        return out

    # -- what endpoints and batch transform call -------------------------------------------------
    def answer(self, request: dict) -> list[dict[str, Any]]:
        """A JSON request's forecasts: ``{"series": [...], "history": [rows], "covariates":
        [rows], "horizon": k}`` (each key optional) → one object per series with its ``id``
        and ``forecast`` (``timestamp``, ``step``, ``mean``, ``quantiles``) per step."""
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
        table = self.forecast(
            request.get("series"),
            history=history,
            covariates=covariates,
            horizon=request.get("horizon"),
        )
        return self.format_forecasts(table)

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
        series, history, covariates = self.request_frames(frame)
        return self.format_forecasts(self.forecast(series, history=history, covariates=covariates))

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
                f"Forecast rows need the series id column(s) {missing}.",
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
        return (
            series,
            history if len(history) else None,
            covariates if len(covariates) and spec.covariates else None,
        )

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


def _key_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _native(value):
    return value.item() if hasattr(value, "item") else value

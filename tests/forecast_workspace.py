"""A workspace with two small trained forecasters, for the serving, transform and monitoring
tests of forecasting: ``sales`` (3 daily series, no covariates) and ``promo`` (the same series
with a known-in-advance covariate ``price``, its future rows in the data)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

SERIES = ["s0", "s1", "s2"]
DAYS = 35
HORIZON = 7
FIRST_DAY = pd.Timestamp("2024-01-01")
FIRST_FUTURE_DAY = FIRST_DAY + pd.Timedelta(days=DAYS)


def history_rows(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for key in SERIES:
        t = np.arange(DAYS)
        frames.append(
            pd.DataFrame(
                {
                    "store": key,
                    "date": pd.date_range(FIRST_DAY, periods=DAYS, freq="D").strftime("%Y-%m-%d"),
                    "sales": 50 + 10 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 2, DAYS),
                    "price": rng.uniform(1, 2, DAYS).round(2),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


_TEMPLATE: dict[str, tuple[Path, str, str]] = {}


def forecast_workspace(tmp_path_factory) -> tuple:
    """``(workspace, sales_ref, promo_ref)``, a private copy: both models trained (seasonal
    naive) and approved once per test process, then the folder copied for each caller."""
    import kiln

    if "home" not in _TEMPLATE:
        home = tmp_path_factory.mktemp("forecast-template") / "ws"
        workspace, sales, promo = _build(home)
        workspace.close()
        _TEMPLATE["home"] = (home, sales, promo)
    home, sales, promo = _TEMPLATE["home"]
    copy = tmp_path_factory.mktemp("forecast") / "ws"
    shutil.copytree(home, copy)
    return kiln.Workspace(copy), sales, promo


def _build(home: Path) -> tuple:
    import kiln
    from kiln.forecasting import ForecastSpec, train_forecaster

    workspace = kiln.Workspace.init(home)
    history = history_rows()
    workspace.data.ingest(history.drop(columns=["price"]), name="sales")
    future = pd.DataFrame(
        [
            {"store": key, "date": day.strftime("%Y-%m-%d"), "sales": None, "price": 1.5}
            for key in SERIES
            for day in pd.date_range(FIRST_FUTURE_DAY, periods=HORIZON, freq="D")
        ]
    )
    workspace.data.ingest(pd.concat([history, future], ignore_index=True), name="promo")
    refs = []
    for data, covariates in (("sales", []), ("promo", ["price"])):
        spec = ForecastSpec(
            target="sales",
            timestamp="date",
            id_columns=["store"],
            horizon=HORIZON,
            covariates=covariates,
            backtests=1,
        )
        result = train_forecaster(workspace, data, spec, algorithm="seasonal_naive", name=data)
        workspace.models.approve(result.model.ref, reason="test fixture")
        refs.append(result.model.ref)
    return workspace, *refs


def new_series_history(key: str = "n1", days: int = 21) -> list[dict]:
    """Recent rows of a series no model was trained on (with ``price``)."""
    return [
        {"store": key, "date": day.strftime("%Y-%m-%d"), "sales": float(10 + i % 7), "price": 1.0}
        for i, day in enumerate(pd.date_range(FIRST_DAY, periods=days, freq="D"))
    ]

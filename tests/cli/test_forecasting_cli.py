"""``kiln train --problem-type forecasting``, ``kiln algorithms list --problem-type
forecasting`` and ``kiln data profile --id --timestamp`` through the real CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd


def _sales_csv(path) -> None:
    """Daily sales of stores in two regions; s0 is shorter than a season."""
    rng = np.random.default_rng(1)
    parts = []
    for i, n in enumerate((5, 30, 30, 30)):
        parts.append(
            pd.DataFrame(
                {
                    "store": f"s{i}",
                    "region": "north" if i % 2 else "south",
                    "date": pd.date_range("2024-03-01", periods=n, freq="D").strftime("%Y-%m-%d"),
                    "sales": 20 + 5 * np.sin(np.arange(n)) + rng.normal(0, 1, n),
                }
            )
        )
    pd.concat(parts).to_csv(path, index=False)


def test_train_a_forecaster_list_algorithms_and_profile_series(tmp_path, run_cli):
    import kiln

    home = tmp_path / "ws"
    workspace = kiln.Workspace.init(home)
    _sales_csv(tmp_path / "sales.csv")
    workspace.data.ingest(tmp_path / "sales.csv", name="sales")
    workspace.close()
    common = ["--data", "sales", "--target", "sales", "--timestamp", "date", "--horizon", "5"]

    trained = run_cli(
        "train", *common, "--problem-type", "forecasting", "--id", "store", "--id", "region",
        "--algorithm", "drift", "--quantiles", "0.2,0.8", "--backtests", "2",
        "--short-series", "drop", "--json", home=home, check=True,
    )  # fmt: skip
    result = json.loads(trained.stdout)
    assert result["model"] == "sales:1"
    assert result["metrics"]["backtest"]["coverage_nominal"] == 0.6
    assert result["series"]["dropped"] == ["s0|south"]

    refused = run_cli("train", *common, "--id", "store", "--algorithm", "lightgbm", home=home)
    assert refused.returncode == 2 and "forecast.needs-problem-type" in refused.stderr

    listed = run_cli("algorithms", "list", "--problem-type", "forecasting", "--json", check=True)
    names = [a["name"] for a in json.loads(listed.stdout)]
    assert {"naive", "seasonal_naive", "mean", "drift"} <= set(names)

    profiled = run_cli(
        "data", "profile", "sales", "--id", "store", "--timestamp", "date", "--target",
        "sales", "--no-model", "--json", home=home, check=True,
    )  # fmt: skip
    series = json.loads(profiled.stdout)["timeseries"]
    assert (series["series"], series["frequency"], series["length"]["min"]) == (4, "D", 5)

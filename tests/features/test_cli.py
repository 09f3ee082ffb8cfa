"""``kiln features`` through the CLI: create, ingest, list, describe, get, put, query and
training-set, and a refused ingest's exit status."""

from __future__ import annotations

import json

import pandas as pd


def test_the_feature_commands_end_to_end(tmp_path, run_cli):
    import kiln

    ws = kiln.Workspace.init(tmp_path / "ws")
    home = ws.home
    ws.data.ingest(
        pd.DataFrame(
            {
                "customer_id": [1, 2, 1],
                "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-05"]),
                "spend": [1.0, 2.0, 3.0],
            }
        ),
        name="spend",
    )
    ws.data.ingest(
        pd.DataFrame(
            {
                "customer_id": [1, 1, 3],
                "when": pd.to_datetime(["2024-01-02", "2024-01-09", "2024-01-09"]),
            }
        ),
        name="labels",
    )
    schema = tmp_path / "schema.yaml"
    schema.write_text("customer_id: int64\nts: timestamp\nspend: float64\n")
    created = run_cli(
        "features", "create", "customers", "--record-id", "customer_id", "--event-time", "ts",
        "--schema", str(schema), "--online", "--ttl", "3650d", "--json", home=home, check=True,
    )  # fmt: skip
    assert json.loads(created.stdout)["features"] == ["spend"]
    run_cli("features", "ingest", "customers", "spend", home=home, check=True)
    listed = run_cli("features", "list", "--json", home=home, check=True)
    assert [(g["name"], g["rows"]) for g in json.loads(listed.stdout)] == [("customers", 3)]
    assert (
        "customer_id" in run_cli("features", "describe", "customers", home=home, check=True).stdout
    )
    got = run_cli("features", "get", "customers", "--id", "1", "--json", home=home, check=True)
    assert json.loads(got.stdout)["spend"] == 3.0
    put = '{"customer_id": 3, "ts": "2024-01-08T00:00:00", "spend": 9}'
    run_cli("features", "put", "customers", put, home=home, check=True)
    queried = run_cli(
        "features",
        "query",
        "SELECT sum(spend) AS s FROM customers",
        "--json",
        home=home,
        check=True,
    )
    assert json.loads(queried.stdout) == [{"s": 15.0}]
    joined = run_cli(
        "features", "training-set", "labels", "--features", "customers:spend",
        "--event-time", "when", "--name", "train_rows", home=home, check=True,
    )  # fmt: skip
    assert "train_rows:1" in joined.stdout
    assert ws.data.load("train_rows")["spend"].tolist() == [1.0, 3.0, 9.0]
    missing = run_cli("features", "get", "customers", "--id", "404", home=home)
    assert missing.returncode == 2 and "feature.unknown-record" in missing.stderr + missing.stdout
    refused = run_cli("features", "put", "customers", '{"customer_id": 3}', home=home)
    assert refused.returncode == 2 and "'ts'" in refused.stderr + refused.stdout

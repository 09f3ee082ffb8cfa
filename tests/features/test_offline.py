"""The offline store: create, ingest (data set, DataFrame, recipe output, one record), SQL with
time travel, and every bad input refused with nothing written."""

from __future__ import annotations

import pandas as pd
import pytest

from kiln.errors import ConfigError, DataError, NotFound, StateError


def frame(ids, days, values, names=None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ids,
            "ts": pd.to_datetime("2024-01-01") + pd.to_timedelta(days, unit="D"),
            "spend": pd.array(values, dtype="float64"),
            "plan": names or ["basic"] * len(ids),
        }
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A workspace with group 'customers' (schema from a data set) and one ingest of 3 rows."""
    import kiln

    workspace = kiln.Workspace.init(tmp_path_factory.mktemp("features") / "ws")
    workspace.data.ingest(frame([1, 2, 3], [0, 1, 2], [10, 20, 30]), name="spend")
    workspace.features.create(
        "customers", record_id="customer_id", event_time="ts", source="spend", description="x"
    )
    workspace.features.ingest("customers", "spend")
    yield workspace
    workspace.close()


def test_a_group_takes_its_schema_from_a_data_set_and_ingests_append_with_write_times(store):
    group = store.features.describe("customers")
    assert group.schema == {
        "customer_id": "int64",
        "ts": "timestamp",
        "spend": "float64",
        "plan": "string",
    }
    assert group.features == ["spend", "plan"]
    first = store.features.ingests("customers")[0]
    rows = store.features.query("SELECT customer_id, spend, write_time FROM customers ORDER BY 1")
    assert rows["customer_id"].tolist() == [1, 2, 3]
    assert (rows["write_time"] == pd.Timestamp(first.write_time)).all()
    assert [g.name for g in store.features.list()] == ["customers"]


def test_time_travel_sees_only_what_was_written_by_then(tmp_path):
    import kiln

    ws = kiln.Workspace.init(tmp_path / "ws")
    ws.features.create(
        "customers", record_id="customer_id", event_time="ts", source=frame([1], [0], [1])
    )
    first = ws.features.ingest("customers", frame([1, 2], [0, 0], [1, 2]))
    second = ws.features.put_record(
        "customers", {"customer_id": 1, "ts": "2024-02-01T00:00:00", "spend": 5, "plan": "pro"}
    )
    assert second.write_time > first.write_time
    count = "SELECT count(*) AS n FROM customers"
    assert ws.features.query(count)["n"].item() == 3
    assert ws.features.query(count, as_of=first.write_time)["n"].item() == 2
    assert ws.features.query(count, as_of="2000-01-01T00:00:00")["n"].item() == 0
    summary = ws.features.summary("customers")
    assert (summary["ingests"], summary["rows"]) == (2, 3)


def test_a_recipe_output_is_ingested_with_the_key_columns_passed_through(tmp_path):
    import kiln

    ws = kiln.Workspace.init(tmp_path / "ws")
    ws.data.ingest(frame([1, 2, 3], [0, 1, 2], [10, None, 30]), name="raw")
    ws.features.create(
        "filled",
        record_id="customer_id",
        event_time="ts",
        schema={"customer_id": "int64", "ts": "timestamp", "spend": "float64", "plan": "string"},
    )
    recipe = [{"step": "impute", "columns": ["spend"], "strategy": "constant", "fill_value": 0}]
    ws.features.ingest("filled", "raw", recipe=recipe)
    rows = ws.features.query("SELECT customer_id, spend FROM filled ORDER BY 1")
    assert rows["spend"].tolist() == [10.0, 0.0, 30.0]


@pytest.mark.parametrize(
    ("change", "code", "column"),
    [
        (lambda f: f.drop(columns="customer_id"), "feature.missing-column", "customer_id"),
        (lambda f: f.drop(columns="ts"), "feature.missing-column", "ts"),
        (lambda f: f.assign(customer_id=[1, None]), "feature.missing-key", "customer_id"),
        (lambda f: f.assign(ts=[f.ts[0], None]), "feature.missing-key", "ts"),
        (lambda f: f.assign(extra=1), "feature.schema-changed", "extra"),
        (lambda f: f.drop(columns="plan"), "feature.schema-changed", "plan"),
        (lambda f: f.assign(spend=["a", "b"]), "feature.schema-changed", "spend"),
    ],
)
def test_bad_rows_are_refused_naming_the_column_and_nothing_is_written(store, change, code, column):
    before = store.features.summary("customers")
    with pytest.raises(DataError) as caught:
        store.features.ingest("customers", change(frame([7, 8], [5, 6], [1, 2])))
    assert caught.value.code == code and caught.value.field == column
    assert repr(column) in str(caught.value)
    after = store.features.summary("customers")
    assert (after["ingests"], after["rows"]) == (before["ingests"], before["rows"])


def test_duplicate_id_and_event_time_pairs_are_refused_naming_an_example(store):
    with pytest.raises(DataError, match="Record id 8 has 2 rows") as caught:
        store.features.ingest("customers", frame([7, 8, 8], [1, 2, 2], [1, 2, 3]))
    assert caught.value.code == "feature.duplicate-record"
    assert store.features.summary("customers")["ingests"] == 1


def test_bad_groups_and_schemas_are_refused(store, tmp_path):
    with pytest.raises(StateError, match="exists already"):
        store.features.create("customers", record_id="customer_id", event_time="ts", source="spend")
    with pytest.raises(ConfigError, match="'when'") as caught:
        store.features.create("g2", record_id="customer_id", event_time="when", source="spend")
    assert caught.value.code == "feature.missing-column"
    with pytest.raises(ConfigError, match="'plan'"):
        store.features.create(
            "g3", record_id="customer_id", event_time="ts",
            schema={"customer_id": "int64", "ts": "timestamp", "plan": "text"},
        )  # fmt: skip
    with pytest.raises(NotFound) as caught:
        store.features.ingest("nope", "spend")
    assert caught.value.code == "feature.unknown-group"
    with pytest.raises(ConfigError) as caught:
        store.features.query("SELECT * FROM read_csv('/etc/passwd')")
    assert caught.value.code == "feature.bad-query"
    assert [g.name for g in store.features.list()] == ["customers"]

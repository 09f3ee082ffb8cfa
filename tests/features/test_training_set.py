"""``training_set``: the point-in-time join against a brute-force one on randomized data with
ties in event time, late records and ids without history; and its bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kiln.errors import ConfigError, DataError, NotFound

DAY = pd.Timestamp("2024-01-01")


def batch(rng, size: int, ids: int, days: int) -> pd.DataFrame:
    """Random records with one row per (id, day); few days, so later batches tie and go back."""
    rows = pd.DataFrame(
        {"customer_id": rng.integers(0, ids, size), "day": rng.integers(0, days, size)}
    ).drop_duplicates()
    return pd.DataFrame(
        {
            "customer_id": rows["customer_id"].to_numpy(),
            "ts": DAY + pd.to_timedelta(rows["day"].to_numpy(), unit="D"),
            "spend": rng.normal(size=len(rows)).round(3),
            "visits": rng.integers(0, 100, len(rows)),
        }
    )


def brute_force(entity: pd.DataFrame, batches: list[pd.DataFrame]) -> pd.DataFrame:
    """For each entity row, loop over every record: the latest event time at or before the
    row's, the later batch on a tie."""
    out = []
    for _, row in entity.iterrows():
        best, best_key = None, None
        for order, records in enumerate(batches):
            for record in records.itertuples():
                if record.customer_id != row.customer_id or record.ts > row.when:
                    continue
                key = (record.ts, order)
                if best_key is None or key > best_key:
                    best, best_key = record, key
        out.append(
            {"spend": np.nan if best is None else best.spend,
             "visits": np.nan if best is None else float(best.visits)}
        )  # fmt: skip
    return pd.DataFrame(out)


@pytest.fixture(scope="module")
def randomized(tmp_path_factory):
    import kiln

    rng = np.random.default_rng(17)
    ws = kiln.Workspace.init(tmp_path_factory.mktemp("pit") / "ws")
    batches = [batch(rng, 60, ids=15, days=12) for _ in range(3)]
    ws.features.create("customers", record_id="customer_id", event_time="ts", source=batches[0])
    for records in batches:
        ws.features.ingest("customers", records)
    # Ids 15-19 have no history; times fall on record days (ties with the entity) and between.
    entity = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 20, 150),
            "when": DAY + pd.to_timedelta(rng.integers(-1, 14, 150) * 12, unit="h"),
            "label": rng.integers(0, 2, 150),
        }
    )
    yield ws, batches, entity
    ws.close()


def test_the_join_matches_a_brute_force_one_on_random_data(randomized):
    ws, batches, entity = randomized
    # The data do hold ties across ingests and late records (an earlier event time written later).
    keys = [set(zip(b.customer_id, b.ts, strict=True)) for b in batches]
    assert keys[0] & keys[1] or keys[1] & keys[2]
    assert (batches[2].ts.min() < batches[1].ts.max()) and (
        batches[1].ts.min() < batches[0].ts.max()
    )
    joined = ws.features.training_set(
        entity, ["customers:spend", "customers:visits"], event_time="when"
    )
    assert joined.columns.tolist() == ["customer_id", "when", "label", "spend", "visits"]
    pd.testing.assert_frame_equal(joined[["customer_id", "when", "label"]], entity)
    expected = brute_force(entity, batches)
    assert expected["spend"].isna().any() and expected["spend"].notna().any()
    pd.testing.assert_series_equal(
        joined["spend"].astype(float), expected["spend"], check_names=False
    )
    pd.testing.assert_series_equal(
        joined["visits"].astype(float), expected["visits"], check_names=False
    )


def test_as_of_joins_only_what_was_written_by_then(randomized):
    ws, batches, entity = randomized
    first = ws.features.ingests("customers")[0]
    joined = ws.features.training_set(
        entity, ["customers:*"], event_time="when", as_of=first.write_time
    )
    expected = brute_force(entity, batches[:1])
    pd.testing.assert_series_equal(
        joined["spend"].astype(float), expected["spend"], check_names=False
    )


def test_colliding_names_are_prefixed_with_the_group(randomized):
    ws, _, entity = randomized
    joined = ws.features.training_set(
        entity.assign(spend=1.0).head(3), ["customers:spend"], event_time="when"
    )
    assert joined.columns.tolist()[-1] == "customers__spend"


@pytest.mark.parametrize(
    ("features", "error", "code"),
    [
        (["nope:spend"], NotFound, "feature.unknown-group"),
        (["customers:nope"], ConfigError, "feature.unknown-feature"),
        (["customers"], ConfigError, "feature.bad-feature"),
        ([], ConfigError, "feature.no-features"),
    ],
)
def test_unknown_groups_and_features_are_refused(randomized, features, error, code):
    ws, _, entity = randomized
    with pytest.raises(error) as caught:
        ws.features.training_set(entity, features, event_time="when")
    assert caught.value.code == code


def test_entity_rows_without_the_key_columns_are_refused(randomized):
    ws, _, entity = randomized
    with pytest.raises(ConfigError, match="'customer_id'") as caught:
        ws.features.training_set(
            entity.drop(columns="customer_id"), ["customers:spend"], event_time="when"
        )
    assert caught.value.code == "feature.missing-column"
    with pytest.raises(ConfigError, match="'ts'"):
        ws.features.training_set(entity, ["customers:spend"])


def test_entity_ids_or_times_of_another_type_are_refused(randomized):
    ws, _, entity = randomized
    with pytest.raises(DataError) as caught:
        ws.features.training_set(
            entity.assign(customer_id="seven"), ["customers:spend"], event_time="when"
        )
    assert caught.value.code == "feature.bad-entity"
    with pytest.raises(DataError, match="timestamps"):
        ws.features.training_set(entity.assign(when="soon"), ["customers:spend"], event_time="when")


def test_a_group_with_no_ingest_joins_missing_values(tmp_path):
    import kiln

    ws = kiln.Workspace.init(tmp_path / "ws")
    ws.features.create(
        "empty", record_id="customer_id", event_time="ts",
        schema={"customer_id": "string", "ts": "timestamp", "spend": "float64"},
    )  # fmt: skip
    entity = pd.DataFrame({"customer_id": ["a", "b"], "ts": [DAY, DAY]})
    joined = ws.features.training_set(entity, ["empty:spend"])
    assert joined["spend"].isna().all() and joined["spend"].dtype == float

import pandas as pd
import pytest

from kiln.errors import ConfigError, DataError


@pytest.fixture
def churn(ws, churn_csv):
    return ws.data.ingest(churn_csv, name="churn")


def test_query_latest_and_pinned_versions(ws, churn):
    ws.data.ingest(pd.DataFrame({"churn": ["Yes"]}), name="churn")  # version 2: one row
    assert ws.data.query("SELECT count(*) AS n FROM churn")["n"][0] == 1
    assert ws.data.query("SELECT count(*) AS n FROM churn@1")["n"][0] == 7043
    grouped = ws.data.query(
        "SELECT churn, count(*) AS n FROM churn@1 GROUP BY churn ORDER BY churn"
    )
    assert grouped.to_dict("records") == [{"churn": "No", "n": 5174}, {"churn": "Yes", "n": 1869}]


def test_bad_query_names_known_data_sets(ws, churn):
    with pytest.raises(DataError, match="Known data sets: churn"):
        ws.data.query("SELECT * FROM nope")


def test_head(ws, churn):
    head = ws.data.head("churn", 3)
    assert len(head) == 3 and list(head.columns)[0] == "churn"


def test_split_is_stratified_seeded_and_recorded(ws, churn):
    parts = ws.data.split(churn, target="churn", seed=7)
    sizes = {p: v.row_count for p, v in parts.items()}
    assert sizes == {"train": 4930, "validation": 704, "test": 1409}
    rates = {p: (ws.data.load(v)["churn"] == "Yes").mean() for p, v in parts.items()}
    assert max(rates.values()) - min(rates.values()) < 0.01
    again = ws.data.split(churn, target="churn", seed=7)
    assert {p: v.id for p, v in again.items()} == {p: v.id for p, v in parts.items()}
    other = ws.data.split(churn, target="churn", seed=8)
    assert other["train"].digest != parts["train"].digest
    from sqlalchemy import select

    from kiln.store import LineageRow

    with ws.store.read() as session:
        edges = session.scalars(select(LineageRow).where(LineageRow.source_id == churn.id)).all()
    assert {e.target_id for e in edges} >= {v.id for v in parts.values()}


def test_time_ordered_split(ws):
    frame = pd.DataFrame(
        {"day": pd.date_range("2024-01-01", periods=100).strftime("%Y-%m-%d"), "y": range(100)}
    ).sample(frac=1, random_state=1)
    version = ws.data.ingest(frame, name="series")
    parts = ws.data.split(version, time_column="day", ratios=(0.6, 0.2, 0.2))
    train, validation, test = (ws.data.load(parts[p]) for p in ("train", "validation", "test"))
    assert len(train) == 60 and train["day"].max() < validation["day"].min()
    assert validation["day"].max() < test["day"].min()


@pytest.mark.parametrize("ratios", [(0.5, 0.5, 0.5), (0.0, 0.5, 0.5), (0.7, 0.3)])
def test_bad_ratios(ws, churn, ratios):
    with pytest.raises(ConfigError, match="ratios"):
        ws.data.split(churn, ratios=ratios)


def test_split_on_unknown_column_suggests_the_closest(ws, churn):
    with pytest.raises(DataError, match="Did you mean 'churn'"):
        ws.data.split(churn, target="chrn")

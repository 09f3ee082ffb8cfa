import pandas as pd
import pytest

from helpers import ON_BOTH_ARTIFACT_STORES
from kiln.errors import ConfigError, DataError


@pytest.fixture
def churn(ws, churn_csv):
    return ws.data.ingest(churn_csv, name="churn")


@ON_BOTH_ARTIFACT_STORES
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


@ON_BOTH_ARTIFACT_STORES
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


# -- issue 19: the rewrite touches identifiers only; file access is the caller's to grant ---------


def test_query_rewrites_refs_outside_strings_and_comments_only(ws, churn):
    frame = ws.data.query(
        "SELECT 'churn@1' AS s, count(*) AS n -- churn@7 is not read\nFROM churn@1 /* churn@9 */"
    )
    assert frame.to_dict("records") == [{"s": "churn@1", "n": 7043}]
    assert ws.data.query("SELECT 'a@1' AS s")["s"][0] == "a@1"


@ON_BOTH_ARTIFACT_STORES
def test_query_without_external_access_reads_only_the_lake(ws, churn, tmp_path):
    assert ws.data.query("SELECT count(*) AS n FROM churn@1")["n"][0] == 7043
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    target = tmp_path / "out.csv"
    for sql in (
        f"SELECT * FROM read_csv('{secret}')",
        "SELECT * FROM read_csv('/etc/passwd')",
        f"COPY (SELECT * FROM churn) TO '{target}'",
        f"ATTACH '{tmp_path / 'x.db'}' AS x",
        "SET enable_external_access = true",
    ):
        with pytest.raises(DataError) as info:
            ws.data.query(sql, external_access=False)
        assert info.value.code == "data.external-access", sql
        assert "external_access=True" in info.value.message
    assert not target.exists() and not (tmp_path / "x.db").exists()
    # The default is off too: a query on someone else's behalf cannot forget to turn it off.
    with pytest.raises(DataError, match="data.external-access|outside the lake"):
        ws.data.query(f"SELECT * FROM read_csv('{secret}')")
    assert (
        ws.data.query(f"SELECT count(*) AS n FROM read_csv('{secret}')", external_access=True)["n"][
            0
        ]
        == 1
    )

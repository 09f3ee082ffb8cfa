import datetime
import decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kiln.training._signature import build_signature, storage_kind


def test_storage_kinds():
    assert storage_kind(pd.Series([1, 2])) == "number"
    assert storage_kind(pd.Series([1.5, None])) == "number"
    assert storage_kind(pd.Series(["a", None])) == "string"
    assert storage_kind(pd.Series([True, None, False], dtype=object)) == "boolean"
    assert storage_kind(pd.Series(pd.to_datetime(["2024-01-01"]))) == "datetime"


def test_signature_lists_inputs_ignored_columns_and_outputs():
    frame = pd.DataFrame({"id": ["a", "b"], "x": [1.0, 2.0], "c": ["u", "v"], "y": ["no", "yes"]})
    signature = build_signature(
        frame,
        column_types={"id": "identifier", "x": "numeric", "c": "categorical", "y": "boolean"},
        target="y",
        problem_type="binary",
        classes=["no", "yes"],
        positive_label="yes",
    )
    assert [c["name"] for c in signature["inputs"]] == ["x", "c"]
    assert signature["inputs"][1]["categories"] == ["u", "v"]
    assert signature["ignored"] == [{"name": "id", "type": "identifier"}]
    assert signature["outputs"] == {
        "problem_type": "binary",
        "target": "y",
        "labels": ["no", "yes"],
        "positive_label": "yes",
    }


# Every Arrow type a stored data set can hold, and how a request writes its values (issue 19).
DAY, NOON = datetime.date(2023, 1, 5), datetime.time(12, 30)
ARROW_COLUMNS = {
    "date32": (pa.array([DAY, None], pa.date32()), "date"),
    "date64": (pa.array([DAY, None], pa.date64()), "date"),
    "time32": (pa.array([NOON, None], pa.time32("s")), "time"),
    "time64": (pa.array([NOON, None], pa.time64("us")), "time"),
    "timestamp": (
        pa.array([datetime.datetime(2023, 1, 5, 12), None], pa.timestamp("us")),
        "datetime",
    ),
    "timestamp_zone": (
        pa.array([datetime.datetime(2023, 1, 5, 12), None], pa.timestamp("ms", tz="Europe/Paris")),
        "datetime",
    ),
    "decimal": (pa.array([decimal.Decimal("1.25"), None], pa.decimal128(10, 2)), "number"),
    **{
        name: (pa.array([1, None], getattr(pa, name)()), "number")
        for name in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
    },
    "int64_full": (pa.array([1, 2], pa.int64()), "number"),
    "float16": (pa.array(np.array([1.5, np.nan], dtype=np.float16), pa.float16()), "number"),
    "float32": (pa.array([1.5, None], pa.float32()), "number"),
    "float64": (pa.array([1.5, None], pa.float64()), "number"),
    "bool": (pa.array([True, None], pa.bool_()), "boolean"),
    "bool_full": (pa.array([True, False], pa.bool_()), "boolean"),
    "dictionary": (pa.array(["a", None]).dictionary_encode(), "string"),
    "dictionary_int": (pa.array([3, None]).dictionary_encode(), "number"),
    "large_string": (pa.array(["a", None], pa.large_string()), "string"),
    "string": (pa.array(["a", None], pa.string()), "string"),
    "all_missing": (pa.array([None, None], pa.string()), "string"),
}


@pytest.fixture(scope="module", params=["parquet", "memory", "arrow-backed"])
def stored(request, tmp_path_factory):
    """Every type as pandas sees it: from a Parquet file, as kiln reads a stored data set,
    straight from an Arrow table (where a dictionary becomes a pandas categorical), and as
    Arrow-backed pandas columns."""
    table = pa.table({name: array for name, (array, _) in ARROW_COLUMNS.items()})
    if request.param == "memory":
        return table.to_pandas()
    if request.param == "arrow-backed":
        return table.to_pandas(types_mapper=pd.ArrowDtype)
    path = tmp_path_factory.mktemp("types") / "types.parquet"
    pq.write_table(table, path)
    return pq.read_table(path).to_pandas()


@pytest.mark.parametrize("name", list(ARROW_COLUMNS))
def test_every_stored_arrow_type_has_its_request_storage_kind(stored, name):
    assert storage_kind(stored[name]) == ARROW_COLUMNS[name][1]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    """The same columns through ingest (which turns dictionaries and large strings into plain
    columns), loaded back as training loads them."""
    import kiln

    folder = tmp_path_factory.mktemp("ingested")
    path = folder / "types.parquet"
    pq.write_table(pa.table({name: array for name, (array, _) in ARROW_COLUMNS.items()}), path)
    ws = kiln.Workspace.init(folder / "ws")
    ws.data.ingest(path, name="types")
    yield ws.data.load("types")
    ws.close()


@pytest.mark.parametrize("name", list(ARROW_COLUMNS))
def test_ingested_types_have_their_storage_kind(ingested, name):
    assert storage_kind(ingested[name]) == ARROW_COLUMNS[name][1]

import pandas as pd

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

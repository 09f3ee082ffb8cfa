import numpy as np
import pandas as pd
import pytest

from conftest import CHURN_CSV
from kiln.recipe import RowEncoder, build_preprocessor, probe_rows


@pytest.fixture(scope="module")
def churn_rows():
    frame = pd.read_csv(CHURN_CSV).drop(columns=["churn"]).head(600)
    frame.loc[::7, "contract"] = None
    frame.loc[::11, "payment_method"] = "Bitcoin"  # never seen in training
    frame.loc[::13, "tenure"] = np.nan
    return frame


def _columns(frame):
    return {c: frame[c].to_numpy(dtype=object) for c in frame.columns}


@pytest.mark.parametrize(
    ("scale", "codes"), [(True, None), (False, None), (False, 255), (False, 3)]
)
def test_compiled_recipe_matches_the_fitted_one(trained, churn_rows, scale, codes):
    """One-hot columns, or categorical codes (3: the rarest values grouped under one code)."""
    ws, result = trained
    types = {c["name"]: c["type"] for c in result.model.signature["inputs"]}
    train = ws.data.load(result.job.result["splits"]["train"])[list(types)]
    preprocessor = build_preprocessor(types, scale_numeric=scale, categorical_codes=codes)
    preprocessor.fit(train)
    encoder = RowEncoder.compile(preprocessor, probe_rows(result.model.signature, preprocessor))
    assert encoder is not None
    expected = preprocessor.transform(churn_rows[list(types)])
    assert np.allclose(encoder.encode(_columns(churn_rows[list(types)])), expected, equal_nan=True)


def test_endpoint_fast_path_gives_the_pipeline_answers(trained, churn_rows):
    ws, result = trained
    model = ws.models.load(result.model.ref)
    frame = churn_rows[model.input_columns]
    encoder = RowEncoder.compile(
        model.pipeline[0], probe_rows(result.model.signature, model.pipeline[0])
    )
    fast = model.score_encoded(encoder.encode(_columns(frame)))
    assert np.allclose(fast, model.predict_proba(frame), atol=1e-9)


def test_recipes_it_cannot_reproduce_keep_the_pipeline():
    frame = pd.DataFrame({"d": pd.date_range("2024-01-01", periods=30).astype(str), "x": range(30)})
    preprocessor = build_preprocessor({"d": "datetime", "x": "numeric"}, scale_numeric=False)
    preprocessor.fit(frame)
    assert RowEncoder.compile(preprocessor, frame) is None


def test_small_and_large_batches_encode_alike(trained, churn_rows):
    ws, result = trained
    model = ws.models.load(result.model.ref)
    encoder = RowEncoder.compile(
        model.pipeline[0], probe_rows(result.model.signature, model.pipeline[0])
    )
    frame = churn_rows[model.input_columns]
    whole = encoder.encode(_columns(frame))  # index lookups
    rows = np.vstack([encoder.encode(_columns(frame.iloc[i : i + 1])) for i in range(40)])
    assert np.array_equal(whole[:40], rows, equal_nan=True)


def test_batches_of_mixed_values_and_arrow_columns_encode_as_single_rows(trained, churn_rows):
    """The batch path codes each distinct value once (pandas factorize, or Arrow's dictionary
    for batch transform): the same columns as the row-by-row lookup, whatever the values' types
    (numbers spelled as floats, booleans beside 1, missing as None or NaN, unseen values)."""
    import pyarrow as pa

    ws, result = trained
    model = ws.models.load(result.model.ref)
    encoder = RowEncoder.compile(
        model.pipeline[0], probe_rows(result.model.signature, model.pipeline[0])
    )
    frame = churn_rows[model.input_columns].head(40).copy()
    columns = _columns(frame)
    column = encoder.categorical[0]
    mixed = columns[column].copy()
    mixed[:8] = [1, 1.0, "1", True, None, float("nan"), "never-seen", 0]
    columns[column] = mixed
    whole = encoder.encode(columns)
    rows = np.vstack(
        [encoder.encode({c: v[i : i + 1] for c, v in columns.items()}) for i in range(40)]
    )
    assert np.array_equal(whole, rows, equal_nan=True)
    as_arrow = dict(_columns(frame))
    for name in encoder.categorical:
        values = frame[name]
        halves = [values.iloc[:20], values.iloc[20:]]
        as_arrow[name] = pa.chunked_array([pa.array(h, from_pandas=True) for h in halves])
    assert np.array_equal(encoder.encode(as_arrow), encoder.encode(_columns(frame)), equal_nan=True)

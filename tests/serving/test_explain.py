"""``?explain=true`` on invocations: per-row SHAP attributions by input column."""

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from kiln.clarify import row_attributions
from kiln.serving import create_app


@pytest.fixture(scope="module")
def client(trained):
    ws, _ = trained
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        yield client


@pytest.fixture(scope="module")
def rows(trained):
    ws, result = trained
    test = ws.data.load(result.job.result["splits"]["test"]).head(3).drop(columns=["churn"])
    return test.astype(object).where(test.notna(), None).to_dict("records")


def test_explain_adds_each_rows_largest_contributions_by_input_column(client, rows, trained):
    ws, result = trained
    plain = client.post("/endpoints/churn/invocations", json=rows).json()
    response = client.post("/endpoints/churn/invocations?explain=true", json=rows)
    assert response.status_code == 200
    body = response.json()
    assert body["attribution_units"] == "log-odds"
    model = ws.models.load(result.model.ref)
    expected, _, _ = row_attributions(model, pd.DataFrame(rows))
    for prediction, before, row, wanted in zip(
        body["predictions"], plain["predictions"], rows, expected, strict=True
    ):
        attributions = prediction.pop("attributions")
        assert prediction == before  # the prediction itself is unchanged
        assert [a["column"] for a in attributions] == [c["column"] for c in wanted["contributions"]]
        assert len(attributions) == 5 and all(
            a["column"] in model.input_columns for a in attributions
        )
        assert all(a["value"] == row[a["column"]] for a in attributions)
        sizes = [abs(a["attribution"]) for a in attributions]
        assert sizes == sorted(sizes, reverse=True)


def test_a_csv_body_is_explained_as_the_same_rows_in_json(client, rows):
    csv = pd.DataFrame(rows).to_csv(index=False).encode()
    response = client.post(
        "/endpoints/churn/invocations?explain=1", content=csv, headers={"content-type": "text/csv"}
    )
    assert response.status_code == 200
    as_json = client.post("/endpoints/churn/invocations?explain=true", json=rows).json()
    for from_csv, from_json in zip(
        response.json()["predictions"], as_json["predictions"], strict=True
    ):
        assert [a["column"] for a in from_csv["attributions"]] == [
            a["column"] for a in from_json["attributions"]
        ]
        assert [a["attribution"] for a in from_csv["attributions"]] == pytest.approx(
            [a["attribution"] for a in from_json["attributions"]]
        )


def test_without_explain_there_are_no_attributions(client, rows):
    body = client.post("/endpoints/churn/invocations?explain=false", json=rows).json()
    assert "attribution_units" not in body
    assert all("attributions" not in p for p in body["predictions"])


def test_a_bad_explain_value_is_refused(client, rows):
    response = client.post("/endpoints/churn/invocations?explain=perhaps", json=rows)
    assert response.status_code == 422
    assert response.json()["error"].startswith("request.")

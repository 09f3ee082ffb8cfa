"""kiln endpoints compare: per-variant quality on labelled traffic, with the difference's 95 %
confidence interval."""

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from kiln.endpoints._quality import quality_by_variant
from kiln.serving import create_app


def test_compare_scores_each_variant_on_the_ground_truth_of_its_own_answers(two_models_copy):
    ws, first, second = two_models_copy
    ws.endpoints.deploy(second, endpoint="churn", variant="green", weight=1.0)
    ws.endpoints.set_capture("churn", percent=100)
    data = ws.data.load("churn").head(120)
    truth = data.pop("churn").tolist()
    records = data.astype(object).where(data.notna(), None).to_dict("records")
    answered = []
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        for row, label in zip(records, truth, strict=True):
            body = client.post("/endpoints/churn/invocations", json=[row]).json()
            answered.append((body, label))
    labels = pd.DataFrame(
        {"inference_id": [b["inference_id"] for b, _ in answered], "label": truth}
    )
    assert ws.endpoints.ground_truth("churn", labels)["stored"] == 120
    compared = ws.endpoints.compare("churn")
    quality = compared["quality"]
    assert quality["metric"] == "accuracy"
    for variant in ("primary", "green"):
        mine = [(b["predictions"][0]["label"], t) for b, t in answered if b["variant"] == variant]
        expected = sum(p == t for p, t in mine) / len(mine)
        assert quality["variants"][variant] == {
            "labelled_rows": len(mine),
            "accuracy": pytest.approx(expected),
        }
    (difference,) = quality["differences"]
    assert difference["against"] == "primary" and difference["variant"] == "green"
    low, high = difference["ci95"]
    assert low < difference["difference"] < high
    assert (
        compared["variants"]["green"]["invocations"]
        + compared["variants"]["primary"]["invocations"]
        == 120
    )


def test_the_interval_of_a_difference_in_accuracy_and_in_error():
    rows = pd.DataFrame(
        {
            "variant": ["a"] * 400 + ["b"] * 400,
            "predicted_label": ["x"] * 800,
            # a: right 360 of 400 (0.9); b: right 300 of 400 (0.75)
            "label": ["x"] * 360 + ["y"] * 40 + ["x"] * 300 + ["y"] * 100,
        }
    )
    (d,) = quality_by_variant(rows, "a")["differences"]
    se = (0.9 * 0.1 / 400 + 0.75 * 0.25 / 400) ** 0.5
    assert d["difference"] == pytest.approx(-0.15)
    assert d["ci95"] == pytest.approx([-0.15 - 1.96 * se, -0.15 + 1.96 * se], abs=1e-3)
    assert d["significant"]
    values = pd.DataFrame(
        {
            "variant": ["a", "a", "b", "b"],
            "predicted_value": [1.0, 2.0, 1.0, 2.0],
            "label": [1.5, 2.5, 1.0, 2.5],
        }
    )
    result = quality_by_variant(values, "a")
    assert result["metric"] == "mae" and result["variants"]["a"]["mae"] == 0.5
    assert result["variants"]["b"]["mae"] == 0.25
    assert quality_by_variant(values.assign(label=None), "a") == {
        "variants": {},
        "differences": [],
    }

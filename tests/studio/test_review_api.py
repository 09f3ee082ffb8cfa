"""Studio API under hostile input (the review of issue 16): numbers past a 64-bit integer, the
SQL box's limits, the last admin. Every refusal is a 4xx with ``error`` and ``detail``."""

from __future__ import annotations

import pytest


def _refused(answer, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error"] == code
    assert body["detail"]


@pytest.mark.parametrize(
    "path", ["/data", "/experiments", "/models", "/models/versions", "/endpoints", "/audit"]
)
def test_an_offset_past_a_64_bit_integer_is_a_400(api_as, path):
    _refused(api_as("viewer").get(path, params={"offset": 10**19}), 400, "page.bad-offset")


def test_a_query_box_offset_past_a_64_bit_integer_is_a_400(api_as):
    answer = api_as("viewer").post("/data/query", json={"sql": "SELECT 1", "offset": 10**19})
    _refused(answer, 400, "page.bad-offset")


@pytest.mark.parametrize(
    "path", ["/data/churn/99999999999999999999999", "/models/churn/10000000000000000000000"]
)
def test_a_version_past_a_64_bit_integer_is_a_400(api_as, path):
    _refused(api_as("viewer").get(path), 400, "name.invalid-ref")

"""The problem spec: parsed and checked whole, versioned by its digest, refused with the field
path and the offending value, and nothing stored when it is bad."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kiln.errors import ConfigError, NotFound
from kiln.problems import parse_spec, spec_changes
from kiln.store import ProblemRow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "churn" / "problem.yaml"
BINARY_COST = {
    "matrix": {"Yes": {"Yes": 50, "No": 500}, "No": {"Yes": 50, "No": 0}},
    "max_per_1000": 100000,
}


def _rows(ws) -> int:
    with ws.store.read() as session:
        return session.query(ProblemRow).count()


def test_the_example_spec_parses_whole():
    from kiln.problems import load_spec

    raw, source = load_spec(EXAMPLE)
    spec = parse_spec(raw, source)
    assert spec["target"] == "churn" and spec["problem_type"] == "binary"
    assert spec["criteria"] == ["recall >= 0.5", "roc_auc >= 0.8"]
    assert set(spec["cost"]["matrix"]) == {"Yes", "No"}
    assert spec["latency"] == {"p99_ms": 250.0} and spec["auto_approve"] is True


def test_yes_and_no_written_unquoted_stay_labels(tmp_path):
    from kiln.problems import load_spec

    path = tmp_path / "p.yaml"
    path.write_text(
        "target: churn\nauto_approve: true\ncost:\n"
        "  matrix: {Yes: {Yes: 0, No: 5}, No: {Yes: 1, No: 0}}\n  max_per_1000: 9\n"
    )
    spec = parse_spec(*load_spec(path))
    assert list(spec["cost"]["matrix"]) == ["Yes", "No"] and spec["auto_approve"] is True


def test_same_spec_same_version_changed_spec_next_version(ws, tmp_path):
    first = ws.problems.create("churn", {"target": "churn", "criteria": ["recall>=0.7"]})
    # Spacing and defaults written out do not change the spec.
    again = ws.problems.create(
        "churn", {"target": "churn", "criteria": ["recall >= 0.7"], "auto_approve": False}
    )
    assert (first.ref, again.ref, again.digest) == ("churn:1", "churn:1", first.digest)
    changed = ws.problems.create("churn", {"target": "churn", "criteria": ["recall >= 0.75"]})
    assert changed.ref == "churn:2"
    assert ws.problems.get("churn").ref == "churn:2"
    assert ws.problems.get("churn:1").spec["criteria"] == ["recall >= 0.7"]
    assert [p.ref for p in ws.problems.history("churn")] == ["churn:1", "churn:2"]
    ws.problems.create("fraud", {"target": "is_fraud"})
    assert [p.ref for p in ws.problems.list()] == ["churn:2", "fraud:1"]
    assert spec_changes(first.spec, changed.spec) == ["criteria: +recall >= 0.75, -recall >= 0.7"]
    # A file gives the same spec as the dict it holds.
    path = tmp_path / "p.yaml"
    shutil.copy(EXAMPLE, path)
    assert ws.problems.create("example", path).criteria.latency_p99_ms == 250.0


def test_unknown_problem_names_the_choices(ws):
    ws.problems.create("churn", {"target": "churn"})
    with pytest.raises(NotFound, match=r"No problem named 'chrun'\. Problems: churn") as err:
        ws.problems.get("chrun")
    assert err.value.code == "problem.not-found"
    with pytest.raises(NotFound, match="has no version 4; its versions are 1"):
        ws.problems.get("churn:4")


@pytest.mark.parametrize(
    ("spec", "code", "field", "message"),
    [
        ({"target": "churn", "colour": "red"}, "problem.unknown-key", "colour", "'colour'"),
        (
            {"target": "churn", "latency": {"p99": 20}},
            "problem.unknown-key",
            "latency.p99",
            "Did you mean 'p99_ms'",
        ),
        ({"target": ["churn"]}, "problem.bad-type", "target", "['churn']"),
        (
            {"target": "churn", "auto_approve": "yes"},
            "problem.bad-type",
            "auto_approve",
            "got 'yes'. Write true or false.",
        ),
        (
            {"target": "churn", "criteria": ["recall >> 0.7"]},
            "problem.bad-criterion",
            "criteria[0]",
            "'recall >> 0.7'",
        ),
        (
            {"target": "y", "problem_type": "regression", "criteria": ["rmse<3", "recall>=0.7"]},
            "problem.unknown-metric",
            "criteria[1]",
            "A regression model does not report 'recall'",
        ),
        (
            {"target": "churn", "cost": {"matrix": {}, "max_per_1000": 10}},
            "problem.cost-no-classes",
            "cost.matrix",
            "names 0 class(es)",
        ),
        (
            {"target": "churn", "cost": {**BINARY_COST, "baseline": {"predict": "Maybe"}}},
            "problem.cost-classes",
            "cost.baseline.predict",
            "'Maybe'",
        ),
        (
            {"target": "churn", "cost": {"matrix": BINARY_COST["matrix"]}},
            "problem.bad-cost",
            "cost",
            "max_per_1000",
        ),
        (
            {
                "target": "y",
                "cost": {
                    "matrix": {c: {d: int(c != d) for d in "abc"} for c in "abc"},
                    "baseline": "nothing_positive",
                    "max_per_1000": 1,
                },
            },
            "problem.bad-cost",
            "cost.baseline",
            "has 3 classes",
        ),
        ({"criteria": ["recall>=0.7"]}, "problem.missing-field", "target", "column to predict"),
    ],
)
def test_bad_specs_are_refused_with_the_field_and_value_and_nothing_is_stored(
    ws, spec, code, field, message
):
    with pytest.raises(ConfigError) as err:
        ws.problems.create("churn", spec)
    assert (err.value.code, err.value.field) == (code, field)
    assert message in str(err.value) and field in str(err.value)
    assert _rows(ws) == 0


def test_a_cost_matrix_over_classes_the_data_lacks_is_refused(ws, churn_csv):
    ws.data.ingest(churn_csv, name="churn")
    matrix = {"Yes": {"Yes": 0, "Maybe": 5}, "Maybe": {"Yes": 5, "Maybe": 0}}
    spec = {"target": "churn", "data": "churn", "cost": {"matrix": matrix, "max_per_1000": 9}}
    with pytest.raises(ConfigError, match=r"names class\(es\) \['Maybe'\].*'No'") as err:
        ws.problems.create("churn", spec)
    assert err.value.code == "problem.cost-classes"
    with pytest.raises(ConfigError, match="'churned' of the problem spec is not a column") as err:
        ws.problems.create("churn", {"target": "churned", "data": ["churn"]})
    assert err.value.code == "problem.target-not-in-data"
    assert _rows(ws) == 0


@pytest.mark.parametrize(
    ("content", "shown"),
    [
        (b"target: churn\ncriteria: [recall >= 0.5]\ntarget: tenure\n", "'target' appears twice"),
        (b"target: churn\ndescription: caf\xe9\n", "not UTF-8 text (byte 0xe9"),
    ],
)
def test_a_spec_file_with_a_repeated_key_or_not_utf8_is_refused(ws, tmp_path, content, shown):
    path = tmp_path / "problem.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        ws.problems.create("churn", path)
    assert caught.value.code == "problem.bad-yaml"
    assert shown in caught.value.message and "problem.yaml" in caught.value.message
    assert _rows(ws) == 0

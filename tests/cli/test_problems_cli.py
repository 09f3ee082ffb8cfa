"""``kiln problem create | show | list | history``."""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "churn" / "problem.yaml"


def test_create_show_list_and_history(ws, run_cli, tmp_path):
    home = ws.home
    spec = tmp_path / "problem.yaml"
    spec.write_text(EXAMPLE.read_text())
    created = run_cli("problem", "create", "churn", "--file", str(spec), home=home, check=True)
    assert "Created problem churn:1" in created.stdout
    again = run_cli("problem", "create", "churn", "--file", str(spec), home=home, check=True)
    assert "churn:1 is unchanged" in again.stdout
    spec.write_text(
        EXAMPLE.read_text().replace("p99_ms: 250", "p99_ms: 20").replace("recall >= 0.5", "f1>=0.6")
    )
    run_cli("problem", "create", "churn", "--file", str(spec), home=home, check=True)

    shown = run_cli("problem", "show", "churn", home=home, check=True).stdout
    assert "Problem churn:2" in shown and "retention-analytics@example.com" in shown
    assert "f1 >= 0.6" in shown and "p99 single-row latency <= 20 ms" in shown
    assert "20% below the baseline (majority)" in shown
    first = json.loads(run_cli("problem", "show", "churn:1", "--json", home=home).stdout)
    assert first["ref"] == "churn:1" and first["spec"]["latency"] == {"p99_ms": 250.0}

    listed = json.loads(run_cli("problem", "list", "--json", home=home, check=True).stdout)
    assert [p["ref"] for p in listed] == ["churn:2"]
    history = json.loads(run_cli("problem", "history", "churn", "--json", home=home).stdout)
    assert [h["ref"] for h in history] == ["churn:1", "churn:2"]
    assert history[0]["changes"] == ["first version"]
    assert history[1]["changes"] == [
        "criteria: +f1 >= 0.6, -recall >= 0.5",
        "latency.p99_ms: 250.0 → 20.0",
    ]
    table = run_cli("problem", "history", "churn", home=home, check=True).stdout
    assert "latency.p99_ms: 250.0 → 20.0" in table


def test_a_bad_spec_file_and_an_unknown_problem_exit_2_with_the_code(ws, run_cli, tmp_path):
    spec = tmp_path / "problem.yaml"
    spec.write_text("target: churn\ncost:\n  matrix: {}\n  max_per_1000: 5\n")
    bad = run_cli("problem", "create", "churn", "--file", str(spec), home=ws.home)
    assert bad.returncode == 2 and "problem.cost-no-classes" in bad.stderr
    assert "cost.matrix" in bad.stderr
    missing = run_cli("problem", "show", "churn", home=ws.home)
    assert missing.returncode == 2 and "No problem named 'churn'" in missing.stderr


def test_train_tune_and_automl_take_problem(ws, run_cli):
    ws.data.ingest(FIXTURES / "credit_card_applications.csv", name="cards")
    for command in (
        ["train", "--algorithm", "linear"],
        ["tune", "--algorithm", "linear"],
        ["automl", "--time-limit", "10"],
    ):
        out = run_cli(*command, "--data", "cards", "--problem", "nope", home=ws.home)
        assert out.returncode == 2 and "No problem named 'nope'" in out.stderr, command
    assert ws.jobs.list() == []

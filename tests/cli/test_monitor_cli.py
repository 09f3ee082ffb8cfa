"""``kiln monitor``: a baseline and its constraints, a monitor's life from create to delete, a run
with its report and history, and a compare of two data sets — through the CLI, in process."""

from __future__ import annotations

import json

import pandas as pd

from kiln.monitoring import simulate_traffic


def test_monitor_commands_from_baseline_to_delete(trained_copy, run_cli, tmp_path):
    ws, _ = trained_copy
    home = ws.home
    ws.endpoints.set_capture("churn", 100)
    churn = ws.data.load("churn")
    ws.data.ingest(simulate_traffic(churn, rows=1500, drift=1.0, exclude=("churn",)), name="moved")

    made = json.loads(
        run_cli("monitor", "baseline", "--data", "churn", "--json", home=home, check=True).stdout
    )
    baseline = made["id"]
    out = run_cli(
        "monitor", "constraints", "set", baseline, "tenure.drift.psi", "0.3", home=home, check=True
    )
    assert "tenure.drift.psi = 0.3" in out.stdout
    shown = json.loads(run_cli("monitor", "constraints", "show", baseline, home=home).stdout)
    tenure = next(f for f in shown["features"] if f["name"] == "tenure")
    assert tenure["drift"] == {"psi": 0.3}
    bad = run_cli("monitor", "constraints", "set", baseline, "nope.completeness", "1", home=home)
    assert bad.returncode == 2 and "monitor.bad-constraint-path" in bad.stderr

    compared = run_cli(
        "monitor",
        "compare",
        "--reference",
        "churn",
        "--current",
        "moved",
        "--baseline",
        baseline,
        "--out",
        str(tmp_path / "c.html"),
        home=home,
        check=True,
    )
    assert "drifted column(s)" in compared.stdout and (tmp_path / "c.html").exists()

    bad_cron = run_cli(
        "monitor",
        "create",
        "m",
        "--endpoint",
        "churn",
        "--type",
        "data-quality",
        "--schedule",
        "61 * * * *",
        home=home,
    )
    assert bad_cron.returncode == 2 and "scheduler.bad-schedule" in bad_cron.stderr
    run_cli(
        "monitor",
        "create",
        "m",
        "--endpoint",
        "churn",
        "--type",
        "data-quality",
        "--baseline",
        baseline,
        "--schedule",
        "*/15 * * * *",
        home=home,
        check=True,
    )
    listed = json.loads(run_cli("monitor", "list", "--json", home=home).stdout)
    assert [m["name"] for m in listed] == ["m"] and listed[0]["latest_run"] is None
    assert "monitor:m" in run_cli("scheduler", "status", home=home, check=True).stdout

    ran = json.loads(
        run_cli("monitor", "run", "m", "--now", "--json", home=home, check=True).stdout
    )
    assert ran["status"] == "NoData"  # nothing was captured yet
    runs = run_cli("monitor", "runs", "m", home=home, check=True)
    assert ran["id"] in runs.stdout
    report = run_cli(
        "monitor", "report", ran["id"], "--out", str(tmp_path / "r.html"), home=home, check=True
    )
    assert str(tmp_path / "r.html") in report.stdout
    history = run_cli(
        "monitor", "history", "m", "--out", str(tmp_path / "h.html"), home=home, check=True
    )
    assert "NoData" in history.stdout and (tmp_path / "h.html").exists()
    shown = run_cli("monitor", "show", "m", home=home, check=True).stdout
    assert "NoData" in shown and "1h, ending 0s before each run" in shown

    run_cli("monitor", "delete", "m", home=home, check=True)
    assert json.loads(run_cli("monitor", "list", "--json", home=home).stdout) == []
    assert "monitor:m" not in run_cli("scheduler", "status", home=home).stdout
    gone = run_cli("monitor", "show", "m", home=home)
    assert gone.returncode == 2 and "monitor.unknown" in gone.stderr


def _baseline(ws) -> str:
    ws.data.ingest(pd.DataFrame({"age": [20, 30, 40, 50] * 10}), name="people")
    return ws.monitoring.baseline("people").id


def _age(ws, baseline: str) -> dict:
    features = ws.monitoring.get_baseline(baseline).constraints["features"]
    return next(f for f in features if f["name"] == "age")


def test_constraints_set_takes_negative_values(ws, run_cli):
    baseline = _baseline(ws)
    run_cli(
        "monitor", "constraints", "set", baseline, "age.num_constraints.min", "-5",
        home=ws.home, check=True,
    )  # fmt: skip
    assert _age(ws, baseline)["num_constraints"]["min"] == -5
    refused = run_cli(
        "monitor", "constraints", "set", baseline, "age.drift.psi", "-0.2", home=ws.home
    )
    assert refused.returncode != 0 and "monitor.bad-constraints" in refused.stderr
    assert "Got -0.2" in refused.stderr


def test_constraints_edit_from_a_missing_file_says_so(ws, run_cli, tmp_path):
    baseline = _baseline(ws)
    missing = tmp_path / "nowhere.json"
    result = run_cli(
        "monitor", "constraints", "edit", baseline, "--file", str(missing), home=ws.home
    )
    assert result.returncode == 2 and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_history_shows_the_violations_column_once(ws, run_cli):
    from kiln.store import MonitorRow, MonitorRunRow, new_id, now

    at = now()
    with ws.store.write() as session:
        session.add(
            MonitorRow(
                name="drift", endpoint="churn", type="data-quality", schedule="0 * * * *",
                window_seconds=3600.0, config={}, created_at=at, created_by="test",
            )
        )  # fmt: skip
        session.add(
            MonitorRunRow(
                id=new_id("mrun"), monitor="drift", type="data-quality", status="Completed",
                started_at=at, ended_at=at, window_start=at, window_end=at,
                metrics={"rows": 400.0, "drift.num_cols": 1.0, "violations": 2.0},
                violations=[{}, {}], summary={},
            )
        )  # fmt: skip
    table = run_cli("monitor", "history", "drift", home=ws.home, check=True).stdout
    header = next(line for line in table.splitlines() if "time" in line)
    assert header.count("violations") == 1 and "rows" in header


def test_create_reads_a_bias_range_as_json(trained_copy, run_cli):
    ws, _ = trained_copy
    ws.endpoints.set_capture("churn", 100)
    run_cli(
        "monitor", "create", "fair", "--endpoint", "churn", "--type", "bias",
        "--facet", "female=1", "--label-value", "Yes", "--threshold", "DPPL=[-0.05,0.05]",
        home=ws.home, check=True,
    )  # fmt: skip
    assert ws.monitoring.get("fair").config["thresholds"] == {"DPPL": [-0.05, 0.05]}


def test_runs_refuses_a_limit_below_one(ws, run_cli):
    result = run_cli("monitor", "runs", "--limit", "-3", home=ws.home)
    assert result.returncode == 2 and "--limit" in result.stderr


def test_delete_names_the_alarms_left_watching(ws, run_cli):
    from kiln.store import MonitorRow, now

    with ws.store.write() as session:
        session.add(
            MonitorRow(
                name="drift", endpoint="churn", type="data-quality", schedule="0 * * * *",
                window_seconds=3600.0, config={}, created_at=now(), created_by="test",
            )
        )  # fmt: skip
    ws.monitoring.alarms.create("drifting", on="monitor:drift", when="violations > 0")
    out = run_cli("monitor", "delete", "drift", home=ws.home, check=True).stdout
    assert "Deleted monitor drift." in out and "Alarm(s) drifting watched it" in out

"""``kiln monitor``: a baseline and its constraints, a monitor's life from create to delete, a run
with its report and history, and a compare of two data sets — through the CLI, in process."""

from __future__ import annotations

import json

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
    assert "NoData" in run_cli("monitor", "show", "m", home=home, check=True).stdout

    run_cli("monitor", "delete", "m", home=home, check=True)
    assert json.loads(run_cli("monitor", "list", "--json", home=home).stdout) == []
    assert "monitor:m" not in run_cli("scheduler", "status", home=home).stdout
    gone = run_cli("monitor", "show", "m", home=home)
    assert gone.returncode == 2 and "monitor.unknown" in gone.stderr

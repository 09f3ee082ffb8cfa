"""``kiln alarms`` and ``kiln scheduler``, in process."""

from __future__ import annotations

import json
from datetime import timedelta

from kiln.monitoring import SCHEDULE_KINDS, ScheduleService
from kiln.store import MonitorRow, MonitorRunRow, ScheduleRow, new_id, now

STARTED: list[str] = []


def add_monitor(ws) -> None:
    """Stands for a monitor created by 'kiln monitor create' (the lead's)."""
    with ws.store.write() as session:
        session.add(
            MonitorRow(
                name="drift", endpoint="churn", type="data-quality", schedule="0 * * * *",
                window_seconds=3600.0, created_at=now(), created_by="test",
            )
        )  # fmt: skip


def add_run(ws, *, metrics: dict, violations: list) -> None:
    """Stands for a finished run of that monitor."""
    with ws.store.write() as session:
        session.add(
            MonitorRunRow(
                id=new_id("mrun"), monitor="drift", type="data-quality", status="Completed",
                started_at=now(), ended_at=now(), metrics=metrics, violations=violations,
            )
        )  # fmt: skip


def start_monitor_run(ctx, name: str, *, wait: bool = True) -> str:
    STARTED.append(name)
    return "mon-job-1"


def test_alarms_commands(ws, run_cli, tmp_path):
    add_monitor(ws)
    home = ws.home
    refused = run_cli(
        "alarms", "create", "a", "--on", "monitor:drift", "--when", "x > 1", "--action", "page",
        home=home,
    )  # fmt: skip
    assert refused.returncode == 2 and "alarms.bad-action" in refused.stderr
    created = run_cli(
        "alarms", "create", "drifting", "--on", "monitor:drift", "--when", "violations >= 1",
        "--action", "log", "--action", f"command:touch {tmp_path / 'fired'}", home=home, check=True,
    )  # fmt: skip
    assert "INSUFFICIENT_DATA" in created.stdout
    add_run(ws, metrics={"drift.num_cols": 2.0}, violations=[{"column": "tenure"}])
    evaluated = run_cli("alarms", "evaluate", home=home, check=True)
    assert "drifting: INSUFFICIENT_DATA → ALARM (log: ok, command:" in evaluated.stdout
    assert (tmp_path / "fired").exists()
    listed = run_cli("alarms", "list", home=home, check=True).stdout
    assert "drifting" in listed and "ALARM" in listed
    shown = run_cli("alarms", "show", "drifting", "--json", home=home, check=True)
    assert json.loads(shown.stdout)["latest_event"]["evidence"]["values"] == {"violations": 1.0}
    history = run_cli("alarms", "history", "drifting", home=home, check=True).stdout
    assert "INSUFFICIENT_DATA → ALARM" in history and "violations=1.0" in history
    assert run_cli("alarms", "evaluate", home=home, check=True).stdout.startswith("No alarm")
    run_cli("alarms", "delete", "drifting", home=home, check=True)
    missing = run_cli("alarms", "show", "drifting", home=home)
    assert missing.returncode == 2 and "alarms.unknown-alarm" in missing.stderr


def test_scheduler_commands(trained_copy, run_cli, monkeypatch):
    ws = trained_copy[0]  # a retraining's spec names a model that exists: churn:1
    monkeypatch.setitem(SCHEDULE_KINDS, "monitor", f"{__name__}:start_monitor_run")
    STARTED.clear()
    home = ws.home
    bad = run_cli(
        "scheduler", "add-retrain", "nightly", "--spec", "churn:1", "--schedule", "at night",
        home=home,
    )  # fmt: skip
    assert bad.returncode == 2 and "scheduler.bad-schedule" in bad.stderr
    assert "'at night'" in bad.stderr
    run_cli(
        "scheduler", "add-retrain", "nightly", "--spec", "churn:1", "--schedule", "daily",
        home=home, check=True,
    )  # fmt: skip
    ScheduleService(ws).put("monitor:drift", kind="monitor", target={"monitor": "drift"},
                            expression="hourly")  # fmt: skip
    with ws.store.write() as session:
        session.get(ScheduleRow, "monitor:drift").next_run_at = now() - timedelta(minutes=5)
    status = run_cli("scheduler", "status", home=home, check=True).stdout
    assert "retrain:nightly" in status and "0 0 * * *" in status and "(due)" in status
    assert "No scheduler is running" in status
    once = run_cli("scheduler", "--once", home=home, check=True).stdout
    assert "Started monitor:drift: job mon-job-1" in once and STARTED == ["drift"]
    again = run_cli("scheduler", "--once", home=home, check=True).stdout
    assert again.startswith("Nothing was due") and STARTED == ["drift"]
    shown = json.loads(run_cli("scheduler", "status", "--json", home=home, check=True).stdout)
    assert {s["name"]: s["last_job_id"] for s in shown["schedules"]} == {
        "monitor:drift": "mon-job-1",
        "retrain:nightly": None,
    }
    run_cli("scheduler", "remove", "nightly", home=home, check=True)
    gone = run_cli("scheduler", "remove", "nightly", home=home)
    assert gone.returncode == 2 and "scheduler.unknown-schedule" in gone.stderr
    assert run_cli("scheduler", "--poll", "0", home=home).returncode == 2


def test_serve_scheduler_runs_beside_the_server_and_signs_off(ws):
    from helpers import wait_for
    from kiln.cli._scheduler import scheduler_thread

    schedules = ScheduleService(ws)
    with scheduler_thread(ws, enabled=True):
        wait_for(lambda: schedules.status()["alive"], what="the scheduler's heartbeat")
    assert schedules.status()["schedulers"] == []
    with scheduler_thread(ws, enabled=False):
        assert schedules.status()["schedulers"] == []


def test_the_scheduler_process_stops_cleanly_on_ctrl_c(ws, tmp_path):
    import signal

    from helpers import start_kiln, wait_for

    log = tmp_path / "scheduler.log"
    process = start_kiln("scheduler", "--poll", "0.2", home=ws.home, log=log)
    try:
        schedules = ScheduleService(ws)
        wait_for(lambda: schedules.status()["alive"], what="the scheduler's heartbeat")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert "Scheduler stopped." in log.read_text()
    assert schedules.status()["schedulers"] == []  # it signed off

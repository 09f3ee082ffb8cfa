"""The scheduler: cron schedules, leases that keep two schedulers from starting one run twice,
missed runs, the loop and its heartbeat."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from helpers import ON_BOTH_STORES
from kiln.endpoints import Histogram
from kiln.errors import ConfigError, NotFound
from kiln.monitoring import SCHEDULE_KINDS, Scheduler, ScheduleService, parse_schedule
from kiln.store import AlarmRow, ScheduleRow, VariantMetricsRow, now

STARTED: list[tuple[str, str]] = []  # (monitor, scheduler owner) per start
_HOOKS: dict[str, object] = {}


def start_monitor_run(ctx, name: str, *, wait: bool = True) -> str:
    """Stands for kiln.monitoring._monitors.start_monitor_run (the lead's), which starts a job."""
    hook = _HOOKS.get("during_start")
    if hook is not None:
        _HOOKS.pop("during_start")
        hook()
    if _HOOKS.get("slow"):
        time.sleep(0.02)
    STARTED.append((name, threading.current_thread().name))
    return f"job-{len(STARTED)}"


def start_retraining(ctx, spec, *, endpoint=None, reason=None, wait: bool = True) -> str:
    STARTED.append((f"retrain {spec} {endpoint} {reason}", threading.current_thread().name))
    return "job-retrain"


@pytest.fixture
def schedules(ws, monkeypatch):
    return _schedules(ws, monkeypatch)


def _schedules(ws, monkeypatch) -> ScheduleService:
    STARTED.clear()
    _HOOKS.clear()
    monkeypatch.setitem(SCHEDULE_KINDS, "monitor", f"{__name__}:start_monitor_run")
    monkeypatch.setitem(SCHEDULE_KINDS, "retrain", f"{__name__}:start_retraining")
    return ScheduleService(ws)


def _make_due(ws, *names: str) -> None:
    """As if the schedules' next run had come (the clock moved on)."""
    with ws.store.write() as session:
        for name in names:
            session.get(ScheduleRow, name).next_run_at = now() - timedelta(minutes=1)


def test_parse_schedule_reads_aliases_and_cron():
    assert parse_schedule("hourly") == "0 * * * *"
    assert parse_schedule(" Daily ") == "0 0 * * *"
    assert parse_schedule("*/15  * * * 1-5") == "*/15 * * * 1-5"


@pytest.mark.parametrize("text", ["every hour", "61 * * * *", "0 * * *", "0 0 * * * 2026", ""])
def test_a_bad_schedule_is_refused_with_examples(text):
    with pytest.raises(ConfigError) as caught:
        parse_schedule(text)
    assert caught.value.code == "scheduler.bad-schedule"
    assert repr(text) in caught.value.message
    assert "'*/15 * * * *'" in caught.value.message


def test_a_schedule_that_names_no_date_is_refused():
    with pytest.raises(ConfigError) as caught:
        parse_schedule("0 0 31 2 *")  # well-formed, but February has no 31st
    assert caught.value.code == "scheduler.bad-schedule"
    assert "'0 0 31 2 *' never comes" in caught.value.message
    assert parse_schedule("0 0 29 2 *") == "0 0 29 2 *"  # leap years have it


def test_put_creates_then_updates_in_place(schedules):
    created = schedules.put(
        "monitor:drift", kind="monitor", target={"monitor": "drift"}, expression="hourly"
    )
    assert created.expression == "0 * * * *"
    assert created.next_run_at > now() and created.next_run_at.minute == 0
    updated = schedules.put(
        "monitor:drift", kind="monitor", target={"monitor": "drift"}, expression="*/5 * * * *"
    )
    assert updated.next_run_at.minute % 5 == 0
    assert [s.name for s in schedules.list()] == ["monitor:drift"]
    with pytest.raises(ConfigError) as caught:
        schedules.put("x", kind="cleanup", target={}, expression="hourly")
    assert caught.value.code == "scheduler.unknown-kind"
    with pytest.raises(ConfigError) as caught:
        schedules.put("monitor:x", kind="monitor", target={"spec": "x"}, expression="hourly")
    assert caught.value.code == "scheduler.bad-target"
    schedules.remove("monitor:drift")
    with pytest.raises(NotFound) as missing:
        schedules.remove("monitor:drift")
    assert missing.value.code == "scheduler.unknown-schedule"


def test_a_due_schedule_starts_once_and_records_its_run(ws, schedules):
    schedules.put("monitor:a", kind="monitor", target={"monitor": "a"}, expression="hourly")
    scheduler = Scheduler(ws, owner="one")
    assert scheduler.run_once() == []  # not due yet
    _make_due(ws, "monitor:a")
    [entry] = scheduler.run_once()
    assert entry["job_id"] == "job-1" and entry["schedule"] == "monitor:a"
    record = schedules.get("monitor:a")
    assert record.last_job_id == "job-1" and record.last_run_at is not None
    assert record.lease_owner is None and record.next_run_at > now()
    assert scheduler.run_once() == []
    assert [m for m, _ in STARTED] == ["a"]


def test_a_run_missed_while_no_scheduler_ran_runs_once(ws, schedules):
    created = schedules.put(
        "monitor:a", kind="monitor", target={"monitor": "a"}, expression="hourly"
    )
    later = created.next_run_at + timedelta(hours=5, minutes=30)  # five slots missed
    scheduler = Scheduler(ws)
    assert len(scheduler.run_once(later)) == 1
    assert scheduler.run_once(later) == []
    assert schedules.get("monitor:a").next_run_at == (later + timedelta(hours=1)).replace(
        minute=0, second=0, microsecond=0
    )
    assert len(STARTED) == 1


@ON_BOTH_STORES
def test_a_scheduler_never_starts_what_another_holds_or_has_started(ws, schedules):
    names = [f"monitor:m{i}" for i in range(4)]
    for name in names:
        schedules.put(name, kind="monitor", target={"monitor": name[8:]}, expression="hourly")
    _make_due(ws, *names)
    first, second = Scheduler(ws, owner="first"), Scheduler(ws, owner="second")
    # While the first holds m0 (its lease taken, its run not yet recorded), the second polls:
    # it must skip m0, and the first, seeing m1..m3 started meanwhile, must skip them.
    _HOOKS["during_start"] = lambda: second.run_once()
    by_first = first.run_once()
    assert [e["schedule"] for e in by_first] == ["monitor:m0"]
    assert sorted(m for m, _ in STARTED) == ["m0", "m1", "m2", "m3"]


@ON_BOTH_STORES
def test_two_schedulers_racing_start_each_due_schedule_exactly_once(ws, schedules):
    names = [f"monitor:m{i}" for i in range(6)]
    for name in names:
        schedules.put(name, kind="monitor", target={"monitor": name[8:]}, expression="hourly")
    _make_due(ws, *names)
    _HOOKS["slow"] = True
    barrier = threading.Barrier(2)

    def race(owner: str) -> None:
        scheduler = Scheduler(ws, owner=owner)
        barrier.wait()
        scheduler.run_once()

    threads = [threading.Thread(target=race, args=(o,), name=o) for o in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(m for m, _ in STARTED) == [f"m{i}" for i in range(6)]


def test_retraining_schedules_and_status(trained_copy, monkeypatch):
    ws = trained_copy[0]
    schedules = _schedules(ws, monkeypatch)
    with pytest.raises(ConfigError) as caught:
        schedules.add_retraining("typo", spec="chrun", schedule="daily")
    assert caught.value.code == "monitor.bad-retrain-spec" and "'chrun'" in caught.value.message
    added = schedules.add_retraining("weekly", spec="churn:1", schedule="0 3 * * 1")
    assert added.name == "retrain:weekly" and added.target == {"spec": "churn:1", "endpoint": None}
    _make_due(ws, "retrain:weekly")
    scheduler = Scheduler(ws, owner="me")
    assert schedules.status()["alive"] is False
    scheduler.heartbeat(poll_seconds=10)
    [entry] = scheduler.run_once()
    assert entry["job_id"] == "job-retrain"
    assert STARTED[0][0] == "retrain churn:1 None schedule retrain:weekly"
    status = schedules.status()
    assert status["alive"] is True
    assert [s["owner"] for s in status["schedulers"]] == ["me"]
    [shown] = status["schedules"]
    assert shown["last_job_id"] == "job-retrain" and shown["due"] is False
    scheduler.sign_off()
    assert schedules.status() | {"now": None} == status | {
        "now": None,
        "alive": False,
        "schedulers": [],
        "schedules": status["schedules"],
    }
    with pytest.raises(NotFound):
        schedules.add_retraining("x", spec="churn:1", schedule="daily", endpoint="nowhere")
    schedules.remove("weekly")  # the retrain: prefix may be left out
    assert schedules.list() == []


def broken_start(ctx, name: str, *, wait: bool = True) -> str:
    raise RuntimeError(f"monitor {name} is broken")


def test_a_run_that_cannot_start_is_reported_and_waits_for_its_next_slot(ws, schedules):
    SCHEDULE_KINDS["monitor"] = f"{__name__}:broken_start"  # the fixture restores it
    schedules.put("monitor:a", kind="monitor", target={"monitor": "a"}, expression="hourly")
    _make_due(ws, "monitor:a")
    [entry] = Scheduler(ws).run_once()
    assert entry["error"] == "RuntimeError: monitor a is broken"
    record = schedules.get("monitor:a")
    assert record.next_run_at > now() and record.lease_owner is None
    assert record.last_job_id is None and record.last_run_at is not None


def test_run_forever_starts_due_runs_until_stopped_and_signs_off(ws, schedules):
    schedules.put("monitor:a", kind="monitor", target={"monitor": "a"}, expression="hourly")
    _make_due(ws, "monitor:a")
    # An endpoint alarm (written directly: the endpoint's own records do not matter here) and
    # the serving metrics that put it into ALARM.
    with ws.store.write() as session:
        session.add(
            AlarmRow(
                name="errors", source="endpoint:churn:errors_5xx", condition="> 2",
                actions=["log"], state="INSUFFICIENT_DATA", state_changed_at=now(),
                created_at=now(), created_by="test",
            )
        )  # fmt: skip
        session.add(
            VariantMetricsRow(
                endpoint="churn", variant="primary", model="churn:1", role="live",
                period_start=now(), period_seconds=1.0, worker="test:1", invocations=10,
                errors_4xx=0, errors_5xx=5, model_latency=Histogram().to_dict(),
                overhead_latency=Histogram().to_dict(), predictions={}, comparison={},
            )
        )  # fmt: skip
    events: list[dict] = []
    stop = threading.Event()
    scheduler = Scheduler(ws, owner="loop")
    thread = threading.Thread(
        target=scheduler.run_forever,
        args=(stop,),
        kwargs={"poll_seconds": 0.05, "on_event": events.append},
    )
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while len(events) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert schedules.status()["alive"] is True
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert sorted(e["event"] for e in events) == ["alarm", "started"]
    [alarm] = [e for e in events if e["event"] == "alarm"]
    assert (alarm["alarm"], alarm["new_state"]) == ("errors", "ALARM")
    assert schedules.status()["schedulers"] == []

"""User alarms: conditions, sources, states, actions and their history."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from kiln.endpoints import Histogram, VariantStats
from kiln.errors import ConfigError, KilnError, NotFound
from kiln.monitoring import SCHEDULE_KINDS, AlarmService, monitoring_metrics, parse_condition
from kiln.monitoring import _alarms as alarms_module
from kiln.monitoring._alarms import evaluate_condition
from kiln.store import AlarmRow, MonitorRow, MonitorRunRow, VariantMetricsRow, new_id, now

RETRAININGS: list[dict] = []


def start_retraining(ctx, spec, *, endpoint=None, reason=None, wait: bool = True) -> str:
    """Stands for kiln.monitoring._retrain.start_retraining (the lead's)."""
    RETRAININGS.append({"spec": spec, "endpoint": endpoint, "reason": reason})
    return "train-stand-in"


def add_monitor(ws, name: str = "drift", endpoint: str = "churn") -> None:
    with ws.store.write() as session:
        session.add(
            MonitorRow(
                name=name,
                endpoint=endpoint,
                type="data-quality",
                schedule="0 * * * *",
                window_seconds=3600.0,
                config={},
                created_at=now(),
                created_by="test",
            )
        )


def add_run(
    ws, monitor: str = "drift", *, metrics: dict, violations=(), status="Completed", ended=True
) -> str:
    """A monitor run as the lead's monitors write them (finished unless ``ended`` is false);
    its id."""
    at = now()
    run_id = new_id("mrun")
    with ws.store.write() as session:
        session.add(
            MonitorRunRow(
                id=run_id,
                monitor=monitor,
                type="data-quality",
                status=status,
                started_at=at,
                ended_at=at if ended else None,
                window_start=at - timedelta(hours=1),
                window_end=at,
                metrics=metrics,
                violations=list(violations),
                summary={},
            )
        )
    return run_id


VIOLATION = {"column": "tenure", "check": "baseline_drift_check", "observed": 0.4, "expected": 0.1}


@pytest.fixture
def alarms(ws):
    add_monitor(ws)
    return AlarmService(ws)


def test_conditions_parse_and_decide_with_three_values():
    condition = parse_condition("drift.num_cols > 2 and roc_auc<0.8 OR violations >= 1")
    assert [[c.metric for c in group] for group in condition] == [
        ["drift.num_cols", "roc_auc"],
        ["violations"],
    ]
    assert evaluate_condition(condition, {"drift.num_cols": 3, "roc_auc": 0.7}) is True
    assert evaluate_condition(condition, {"drift.num_cols": 3, "violations": 0}) is None
    assert evaluate_condition(condition, {"drift.num_cols": 1, "violations": 0}) is False
    assert evaluate_condition(condition, {"violations": 2}) is True
    assert evaluate_condition(parse_condition("> 0.05"), {"error_rate": 0.1}, "error_rate")


@pytest.mark.parametrize("text", ["drift.num_cols >", "roc_auc is low", "a > 1 and", "x => 2"])
def test_a_condition_that_does_not_parse_is_refused(text):
    with pytest.raises(ConfigError) as caught:
        parse_condition(text)
    assert caught.value.code == "alarms.bad-condition"
    assert repr(text) in caught.value.message


@pytest.mark.parametrize(
    ("on", "when", "actions", "code"),
    [
        ("queue:jobs", "violations > 0", ["log"], "alarms.bad-source"),
        ("monitor:nowhere", "violations > 0", ["log"], "alarms.unknown-monitor"),
        ("endpoint:nowhere:error_rate", "> 0.1", ["log"], "alarms.unknown-endpoint"),
        ("endpoint:churn:happiness", "> 0.1", ["log"], "alarms.bad-source"),
        ("monitor:drift", "drift is bad", ["log"], "alarms.bad-condition"),
        ("monitor:drift", "violations > 0", ["email:me@example.com"], "alarms.bad-action"),
        ("monitor:drift", "violations > 0", ["webhook:example.com/hook"], "alarms.bad-action"),
        ("monitor:drift", "violations > 0", ["rollback:nowhere"], "alarms.unknown-endpoint"),
        ("monitor:drift", "violations > 0", ["command:"], "alarms.bad-action"),
        ("monitor:drift", "violations > 0", ["retrain:nowhere"], "monitor.bad-retrain-spec"),
    ],
)
def test_bad_alarms_are_refused_with_a_code(alarms, on, when, actions, code):
    with pytest.raises((ConfigError, NotFound)) as caught:
        alarms.create("a", on=on, when=when, actions=actions)
    assert caught.value.code == code
    assert alarms.list() == []


def test_an_alarm_follows_its_monitor_and_acts_on_entering_alarm_only(ws, alarms, tmp_path):
    out = tmp_path / "command.txt"
    alarm = alarms.create(
        "drifting",
        on="monitor:drift",
        when="drift.num_cols > 2",
        actions=[
            "command:exit 3",  # fails; the next action still runs
            'command:echo "$KILN_ALARM $KILN_ALARM_STATE $KILN_ALARM_EVIDENCE" >> ' + str(out),
            "log",
        ],
    )
    assert alarm.state == "INSUFFICIENT_DATA"
    with pytest.raises(ConfigError) as taken:
        alarms.create("drifting", on="monitor:drift", when="violations > 0")
    assert taken.value.code == "alarms.exists"
    assert alarms.evaluate() == []  # the monitor has not run: still INSUFFICIENT_DATA

    add_run(ws, metrics={"drift.num_cols": 3.0, "drift.tenure.ks": 0.4}, violations=[VIOLATION])
    [change] = alarms.evaluate(source="monitor:drift")
    assert (change["old_state"], change["new_state"]) == ("INSUFFICIENT_DATA", "ALARM")
    assert [(a["outcome"], a["detail"].get("exit_code")) for a in change["actions"]] == [
        ("failed", 3),
        ("ok", 0),
        ("ok", None),
    ]
    name, state, evidence = out.read_text().strip().split(" ", 2)
    assert (name, state) == ("drifting", "ALARM")
    evidence = json.loads(evidence)
    assert evidence["values"] == {"drift.num_cols": 3.0}
    assert evidence["violations"] == [VIOLATION] and evidence["endpoint"] == "churn"
    assert alarms.get("drifting").state == "ALARM"

    add_run(ws, metrics={"drift.num_cols": 4.0})
    assert alarms.evaluate() == []  # still in ALARM: no new event, no action again
    add_run(ws, metrics={}, status="InProgress", ended=False)
    assert alarms.evaluate() == []  # a run not yet finished is no evidence either way
    add_run(ws, metrics={"drift.num_cols": 0.0})
    [back] = alarms.evaluate()
    assert (back["new_state"], back["actions"]) == ("OK", [])
    add_run(ws, metrics={"rows": 10.0})  # a run without the metric: unknown, not a crash
    [unknown] = alarms.evaluate()
    assert unknown["new_state"] == "INSUFFICIENT_DATA"
    assert unknown["evidence"]["missing"] == ["drift.num_cols"]

    history = alarms.history("drifting")
    assert [(e["old_state"], e["new_state"]) for e in history] == [
        ("OK", "INSUFFICIENT_DATA"),
        ("ALARM", "OK"),
        ("INSUFFICIENT_DATA", "ALARM"),
    ]
    assert [a["outcome"] for a in history[-1]["actions"]] == ["failed", "ok", "ok"]
    assert out.read_text().count("drifting ALARM") == 1
    alarms.delete("drifting")
    with pytest.raises(NotFound) as gone:
        alarms.history("drifting")
    assert gone.value.code == "alarms.unknown-alarm"


def test_a_state_change_is_recorded_and_acted_on_once(ws, alarms, tmp_path):
    out = tmp_path / "count.txt"
    alarms.create(
        "once", on="monitor:drift", when="violations >= 1", actions=[f"command:echo x >> {out}"]
    )
    with ws.store.read() as session:
        seen_by_another_process = session.get(AlarmRow, "once")
    add_run(ws, metrics={}, violations=[VIOLATION])
    assert len(alarms.evaluate()) == 1
    # Another evaluator that read the alarm before the change does not record it again.
    assert alarms_module._evaluate_one(ws, seen_by_another_process) is None
    assert len(alarms.history("once")) == 1 and out.read_text() == "x\n"


def test_a_failed_run_leaves_the_alarm_without_data(ws, alarms):
    alarms.create("failing", on="monitor:drift", when="violations >= 1")
    add_run(ws, metrics={}, violations=[VIOLATION])
    assert alarms.evaluate()[0]["new_state"] == "ALARM"
    add_run(ws, metrics={}, status="Failed")
    [change] = alarms.evaluate()
    assert change["new_state"] == "INSUFFICIENT_DATA"
    assert "Failed" in change["evidence"]["reason"]


class _Hook(BaseHTTPRequestHandler):
    answers: list[int] = []
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).received.append(json.loads(body))
        self.send_response(type(self).answers.pop(0))
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_webhook_is_retried_with_backoff_and_its_outcome_recorded(ws, alarms, monkeypatch):
    monkeypatch.setattr(alarms_module, "WEBHOOK_BACKOFF_SECONDS", 0.01)
    _Hook.answers, _Hook.received = [503, 200], []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        alarms.create(
            "hooked", on="monitor:drift", when="violations > 0", actions=[f"webhook:{url}"]
        )
        add_run(ws, metrics={}, violations=[VIOLATION])
        [change] = alarms.evaluate()
    finally:
        server.shutdown()
        server.server_close()
    [outcome] = change["actions"]
    assert outcome["outcome"] == "ok"
    assert outcome["detail"] == {
        "status_code": 200,
        "attempts": [{"status_code": 503}, {"status_code": 200}],
    }
    first = _Hook.received[0]
    assert (first["alarm"], first["state"], first["old_state"]) == (
        "hooked",
        "ALARM",
        "INSUFFICIENT_DATA",
    )
    assert first["evidence"]["violations"] == [VIOLATION]
    assert alarms.history("hooked")[0]["actions"] == [outcome]


def test_failing_actions_record_why(ws, alarms, monkeypatch, tmp_path):
    monkeypatch.setattr(alarms_module, "COMMAND_TIMEOUT_SECONDS", 0.2)
    _Hook.answers, _Hook.received = [404], []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        late = tmp_path / "late"  # what the command would leave, were it not ended whole
        actions = [f"webhook:{url}", f"command:(sleep 0.5; touch {late}) & wait", "rollback:churn"]
        add_run(ws, metrics={}, violations=[VIOLATION])
        with ws.store.write() as session:  # an alarm whose endpoint was deleted since
            session.add(
                AlarmRow(
                    name="failing", source="monitor:drift", condition="violations > 0",
                    actions=actions, state="OK", state_changed_at=now(), created_at=now(),
                    created_by="test",
                )
            )  # fmt: skip
        [change] = alarms.evaluate()
    finally:
        server.shutdown()
        server.server_close()
    hook, command, rollback = change["actions"]
    # A 4xx is the receiver refusing the payload: not sent again.
    assert hook["outcome"] == "failed" and hook["detail"]["attempts"] == [{"status_code": 404}]
    assert (command["outcome"], command["detail"]) == ("failed", {"error": "timed out after 0.2 s"})
    time.sleep(0.6)
    assert not late.exists()
    assert rollback["outcome"] == "failed" and "churn" in rollback["detail"]["error"]


def test_rollback_and_retrain_actions(two_models_copy, monkeypatch):
    ws, first, second = two_models_copy
    monkeypatch.setitem(SCHEDULE_KINDS, "retrain", f"{__name__}:start_retraining")
    RETRAININGS.clear()
    ws.endpoints.deploy(second, endpoint="churn")
    assert ws.endpoints.get("churn").model == second
    add_monitor(ws)
    alarms = AlarmService(ws)
    alarms.create(
        "bad-model",
        on="monitor:drift",
        when="violations >= 1",
        actions=["rollback:churn", "retrain:churn"],
    )
    add_run(ws, metrics={}, violations=[VIOLATION])
    [change] = alarms.evaluate()
    assert [a["outcome"] for a in change["actions"]] == ["ok", "ok"]
    assert ws.endpoints.get("churn").model == first
    assert change["actions"][1]["detail"] == {"job_id": "train-stand-in"}
    [retraining] = RETRAININGS
    assert (retraining["spec"], retraining["endpoint"]) == ("churn", "churn")
    assert retraining["reason"]["violations"] == [VIOLATION]


def _serving(endpoint: str, invocations: int, errors: int) -> VariantMetricsRow:
    return VariantMetricsRow(
        endpoint=endpoint,
        variant="primary",
        model="churn:1",
        role="live",
        period_start=now(),
        period_seconds=1.0,
        worker="test:1",
        invocations=invocations,
        errors_4xx=0,
        errors_5xx=errors,
        model_latency=Histogram().to_dict(),
        overhead_latency=Histogram().to_dict(),
        predictions={},
        comparison={},
    )


def test_endpoint_alarms_read_the_serving_metrics_and_show_in_metrics(two_models_copy):
    ws = two_models_copy[0]
    alarms = AlarmService(ws)
    alarms.create("errors", on="endpoint:churn:error_rate:10m", when="> 0.1")
    alarms.create("busy", on="endpoint:churn:invocations", when="invocations >= 1000")
    assert alarms.evaluate(source="endpoint") == []  # no requests yet: INSUFFICIENT_DATA
    with ws.store.write() as session:
        session.add(_serving("churn", 50, 10))
    changes = {c["alarm"]: c for c in alarms.evaluate(source="endpoint:churn")}
    assert changes["errors"]["new_state"] == "ALARM"
    assert changes["errors"]["evidence"]["values"] == {"error_rate": 0.2}
    assert changes["busy"]["new_state"] == "OK"
    text = monitoring_metrics(ws).decode()
    assert 'kiln_alarm_state{alarm="errors",state="ALARM"} 1.0' in text
    assert 'kiln_alarm_state{alarm="busy",state="ALARM"} 0.0' in text


# -- alarms in guarded deployments ---------------------------------------------------------
def test_a_monitor_violation_mid_bake_rolls_a_canary_back(two_models_copy):
    from helpers import wait_for

    ws, first, second = two_models_copy
    add_monitor(ws)
    # A violation from before the deployment started is no reason to roll it back.
    add_run(ws, metrics={}, violations=[VIOLATION])
    outcome: dict = {}

    def deploy() -> None:
        try:
            ws.endpoints.deploy(
                second, endpoint="churn", strategy="canary:50%:60s", alarms=["monitor:drift"]
            )
        except KilnError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=deploy)
    thread.start()
    wait_for(lambda: ws.endpoints.get("churn").revision >= 3, what="the canary step")
    mid_bake = add_run(ws, metrics={"drift.num_cols": 1.0}, violations=[VIOLATION])
    thread.join(timeout=120)
    error = outcome["error"]
    assert error.code == "endpoints.rolled-back"
    assert "monitor:drift FIRING" in error.message and f"run={mid_bake}" in error.message
    assert "step 1" in error.message
    endpoint = ws.endpoints.get("churn")
    assert [(v["name"], v["model"]) for v in endpoint.variants] == [("primary", first)]


def test_deployment_alarms_on_monitors_and_user_alarms(two_models_copy):
    from kiln.endpoints._alarms import UserAlarm, Window, parse_alarms

    ws, first, second = two_models_copy
    with pytest.raises(NotFound) as unknown:
        ws.endpoints.deploy(
            second, endpoint="churn", strategy="canary:50%:1s", alarms=["monitor:x"]
        )
    assert unknown.value.code == "endpoints.unknown-monitor"
    with pytest.raises(NotFound) as unknown:
        ws.endpoints.deploy(second, endpoint="churn", strategy="canary:50%:1s", alarms=["alarm:x"])
    assert unknown.value.code == "endpoints.unknown-alarm"
    assert ws.endpoints.get("churn").revision == 1  # refused before any change
    add_monitor(ws)
    alarms = AlarmService(ws)
    alarms.create("drifting", on="monitor:drift", when="violations >= 1")
    [user_alarm] = parse_alarms(["alarm:drifting"])
    assert user_alarm == UserAlarm("drifting")
    window = Window(VariantStats("new"), VariantStats("old"), 60.0, store=ws.store)
    assert user_alarm.check(window).firing is False
    add_run(ws, metrics={}, violations=[VIOLATION])
    alarms.evaluate()
    state = user_alarm.check(window)
    assert state.firing is True and state.evidence["state"] == "ALARM"


def test_metrics_show_the_monitors_latest_runs_and_the_alarms_states(ws, alarms):
    from fastapi.testclient import TestClient

    from kiln.serving import create_app

    add_run(ws, metrics={"drift.num_cols": 3.0, "drift.tenure.psi": 0.5}, violations=[VIOLATION])
    alarms.create("drifting", on="monitor:drift", when="drift.num_cols > 2")
    alarms.evaluate()
    add_run(ws, metrics={"drift.num_cols": 1.0}, status="Failed")  # not a completed run
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        text = client.get("/metrics").text
    assert 'kiln_monitor_metric{metric="drift.num_cols",monitor="drift"} 3.0' in text
    assert 'kiln_monitor_metric{metric="drift.tenure.psi",monitor="drift"} 0.5' in text
    assert 'kiln_monitor_violations{monitor="drift"} 1.0' in text
    assert 'kiln_alarm_state{alarm="drifting",state="ALARM"} 1.0' in text
    assert 'kiln_alarm_state{alarm="drifting",state="OK"} 0.0' in text
    assert "kiln_invocations" in text  # the server's own metrics are still there

"""Executions: jobs of kind ``pipeline`` that run steps in order, from the cache when nothing
changed, with gates, retries, resume, lineage and triggers."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from kiln.errors import ConfigError, JobFailed, NotFound, StateError
from kiln.store import LineageRow, MonitorRow, MonitorRunRow, new_id, now

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pipelines" / "churn.yaml"


def test_the_example_runs_end_to_end_then_fully_from_the_cache(ws):
    first = ws.pipelines.run(EXAMPLE)
    assert first.status == "Completed" and first.id.startswith("pipe-")
    assert {s.status for s in first.steps} == {"Completed"}
    assert {s.reason for s in first.steps} == {"first run"}
    model = ws.models.get(first.step("train").outputs["model"])
    assert model.approval_status == "Approved"
    assert ws.endpoints.get("churn_pipeline").model == model.ref
    assert ws.monitoring.get("churn_monitor").endpoint == "churn_pipeline"
    assert ws.models.aliases("churn_pipeline") == {"churn_pipeline@candidate": model.ref}
    train_job = ws.jobs.get(first.step("train").job_id)
    assert train_job.kind == "training" and train_job.parent_id == first.id
    with ws.store.read() as session:
        edges = {
            (r.target_kind, r.target_id, r.relation)
            for r in session.scalars(select(LineageRow).where(LineageRow.source_id == first.id))
        }
    assert ("job", train_job.id, "step") in edges
    assert ("model_version", model.id, "output") in edges
    assert ("dataset_version", ws.data.get("churn_features_train").id, "output") in edges

    second = ws.pipelines.run(EXAMPLE)
    assert {s.status for s in second.steps} == {"Cached"}
    # Nothing to run: the execution finished in this process, no job process started for it.
    assert second.job.pid == os.getpid() and second.status == "Completed"
    assert [s.cached_from for s in second.steps] == [s.id for s in first.steps]
    assert second.step("deploy").outputs == first.step("deploy").outputs
    assert len(ws.models.list("churn_pipeline")) == 1
    assert ws.pipelines.list()[0].version == 1


SCRIPT = """
def process(inputs, *, minimum=0):
    raise ValueError("bad rows in the raw data")
"""
FIXED = """
def process(inputs, *, minimum=0):
    frame = inputs["raw"]
    return frame[frame["x"] >= minimum]
"""
# Fails its first attempt, then succeeds: the retry policy runs it again.
FLAKY = """
from pathlib import Path

def process(inputs):
    marker = Path(__file__).with_name("attempted")
    if not marker.exists():
        marker.write_text("1")
        raise RuntimeError("a passing failure")
    return inputs["clean"].assign(y=1)
"""
DEFINITION = """
name: cleaning
params:
  minimum: {type: int, default: 0}
steps:
  ingest: {type: ingest, source: data.csv, name: raw}
  clean:
    type: processing
    script: clean.py
    inputs: {raw: "${steps.ingest.data}"}
    params: {minimum: "${params.minimum}"}
  flaky:
    type: processing
    function: flaky:process     # a module in the definition's folder
    inputs: {clean: "${steps.clean.data}"}
    retry: {attempts: 2, backoff_seconds: 0}
  count:
    type: processing
    sql: SELECT count(*) AS n FROM clean
    inputs: {clean: "${steps.flaky.data}"}
    cache: false
"""


def test_a_failing_script_fails_its_step_and_the_execution_resumes(ws, tmp_path, run_cli):
    folder = tmp_path / "pipeline"
    folder.mkdir()
    (folder / "data.csv").write_text("x,label\n" + "".join(f"{i},{i % 2}\n" for i in range(8)))
    (folder / "clean.py").write_text(SCRIPT)
    (folder / "flaky.py").write_text(FLAKY)  # imported as the module 'flaky'
    (folder / "pipeline.yaml").write_text(DEFINITION)

    with pytest.raises(JobFailed) as caught:
        ws.pipelines.run(folder / "pipeline.yaml")
    assert caught.value.code == "pipeline.step-failed"
    assert "'clean'" in caught.value.message and "bad rows" in caught.value.message
    failed = ws.pipelines.execution(caught.value.job_id)
    assert [s.status for s in failed.steps] == ["Completed", "Failed", "Pending", "Pending"]
    logs = [message for _, _, _, message in ws.pipelines.logs(failed.id)]
    assert "[clean] Traceback (most recent call last):" in logs
    assert any("ValueError: bad rows in the raw data" in line for line in logs)

    (folder / "clean.py").write_text(FIXED)
    resumed = ws.pipelines.resume(failed.id)
    assert resumed.id == failed.id and resumed.status == "Completed"
    assert [s.status for s in resumed.steps] == ["Completed"] * 4
    assert resumed.step("ingest").ended_at == failed.step("ingest").ended_at  # kept, not re-run
    assert resumed.step("clean").attempts == 2  # its failed run and this one
    assert resumed.step("clean").reason == "resumed after it failed (first run)"
    assert resumed.step("flaky").attempts == 2  # retried once
    assert ws.data.load(resumed.step("count").outputs["data"])["n"].tolist() == [8]

    run_cli("pipelines", "run", str(folder / "pipeline.yaml"), "--param", "minimum=4", home=ws.home,
            check=True)  # fmt: skip
    third = ws.pipelines.executions("cleaning")[0]
    assert [s.status for s in third.steps] == ["Cached", "Completed", "Completed", "Completed"]
    assert "parameter 'params' changed" in third.step("clean").reason
    assert "input 'inputs' changed" in third.step("flaky").reason
    assert third.step("count").reason == "cache disabled (cache: false on the step)"
    assert ws.data.load(third.step("count").outputs["data"])["n"].tolist() == [4]

    refused = run_cli("pipelines", "run", str(folder / "pipeline.yaml"), "-p", "minimum=four",
                      home=ws.home)  # fmt: skip
    assert refused.returncode == 2 and "pipeline.bad-param" in refused.stderr
    assert "'minimum'" in refused.stderr and "'four'" in refused.stderr
    assert len(ws.pipelines.executions("cleaning")) == 2

    shown = run_cli("pipelines", "execution", third.id, "--logs", home=ws.home, check=True).stdout
    assert "Cached" in shown and "[count] Running: cache disabled" in shown
    listed = run_cli("pipelines", "list", home=ws.home, check=True).stdout
    assert "cleaning" in listed and third.id in listed
    steps = run_cli("pipelines", "show", "cleaning", home=ws.home, check=True).stdout
    assert steps.index("ingest") < steps.index("flaky") < steps.index("count")
    history = run_cli("pipelines", "executions", "cleaning", home=ws.home, check=True).stdout
    assert failed.id in history and third.id in history
    types = run_cli("pipelines", "step-types", "--json", home=ws.home, check=True).stdout
    assert "monitor_type" in types


def test_a_stopped_execution_ends_its_running_step(ws, tmp_path):
    from kiln.errors import KilnError

    (tmp_path / "data.csv").write_text("x\n1\n2\n")
    # Stands in for Ctrl-C or 'kiln jobs cancel' reaching the execution's process mid-step.
    (tmp_path / "stop.py").write_text("def process(inputs):\n    raise KeyboardInterrupt\n")
    (tmp_path / "stopped.yaml").write_text(
        "name: stopped\nsteps:\n"
        "  ingest: {type: ingest, source: data.csv, name: raw}\n"
        "  stop: {type: processing, script: stop.py, inputs: {raw: '${steps.ingest.data}'}}\n"
    )
    with pytest.raises(KilnError) as caught:
        ws.pipelines.run(tmp_path / "stopped.yaml")
    execution = ws.pipelines.execution(caught.value.job_id)
    assert execution.status == "Stopped"
    assert [s.status for s in execution.steps] == ["Completed", "Failed"]
    assert "the execution ended" in execution.step("stop").reason


def test_gates_skip_later_steps_and_approval_waits_for_a_person(trained_copy, run_cli):
    ws, result = trained_copy
    ref = result.model.ref
    # The model was trained without a problem: the criteria gate evaluates it against one now.
    ws.problems.create(
        "churn", {"target": "churn", "problem_type": "binary", "criteria": ["recall >= 0.1"]}
    )
    definition = {
        "name": "gates",
        "steps": {
            "score": {"type": "transform", "model": ref, "data": "churn_test", "keep": "none"},
            "strict": {"type": "condition", "model": ref, "when": "test.roc_auc >= 0.999"},
            "alias": {"type": "register", "model": ref, "alias": "best", "after": ["strict"]},
            "criteria": {"type": "condition", "model": ref, "criteria": True, "problem": "churn"},
            "person": {
                "type": "approve",
                "model": ref,
                "timeout_seconds": 0.2,
                "after": ["criteria"],
            },
            "auto": {
                "type": "approve",
                "mode": "auto",
                "model": ref,
                "problem": "churn",
                "after": ["person"],
            },  # fmt: skip
        },
    }
    with pytest.raises(StateError) as caught:
        ws.pipelines.run(definition)
    assert caught.value.code == "pipeline.approval-timeout" and ref in caught.value.message
    execution = ws.pipelines.execution(caught.value.job_id)
    statuses = {s.step: s.status for s in execution.steps}
    assert statuses == {
        "score": "Completed",
        "strict": "Completed",
        "alias": "Skipped",
        "criteria": "Completed",
        "person": "Failed",
        "auto": "Pending",
    }
    scored = ws.data.get(execution.step("score").outputs["data"])
    assert scored.row_count == ws.data.get("churn_test").row_count
    assert ws.jobs.get(execution.step("score").job_id).parent_id == execution.id
    assert execution.step("strict").outputs["passed"] is False
    assert execution.step("criteria").outputs["passed"] is True
    assert execution.step("alias").reason == "condition 'strict' was false"
    assert "churn@best" not in ws.models.aliases("churn")

    ws.models.approve(ref, reason="looked at it")
    run_cli("pipelines", "resume", execution.id, "-q", home=ws.home, check=True)
    resumed = ws.pipelines.execution(execution.id)
    assert resumed.step("person").outputs["status"] == "Approved"
    assert resumed.step("auto").outputs == {"model": ref, "status": "Approved", "passed": True}


def test_a_new_data_set_version_starts_an_execution(ws, tmp_path, run_cli):
    from kiln.monitoring import AlarmService, Scheduler

    csv = tmp_path / "events.csv"
    csv.write_text("a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(12)))
    ws.data.ingest(csv, name="events")
    ws.pipelines.register(
        {
            "name": "ondata",
            "params": {"data": {"type": "str"}},
            "steps": {"split": {"type": "split", "data": "${params.data}"}},
        }
    )
    schedule = ws.pipelines.schedule("ondata", on_data="events")
    assert schedule.kind == "pipeline" and schedule.target["seen_version"] == 1
    scheduler = Scheduler(ws)
    assert scheduler.run_once(now() + timedelta(minutes=2))[0].get("job_id") is None

    csv.write_text(csv.read_text() + "99,1\n")
    ws.data.ingest(csv, name="events")
    started = scheduler.run_once(now() + timedelta(minutes=4))
    job = ws.jobs.wait(started[0]["job_id"], timeout=300)
    assert job.status == "Completed" and job.spec["params"] == {"data": "events:2"}
    assert job.spec["trigger"] == "new data set version events:2"
    assert ws.monitoring.schedules.get("pipeline:ondata:data").target["seen_version"] == 2

    # A stored pipeline runs by its name; --no-cache runs the step although nothing changed.
    run_cli("pipelines", "run", "ondata", "-p", "data=events:2", "--no-cache", "-q",
            home=ws.home, check=True)  # fmt: skip
    again = ws.pipelines.executions("ondata")[0]
    assert again.id != job.id and again.step("split").reason == "cache disabled (--no-cache)"

    scheduled = run_cli("pipelines", "schedule", "ondata", "--cron", "0 3 * * *", "-p",
                        "data=events:1", home=ws.home, check=True)  # fmt: skip
    assert "'kiln scheduler' starts it" in scheduled.stdout  # a command that exists
    cron = ws.monitoring.schedules.get("pipeline:ondata:cron")
    assert cron.expression == "0 3 * * *" and cron.target["params"] == {"data": "events:1"}
    alarms = AlarmService(ws)
    source = {"on": "endpoint:x:error_rate", "when": "error_rate > 1"}
    with pytest.raises(ConfigError, match="names no stored pipeline"):
        alarms.create("a", actions=["pipeline:nope"], **source)
    with pytest.raises(NotFound) as caught:  # the action is fine; there is no endpoint x
        alarms.create("a", actions=["pipeline:ondata"], **source)
    assert "pipeline" not in caught.value.message

    # An alarm's action pipeline:NAME starts an execution with the pipeline's defaults.
    ws.pipelines.register(
        {
            "name": "alarmed",
            "params": {"data": {"type": "str", "default": "events:1"}},
            "steps": {"split": {"type": "split", "data": "${params.data}"}},
        }
    )
    at = now()
    monitor = {"endpoint": "churn", "type": "data-quality", "schedule": "0 * * * *"}
    window = {"window_start": at - timedelta(hours=1), "window_end": at}
    with ws.store.write() as session:
        session.add(MonitorRow(name="drift", window_seconds=3600.0, config={}, created_at=at,
                               created_by="test", **monitor))  # fmt: skip
        session.add(MonitorRunRow(id=new_id("mrun"), monitor="drift", type="data-quality",
                                  status="Completed", started_at=at, ended_at=at, metrics={},
                                  violations=[{"column": "a"}], summary={}, **window))  # fmt: skip
    alarms.create("retrain", on="monitor:drift", when="violations >= 1",
                  actions=["pipeline:alarmed"])  # fmt: skip
    [change] = alarms.evaluate()
    [action] = change["actions"]
    assert action["outcome"] == "ok", action
    alarmed = ws.jobs.wait(action["detail"]["job_id"], timeout=300)
    assert alarmed.status == "Completed" and alarmed.spec["trigger"] == "alarm retrain"
    assert alarmed.spec["pipeline"] == "alarmed"


def test_a_refused_run_stores_no_pipeline_version(ws):
    definition = {
        "name": "refused",
        "params": {"min_auc": {"type": "float", "default": 0.7}},
        "steps": {
            "gate": {"type": "condition", "metrics": {}, "when": "roc_auc >= ${params.min_auc}"}
        },
    }
    with pytest.raises(ConfigError) as caught:
        ws.pipelines.run(definition, params={"min_auc": "high"})
    assert caught.value.code == "pipeline.bad-param" and "'high'" in caught.value.message
    unknown_metric = {**definition, "steps": {"gate": {"type": "condition", "when": "auc >= 1"}}}
    with pytest.raises(ConfigError, match="unknown metric 'auc'"):
        ws.pipelines.run(unknown_metric)
    assert ws.pipelines.list() == [] and ws.jobs.list(kind="pipeline") == []
    with pytest.raises(ConfigError) as caught:
        ws.pipelines.get("refused:latest")
    assert caught.value.code == "name.invalid-ref"


def test_a_changed_problem_spec_runs_its_gate_again(trained_copy):
    ws, result = trained_copy
    ref = result.model.ref
    first = ws.problems.create("churn", {"target": "churn", "criteria": ["recall >= 0.01"]})
    # What training with problem churn:1 records on the model version.
    ws.models.add_details(ref, problem=first.ref, criteria=_criteria(ws, ref, first.ref))
    definition = {
        "name": "gated",
        "steps": {
            "gate": {"type": "condition", "model": ref, "criteria": True, "problem": "churn"}
        },
    }
    assert ws.pipelines.run(definition).step("gate").outputs["passed"] is True
    ws.problems.create("churn", {"target": "churn", "criteria": ["recall >= 0.9999"]})
    gate = ws.pipelines.run(definition).step("gate")
    assert gate.status == "Completed" and "input 'problem' changed" in gate.reason
    assert gate.outputs["passed"] is False  # churn:2's criterion, not those recorded for churn:1


def _criteria(ws, model: str, problem: str) -> dict:
    from kiln.training import evaluate_criteria

    return evaluate_criteria(ws, model, problem)


def test_a_stored_pipeline_is_run_by_name_beside_a_folder_of_that_name(ws, tmp_path, monkeypatch):
    stored = ws.pipelines.register(
        {"name": "demo", "steps": {"a": {"type": "ingest", "source": "x.csv", "name": "raw"}}}
    )
    (tmp_path / "demo").mkdir()
    monkeypatch.chdir(tmp_path)
    assert ws.pipelines._stored("demo") == stored


def test_auto_approval_by_conditions_does_not_approve_a_model_that_failed_its_problem(
    two_models_copy,
):
    ws, _, ref = two_models_copy  # churn:2: Approved, served by no endpoint
    strict = ws.problems.create("churn", {"target": "churn", "criteria": ["recall >= 0.9999"]})
    # What training with that problem records on the model version (and it is Rejected).
    ws.models.add_details(ref, problem=strict.ref, criteria=_criteria(ws, ref, strict.ref))
    approve = {"type": "approve", "mode": "auto", "model": ref, "when": "test.roc_auc >= 0.1"}
    step = ws.pipelines.run({"name": "approval", "steps": {"approve": approve}}).step("approve")
    assert step.outputs == {"model": ref, "status": "Rejected", "passed": False}
    assert "recall >= 0.9999" in ws.models.approvals(ref)[-1]["reason"]

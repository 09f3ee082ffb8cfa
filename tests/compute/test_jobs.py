"""``ws.jobs``: ids by unique prefix, listing filters, cancel and wait."""

from __future__ import annotations

import pytest

from helpers import ON_BOTH_STORES
from kiln.errors import ConfigError, NotFound, StateError


@pytest.fixture
def fixed_ids(monkeypatch):
    """New jobs get the ids a test lists, in order, instead of random ones."""

    def use(*ids: str) -> None:
        queue = iter(ids)
        monkeypatch.setattr("kiln.compute._jobs.new_id", lambda prefix: next(queue))

    return use


@ON_BOTH_STORES
def test_a_unique_prefix_names_its_job_everywhere_an_id_is_taken(ws, fixed_ids):
    fixed_ids("train-cd481d5a9b12", "train-cd49aaaaaaaa")
    first = ws.jobs.create("training", {})
    ws.jobs.create("training", {})
    ws.jobs.context(first.id).log("hello")
    ws.jobs.context(first.id).log_metric_series("loss", [0.5, 0.25])

    assert ws.jobs.resolve("train-cd481d5a9b12") == first.id
    assert ws.jobs.get("train-cd48").id == first.id
    assert ws.jobs.logs("train-cd481")[0][3] == "hello"
    assert ws.jobs.metrics("train-cd48") == {"loss": [(1, 0.5), (2, 0.25)]}
    ws.jobs.finish(first.id, "Failed", failure_reason="boom")
    assert ws.jobs.reopen("train-cd48").status == "Pending"


@ON_BOTH_STORES
def test_an_ambiguous_prefix_is_refused_with_its_candidates(ws, fixed_ids):
    fixed_ids("train-cd481d5a9b12", "train-cd48ffffffff")
    ws.jobs.create("training", {})
    ws.jobs.create("training", {})
    with pytest.raises(ConfigError) as caught:
        ws.jobs.get("train-cd48")
    assert caught.value.code == "jobs.ambiguous-id"
    assert "train-cd481d5a9b12" in caught.value.message
    assert "train-cd48ffffffff" in caught.value.message


@ON_BOTH_STORES
def test_a_prefix_shorter_than_four_characters_after_the_kind_is_refused(ws, fixed_ids):
    fixed_ids("train-cd481d5a9b12")
    ws.jobs.create("training", {})
    with pytest.raises(ConfigError) as caught:
        ws.jobs.get("train-cd4")
    assert caught.value.code == "jobs.short-id"
    assert "train-cd481d" in caught.value.message
    with pytest.raises(NotFound):
        ws.jobs.get("train-ffff")
    with pytest.raises(NotFound):
        ws.jobs.get("train_%")  # LIKE wildcards match themselves only


@ON_BOTH_STORES
def test_list_hides_trials_on_request_counts_them_and_checks_its_filters(ws):
    parent = ws.jobs.create("tuning", {})
    trials = [ws.jobs.create("training", {}, parent_id=parent.id) for _ in range(3)]
    alone = ws.jobs.create("training", {})
    ws.jobs.finish(alone.id, "Failed", failure_reason="boom")

    assert {j.id for j in ws.jobs.list(top_level=True)} == {parent.id, alone.id}
    assert len(ws.jobs.list()) == 5
    assert ws.jobs.child_counts([parent.id, alone.id]) == {parent.id: 3}
    assert [j.id for j in ws.jobs.list(status="failed")] == [alone.id]
    assert {j.id for j in ws.jobs.list(parent_id=parent.id)} == {t.id for t in trials}
    with pytest.raises(ConfigError) as caught:
        ws.jobs.list(status="Done")
    assert caught.value.code == "jobs.bad-status" and "Completed" in caught.value.message
    with pytest.raises(ConfigError) as caught:
        ws.jobs.list(kind="trainning")
    assert caught.value.code == "compute.unknown-job-kind"


@ON_BOTH_STORES
def test_cancel_ends_a_pending_job_stopped_and_refuses_an_ended_one(ws):
    job = ws.jobs.create("training", {})
    cancelled = ws.jobs.cancel(job.id[:10], reason="Not needed any more.")
    assert cancelled.status == "Stopped"
    assert cancelled.failure_reason == "Not needed any more."
    assert "Not needed any more." in [line[3] for line in ws.jobs.logs(job.id)]
    with pytest.raises(StateError) as caught:
        ws.jobs.cancel(job.id)
    assert caught.value.code == "jobs.not-active" and "Stopped" in caught.value.message


@ON_BOTH_STORES
def test_cancel_of_a_job_running_on_another_host_ends_its_record(ws):
    from sqlalchemy import update

    from kiln.store import JobRow

    job = ws.jobs.create("training", {})
    with ws.store.write() as session:
        session.execute(
            update(JobRow).where(JobRow.id == job.id).values(status="InProgress", host="elsewhere")
        )
    cancelled = ws.jobs.cancel(job.id)
    assert cancelled.status == "Stopped"
    assert cancelled.failure_reason.startswith("Cancelled by ")
    # Its process, on the other host, finds the record ended at its next heartbeat.
    assert ws.jobs.heartbeat(job.id) is False


def test_wait_returns_an_ended_job_and_times_out_on_a_running_one(ws):
    done = ws.jobs.create("training", {})
    ws.jobs.finish(done.id, "Completed", result={"model": "m:1"})
    assert ws.jobs.wait(done.id).status == "Completed"

    running = ws.jobs.create("training", {})  # Pending, this process in charge of it
    with pytest.raises(StateError) as caught:
        ws.jobs.wait(running.id, timeout=0.2, poll_seconds=0.05)
    assert caught.value.code == "jobs.wait-timeout"
    assert f"kiln jobs cancel {running.id}" in caught.value.message


def test_tune_resume_takes_a_prefix_and_names_the_whole_id(ws, fixed_ids):
    from kiln.tuning._tune import resume

    fixed_ids("tune-abcdef123456")
    job = ws.jobs.create("training", {})
    with pytest.raises(StateError) as caught:
        resume(ws, "tune-abcd")
    assert caught.value.code == "jobs.not-resumable" and job.id in caught.value.message

"""Guarded deployments: a job that moves an endpoint's traffic to a new model in steps, bakes
after each step while its alarms watch the serving metrics, and rolls back by itself when one
fires, when it is stopped, or when it dies (found by :func:`reconcile`).

Every step is a revision of the endpoint, so a running ``kiln serve`` follows it within a second,
and the history shows the whole deployment. Servers keep the models of the previous revision
loaded until every model of the next one is, so no request meets a model being loaded.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import select

from kiln.endpoints._alarms import AlarmState, Window, check_alarm_sources, parse_alarms
from kiln.endpoints._metrics import VariantStats, variant_stats
from kiln.endpoints._strategy import format_duration, parse_duration, parse_strategy
from kiln.endpoints._variants import LIVE, SHADOW, live_variants
from kiln.errors import ConfigError, KilnError, StateError
from kiln.registry import live_variant, write_revision
from kiln.store import EndpointRow, acting_as, now, who

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.registry import ModelVersion

__all__ = ["reconcile", "run_deployment_job", "start_rollout"]

log = logging.getLogger("kiln.endpoints")

# Seconds a new variant sits at weight 0 before it gets traffic: servers poll the workspace once
# a second and load it beside the old one meanwhile.
LOAD_GRACE_SECONDS = 2.0
# Alarms look at most this far back (and never before the current step began).
ALARM_WINDOW_SECONDS = 60.0
CHECK_SECONDS = 1.0
ROLLED_BACK = "rolled-back"
COMPLETED = "completed"


def start_rollout(
    ws: Context,
    version: ModelVersion,
    *,
    endpoint: str,
    variant: str | None,
    strategy: str,
    alarms: list[str] | None,
    allow_unapproved: bool,
    alarm_window: str | None = None,
    sections: dict | None = None,
    on_log=None,
    wait: bool = True,
):
    """Claim the endpoint for a deployment job and run the job (see :func:`run_deployment_job`);
    returns the finished job. A deployment that rolled back raises ``endpoints.rolled-back``.
    With ``wait`` false, returns the job as it starts: a thread of this process watches it (and
    rolls the endpoint back if its process dies), so a server's request need not wait a bake.

    ``sections``: configuration sections (``{"serverless": {...}}``) the endpoint takes first,
    once everything that can be refused up front has passed (a refusal changes nothing)."""
    from kiln.compute import FAILED, LocalExecutor

    plan = parse_strategy(strategy)
    check_alarm_sources(ws.store, parse_alarms(alarms))  # refuse a bad alarm before any change
    window = (parse_duration(alarm_window, what="alarm window") if alarm_window else None) or min(
        ALARM_WINDOW_SECONDS, plan.bake_seconds or ALARM_WINDOW_SECONDS
    )
    ws.models.load(version)  # refuses a missing or tampered artifact up front
    reconcile(ws, endpoint)
    current = ws.endpoints.get(endpoint)
    name = variant or _variant_name(version, current.variants)
    if any(v["name"] == name for v in current.variants):
        raise ConfigError(
            f"Endpoint {endpoint!r} has a variant named {name!r} already: a guarded deployment "
            "adds the new model as a variant of its own beside the current ones. Choose another "
            "name with --variant.",
            code="endpoints.variant-exists",
        )
    if current.active_deployment:
        raise _in_progress(endpoint, current.active_deployment)
    for section, value in (sections or {}).items():  # the endpoint's own setting, set first
        ws.endpoints.set_config(endpoint, section, value, note=f"{section} on")
    if sections:
        current = ws.endpoints.get(endpoint)
    spec = {
        "endpoint": endpoint,
        "model": version.ref,
        "variant": name,
        "strategy": plan.text,
        "alarms": list(alarms or []),
        "alarm_window_seconds": window,
        "allow_unapproved": allow_unapproved,
        "baseline": current.variants,
        "baseline_revision": current.revision,
        # Whoever started it (a Studio user) makes the revisions the job writes in its process.
        "by": who(),
    }
    job = ws.jobs.create("deployment", spec)
    refusal = None
    with ws.store.write() as session:
        row = session.scalars(select(EndpointRow).where(EndpointRow.name == endpoint)).one()
        if row.active_deployment:  # claimed since the look above
            refusal = _in_progress(endpoint, row.active_deployment)
        elif row.revision != current.revision:
            refusal = StateError(
                f"Endpoint {endpoint!r} changed while the deployment was being prepared "
                f"(revision {current.revision} → {row.revision}). Run the deploy again.",
                code="endpoints.changed",
            )
        else:
            row.active_deployment = job.id
    if refusal is not None:
        ws.jobs.finish(job.id, FAILED, failure_reason=refusal.message)
        raise refusal
    if not wait:
        threading.Thread(
            target=_watch, args=(ws, job, endpoint), name=f"kiln-{job.id}", daemon=True
        ).start()
        return job
    try:
        return LocalExecutor(ws).run(job, on_log=on_log)
    finally:
        reconcile(ws, endpoint)  # the job's process died before it could roll back: now


def _watch(ws: Context, job, endpoint: str) -> None:
    """Run a deployment job that nobody waits for; its record holds how it ended."""
    from kiln.compute import LocalExecutor

    try:
        LocalExecutor(ws).run(job)
    except Exception as exc:  # noqa: BLE001 - the job's record and the history hold the failure
        log.warning("deployment %s did not complete: %s", job.id, exc)
    finally:
        reconcile(ws, endpoint)


def run_deployment_job(ws: Context, job, spec: dict) -> dict:
    """The deployment job: health-check, shift, bake, watch, and complete or roll back; the
    revisions it writes name whoever started it."""
    with acting_as(spec.get("by") or who()):
        return _run_deployment(ws, job, spec)


def _run_deployment(ws: Context, job, spec: dict) -> dict:
    plan = parse_strategy(spec["strategy"])
    alarms = parse_alarms(spec["alarms"])
    endpoint, name = spec["endpoint"], spec["variant"]
    baseline = spec["baseline"]
    version = ws.models.get(spec["model"])
    timeline: list[dict] = []
    deployment_started = now()  # monitor alarms judge the runs that ended since

    def say(message: str, **details) -> None:
        job.log(message)
        timeline.append({"at": now().isoformat() + "Z", "event": message, **details})

    try:
        ws.models.check_deployable(version, allow_unapproved=spec["allow_unapproved"])
        health_check(ws, version)
        say(f"{version.ref} loaded and answered its health check in this process")
        new = live_variant(version) | {"name": name, "weight": 0.0}
        _write(
            ws,
            endpoint,
            job.job_id,
            [*baseline, new],
            plan.text,
            note=f"deployment {job.job_id}: {name} ({version.ref}) loaded beside the live "
            "variants, no traffic yet",
        )
        time.sleep(LOAD_GRACE_SECONDS)
        for step, share in enumerate(plan.steps, start=1):
            variants = _shifted(baseline, new, share)
            _write(
                ws,
                endpoint,
                job.job_id,
                variants,
                plan.text,
                note=f"deployment {job.job_id}: step {step}/{len(plan.steps)}, {share:.0%} of "
                f"traffic to {name}",
            )
            say(
                f"Step {step}/{len(plan.steps)}: {share:.0%} of traffic to {name} "
                f"({version.ref}); baking {format_duration(plan.bake_seconds)}",
                step=step,
                share=share,
            )
            fired = _bake(
                ws,
                job,
                endpoint,
                name,
                baseline,
                alarms,
                plan.bake_seconds,
                spec["alarm_window_seconds"],
                old_serve=share < 1.0,
                deployment_started=deployment_started,
            )
            if fired is not None:
                say(f"Rolling back: {fired.message}", alarm=fired.name, evidence=fired.evidence)
                _roll_back(
                    ws,
                    endpoint,
                    job.job_id,
                    baseline,
                    plan.text,
                    f"rolled back deployment {job.job_id}: {fired.message}",
                )
                raise StateError(
                    f"Deployment of {version.ref} to {endpoint!r} rolled back at step {step} "
                    f"({share:.0%} of traffic): {fired.message}. All traffic is back on "
                    f"{', '.join(v['name'] for v in live_variants(baseline))}.",
                    code="endpoints.rolled-back",
                )
        final = [new | {"weight": 1.0}] + [v for v in baseline if v.get("role") == SHADOW]
        _write(
            ws,
            endpoint,
            job.job_id,
            final,
            plan.text,
            outcome=COMPLETED,
            release=True,
            note=f"deployment {job.job_id} completed: {name} ({version.ref}) serves all traffic",
        )
        say(f"Completed: {name} ({version.ref}) serves all traffic")
    except StateError as exc:
        if exc.code != "endpoints.rolled-back":
            _roll_back_quietly(ws, endpoint, job, baseline, plan.text, exc)
        raise
    except BaseException as exc:  # a stop, a crash: traffic goes back to what it was
        _roll_back_quietly(ws, endpoint, job, baseline, plan.text, exc)
        raise
    return {
        "endpoint": endpoint,
        "model": version.ref,
        "variant": name,
        "strategy": plan.text,
        "outcome": COMPLETED,
        "timeline": timeline,
    }


def health_check(ws: Context, version: ModelVersion) -> None:
    """Load the model and score synthetic rows covering its signature; raise if it cannot."""
    model = ws.models.load(version)
    inputs = (version.signature or {}).get("inputs") or []
    if not inputs:
        return
    rows = pd.DataFrame(
        {
            spec["name"]: [1.0, 0.0]
            if spec["dtype"] == "number"
            else [(spec.get("categories") or ["a"])[0]] * 2
            for spec in inputs
        }
    )
    try:
        model.predictions(rows)
    except Exception as exc:
        raise StateError(
            f"Model {version.ref} failed its health check (scoring two rows built from its "
            f"signature): {type(exc).__name__}: {str(exc)[:300]}. Nothing was changed.",
            code="endpoints.health-check-failed",
        ) from None


def reconcile(ws: Context, endpoint: str | None = None) -> list[str]:
    """Roll back the endpoints whose deployment job has ended without finishing (its process was
    killed, say): an endpoint is never left between two states. Returns their names."""
    with ws.store.read() as session:
        query = select(EndpointRow.name, EndpointRow.active_deployment).where(
            EndpointRow.active_deployment.is_not(None)
        )
        if endpoint is not None:
            query = query.where(EndpointRow.name == endpoint)
        claimed = session.execute(query).all()
    rolled = []
    for name, job_id in claimed:
        ws.jobs.reap(job_id)
        job = ws.jobs.get(job_id)
        if job.status in ("Pending", "InProgress"):
            continue
        why = job.failure_reason or f"it ended {job.status}"
        _roll_back(
            ws,
            name,
            job_id,
            job.spec["baseline"],
            job.spec["strategy"],
            f"rolled back deployment {job_id}: its job ended without finishing ({why})",
        )
        rolled.append(name)
    return rolled


# -- helpers --------------------------------------------------------------------------------
def _in_progress(endpoint: str, job_id: str) -> StateError:
    return StateError(
        f"Endpoint {endpoint!r} is being deployed by job {job_id}: one deployment at a time. "
        f"Wait for it ('kiln jobs wait {job_id}') or stop it, which rolls it back "
        f"('kiln jobs cancel {job_id}').",
        code="endpoints.deployment-in-progress",
    )


def _variant_name(version: ModelVersion, variants: list[dict]) -> str:
    base = f"{version.group}_{version.version}"
    taken = {v["name"] for v in variants}
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    return name


def _shifted(baseline: list[dict], new: dict, share: float) -> list[dict]:
    """The baseline's live variants keep their proportions within ``1 - share``."""
    live = live_variants(baseline)
    total = sum(v["weight"] for v in live) or 1.0
    out = [v | {"weight": (1.0 - share) * v["weight"] / total} for v in live]
    out.append(new | {"weight": share})
    return out + [v for v in baseline if v.get("role") == SHADOW]


def _bake(
    ws,
    job,
    endpoint,
    name,
    baseline,
    alarms,
    bake_seconds,
    window_seconds,
    *,
    old_serve=True,
    deployment_started=None,
):
    """Watch the alarms for ``bake_seconds``; the first that fires, or None.

    When the step leaves the old variants no traffic (``old_serve`` false: the last step, or
    blue-green), they are judged on the alarm window before the step: the few requests they
    answer while the servers follow the step are no baseline (a p99 of 30 requests against one
    of thousands rolled good models back)."""
    started = now()
    old_names = {v["name"] for v in live_variants(baseline)}
    before = None
    if not old_serve:
        earlier = variant_stats(
            ws.store, endpoint, since=started - timedelta(seconds=window_seconds), until=started
        )
        before = _summed([s for n, s in earlier.items() if n in old_names])
    end = time.monotonic() + bake_seconds
    last_note = time.monotonic()
    while True:
        since = max(started, now() - timedelta(seconds=window_seconds))
        stats = variant_stats(ws.store, endpoint, since=since)
        window = Window(
            stats.get(name, VariantStats(name)),
            before
            if before is not None
            else _summed([s for n, s in stats.items() if n in old_names]),
            window_seconds,
            store=ws.store,
            deployment_started=deployment_started or started,
        )
        for alarm in alarms:
            state: AlarmState = alarm.check(window)
            if state.firing:
                return state
        if time.monotonic() >= end:
            return None
        if time.monotonic() - last_note >= 30:
            last_note = time.monotonic()
            job.log(
                f"  baking: {window.new.invocations} requests to {name} "
                f"(error rate {window.new.error_rate:.2%}), {window.old.invocations} to the old "
                f"variants; {max(0.0, end - time.monotonic()):.0f} s left"
            )
        time.sleep(min(CHECK_SECONDS, max(0.0, end - time.monotonic())) or 0.01)


def _summed(stats: list[VariantStats]) -> VariantStats:
    total = VariantStats("old")
    for s in stats:
        total.add(s)
    return total


def _write(ws, endpoint, job_id, variants, strategy, *, note, outcome=None, release=False):
    with ws.store.write() as session:
        row = session.scalars(select(EndpointRow).where(EndpointRow.name == endpoint)).one()
        if row.active_deployment != job_id:
            raise StateError(
                f"Endpoint {endpoint!r} is no longer being deployed by job {job_id} (it was "
                "deleted, or another process rolled the deployment back).",
                code="endpoints.deployment-lost",
            )
        write_revision(
            session, row, variants, note=note, strategy=strategy, job_id=job_id, outcome=outcome
        )
        if release:
            row.active_deployment = None


def _roll_back(ws, endpoint, job_id, baseline, strategy, note):
    """Give the endpoint its variants from before the deployment, if the deployment still owns
    it (nothing to undo otherwise: it completed, or was rolled back already)."""
    with ws.store.write() as session:
        row = session.scalars(select(EndpointRow).where(EndpointRow.name == endpoint)).first()
        if row is None or row.active_deployment != job_id:
            return
        variants = [v for v in baseline if v.get("role", LIVE) in (LIVE, SHADOW)]
        write_revision(
            session, row, variants, note=note, strategy=strategy, job_id=job_id, outcome=ROLLED_BACK
        )
        row.active_deployment = None


def _roll_back_quietly(ws, endpoint, job, baseline, strategy, exc: BaseException) -> None:
    reason = (
        exc.message
        if isinstance(exc, KilnError)
        else ("stopped" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}")
    )
    try:
        _roll_back(
            ws,
            endpoint,
            job.job_id,
            baseline,
            strategy,
            f"rolled back deployment {job.job_id}: {reason}"[:2000],
        )
        job.log(f"Rolled back: {reason}", level="WARNING")
    except Exception as inner:  # noqa: BLE001 - reconcile() finishes the job's rollback later
        job.log(
            f"Could not roll back now ({inner}); the next look at the endpoint will.", level="ERROR"
        )

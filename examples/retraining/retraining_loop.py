"""The retraining loop, end to end, on the churn data.

    python examples/retraining/retraining_loop.py [--no-drift] [--home /tmp/kiln-loop]

1. Train the churn model, approve it and deploy it with data capture on.
2. Create a drift monitor on the endpoint, and an alarm on it whose action retrains the model.
3. Replay traffic through the endpoint (``kiln.monitoring.simulate_traffic``: seeded, with drift
   in five columns, or none with ``--no-drift``), and add the labelled new rows as the newest
   version of the data set.
4. Run the monitor: with drift it raises violations, the alarm goes off, and its action retrains
   the model on the newest data; the candidate is registered PendingManualApproval with a
   comparison against the deployed model on the same test rows. Without drift nothing happens.
5. Approve the candidate and deploy it with a canary: traffic shifts to it.

The same steps from the command line are in docs/monitoring.md.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd

import kiln
from kiln.monitoring import simulate_traffic

HERE = Path(__file__).resolve().parent
CHURN_CSV = HERE.parent / "churn" / "telco_churn.csv"
ENDPOINT = "churn_api"  # endpoint names work unquoted in SQL: letters, digits, underscores


def replay(ws: kiln.Workspace, endpoint: str, rows: pd.DataFrame, *, batch: int = 50) -> None:
    """Send ``rows`` to ``endpoint`` through its HTTP app, in this process (as 'kiln serve'
    would serve them); captured as they are answered."""
    import warnings

    from kiln.serving import create_app

    with warnings.catch_warnings():  # starlette's note on its httpx dependency, not ours
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    records = rows.astype(object).where(rows.notna(), None).to_dict(orient="records")
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        for start in range(0, len(records), batch):
            answer = client.post(
                f"/endpoints/{endpoint}/invocations", json=records[start : start + batch]
            )
            answer.raise_for_status()


def retraining_loop(
    ws: kiln.Workspace,
    *,
    endpoint: str,
    data: str,
    target: str,
    drift: float,
    rows: int = 600,
    seed: int = 7,
    say=print,
) -> dict:
    """Steps 2–5 above on a deployed endpoint; returns what happened."""
    ws.endpoints.set_capture(endpoint, 100)
    ws.monitoring.create("drift", endpoint=endpoint, type="data-quality", window="1h")
    ws.monitoring.alarms.create(
        "drift-alarm",
        on="monitor:drift",
        when="drift.num_cols > 2",
        actions=["log", f"retrain:{endpoint}"],
    )
    say(f"Monitor 'drift' and alarm 'drift-alarm' (retrain:{endpoint}) created.")

    reference = ws.data.load(data)
    traffic = simulate_traffic(reference, rows=rows, drift=drift, exclude=(target,), seed=seed)
    replay(ws, endpoint, traffic.drop(columns=[target]))
    newest = ws.data.ingest(pd.concat([reference, traffic], ignore_index=True), name=data)
    say(f"Replayed {rows} rows (drift {drift:g}); labelled rows added as {newest.ref}.")

    deployed = ws.endpoints.get(endpoint).model
    run = ws.monitoring.run("drift")
    drifted = sorted({d["column"] for d in run.summary.get("drift", []) if d.get("drifted")})
    say(
        f"Monitor run {run.id}: {len(run.violations)} violation(s); drifted columns: "
        f"{', '.join(drifted) or 'none'}."
    )
    alarm = ws.monitoring.alarms.get("drift-alarm")
    say(f"Alarm drift-alarm is {alarm.state}.")
    candidates = [
        v
        for v in ws.models.list(ws.models.get(deployed).group)
        if (v.details or {}).get("retraining", {}).get("replaces") == deployed
    ]
    outcome = {
        "run": run.id,
        "violations": len(run.violations),
        "drifted": drifted,
        "alarm": alarm.state,
        "candidate": None,
        "deployed": deployed,
    }
    if not candidates:
        say("No retraining: the endpoint keeps serving " + deployed + ".")
        return outcome
    candidate = candidates[-1]
    comparison = candidate.details["retraining"]["comparison"]
    say(
        f"Retrained {candidate.ref} ({candidate.approval_status}); on the same "
        f"{candidate.details['retraining']['test_rows']} test rows: "
        + ", ".join(
            f"{k} {v['candidate']:.3f} vs {v['deployed']:.3f}" for k, v in comparison.items()
        )
    )
    ws.models.approve(candidate.ref, reason="reviewed the retraining comparison")
    ws.endpoints.deploy(candidate.ref, endpoint=endpoint, strategy="canary:50%:2s")
    now_serving = ws.endpoints.get(endpoint)
    say(f"Canary completed: {endpoint} serves {now_serving.model} ({now_serving.shares}).")
    return outcome | {
        "candidate": candidate.ref,
        "status_before_approval": candidate.approval_status,
        "comparison": comparison,
        "deployed": now_serving.model,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=None, help="workspace folder (default: a new temp one)")
    parser.add_argument("--no-drift", action="store_true", help="replay traffic without drift")
    args = parser.parse_args()
    home = Path(args.home or tempfile.mkdtemp(prefix="kiln-loop-")) / "ws"
    ws = kiln.Workspace.init(home)
    ws.data.ingest(CHURN_CSV, name="churn")
    trained = ws.train("churn", target="churn", algorithm="lightgbm")
    ws.models.approve(trained.model.ref, reason="first model")
    ws.endpoints.deploy(trained.model.ref, endpoint=ENDPOINT)
    print(f"Workspace {home}: {trained.model.ref} serves endpoint {ENDPOINT}.")
    retraining_loop(
        ws, endpoint=ENDPOINT, data="churn", target="churn", drift=0.0 if args.no_drift else 1.0
    )


if __name__ == "__main__":
    main()

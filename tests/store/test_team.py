"""Team use: several people's kiln sessions on one workspace, its metadata in one PostgreSQL
database and its files in one S3 bucket (docs/team.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd

import kiln
from helpers import wait_for

ROUNDS = 4

# One user's session: their own KILN_HOME folder (settings, cache), the team's store and bucket
# from the environment. Opens the workspace when the test says go, so the two users open the
# empty database (one creates the schema) and write at the same time; reads back once both are
# done.
USER = """
import json, sys, time
from pathlib import Path

import pandas as pd

import kiln
from kiln.registry import TrainedModel

user, model_file, rounds, signals = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
model = TrainedModel.from_bytes(Path(model_file).read_bytes())
(signals / f"ready-{user}").touch()
while not (signals / "go").exists():
    time.sleep(0.01)
ws = kiln.Workspace.init()
for i in range(rounds):
    ws.data.ingest(pd.DataFrame({"user": [user], "i": [i]}), name="shared")
    ws.data.ingest(pd.DataFrame({"i": [i]}), name=f"own_{user}")
    job = ws.jobs.create("training", {"user": user, "i": i})
    ws.jobs.context(job.id).log(f"{user} round {i}")
    ws.jobs.finish(job.id, "Completed", result={"user": user})
    ws.models.register(model, group="shared", algorithm="lightgbm", target="churn",
                       hyperparameters={}, metrics={"round": i}, job_id=job.id)
(signals / f"done-{user}").touch()
while len(list(signals.glob("done-*"))) < 2:
    time.sleep(0.01)
print(json.dumps({
    "data": sorted(v.name for v in ws.data.list()),
    "shared": len(ws.data.list("shared")),
    "jobs": sorted(j.spec["user"] for j in ws.jobs.list(limit=None)),
    "models": [v.version for v in ws.models.list() if v.group == "shared"],
}))
"""


def test_two_users_share_one_workspace_on_postgresql_and_s3_at_once(
    postgres_url, s3_url, s3_environment, trained, churn_csv, tmp_path
):
    source, result = trained
    model_file = tmp_path / "model.bin"
    model_file.write_bytes(source.artifacts.read_bytes(result.model.digest))
    signals = tmp_path / "signals"
    signals.mkdir()
    # An empty database: the two sessions open it at once, and one of them creates the schema.
    # An empty database, which both sessions open at once: one creates the schema, the other
    # waits for it (without the write lock in Store.upgrade, one of them fails).
    team = {"KILN_STORE_URL": postgres_url, "KILN_ARTIFACTS_URL": s3_url}
    users = {}
    for user in ("ana", "bo"):
        env = {**os.environ, **s3_environment, **team, "KILN_HOME": str(tmp_path / user)}
        users[user] = subprocess.Popen(
            [sys.executable, "-c", USER, user, str(model_file), str(ROUNDS), str(signals)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
    wait_for(lambda: len(list(signals.glob("ready-*"))) == 2, what="both users' sessions")
    (signals / "go").touch()
    seen = {}
    for user, process in users.items():
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
        seen[user] = json.loads(out.strip().splitlines()[-1])

    # Each sees the other's records, and nothing was lost when both wrote at once.
    for view in seen.values():
        assert view["data"] == ["own_ana", "own_bo", "shared"]
        assert view["shared"] == 2 * ROUNDS
        assert view["jobs"] == ["ana"] * ROUNDS + ["bo"] * ROUNDS
        assert sorted(view["models"]) == list(range(1, 2 * ROUNDS + 1))

    # A third member of the team opens the same workspace from a folder of their own.
    with kiln.Workspace.init(
        tmp_path / "cy", store_url=team["KILN_STORE_URL"], artifacts_url=s3_url
    ) as ws:
        rows = pd.concat([ws.data.load(v) for v in ws.data.list("shared")])
        assert sorted(zip(rows["user"], rows["i"], strict=True)) == sorted(
            (user, i) for user in ("ana", "bo") for i in range(ROUNDS)
        )
        rows = pd.read_csv(churn_csv, nrows=5).drop(columns="churn")
        assert len(ws.models.load(f"shared:{2 * ROUNDS}").predict(rows)) == 5
        assert all(
            ws.jobs.logs(job.id)[0][3] == f"{job.spec['user']} round {job.spec['i']}"
            for job in ws.jobs.list(limit=None)
        )

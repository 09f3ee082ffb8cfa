"""Make tests/assets/kiln_NNNN.db: a small workspace database at the current schema revision.

Run it once after each schema change (``python tests/assets/make_workspace_asset.py``) and commit
the file, so later migrations are tested against a real database of every earlier revision. Never
regenerate an existing file.
"""

import shutil
import tempfile
from pathlib import Path

import pandas as pd

import kiln
from kiln.store import SCHEMA_REVISION

out = Path(__file__).parent / f"kiln_{SCHEMA_REVISION}.db"
if out.exists():
    raise SystemExit(f"{out} exists already; assets are never regenerated.")
home = Path(tempfile.mkdtemp()) / "ws"
ws = kiln.Workspace.init(home)
ws.data.ingest(pd.DataFrame({"x": [1, 2, 3, 4], "y": ["a", "b", "a", "b"]}), name="tiny")
job = ws.jobs.create("training", {"note": "asset"})
ws.jobs.context(job.id).log(f"hello from revision {SCHEMA_REVISION}")
ws.close()
shutil.copy(home / "kiln.db", out)

"""How tests/assets/kiln_0001.db was made: a small workspace database at schema revision 0001.

Kept so the next schema change can be tested against a real old database. Do not regenerate it
after the schema changes: it must stay at revision 0001.
"""

import shutil
import sys
from pathlib import Path

import pandas as pd

import kiln

out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "kiln_0001.db")
home = Path("/tmp/kiln-asset-0001")
shutil.rmtree(home, ignore_errors=True)
ws = kiln.Workspace.init(home)
ws.data.ingest(pd.DataFrame({"x": [1, 2, 3, 4], "y": ["a", "b", "a", "b"]}), name="tiny")
job = ws.jobs.create("training", {"note": "asset"})
ws.jobs.context(job.id).log("hello from revision 0001")
ws.close()
shutil.copy(home / "kiln.db", out)

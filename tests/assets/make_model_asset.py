"""Make tests/assets/model_<kiln version>_<name>.pkl: registered models' artifacts as they are
stored, so that models trained by an earlier kiln keep loading after modules move
(see ``TrainedModel.from_bytes``).

Run it with the kiln to capture (``python tests/assets/make_model_asset.py``) and commit the files.
Never regenerate an existing file. The 0.1.0 files were made at commit 061fb8e, before kiln's
structure changed (TrainedModel then lived in kiln.training._model, RowEncoder in
kiln.serving._fast).
"""

import subprocess
import tempfile
from pathlib import Path

import pandas as pd

import kiln

ROOT = Path(__file__).resolve().parents[2]
commit = subprocess.run(
    ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
).stdout.strip()
frame = pd.read_csv(ROOT / "examples" / "churn" / "telco_churn.csv").head(400)
ws = kiln.Workspace.init(Path(tempfile.mkdtemp()) / "ws")
ws.data.ingest(frame, name="churn")
recipe = [{"step": "impute", "strategy": "median"}, {"step": "one_hot"}, {"step": "scale"}]
for name, options in {
    "lightgbm": {"hyperparameters": {"n_estimators": 20}},
    "recipe_linear": {"recipe": recipe},
}.items():
    algorithm = "lightgbm" if name == "lightgbm" else "linear"
    result = ws.train("churn", target="churn", algorithm=algorithm, name=name, **options)
    out = Path(__file__).parent / f"model_{kiln.__version__}_{name}.pkl"
    if out.exists():
        raise SystemExit(f"{out} exists already; assets are never regenerated.")
    out.write_bytes(ws.artifacts.read_bytes(result.model.digest))
    rows = frame.head(20).drop(columns=["churn"])
    rows["expected_yes"] = ws.models.load(result.model.ref).predict_proba(rows)[:, 1]
    rows.to_csv(out.with_suffix(".rows.csv"), index=False)
    print(f"{out.name}: {out.stat().st_size} bytes (kiln {kiln.__version__}, commit {commit})")
ws.close()

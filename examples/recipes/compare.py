"""The worked example of docs/recipes.md: the default recipe against examples/recipes/spam.yaml.

Trains the same algorithm on the same split twice, with 5-fold cross-validation on the
development rows, and prints held-out (test) and cross-validated ROC-AUC for both.

    .venv/bin/python examples/recipes/compare.py [--algorithm linear]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import kiln

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", default="linear")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        ws = kiln.Workspace.init(Path(home) / "ws")
        ws.data.ingest(HERE / "spam.csv", name="spam")
        rows = []
        for label, recipe in (("default recipe", None), ("spam.yaml", HERE / "spam.yaml")):
            result = ws.train(
                "spam",
                target="yesno",
                algorithm=args.algorithm,
                validation="stratified_kfold:5",
                recipe=recipe,
            )
            metrics = result.metrics
            rows.append(
                (
                    label,
                    metrics["test"]["roc_auc"],
                    metrics["test"]["log_loss"],
                    metrics["cv_mean"]["roc_auc"],
                    metrics["cv_std"]["roc_auc"],
                )
            )
        ws.close()
    print(f"| {args.algorithm} on spam | test ROC-AUC | test log loss | 5-fold CV ROC-AUC |")
    print("|---|---|---|---|")
    for label, auc, loss, cv, std in rows:
        print(f"| {label} | {auc:.4f} | {loss:.4f} | {cv:.4f} ± {std:.4f} |")


if __name__ == "__main__":
    main()

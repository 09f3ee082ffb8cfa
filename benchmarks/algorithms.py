"""Algorithm benchmark: every built-in supervised algorithm, with its default hyperparameters, on
five real data sets, scored by kiln's own 5-fold cross-validation.

For each (algorithm, data set) pair the script runs one training job in a fresh temporary
workspace::

    ws.train(name, target=..., algorithm=..., validation="stratified_kfold:5")  # classification
    ws.train(name, target=..., algorithm=..., validation="kfold:5")             # regression

and reads from the job's result the cross-validated mean and standard deviation of ROC-AUC
(binary) or R² and RMSE (regression), plus ``fit_seconds``: the wall time of the five fold fits,
their scoring and the final refit on all development rows, inside the job process (process
start-up and data loading excluded). Cross-validation runs on the train + validation split
(80% of the rows; the 20% test split is left out); folds are seeded, so reruns agree up to
thread-level non-determinism.

Data sets: examples/churn/telco_churn.csv (``churn``), tests/fixtures/housing_prices.csv
(``price``), tests/fixtures/credit_card_applications.csv (``card``), benchmarks/data/spam.csv
(``yesno``) and benchmarks/data/mortgage_denial.csv (``deny``).

    .venv/bin/python benchmarks/algorithms.py                       # about 5 minutes
    .venv/bin/python benchmarks/algorithms.py --algorithms knn,mlp --datasets churn   # a subset
    .venv/bin/python benchmarks/algorithms.py --reference   # docs/algorithms.md's hyperparameters

Prints Markdown tables and writes benchmarks/out/algorithms.json. ``--reference`` instead prints
the "Hyperparameters" section of docs/algorithms.md, generated from the catalog.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

# _common sets OMP_WAIT_POLICY=PASSIVE before any numeric library loads.
from _common import HERE, REPO, log, machine_info, markdown_table, write_json

DATASETS = {
    # name: (file, target, problem type)
    "churn": (REPO / "examples" / "churn" / "telco_churn.csv", "churn", "binary"),
    "spam": (HERE / "data" / "spam.csv", "yesno", "binary"),
    "mortgage": (HERE / "data" / "mortgage_denial.csv", "deny", "binary"),
    "credit": (REPO / "tests" / "fixtures" / "credit_card_applications.csv", "card", "binary"),
    "housing": (REPO / "tests" / "fixtures" / "housing_prices.csv", "price", "regression"),
}
SVM_ROW_LIMIT = 5000  # svm above this many rows is skipped only if --skip-slow-svm says so


def supervised_algorithms() -> list[str]:
    from kiln.algorithms import ALGORITHMS, PROBLEM_TYPES

    return [
        name
        for name, algorithm in ALGORITHMS.items()
        if set(algorithm.problem_types) <= set(PROBLEM_TYPES)
        and not getattr(algorithm, "text_input", False)
    ]


def run(algorithms: list[str], datasets: list[str], *, skip_slow_svm: bool) -> list[dict]:
    import kiln
    from kiln.algorithms import ALGORITHMS

    rows = []
    with tempfile.TemporaryDirectory(prefix="kiln-bench-algorithms-") as tmp:
        ws = kiln.Workspace.init(Path(tmp) / "ws")
        sizes = {}
        for name in datasets:
            path, _, _ = DATASETS[name]
            sizes[name] = ws.data.ingest(path, name=name).row_count
        for algorithm in algorithms:
            for name in datasets:
                _, target, problem_type = DATASETS[name]
                row = {
                    "algorithm": algorithm,
                    "dataset": name,
                    "rows": sizes[name],
                    "problem_type": problem_type,
                }
                if problem_type not in ALGORITHMS[algorithm].problem_types:
                    row["skipped"] = f"{algorithm} does not support {problem_type}"
                    rows.append(row)
                    continue
                if skip_slow_svm and algorithm == "svm" and sizes[name] > SVM_ROW_LIMIT:
                    row["skipped"] = f"svm skipped above {SVM_ROW_LIMIT} rows (--skip-slow-svm)"
                    rows.append(row)
                    continue
                validation = "kfold:5" if problem_type == "regression" else "stratified_kfold:5"
                started = time.perf_counter()
                result = ws.train(name, target=target, algorithm=algorithm, validation=validation)
                wall = time.perf_counter() - started
                mean, std = result.metrics["cv_mean"], result.metrics["cv_std"]
                metrics = ("r2", "rmse") if problem_type == "regression" else ("roc_auc",)
                row.update(
                    validation=validation,
                    fit_seconds=result.job.result["fit_seconds"],
                    job_seconds=round(wall, 3),
                    **{f"{m}_mean": mean[m] for m in metrics},
                    **{f"{m}_std": std[m] for m in metrics},
                )
                shown = ", ".join(f"{m} {mean[m]:.4f} ± {std[m]:.4f}" for m in metrics)
                log(f"{algorithm:24s} {name:9s} {shown}; fit {row['fit_seconds']:.1f} s")
                rows.append(row)
    return rows


def reference() -> str:
    """The hyperparameter tables of every algorithm, from the catalog."""
    from kiln.algorithms import ALGORITHMS

    lines = [
        "## Hyperparameters",
        "",
        "Generated from the catalog (`kiln algorithms show NAME` prints the same). Every algorithm",
        "is also seeded by the run's `--seed`.",
        "",
    ]
    names = supervised_algorithms()
    for name in [*names, *(n for n in ALGORITHMS if n not in names)]:
        algorithm = ALGORITHMS[name]
        lines += [
            f"### `{name}`",
            "",
            f"{algorithm.summary}. Problem types: {', '.join(algorithm.problem_types)}.",
            "",
            "| hyperparameter | allowed | default | meaning |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| `{p.name}` | {p.describe()} | `{_value(p.default)}` | {p.help} |"
            for p in algorithm.params
        ]
        lines.append("")
    return "\n".join(lines)


def _value(value) -> str:
    if value is None:
        return "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def tables(rows: list[dict], algorithms: list[str], datasets: list[str]) -> str:
    by_key = {(r["algorithm"], r["dataset"]): r for r in rows}
    score_headers, time_headers = ["algorithm"], ["algorithm"]
    for name in datasets:
        if DATASETS[name][2] == "regression":
            score_headers += [f"{name} R²", f"{name} RMSE"]
        else:
            score_headers.append(f"{name} ROC-AUC")
        time_headers.append(f"{name} ({by_key[(algorithms[0], name)]['rows']:,} rows)")

    def cell(row: dict, metric: str) -> str:
        if "skipped" in row:
            return "—"
        mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
        if metric == "rmse":
            return f"{mean:,.0f} ± {std:,.0f}"
        return f"{mean:.3f} ± {std:.3f}"

    score_rows, time_rows = [], []
    for algorithm in algorithms:
        scores, seconds = [algorithm], [algorithm]
        for name in datasets:
            row = by_key[(algorithm, name)]
            if DATASETS[name][2] == "regression":
                scores += [cell(row, "r2"), cell(row, "rmse")]
            else:
                scores.append(cell(row, "roc_auc"))
            seconds.append("—" if "skipped" in row else f"{row['fit_seconds']:.1f}")
        score_rows.append(scores)
        time_rows.append(seconds)
    return (
        "5-fold cross-validated score (mean ± standard deviation over the folds):\n\n"
        + markdown_table(score_headers, score_rows)
        + "\n\nFit time in seconds (5 fold fits with their scoring, plus the final refit):\n\n"
        + markdown_table(time_headers, time_rows)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algorithms", help="comma-separated; default: every supervised one")
    parser.add_argument("--datasets", help=f"comma-separated subset of {', '.join(DATASETS)}")
    parser.add_argument(
        "--skip-slow-svm",
        action="store_true",
        help=f"skip svm on data sets over {SVM_ROW_LIMIT} rows",
    )
    parser.add_argument(
        "--reference", action="store_true", help="print the hyperparameter reference and exit"
    )
    args = parser.parse_args(argv)
    if args.reference:
        print(reference())
        return 0
    algorithms = args.algorithms.split(",") if args.algorithms else supervised_algorithms()
    datasets = args.datasets.split(",") if args.datasets else list(DATASETS)
    unknown = sorted(set(datasets) - set(DATASETS))
    if unknown:
        parser.error(f"unknown data set(s) {unknown}; choose from {', '.join(DATASETS)}")
    info = machine_info()
    started = time.perf_counter()
    rows = run(algorithms, datasets, skip_slow_svm=args.skip_slow_svm)
    report = tables(rows, algorithms, datasets)
    print(report)
    path = write_json(
        "algorithms",
        {
            "benchmark": "algorithms",
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": info,
            "total_seconds": round(time.perf_counter() - started, 1),
            "results": rows,
            "markdown": report,
        },
    )
    log(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

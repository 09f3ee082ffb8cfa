"""AutoML benchmark: ``kiln.AutoML`` against FLAML at the same time limit.

Eight data sets, each with one fixed, seeded 75/25 split (stratified for classification):
the five in benchmarks/data and examples/churn (telco_churn, housing_prices, spam,
mortgage_denial, credit_card_applications) and scikit-learn's breast_cancer, wine and diabetes.
Each tool fits on the 75 % with a time limit (60 s and 300 s) and is scored on the 25 %: ROC-AUC
(binary), log loss (multiclass) or RMSE (regression), plus the fit time (wall clock of ``fit``)
and the peak RSS of the largest process (kiln's job runs in its own process; FLAML in the caller).

Fairness: every run is a fresh process pinned to one CPU (``--cpus``), and both tools are told to
use every core they may (kiln reads the CPU affinity; FLAML gets ``n_jobs`` = that count). With
``--parallel`` the two tools run side by side on different CPUs, so machine noise hits both alike.

FLAML is not a kiln dependency: give it its own venv (``--flaml-python``)::

    python3 -m venv /tmp/flaml-venv && /tmp/flaml-venv/bin/pip install "flaml[automl]"

    .venv/bin/python benchmarks/automl.py --budgets 60,300 --parallel \\
        --flaml-python /tmp/flaml-venv/bin/python           # ~50 minutes on 2 cores
    .venv/bin/python benchmarks/automl.py --tools kiln --budgets 60 --datasets wine,spam
    .venv/bin/python benchmarks/automl.py --table            # Markdown from the results so far

Results are appended, one JSON line per run, to benchmarks/out/automl.jsonl (``--out``); the
table uses the latest run of each (tool, data set, budget).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATASETS = {
    "telco_churn": ("csv", ROOT / "examples/churn/telco_churn.csv", "churn"),
    "housing_prices": ("csv", HERE / "data/housing_prices.csv", "price"),
    "spam": ("csv", HERE / "data/spam.csv", "yesno"),
    "mortgage_denial": ("csv", HERE / "data/mortgage_denial.csv", "deny"),
    "credit_card_applications": ("csv", HERE / "data/credit_card_applications.csv", "card"),
    "breast_cancer": ("sklearn", "load_breast_cancer", "target"),
    "wine": ("sklearn", "load_wine", "target"),
    "diabetes": ("sklearn", "load_diabetes", "target"),
}
REGRESSION = {"housing_prices", "diabetes"}
MULTICLASS = {"wine"}
SEED = 0


def load(name: str):
    """(train, test, target, task) for a data set: the fixed 75/25 split."""
    import pandas as pd
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    kind, source, target = DATASETS[name]
    frame = pd.read_csv(source) if kind == "csv" else getattr(datasets, source)(as_frame=True).frame
    if name == "wine" or name == "breast_cancer":
        frame[target] = frame[target].astype(int)
    task = "regression" if name in REGRESSION else "classification"
    train, test = train_test_split(
        frame,
        test_size=0.25,
        random_state=SEED,
        stratify=frame[target] if task == "classification" else None,
    )
    return train.reset_index(drop=True), test.reset_index(drop=True), target, task


def metric_of(name: str) -> str:
    if name in REGRESSION:
        return "rmse"
    return "log_loss" if name in MULTICLASS else "roc_auc"


def score(name: str, truth, proba_or_values, classes) -> float:
    import numpy as np
    from sklearn import metrics

    metric = metric_of(name)
    if metric == "rmse":
        return float(metrics.root_mean_squared_error(truth, proba_or_values))
    proba = np.asarray(proba_or_values, dtype=float)
    if metric == "log_loss":
        return float(metrics.log_loss(truth, proba, labels=list(classes)))
    return float(metrics.roc_auc_score(np.asarray(truth) == classes[1], proba[:, 1]))


def bootstrap_se(name: str, truth, proba_or_values, classes, resamples: int = 200) -> float:
    """The standard error of the test metric over bootstrap resamples of the test rows: how
    much of a difference between tools the test set can tell from noise."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    truth = np.asarray(truth)
    values = np.asarray(proba_or_values)
    scores = []
    for _ in range(resamples):
        rows = rng.integers(0, len(truth), len(truth))
        try:
            scores.append(score(name, truth[rows], values[rows], classes))
        except ValueError:  # a resample with one class only
            continue
    return float(np.std(scores, ddof=1))


def peak_rss_mb() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)


def run_one(tool: str, name: str, budget: float) -> dict:
    """Fit, predict and score one tool on one data set (in this process)."""
    train, test, target, task = load(name)
    cores = len(os.sched_getaffinity(0))
    X_test, y_test = test.drop(columns=[target]), test[target]
    started = time.perf_counter()
    if tool == "kiln":
        import tempfile

        os.environ["KILN_HOME"] = tempfile.mkdtemp(prefix="kiln-bench-")
        from kiln import AutoML

        metric = metric_of(name)
        automl = AutoML(target=target, time_limit=budget, metric=metric).fit(train)
        fit_seconds = time.perf_counter() - started
        if task == "regression":
            predictions, classes = automl.predict(X_test), None
        else:
            proba = automl.predict_proba(X_test)
            predictions, classes = proba.to_numpy(), list(proba.columns)
        extra = {
            "trials": automl.result.job.result["trials"],
            "ensemble": [m["algorithm"] for m in automl.result.job.result["ensemble"]],
        }
    else:
        from flaml import AutoML as FLAML

        automl = FLAML()
        automl.fit(
            train.drop(columns=[target]),
            train[target],
            task=task,
            metric=metric_of(name),
            time_budget=budget,
            n_jobs=cores,
            seed=SEED,
            verbose=0,
        )
        fit_seconds = time.perf_counter() - started
        if task == "regression":
            predictions, classes = automl.predict(X_test), None
        else:
            predictions, classes = automl.predict_proba(X_test), list(automl.classes_)
        extra = {"best_estimator": automl.best_estimator}
    return {
        "tool": tool,
        "dataset": name,
        "budget": budget,
        "metric": metric_of(name),
        "score": round(score(name, y_test, predictions, classes), 6),
        "bootstrap_se": round(bootstrap_se(name, y_test, predictions, classes), 6),
        "fit_seconds": round(fit_seconds, 2),
        "peak_rss_mb": peak_rss_mb(),
        "cores": cores,
        "train_rows": len(train),
        "test_rows": len(test),
        **extra,
    }


def launch(tool: str, name: str, budget: float, cpu: int | None, python: str):
    command = [python, str(Path(__file__)), "--run", tool, name, str(budget)]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def collect(process, tool, name, budget) -> dict:
    out, err = process.communicate()
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    if process.returncode or not lines:
        tail = err.decode(errors="replace")[-800:]
        return {"tool": tool, "dataset": name, "budget": budget, "error": tail}
    return json.loads(lines[-1])


def table(path: Path) -> str:
    latest: dict = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        latest[(row["tool"], row["dataset"], row["budget"])] = row
    budgets = sorted({b for _, _, b in latest})
    out = [
        "| data set | metric | budget | kiln | FLAML | kiln vs FLAML | test-set noise (1 SE) "
        "| kiln fit s | FLAML fit s | kiln peak MB | FLAML peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    wins = {b: [0, 0, 0.0] for b in budgets}
    for budget in budgets:
        for name in DATASETS:
            k, f = latest.get(("kiln", name, budget)), latest.get(("flaml", name, budget))
            if not k or not f or "error" in k or "error" in f:
                continue
            lower = k["metric"] in ("rmse", "log_loss")
            # Relative difference, positive when kiln is better.
            diff = (
                (f["score"] - k["score"]) / abs(f["score"])
                if lower
                else ((k["score"] - f["score"]) / abs(f["score"]))
            )
            wins[budget][1] += 1
            if diff >= 0:
                wins[budget][0] += 1
            wins[budget][2] = min(wins[budget][2], diff)
            out.append(
                f"| {name} | {k['metric']} | {budget:g} s | {k['score']:.4f} | {f['score']:.4f} "
                f"| {diff:+.2%} | {_noise(k, f)} | {k['fit_seconds']:.1f} | {f['fit_seconds']:.1f} "
                f"| {k['peak_rss_mb']:.0f} | {f['peak_rss_mb']:.0f} |"
            )
    for budget, (won, total, worst) in wins.items():
        out.append(
            f"\nAt {budget:g} s kiln matches or beats FLAML on {won} of {total}; "
            f"worst relative difference {worst:+.2%}."
        )
    return "\n".join(out)


def _noise(k: dict, f: dict) -> str:
    """kiln's bootstrap standard error, relative to FLAML's score."""
    se = k.get("bootstrap_se")
    return "—" if se is None else f"±{se / abs(f['score']):.2%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", nargs=3, metavar=("TOOL", "DATASET", "BUDGET"))
    parser.add_argument("--tools", default="kiln,flaml")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--budgets", default="60,300")
    parser.add_argument("--flaml-python", default="/tmp/flaml-venv/bin/python")
    parser.add_argument("--cpus", default="0,1", help="CPUs to pin runs to (one per tool)")
    parser.add_argument("--parallel", action="store_true", help="run the tools side by side")
    parser.add_argument("--out", type=Path, default=HERE / "out/automl.jsonl")
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    if args.run:
        tool, name, budget = args.run
        print(json.dumps(run_one(tool, name, float(budget))))
        return
    if args.table:
        print(table(args.out))
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tools = args.tools.split(",")
    cpus = [int(c) for c in args.cpus.split(",")]
    pythons = {"kiln": sys.executable, "flaml": args.flaml_python}
    for budget in (float(b) for b in args.budgets.split(",")):
        for name in args.datasets.split(","):
            batches = [tools] if args.parallel else [[t] for t in tools]
            for batch in batches:
                running = [
                    (t, launch(t, name, budget, cpus[i % len(cpus)], pythons[t]))
                    for i, t in enumerate(batch)
                ]
                for tool, process in running:
                    row = collect(process, tool, name, budget)
                    with args.out.open("a") as handle:
                        handle.write(json.dumps(row) + "\n")
                    shown = row.get("score", row.get("error", "")[-200:])
                    print(f"{tool:6} {name:26} {budget:5g} s  {shown}", flush=True)
    print(table(args.out))


if __name__ == "__main__":
    main()

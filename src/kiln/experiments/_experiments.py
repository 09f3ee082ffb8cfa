"""Experiments: named groups of training runs, compared side by side."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from kiln.errors import NotFound
from kiln.problems import LOWER_IS_BETTER, PRIMARY_METRIC, SELECTION_SOURCES, selection_source
from kiln.reports import Section, figure, render, table, write
from kiln.store import ExperimentRow, JobRow, Page, like_pattern, paged

if TYPE_CHECKING:
    import pandas as pd

    from kiln.compute import Job
    from kiln.context import Context

__all__ = ["COLUMN_SAMPLE", "ExperimentService"]

# How many of an experiment's newest runs name the metric and parameter columns its runs table
# offers: reading every run's JSON would make a list call grow with the experiment.
COLUMN_SAMPLE = 200


def _scores(job: Job) -> tuple[str, dict]:
    """The split a run is chosen on (validation, else out-of-fold, else the cross-validation
    mean; never test) and its scalar metrics there; ``("", {})`` when it has none."""
    metrics = job.result.get("metrics", {})
    split = selection_source(metrics)
    if split is None:
        return "", {}
    return split, _scalars(metrics[split])


def _scalars(part: dict) -> dict:
    return {k: v for k, v in part.items() if not isinstance(v, list)}


class ExperimentService:
    """``ws.experiments``: list experiments, their runs, and compare them."""

    def __init__(self, workspace: Context):
        self._ws = workspace

    def list(self) -> list[dict]:
        with self._ws.store.read() as session:
            rows = session.execute(
                select(
                    ExperimentRow.name,
                    ExperimentRow.created_at,
                    func.count(JobRow.id),
                    func.max(JobRow.created_at),
                )
                .join(JobRow, JobRow.experiment == ExperimentRow.name, isouter=True)
                .group_by(ExperimentRow.name, ExperimentRow.created_at)
                .order_by(ExperimentRow.name)
            ).all()
        out = []
        for name, created, runs, last in rows:
            best = self.best(name)
            out.append(
                {
                    "name": name,
                    "runs": runs,
                    "created_at": created.isoformat() + "Z",
                    "last_run_at": last.isoformat() + "Z" if last else None,
                    "best": best,
                }
            )
        return out

    def runs(self, name: str) -> list[Job]:
        self._check_exists(name)
        return list(reversed(self._ws.jobs.list(experiment=name, limit=None)))

    def page(
        self,
        *,
        q: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Page[dict]:
        """A page of experiments (``name``, ``description``, ``created_at``, ``created_by``,
        ``runs``: how many jobs it groups); ``q`` finds text in the name; ``sort`` by ``name``
        (default) or ``created_at``. The count comes from the jobs' experiment index alone; the
        latest run's time would read every run's row (the best run, every run's metrics: see
        :meth:`best`), so neither is here."""
        query = select(ExperimentRow)
        if q:
            query = query.where(ExperimentRow.name.like(like_pattern(q), escape="\\"))
        columns = {"name": ExperimentRow.name, "created_at": ExperimentRow.created_at}
        with self._ws.store.read() as session:
            page = paged(
                session,
                query,
                limit=limit,
                offset=offset,
                sort=sort,
                columns=columns,
                default_sort="name",
            )
            names = [row.name for row in page.items]
            counts = dict(
                session.execute(
                    select(JobRow.experiment, func.count())
                    .where(JobRow.experiment.in_(names))
                    .group_by(JobRow.experiment)
                ).all()
            )
            items = [
                {
                    "name": row.name,
                    "description": row.description,
                    "created_at": _iso(row.created_at),
                    "created_by": row.created_by,
                    "runs": counts.get(row.name, 0),
                }
                for row in page.items
            ]
        return page.with_items(items)

    def runs_page(
        self,
        name: str,
        *,
        sort: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Page[dict]:
        """A page of an experiment's runs, newest first by default.

        Each item: ``job``, ``status``, ``algorithm``, ``model``, ``data``, ``created_at``,
        ``seconds``, ``split`` (the split it is ranked on: validation, else out-of-fold, else
        the cross-validation mean; never test), ``metrics`` (scalar metrics on that split) and
        ``params`` (hyperparameters). ``sort`` by ``created_at``, ``status``,
        ``metric.NAME`` or ``param.NAME`` (``-`` first for descending); the metric and
        parameter names the runs have are in ``extra`` (``metrics``, ``params``; runs without
        the value sort where the database puts NULL), read from the
        newest :data:`COLUMN_SAMPLE` runs so a large experiment lists as fast as a small one.
        """
        self._check_exists(name)
        query = select(JobRow).where(JobRow.experiment == name)
        if status:
            query = query.where(func.lower(JobRow.status) == status.lower())
        metric_names, param_names = self._columns(name)
        columns: dict = {
            "created_at": JobRow.created_at,
            "status": JobRow.status,
        }
        for metric in metric_names:
            # The ranking split holds the metric: the first of validation, oof, cv_mean that has it.
            columns[f"metric.{metric}"] = func.coalesce(
                *(
                    JobRow.result[("metrics", split, metric)].as_float()
                    for split in SELECTION_SOURCES
                )
            )
        with self._ws.store.read() as session:
            for param in param_names:
                columns[f"param.{param}"] = _json_value(
                    session, JobRow.spec, "hyperparameters", param
                )
            page = paged(
                session,
                query,
                limit=limit,
                offset=offset,
                sort=sort or "-created_at",
                columns=columns,
                default_sort="-created_at",
            )
            items = [_run_item(row) for row in page.items]
        page = page.with_items(items)
        return replace(page, extra={"metrics": metric_names, "params": param_names})

    def _check_exists(self, name: str) -> None:
        with self._ws.store.read() as session:
            if session.get(ExperimentRow, name) is None:
                known = session.scalars(select(ExperimentRow.name).limit(20)).all()
                raise NotFound(
                    f"No experiment named {name!r}. Experiments: {', '.join(known) or 'none yet'}"
                    ". Start one with 'kiln train ... --experiment NAME'.",
                    code="experiments.unknown",
                )

    def _columns(self, name: str) -> tuple[list[str], list[str]]:
        """The metric and hyperparameter names of the experiment's newest runs."""
        metrics: dict[str, None] = {}
        params: dict[str, None] = {}
        with self._ws.store.read() as session:
            rows = session.execute(
                select(JobRow.result, JobRow.spec)
                .where(JobRow.experiment == name)
                .order_by(JobRow.created_at.desc())
                .limit(COLUMN_SAMPLE)
            )
            for result, spec in rows:
                split = selection_source((result or {}).get("metrics", {}))
                if split is not None:
                    part = result["metrics"][split]
                    metrics.update(dict.fromkeys(k for k, v in part.items() if _is_number(v)))
                params.update(dict.fromkeys((spec or {}).get("hyperparameters") or {}))
        return sorted(metrics), sorted(params)

    def best(self, name: str) -> dict | None:
        """The completed run with the best primary metric on the split it is chosen on
        (validation, else out-of-fold, else cross-validation mean): the test split is shown,
        never used to choose. Reads the completed runs' results only (no job objects), as
        Studio's experiment page asks for it on every view."""
        self._check_exists(name)
        with self._ws.store.read() as session:
            # The status is checked here, not in SQL: a condition on it could lead the database
            # to the status index (most of 100,000 jobs are Completed) instead of the
            # experiment's.
            rows = session.execute(
                select(JobRow.id, JobRow.status, JobRow.result, JobRow.created_at).where(
                    JobRow.experiment == name
                )
            ).all()
        candidates = []
        for job_id, status, result, created_at in rows:
            if status != "Completed":
                continue
            result = result or {}
            metric = PRIMARY_METRIC.get(result.get("problem_type", ""))
            split = selection_source(result.get("metrics", {}))
            scores = _scalars(result["metrics"][split]) if split else {}
            if metric and scores.get(metric) is not None:
                sign = 1 if metric in LOWER_IS_BETTER else -1
                candidates.append(
                    (sign * scores[metric], created_at, job_id, result, metric, split)
                )
        if not candidates:
            return None
        *_, job_id, result, metric, split = min(candidates, key=lambda c: (c[0], c[1]))
        return {
            "job": job_id,
            "model": result.get("model"),
            "metric": metric,
            "split": split,
            "value": _scalars(result["metrics"][split])[metric],
        }

    def compare(self, name: str) -> pd.DataFrame:
        """One row per run: algorithm, validation, hyperparameters (``hp.NAME``; ``chosen.NAME``
        for the rounds early stopping chose), the metrics of the split it is ranked on (``split``)
        and its test metrics (``test.NAME``, never used to rank). ``rank`` orders the completed
        runs by the primary metric on their ranking split (1 is best)."""
        import pandas as pd

        runs = self.runs(name)
        best = {job.id: rank for rank, job in enumerate(self._ranked(runs), start=1)}
        rows = []
        for job in runs:
            split, scores = _scores(job)
            row = {
                "job": job.id,
                "rank": best.get(job.id),
                "status": job.status,
                "model": job.result.get("model"),
                "algorithm": job.spec.get("algorithm"),
                "data": job.spec.get("dataset"),
                "validation": job.spec.get("validation", "holdout"),
                "split": split,
                "seconds": round(job.duration_seconds or 0.0, 2),
            }
            row.update({f"hp.{k}": v for k, v in job.spec.get("hyperparameters", {}).items()})
            stopped = job.result.get("early_stopping")
            if stopped:
                row[f"chosen.{stopped['param']}"] = stopped["chosen"]
            row.update(scores)
            test = job.result.get("metrics", {}).get("test") or {}
            row.update({f"test.{k}": v for k, v in _scalars(test).items()})
            rows.append(row)
        frame = pd.DataFrame(rows)
        # A column of whole numbers with gaps (a hyperparameter one algorithm lacks) would turn
        # float: keep it integer.
        for column in frame.columns:
            if column.startswith(("hp.", "chosen.")) or column == "rank":
                values = [r[column] for r in rows if r.get(column) is not None]
                if values and all(_is_int(v) for v in values):
                    frame[column] = frame[column].astype("Int64")
        return frame

    def _ranked(self, runs: list[Job]) -> list[Job]:
        """Completed runs with the primary metric on their ranking split, best first."""
        candidates = []
        for job in runs:
            metric = PRIMARY_METRIC.get(job.result.get("problem_type", ""))
            _, scores = _scores(job)
            if job.status == "Completed" and metric and scores.get(metric) is not None:
                sign = 1 if metric in LOWER_IS_BETTER else -1
                candidates.append((sign * scores[metric], job.created_at, job))
        return [job for *_, job in sorted(candidates, key=lambda c: (c[0], c[1]))]

    def report(self, name: str, out) -> str:
        """Write an HTML comparison: table, parallel coordinates, metric-by-run charts."""
        import plotly.express as px
        import plotly.graph_objects as go

        frame = self.compare(name)
        sections = [
            Section(
                "Runs",
                table(
                    [str(c) for c in frame.columns],
                    frame.astype(object).where(frame.notna(), None).values.tolist(),
                ),
            )
        ]
        metric_columns = [
            c
            for c in frame.columns
            if c
            not in (
                "job",
                "rank",
                "status",
                "model",
                "algorithm",
                "data",
                "validation",
                "split",
                "seconds",
            )
            and not c.startswith(("hp.", "chosen."))
            and frame[c].dtype.kind in "if"
        ]
        completed = frame[frame["status"] == "Completed"]
        if len(completed) and metric_columns:
            dims = []
            for column in [c for c in completed.columns if c.startswith("hp.")] + metric_columns:
                values = completed[column]
                if values.dtype.kind in "if" and values.notna().all() and values.nunique() > 0:
                    dims.append({"label": column, "values": values.tolist()})
                elif values.notna().all() and values.nunique() > 1:
                    codes = {v: i for i, v in enumerate(sorted(values.astype(str).unique()))}
                    dims.append(
                        {
                            "label": column,
                            "values": [codes[str(v)] for v in values],
                            "tickvals": list(codes.values()),
                            "ticktext": list(codes),
                        }
                    )
            algorithms = sorted(completed["algorithm"].unique())
            colour = [algorithms.index(a) for a in completed["algorithm"]]
            parallel = go.Figure(
                go.Parcoords(
                    line={"color": colour, "colorscale": "Turbo", "showscale": False},
                    dimensions=dims,
                )
            )
            parallel.update_layout(title="Hyperparameters and metrics of each run")
            sections.append(Section("Parallel coordinates", figure(parallel, height=460)))
            charts = []
            for metric in metric_columns:
                better = "lower is better" if metric in LOWER_IS_BETTER else "higher is better"
                bar = px.bar(
                    completed,
                    x="job",
                    y=metric,
                    color="algorithm",
                    title=f"{metric} by run ({better})",
                    hover_data=["model", "validation"],
                )
                charts.append(f"<div>{figure(bar, height=320)}</div>")
            sections.append(Section("Metric by run", f'<div class="grid">{"".join(charts)}</div>'))
        best = self.best(name)
        subtitle = f"{len(frame)} run(s)"
        if best:
            subtitle += (
                f" · best {best['model']}: {best['metric']} {best['value']:.4f} on {best['split']}"
            )
        path = write(out, render(f"Experiment {name}", sections, subtitle=subtitle))
        return str(path)


def _is_int(value) -> bool:
    import numbers

    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:
    import numbers

    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _iso(value) -> str | None:
    return value.isoformat() + "Z" if value is not None else None


def _run_item(row: JobRow) -> dict:
    """One run of the runs table, from its job row (no other read)."""
    result = row.result or {}
    spec = row.spec or {}
    split = selection_source(result.get("metrics", {})) or ""
    metrics = result.get("metrics", {}).get(split, {}) if split else {}
    seconds = (
        (row.ended_at - row.started_at).total_seconds() if row.ended_at and row.started_at else None
    )
    return {
        "job": row.id,
        "kind": row.kind,
        "status": row.status,
        "algorithm": spec.get("algorithm"),
        "model": result.get("model"),
        "data": spec.get("dataset"),
        "created_at": _iso(row.created_at),
        "seconds": round(seconds, 2) if seconds is not None else None,
        "split": split,
        "metrics": {k: v for k, v in metrics.items() if _is_number(v)},
        "params": spec.get("hyperparameters") or {},
    }


def _json_value(session, column, *path: str):
    """A JSON value to sort by, in its own type: numbers in numeric order, text in text order
    (a hyperparameter may be either). SQLite's json_extract keeps the type; PostgreSQL compares
    jsonb values by type, then value."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy import cast
        from sqlalchemy.dialects.postgresql import JSONB

        return cast(column, JSONB)[tuple(path)]
    return func.json_extract(column, "$." + ".".join(json.dumps(part) for part in path))

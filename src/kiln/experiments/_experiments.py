"""Experiments: named groups of training runs, compared side by side."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select

from kiln.errors import NotFound
from kiln.problems import LOWER_IS_BETTER, PRIMARY_METRIC
from kiln.reports import Section, figure, render, table, write
from kiln.store import ExperimentRow, JobRow

if TYPE_CHECKING:
    import pandas as pd

    from kiln.compute import Job
    from kiln.context import Context

__all__ = ["ExperimentService"]


def _scores(job: Job) -> tuple[str, dict]:
    """The held-out split a run is best judged on, and its scalar metrics."""
    metrics = job.result.get("metrics", {})
    for split in ("test", "cv_mean", "validation"):
        if metrics.get(split):
            return split, {k: v for k, v in metrics[split].items() if not isinstance(v, list)}
    return "", {}


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
        with self._ws.store.read() as session:
            if session.get(ExperimentRow, name) is None:
                known = session.scalars(select(ExperimentRow.name)).all()
                raise NotFound(
                    f"No experiment named {name!r}. Experiments: {', '.join(known) or 'none yet'}"
                    ". Start one with 'kiln train ... --experiment NAME'.",
                    code="experiments.unknown",
                )
        return list(reversed(self._ws.jobs.list(experiment=name, limit=None)))

    def best(self, name: str) -> dict | None:
        """The completed run with the best primary metric on its held-out split."""
        candidates = []
        for job in self.runs(name):
            if job.status != "Completed":
                continue
            metric = PRIMARY_METRIC.get(job.result.get("problem_type", ""))
            split, scores = _scores(job)
            if metric and scores.get(metric) is not None:
                candidates.append((job, metric, split, scores[metric]))
        if not candidates:
            return None
        sign = {c[1]: (1 if c[1] in LOWER_IS_BETTER else -1) for c in candidates}
        job, metric, split, value = min(candidates, key=lambda c: sign[c[1]] * c[3])
        return {
            "job": job.id,
            "model": job.result.get("model"),
            "metric": metric,
            "split": split,
            "value": value,
        }

    def compare(self, name: str) -> pd.DataFrame:
        """One row per run: algorithm, validation, hyperparameters and held-out metrics."""
        import pandas as pd

        rows = []
        for job in self.runs(name):
            split, scores = _scores(job)
            row = {
                "job": job.id,
                "status": job.status,
                "model": job.result.get("model"),
                "algorithm": job.spec.get("algorithm"),
                "data": job.spec.get("dataset"),
                "validation": job.spec.get("validation", "holdout"),
                "split": split,
                "seconds": round(job.duration_seconds or 0.0, 2),
            }
            row.update({f"hp.{k}": v for k, v in job.spec.get("hyperparameters", {}).items()})
            row.update(scores)
            rows.append(row)
        return pd.DataFrame(rows)

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
            not in ("job", "status", "model", "algorithm", "data", "validation", "split", "seconds")
            and not c.startswith("hp.")
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

"""``ws.clarify``: bias reports and explanations of a data set version, with or without a model."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from kiln.clarify._attributions import (
    GLOBAL_ROWS,
    TOP_CONTRIBUTIONS,
    global_attributions_and_method,
    row_attributions,
)
from kiln.clarify._bias import FLIP_TEST_NEIGHBOURS, BiasMetric, bias_metrics
from kiln.clarify._facets import require_column
from kiln.errors import ConfigError, DataError
from kiln.problems import REGRESSION

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.data import DatasetVersion
    from kiln.registry import ModelVersion, TrainedModel

__all__ = ["BiasReport", "ClarifyService", "Explanation"]

EXPLAINED_ROWS = 10
_PREDICTED = "__kiln_predicted_label__"


@dataclass(frozen=True)
class BiasReport:
    """The bias metrics of a data set (pre-training) and of a model's predictions on it
    (post-training, when a model was given)."""

    data: str
    model: str | None
    label: str
    label_value: str
    facet: str
    group: str | None
    facts: dict[str, Any]
    metrics: list[BiasMetric]

    def value(self, name: str) -> float | None:
        """One metric's value (None: undefined on this data)."""
        return next(m.value for m in self.metrics if m.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "model": self.model,
            "label": self.label,
            "label_value": self.label_value,
            "facet": self.facet,
            "group": self.group,
            "facts": self.facts,
            "metrics": [m.to_dict() for m in self.metrics],
        }

    def to_html(self) -> str:
        from kiln.clarify._report import bias_page

        return bias_page(self)

    def write(self, path: str | Path) -> Path:
        """Write the HTML report (its plotly.js in a file beside it)."""
        from kiln.reports import write

        return write(path, self.to_html())


@dataclass(frozen=True)
class Explanation:
    """SHAP attributions of a model on a data set: global (mean |SHAP| per input column over
    the rows) and per row (each row's largest contributions)."""

    model: str
    data: str
    method: str
    units: str
    rows: int  # rows behind the global attributions
    attributions: dict[str, float]
    row_explanations: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "data": self.data,
            "method": self.method,
            "units": self.units,
            "rows": self.rows,
            "attributions": self.attributions,
            "row_explanations": self.row_explanations,
        }

    def to_html(self) -> str:
        from kiln.clarify._report import explanation_page

        return explanation_page(self)

    def write(self, path: str | Path) -> Path:
        """Write the HTML report (its plotly.js in a file beside it)."""
        from kiln.reports import write

        return write(path, self.to_html())


class ClarifyService:
    """``ws.clarify``: bias metrics (``bias``) and SHAP explanations (``explain``)."""

    def __init__(self, workspace: Context):
        self._ws = workspace

    def _frame(self, data: str | DatasetVersion | pd.DataFrame) -> tuple[pd.DataFrame, str]:
        if isinstance(data, pd.DataFrame):
            return data, "(data frame)"
        version = data if not isinstance(data, str) else self._ws.data.get(data)
        return self._ws.data.load(version), version.ref

    def _model(self, model: str | ModelVersion) -> tuple[ModelVersion, TrainedModel]:
        version = self._ws.models.get(model) if isinstance(model, str) else model
        return version, self._ws.models.load(version)

    def bias(
        self,
        data: str | DatasetVersion | pd.DataFrame,
        *,
        facet: str,
        label_value: Any,
        model: str | ModelVersion | None = None,
        facet_value: Any = None,
        label: str | None = None,
        group: str | None = None,
        neighbours: int = FLIP_TEST_NEIGHBOURS,
    ) -> BiasReport:
        """The bias metrics of a data set version, and of a model's predictions on it.

        Parameters
        ----------
        data
            A data set version (``"credit"``, ``"credit@2"``) or a DataFrame.
        facet, facet_value
            The facet column and its disfavoured group d: ``facet="sex=female"``,
            ``facet="age<25"``, or ``facet="sex", facet_value="female"`` (a list: any of them).
            A 0/1 or boolean column alone means d = 1/true.
        label_value
            The positive outcome: a value of the label (``"Yes"``), a list, or a threshold
            (``">0.5"``).
        model
            A model version: adds the post-training metrics, on its predictions for ``data``.
        label
            The label column; defaults to the model's target.
        group
            The column CDDL and CDDPL condition on.
        neighbours
            How many nearest a rows the flip test (FT) compares each d row with.

        Examples
        --------
        >>> ws.clarify.bias("churn", model="churn:1", facet="female=1",
        ...                 label_value="Yes").value("DPPL")  # doctest: +SKIP
        0.0123
        """
        frame, data_ref = self._frame(data)
        version = trained = None
        if model is not None:
            version, trained = self._model(model)
            label = label or version.target
        if label is None:
            raise ConfigError(
                "Name the label column with --label (SDK: label=...): without a model there is "
                "no target to take it from.",
                code="clarify.no-label",
            )
        predicted = None
        if trained is not None:
            frame = frame.assign(**{_PREDICTED: self._predictions(trained, frame)})
            predicted = _PREDICTED
        metrics, facts = bias_metrics(
            frame,
            label=label,
            label_value=label_value,
            facet=facet,
            facet_value=facet_value,
            predicted=predicted,
            group=group,
            features=trained.input_columns if trained is not None else None,
            neighbours=neighbours,
        )
        return BiasReport(
            data=data_ref,
            model=version.ref if version is not None else None,
            label=label,
            label_value=facts["label_value"],
            facet=facts["facet"],
            group=group,
            facts=facts,
            metrics=metrics,
        )

    @staticmethod
    def _predictions(trained: TrainedModel, frame: pd.DataFrame) -> pd.Series:
        if not trained.is_classifier and trained.problem_type != REGRESSION:
            raise ConfigError(
                f"Post-training bias needs a classification or regression model; this one is "
                f"{trained.problem_type}. Leave out --model for the pre-training metrics.",
                code="clarify.unsupported-model",
            )
        for column in trained.input_columns:
            require_column(frame, column, what="model's input")
        # Labels come back as Python objects: let pandas find their type (0/1 stays numeric).
        return pd.Series(trained.predict(frame), index=frame.index).infer_objects()

    def explain(
        self,
        model: str | ModelVersion,
        data: str | DatasetVersion | pd.DataFrame,
        *,
        rows: int | None = None,
        top: int = TOP_CONTRIBUTIONS,
    ) -> Explanation:
        """SHAP attributions of ``model`` on ``data``: the mean |SHAP| per input column (a
        seeded sample of 2,000 rows when there are more), and the ``top`` contributions of each
        of the first ``rows`` rows (default 10) with the model's prediction.

        Examples
        --------
        >>> ws.clarify.explain("churn:1", "churn", rows=3).attributions  # doctest: +SKIP
        {'contract': 0.61, 'tenure': 0.42, ...}
        """
        count = EXPLAINED_ROWS if rows is None else rows
        if count < 0 or top < 1:
            raise ConfigError(
                f"--rows must be 0 or more and top 1 or more; got rows={rows}, top={top}.",
                code="clarify.bad-value",
            )
        frame, data_ref = self._frame(data)
        if frame.empty:
            raise DataError(
                f"Data set {data_ref} has no rows to explain.", code="clarify.empty-data"
            )
        version, trained = self._model(model)
        attributions, method, units = global_attributions_and_method(trained, frame)
        head = frame.head(count)
        explained: list[dict[str, Any]] = []
        if len(head):
            per_row, _, _ = row_attributions(trained, head, top=top)
            predictions = trained.predictions(head)
            explained = [
                {"row": i, "prediction": p} | e
                for i, (p, e) in enumerate(zip(predictions, per_row, strict=True))
            ]
        return Explanation(
            model=version.ref,
            data=data_ref,
            method=method,
            units=units,
            rows=min(len(frame), GLOBAL_ROWS),
            attributions=attributions,
            row_explanations=explained,
        )

"""``kiln data preview``: fit a recipe on a data set and show its output before training."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kiln.data import unknown_column
from kiln.problems import encode_target, infer_problem_type, order_classes
from kiln.recipe._compile import compile_recipe, plan
from kiln.recipe._inputs import model_inputs
from kiln.recipe._spec import Recipe

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["RecipePreview", "preview"]

SAMPLE_ROWS = 10_000


@dataclass
class RecipePreview:
    dataset: str
    steps: list[str]
    fitted_rows: int
    total_rows: int
    training_rows_after: int
    before: pd.DataFrame
    after: pd.DataFrame
    schema: list[dict]
    features: list[str]

    @property
    def sampled(self) -> bool:
        return self.fitted_rows < self.total_rows

    def to_dict(self) -> dict:
        import json

        def rows(frame):
            return json.loads(frame.to_json(orient="records", date_format="iso"))

        return {
            "dataset": self.dataset,
            "steps": self.steps,
            "fitted_rows": self.fitted_rows,
            "total_rows": self.total_rows,
            "sampled": self.sampled,
            "training_rows_after": self.training_rows_after,
            "schema": self.schema,
            "features": self.features,
            "before": rows(self.before),
            "after": rows(self.after),
        }


def preview(
    workspace: Context,
    ref: str,
    recipe: Any,
    *,
    target: str | None = None,
    rows: int = 5,
    sample_rows: int = SAMPLE_ROWS,
    seed: int = 42,
) -> RecipePreview:
    """Fit ``recipe`` on data set ``ref`` (a uniform sample of ``sample_rows`` at most) as
    training would, and show its first ``rows`` rows before and after, with the output schema."""
    version = workspace.data.get(ref)
    parsed = Recipe.parse(recipe)
    if target is not None and target not in version.columns:
        raise unknown_column(target, version)
    types = {c: t for c, t in version.column_types().items() if c != target}
    frame = workspace.data.load(version)
    problem_type, y = None, None
    if target is not None:
        frame = frame[frame[target].notna()].reset_index(drop=True)
        problem_type = infer_problem_type(frame[target])
    reads = plan(parsed, types, problem_type)
    features = list(model_inputs(types, reads))
    fitted = frame
    if len(frame) > sample_rows:
        fitted = frame.sample(sample_rows, random_state=seed).reset_index(drop=True)
    if target is not None:
        classes = None
        if problem_type != "regression":
            classes = order_classes(fitted[target].unique().tolist())
        y = encode_target(fitted[target], problem_type, classes, target)
    transformer = compile_recipe(
        parsed,
        {c: types[c] for c in features},
        problem_type=problem_type,
        scale_numeric=False,
        seed=seed,
    )
    matrix, _ = transformer.fit_resample(fitted[features], y)
    head = frame.head(rows)
    after = transformer.transform_frame(head[features])
    shown = after.dense.copy()
    schema = [{"name": c, "type": after.types[c]} for c in after.dense.columns]
    for block, (names, values) in after.blocks.items():
        counts = np.diff(values.indptr)
        shown[block] = [f"{n} of {len(names)} non-zero" for n in counts]
        schema.append({"name": block, "type": f"sparse ({len(names)} features)"})
    return RecipePreview(
        dataset=version.ref,
        steps=[s.name for s in parsed.steps],
        fitted_rows=len(fitted),
        total_rows=len(frame),
        training_rows_after=int(matrix.shape[0]),
        before=head[features],
        after=shown,
        schema=schema,
        features=[str(n) for n in transformer.get_feature_names_out()],
    )

"""``?explain=true`` on invocations: each prediction with its largest SHAP contributions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from kiln.serving._cache import LoadedModel

__all__ = ["explain_predictions"]


def explain_predictions(
    loaded: LoadedModel, body: bytes, as_json: bool, predictions: list[dict], *, fast_rows: int
) -> str:
    """Add ``attributions`` (the row's largest contributions per input column) to each of
    ``predictions``, and answer their units.

    The body is parsed a second time, so that requests without ``explain`` pay nothing. JSON
    batches of up to ``fast_rows`` rows are encoded by the compiled recipe, as scoring does:
    the pipeline's own transform costs about 20 ms.
    """
    from kiln.clarify import row_attributions  # SHAP and its libraries: only when asked

    schema = loaded.schema
    encoded = None
    if not as_json:
        frame, _ = schema.frame_from_csv(body)
    else:
        rows = schema.records(schema.parse_json(body))
        if loaded.fast is not None and len(rows) <= fast_rows:
            columns, _ = schema.columns_from_records(rows)
            encoded = loaded.fast.encode(columns)
            frame = pd.DataFrame(columns)
        else:
            frame, _ = schema.frame_from_records(rows)
    explained, _, units = row_attributions(loaded.model, frame, encoded=encoded)
    for prediction, row in zip(predictions, explained, strict=True):
        prediction["attributions"] = row["contributions"]
    return units

"""``?explain=true`` on invocations: each prediction with its largest SHAP contributions."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kiln.serving._cache import LoadedModel

__all__ = ["explain_predictions"]


def explain_predictions(
    loaded: LoadedModel, body: bytes, as_json: bool, predictions: list[dict]
) -> str:
    """Add ``attributions`` (the row's largest contributions per input column) to each of
    ``predictions`` and answer their units. The body is parsed again: the scoring path keeps
    its fast encoder, and only explained requests pay for the frame."""
    from kiln.clarify import row_attributions  # SHAP and its libraries: only when asked

    schema = loaded.schema
    if as_json:
        frame, _ = schema.frame_from_records(schema.records(schema.parse_json(body)))
    else:
        frame, _ = schema.frame_from_csv(body)
    explained, _, units = row_attributions(loaded.model, frame)
    for prediction, row in zip(predictions, explained, strict=True):
        prediction["attributions"] = row["contributions"]
    return units

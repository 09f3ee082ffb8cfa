"""The model registry: groups, versions, approval, and the model artifact (``TrainedModel``)."""

from kiln.registry._model import TrainedModel, library_versions, set_estimator_threads
from kiln.registry._registry import APPROVED, PENDING, REJECTED, ModelRegistry, ModelVersion

__all__ = [
    "APPROVED",
    "PENDING",
    "REJECTED",
    "ModelRegistry",
    "ModelVersion",
    "TrainedModel",
    "library_versions",
    "set_estimator_threads",
]

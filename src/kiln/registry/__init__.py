"""The model registry."""

from kiln.registry._registry import APPROVED, PENDING, REJECTED, ModelRegistry, ModelVersion

__all__ = ["APPROVED", "PENDING", "REJECTED", "ModelRegistry", "ModelVersion"]

"""The feature store: feature groups with an offline and an online store, and point-in-time
correct training sets (docs/features.md)."""

from kiln.features._service import FeatureGroup, FeatureIngest, FeatureService

__all__ = ["FeatureGroup", "FeatureIngest", "FeatureService"]

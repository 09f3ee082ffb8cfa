"""Clarify: bias metrics before and after training, and explanations (SHAP attributions, their
drift by NDCG); the analogue of SageMaker Clarify. See docs/clarify.md."""

__all__ = []

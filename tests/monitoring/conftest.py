"""Fixtures of the monitoring tests: a deployed churn model whose endpoint captures traffic."""

from __future__ import annotations

import pytest


@pytest.fixture
def capturing(trained_copy):
    """A private workspace whose endpoint 'churn' captures all its traffic, and the churn data."""
    ws, result = trained_copy
    ws.endpoints.set_capture("churn", 100)
    return ws, ws.data.load("churn")

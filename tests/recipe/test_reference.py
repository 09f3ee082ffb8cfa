"""docs/recipes.md documents every step and parameter, as generated from the step models."""

from __future__ import annotations

import re
from pathlib import Path

from kiln.recipe import STEPS
from kiln.recipe._reference import reference_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "recipes.md"


def test_the_step_reference_in_the_docs_is_up_to_date():
    assert reference_markdown() in DOC.read_text(), (
        "Regenerate the step reference of docs/recipes.md: python -m kiln.recipe._reference"
    )


def test_every_step_and_parameter_is_documented():
    text = DOC.read_text()
    for name, cls in STEPS.items():
        section = text.split(f"#### `{name}`", 1)[1].split("####", 1)[0]
        for parameter in cls.model_fields:
            assert re.search(rf"\| `{parameter}` \|", section), (name, parameter)


def test_there_are_about_forty_steps_in_every_group_the_issue_names():
    groups = {cls.group for cls in STEPS.values()}
    assert groups >= {
        "missing values",
        "outliers",
        "numeric transforms",
        "scaling",
        "categorical encoding",
        "feature creation",
        "text",
        "reduction and selection",
        "PII",
        "class imbalance",
    }
    assert len(STEPS) >= 40

"""What every recipe op shares: the ``Op`` interface, the registry of which Op performs which
step (``performs``, ``op_for``) and the context ops run in."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from kiln.recipe import _spec as s
from kiln.recipe._frame import Frame, step_label
from kiln.recipe._spec import RecipeError
from kiln.settings import active_pii_key

__all__ = ["Context", "Op", "op_for", "performs", "pii_key"]


def pii_key() -> str:
    key = active_pii_key()
    if not key:
        raise RecipeError(
            "The recipe's hash_pii step needs a secret key: set pii_key in kiln.toml or the "
            "KILN_PII_KEY environment variable (the same key wherever the model runs).",
            code="recipe.no-pii-key",
        )
    return key


class Context:
    """What every op may need besides its own parameters."""

    def __init__(self, problem_type: str | None, seed: int):
        self.problem_type = problem_type
        self.seed = seed

    @property
    def classification(self) -> bool:
        return self.problem_type in ("binary", "multiclass")


_OPS: dict[type[s.Step], type[Op]] = {}


def performs(*steps: type[s.Step]):
    """Class decorator: the Op does what these step specs describe (one registry of steps: the
    spec in ``_spec.STEPS``, its Op here, its output type on the spec)."""

    def register(op: type[Op]) -> type[Op]:
        for step in steps:
            _OPS[step] = op
        return op

    return register


def op_for(step: s.Step, columns: list[str], index: int, context: Context) -> Op:
    """The Op that carries out ``step`` on ``columns``."""
    return _OPS[type(step)](step, columns, index, context)


class Op(ABC):
    """A step bound to the columns it selected; stateless unless ``fit`` learns something."""

    def __init__(self, step: s.Step, columns: list[str], index: int, context: Context):
        self.step, self.columns, self.index, self.context = step, columns, index, context

    @property
    def label(self) -> str:
        return step_label(self.step, self.index)

    def fit(self, frame: Frame, y: np.ndarray | None) -> None:  # noqa: B027 - optional hook
        """Learn from training rows; steps that learn nothing keep this."""

    @abstractmethod
    def apply(self, frame: Frame) -> Frame:
        """The step on any rows (inference), never adding or dropping rows."""

    def fit_apply(self, frame: Frame, y: np.ndarray | None):
        self.fit(frame, y)
        return self.apply(frame), y

    def error(self, message: str, code: str = "recipe.bad-values", column: str | None = None):
        return RecipeError(f"{self.label}: {message}", code=code, field=column)

    def no_missing(self, frame: Frame, columns: list[str]) -> None:
        counts = {c: int(frame.dense[c].isna().sum()) for c in columns if c in frame.types}
        missing = {c: n for c, n in counts.items() if n}
        if missing:
            listed = ", ".join(f"{c} ({n} missing)" for c, n in missing.items())
            raise self.error(
                f"{self.step.name} cannot take missing values: {listed}. Add an impute step "
                "before it.",
                column=next(iter(missing)),
            )

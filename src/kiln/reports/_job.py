"""``JobReport``: what every job kind's report function returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["JobReport"]


@dataclass(frozen=True)
class JobReport:
    """A written report: where it is, and the diagnosis and metrics it shows."""

    path: Path
    job_id: str
    diagnosis: dict | None  # None: the report has no diagnosis (AutoML)
    metrics: dict
    seconds: float
    sections: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """What ``kiln jobs report --json`` prints."""
        return {"report": str(self.path), "diagnosis": self.diagnosis, "metrics": self.metrics}

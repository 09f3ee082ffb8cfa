"""The problem spec: what a model is for and what success looks like, parsed and checked.

A spec is YAML (or a dict): the goal in words, the target and problem type, success criteria
(metric thresholds, a cost matrix against a baseline, a latency budget), the data it is about,
its owner and whether passing models are approved by themselves. :func:`parse_spec` checks it
whole and returns it normalised (every key, defaults filled, criteria written one way), so the
same spec always has the same digest.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Hashable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kiln.errors import ConfigError
from kiln.problems._criteria import Criterion, check_metric_names, parse_criterion
from kiln.problems._metrics import metric_names
from kiln.problems._target import (
    BINARY,
    MULTICLASS,
    REGRESSION,
    UNSUPERVISED_PROBLEM_TYPES,
)

__all__ = [
    "BASELINES",
    "CostSpec",
    "ProblemCriteria",
    "cost_classes_error",
    "load_spec",
    "parse_spec",
    "spec_changes",
    "spec_digest",
]

# What the model's expected cost is compared with: every row predicted as the most frequent
# actual class, or as the negative (first) class of a binary problem; ``{predict: LABEL}``
# names a class.
BASELINES = ("majority", "nothing_positive")


@dataclass(frozen=True)
class CostSpec:
    """A problem's cost: ``matrix[actual][predicted]`` is the cost of one such prediction (0 for
    a right one), compared with ``baseline`` against ``max_per_1000`` / ``beat_baseline_by``."""

    matrix: dict[str, dict[str, float]]
    baseline: str | dict = "majority"
    max_per_1000: float | None = None
    beat_baseline_by: float | None = None

    @property
    def classes(self) -> list[str]:
        return list(self.matrix)

    @property
    def baseline_name(self) -> str:
        if isinstance(self.baseline, dict):
            return f"predict {self.baseline['predict']!r}"
        return self.baseline

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ProblemCriteria:
    """A problem's success criteria, parsed: metric thresholds, the cost and the latency budget."""

    metrics: list[Criterion]
    cost: CostSpec | None
    latency_p99_ms: float | None

    @classmethod
    def of(cls, spec: dict) -> ProblemCriteria:
        cost = spec.get("cost")
        return cls(
            metrics=[parse_criterion(c, code="problem.bad-criterion") for c in spec["criteria"]],
            cost=CostSpec(**cost) if cost else None,
            latency_p99_ms=(spec.get("latency") or {}).get("p99_ms"),
        )

    def __bool__(self) -> bool:
        return bool(self.metrics or self.cost or self.latency_p99_ms)


def _yaml_loader():
    """PyYAML's safe loader with YAML 1.2's booleans: only true/false are booleans, so class
    labels such as Yes, No, on and off stay the strings they are in the data."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    bool_tag = "tag:yaml.org,2002:bool"
    Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != bool_tag]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(
        bool_tag, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    return Loader


def read_yaml(path: Path, *, what: str, code: str, booleans_1_2: bool = False) -> Any:
    """The data of the YAML file at ``path`` (UTF-8), for ``what`` (a name in messages).

    Refused with a ConfigError ``code`` naming the file: text that is not UTF-8, text that is not
    YAML, and a mapping that repeats a key. PyYAML keeps the last of repeated keys silently, so a
    step or a criterion written twice would vanish without a word; kiln refuses it instead.
    ``booleans_1_2``: only true/false are booleans (YAML 1.2), so Yes and No stay text."""
    import yaml

    base = _yaml_loader() if booleans_1_2 else yaml.SafeLoader

    class Loader(base):  # type: ignore[valid-type, misc]
        def construct_mapping(self, node, deep=False):
            seen: set = set()
            for key_node, _ in getattr(node, "value", []):
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, Hashable) and key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} appears twice", key_node.start_mark
                    )
                seen.add(key) if isinstance(key, Hashable) else None
            return super().construct_mapping(node, deep=deep)

    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{what} {str(path)!r} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
            f"offset {exc.start}). Save it as UTF-8.",
            code=code,
        ) from None
    try:
        return yaml.load(text, Loader=Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {str(path)!r} is not valid YAML: {exc}", code=code) from None


def load_spec(source: dict | str | os.PathLike) -> tuple[Any, str]:
    """The spec's raw data and a name for it in messages: a dict as it is, else a YAML file."""
    if isinstance(source, dict):
        return source, "The problem spec"
    path = Path(source)
    if not path.is_file():
        raise ConfigError(
            f"Problem spec file {str(path)!r} does not exist. Give the path of a YAML file "
            "(see docs/problems.md).",
            code="problem.file-not-found",
            field="file",
        )
    value = read_yaml(path, what="Problem spec file", code="problem.bad-yaml", booleans_1_2=True)
    return value, f"Problem spec {path}"


def bad_field(source: str, path: str, message: str, *, code: str) -> ConfigError:
    """The error of one field of a spec: ``SOURCE: PATH: MESSAGE``, the path as its field."""
    return ConfigError(f"{source}: {path}: {message}", code=code, field=path)


def _keys_as_text(value: Any) -> Any:
    """Class labels as text (0/1 targets read from YAML are numbers): ``{"0": {"1": 5}}``."""
    if isinstance(value, dict) and isinstance(value.get("cost"), dict):
        cost = dict(value["cost"])
        matrix = cost.get("matrix")
        if isinstance(matrix, dict):
            cost["matrix"] = {
                str(a): ({str(p): c for p, c in row.items()} if isinstance(row, dict) else row)
                for a, row in matrix.items()
            }
        baseline = cost.get("baseline")
        if isinstance(baseline, dict) and "predict" in baseline:
            cost["baseline"] = {**baseline, "predict": str(baseline["predict"])}
        value = {**value, "cost": cost}
    if isinstance(value, dict) and isinstance(value.get("data"), str):
        value = {**value, "data": [value["data"]]}
    return value


def parse_spec(value: Any, source: str = "The problem spec") -> dict:
    """Check a spec whole and return it normalised; a ConfigError (``problem.*``) names the
    field path and the offending value."""
    if not isinstance(value, dict):
        raise ConfigError(
            f"{source} must be a mapping of fields (description, target, problem_type, "
            f"criteria, ...); got {type(value).__name__} {value!r}.",
            code="problem.bad-type",
        )
    # The schema (types, unknown keys) is pydantic's, loaded only when a spec is parsed: opening a
    # workspace (every CLI command) does not import it.
    from kiln.problems._schema import validate

    spec = validate(_keys_as_text(value), source)
    kind = spec["problem_type"]
    if spec["target"] is None and kind not in UNSUPERVISED_PROBLEM_TYPES:
        raise bad_field(
            source,
            "target",
            "a supervised problem needs the column to predict; add 'target: COLUMN' (or an "
            f"unsupervised problem_type: {', '.join(UNSUPERVISED_PROBLEM_TYPES)}).",
            code="problem.missing-field",
        )
    criteria = []
    for index, text in enumerate(spec["criteria"]):
        field = f"criteria[{index}]"
        criterion = parse_criterion(text, code="problem.bad-criterion", field=field)
        known = metric_names(kind) if kind else metric_names()
        check_metric_names(
            [criterion], known, problem_type=kind, code="problem.unknown-metric", field=field
        )
        criteria.append(criterion.canonical)
    if spec["cost"] is not None:
        _check_cost(CostSpec(**spec["cost"]), kind, source)
    budget = (spec["latency"] or {}).get("p99_ms")
    if budget is not None and not (0 < budget < math.inf):
        raise bad_field(
            source,
            "latency.p99_ms",
            f"the budget must be a number of milliseconds above 0; got {budget!r}.",
            code="problem.bad-value",
        )
    spec["criteria"] = criteria
    return spec


def _check_cost(cost: CostSpec, kind: str | None, source: str) -> None:
    if kind not in (None, BINARY, MULTICLASS):
        raise bad_field(
            source,
            "cost",
            f"a cost matrix is over classes, so it needs a binary or multiclass problem; "
            f"this one is {kind}. Remove 'cost' or use metric criteria "
            f"(e.g. '{'rmse' if kind == REGRESSION else 'silhouette'} ...').",
            code="problem.bad-cost",
        )
    classes = cost.classes
    if len(classes) < 2:
        raise bad_field(
            source,
            "cost.matrix",
            f"the matrix names {len(classes)} class(es) ({classes!r}); write one row per "
            "actual class, each mapping every predicted class to its cost, e.g. "
            "{Yes: {Yes: 0, No: 500}, No: {Yes: 50, No: 0}}.",
            code="problem.cost-no-classes",
        )
    for actual, row in cost.matrix.items():
        if set(row) != set(classes):
            raise bad_field(
                source,
                f"cost.matrix.{actual}",
                f"the row names predicted classes {sorted(row)!r}, but the matrix's classes "
                f"(its rows) are {sorted(classes)!r}; every row needs a cost for each.",
                code="problem.cost-classes",
            )
        for predicted, value in row.items():
            if not (0 <= value < math.inf):
                raise bad_field(
                    source,
                    f"cost.matrix.{actual}.{predicted}",
                    f"a cost must be a number of 0 or more; got {value!r}.",
                    code="problem.bad-value",
                )
    if isinstance(cost.baseline, dict) and cost.baseline["predict"] not in classes:
        raise bad_field(
            source,
            "cost.baseline.predict",
            f"{cost.baseline['predict']!r} is not one of the matrix's classes {classes!r}.",
            code="problem.cost-classes",
        )
    if cost.baseline == "nothing_positive" and (kind == MULTICLASS or len(classes) != 2):
        raise bad_field(
            source,
            "cost.baseline",
            f"'nothing_positive' is a baseline of binary problems; this matrix has "
            f"{len(classes)} classes. Use 'majority' or {{predict: CLASS}}.",
            code="problem.bad-cost",
        )
    if cost.max_per_1000 is None and cost.beat_baseline_by is None:
        raise bad_field(
            source,
            "cost",
            "give the threshold: max_per_1000 (the most the model may cost per 1,000 "
            "predictions) and/or beat_baseline_by (a share, 0.2 = 20 % cheaper than the "
            "baseline).",
            code="problem.bad-cost",
        )
    if cost.max_per_1000 is not None and not (0 <= cost.max_per_1000 < math.inf):
        raise bad_field(
            source,
            "cost.max_per_1000",
            f"must be a cost of 0 or more; got {cost.max_per_1000!r}.",
            code="problem.bad-value",
        )
    if cost.beat_baseline_by is not None and not (0 <= cost.beat_baseline_by < 1):
        raise bad_field(
            source,
            "cost.beat_baseline_by",
            f"must be a share from 0 up to (not including) 1, e.g. 0.2 for 20 % cheaper; "
            f"got {cost.beat_baseline_by!r}.",
            code="problem.bad-value",
        )


def cost_classes_error(cost: dict, classes: list, *, target: str, where: str) -> ConfigError | None:
    """The error when a cost matrix's classes are not the target's classes (None when they
    match): every class of the data needs a row, and no row may name a class it lacks."""
    known = [str(c) for c in classes]
    named = list(cost["matrix"])
    unknown = [c for c in named if c not in known]
    missing = [c for c in known if c not in named]
    if not unknown and not missing:
        return None
    parts = []
    if unknown:
        parts.append(f"names class(es) {unknown!r} that {target!r} does not have")
    if missing:
        parts.append(f"has no row for class(es) {missing!r}")
    return ConfigError(
        f"The cost matrix of {where} {' and '.join(parts)}; the classes of {target!r} are "
        f"{known!r}. Fix cost.matrix in the problem spec and create it again.",
        code="problem.cost-classes",
        field="cost.matrix",
    )


def spec_digest(spec: dict) -> str:
    """SHA-256 of the normalised spec as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def spec_changes(before: dict, after: dict) -> list[str]:
    """What changed from one spec to the next, one line per field: ``latency.p99_ms: 20 →
    15``; lists (criteria, data) as the items added and removed."""
    changes: list[str] = []
    _diff(before, after, "", changes)
    return changes


def _diff(before: Any, after: Any, path: str, out: list[str]) -> None:
    if before == after:
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after)):
            _diff(before.get(key), after.get(key), f"{path}.{key}" if path else key, out)
        return
    if isinstance(before, list) and isinstance(after, list):
        added = [x for x in after if x not in before]
        removed = [x for x in before if x not in after]
        words = [f"+{x}" for x in added] + [f"-{x}" for x in removed]
        out.append(f"{path}: {', '.join(map(str, words)) if words else 'reordered'}")
        return
    out.append(f"{path}: {json.dumps(before)} → {json.dumps(after)}")

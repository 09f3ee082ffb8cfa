"""Pipeline definitions: parameters and a DAG of steps, from YAML or built in Python, checked as a
whole before any step runs."""

from __future__ import annotations

import difflib
import graphlib
import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiln.errors import ConfigError
from kiln.refs import check_name

__all__ = [
    "PARAMETER_TYPES",
    "Parameter",
    "Pipeline",
    "Step",
    "convert_parameter",
    "load_pipeline",
]

# ``${params.target}``, ``${steps.clean.data}``: the only expressions a definition holds.
EXPRESSION = re.compile(r"\$\{\s*([^}]*?)\s*\}")
_TRUE, _FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise ValueError(value)


def _to_int(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    return int(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(value)
    return float(value)


def _to_str(value: Any) -> str:
    if isinstance(value, dict | list):
        raise ValueError(value)
    return str(value)


# A parameter's type: how a value given on the command line (text) or in YAML becomes one.
PARAMETER_TYPES: dict[str, Callable[[Any], Any]] = {
    "str": _to_str,
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
}


@dataclass(frozen=True)
class Parameter:
    """A pipeline parameter: its type (``str``, ``int``, ``float``, ``bool``) and default (None:
    the parameter must be given)."""

    name: str
    type: str = "str"
    default: Any = None
    description: str = ""


def convert_parameter(parameter: Parameter, value: Any) -> Any:
    """``value`` as ``parameter``'s type; a value of the wrong type is refused naming both."""
    try:
        return PARAMETER_TYPES[parameter.type](value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"Parameter {parameter.name!r} is a {parameter.type}, and {value!r} is not one. "
            f"Give it as --param {parameter.name}=VALUE with a {parameter.type} value"
            + (" (true or false)." if parameter.type == "bool" else "."),
            code="pipeline.bad-param",
            field=parameter.name,
        ) from None


@dataclass(frozen=True)
class Step:
    """One step: its ``type`` (see :data:`kiln.pipelines.STEP_TYPES`), its fields (values may hold
    ``${params.P}`` and ``${steps.S.OUTPUT}``), the steps it must follow besides those it refers
    to (``after``), whether its outputs may come from the cache, and its retry policy."""

    name: str
    type: str
    fields: dict[str, Any] = field(default_factory=dict)
    after: tuple[str, ...] = ()
    cache: bool = True
    retry: dict[str, Any] = field(default_factory=dict)

    def references(self) -> list[tuple[str, str]]:
        """Every ``(step, output)`` its fields refer to, in order."""
        found = []
        for expression in _expressions(self.fields):
            head, *rest = expression.split(".")
            if head == "steps" and len(rest) == 2:
                found.append((rest[0], rest[1]))
        return found

    def upstream(self) -> list[str]:
        """The steps that must end before this one starts."""
        return list(dict.fromkeys([*self.after, *(s for s, _ in self.references())]))


@dataclass(frozen=True)
class Pipeline:
    """A named DAG of steps with parameters; build it in Python or load it with
    :func:`load_pipeline`.

    Examples
    --------
    >>> from kiln.pipelines import Pipeline, Step, Parameter
    >>> Pipeline("demo", params=[Parameter("target", "str", "churn")], steps=[
    ...     Step("ingest", "ingest", {"source": "churn.csv", "name": "churn_raw"}),
    ...     Step("split", "split", {"data": "${steps.ingest.data}", "target": "${params.target}"}),
    ... ])  # doctest: +SKIP
    """

    name: str
    steps: list[Step]
    params: list[Parameter] = field(default_factory=list)
    description: str = ""
    # The folder relative paths in the definition (data files, scripts, modules) are read from.
    base_dir: str | None = None
    source: str | None = None

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    def to_dict(self) -> dict:
        """The definition as stored (and as YAML would write it)."""
        return {
            "name": self.name,
            "description": self.description,
            "base_dir": self.base_dir,
            "params": {
                p.name: {"type": p.type, "default": p.default, "description": p.description}
                for p in self.params
            },
            "steps": {
                s.name: {
                    "type": s.type,
                    **{k: _reference(v, s.name) for k, v in s.fields.items()},
                    **({"after": list(s.after)} if s.after else {}),
                    **({"cache": False} if not s.cache else {}),
                    **({"retry": dict(s.retry)} if s.retry else {}),
                }
                for s in self.steps
            },
        }

    @property
    def digest(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    @classmethod
    def from_dict(
        cls, document: Mapping, *, base_dir: str | None = None, source: str | None = None
    ) -> Pipeline:
        """Read a definition (the parsed YAML); its shape is checked, the DAG by :meth:`check`."""
        if not isinstance(document, Mapping):
            raise ConfigError(
                f"A pipeline definition is a mapping with 'name', 'params' and 'steps'. Got "
                f"{type(document).__name__}.",
                code="pipeline.bad-definition",
            )
        unknown = sorted(set(document) - {"name", "description", "params", "steps", "base_dir"})
        if unknown:
            raise ConfigError(
                f"Unknown top-level field {unknown[0]!r} in the pipeline definition. Fields: "
                "name, description, params, steps.",
                code="pipeline.unknown-field",
                field=unknown[0],
            )
        name = str(document.get("name") or "")
        check_name(name, what="pipeline")
        params = []
        raw_params = document.get("params") or {}
        if not isinstance(raw_params, Mapping):
            raise ConfigError(
                f"'params' is a mapping of parameter names to {{type, default, description}}; "
                f"got {type(raw_params).__name__} {raw_params!r}. Write e.g. params: {{min_auc: "
                "{type: float, default: 0.7}}.",
                code="pipeline.bad-param",
                field="params",
            )
        for param_name, spec in raw_params.items():
            spec = spec if isinstance(spec, Mapping) else {"default": spec}
            extra = sorted(set(spec) - {"type", "default", "description"})
            kind = spec.get("type") or _type_of(spec.get("default"))
            if extra or kind not in PARAMETER_TYPES:
                problem = f"unknown field {extra[0]!r}" if extra else f"unknown type {kind!r}"
                raise ConfigError(
                    f"Parameter {param_name!r}: {problem}. A parameter has a type (one of "
                    f"{', '.join(PARAMETER_TYPES)}), a default and a description.",
                    code="pipeline.bad-param",
                    field=str(param_name),
                )
            parameter = Parameter(str(param_name), kind, None, str(spec.get("description", "")))
            default = spec.get("default")
            if default is not None:
                default = convert_parameter(parameter, default)
            params.append(Parameter(parameter.name, kind, default, parameter.description))
        raw_steps = document.get("steps") or {}
        if isinstance(raw_steps, list):  # a list of steps, each with its name
            raw_steps = _steps_from_list(raw_steps)
        if not isinstance(raw_steps, Mapping) or not raw_steps:
            raise ConfigError(
                "A pipeline needs steps: a mapping of step names to steps, each with a type.",
                code="pipeline.bad-definition",
            )
        steps = []
        for step_name, body in raw_steps.items():
            if not isinstance(body, Mapping) or "type" not in body:
                raise ConfigError(
                    f"Step {step_name!r} has no type. Give it 'type:', one of the step types "
                    "('kiln pipelines step-types' lists them).",
                    code="pipeline.unknown-step-type",
                    field=str(step_name),
                )
            body = dict(body)
            after = body.pop("after", None) or []
            after = [after] if isinstance(after, str) else after
            cache, retry = body.pop("cache", True), body.pop("retry", None) or {}
            _check_step_shape(str(step_name), after, cache, retry)
            steps.append(
                Step(
                    name=str(step_name),
                    type=str(body.pop("type")),
                    after=tuple(str(a) for a in after),
                    cache=_to_bool(cache),
                    retry=dict(retry),
                    fields=body,
                )
            )
        return cls(
            name=name,
            steps=steps,
            params=params,
            description=str(document.get("description") or ""),
            base_dir=base_dir or document.get("base_dir"),
            source=source,
        )

    # -- checks ---------------------------------------------------------------------------------
    def check(self, params: Mapping[str, Any] | None = None) -> list[str]:
        """Check the whole definition and return the steps in the order they run.

        Refused with a ``pipeline.*`` ConfigError: an unknown step type or field, a step that
        refers to an unknown step, output or parameter, a cycle, a bad retry policy and, when
        ``params`` are given, a condition on an unknown metric."""
        from kiln.pipelines._steps import STEP_TYPES, outputs_of

        names = [s.name for s in self.steps]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(
                f"Two steps are named {duplicates[0]!r}; step names are unique.",
                code="pipeline.bad-definition",
            )
        known_params = {p.name for p in self.params}
        for step in self.steps:
            check_name(step.name, what="pipeline step")
            step_type = STEP_TYPES.get(step.type)
            if step_type is None:
                raise ConfigError(
                    f"Step {step.name!r} has an unknown type {step.type!r}"
                    f"{did_you_mean(step.type, STEP_TYPES)}. Types: "
                    f"{', '.join(STEP_TYPES)}.",
                    code="pipeline.unknown-step-type",
                    field=step.name,
                )
            step_type.check_fields(step)
            _check_retry(step)
            for text in _strings(step.fields):
                if "${" in EXPRESSION.sub("", text):
                    raise ConfigError(
                        f"Step {step.name!r}: {text!r} opens '${{' without closing it. Write "
                        "${params.NAME} or ${steps.STEP.OUTPUT}.",
                        code="pipeline.unknown-reference",
                        field=step.name,
                    )
            for expression in _expressions(step.fields):
                head, *rest = expression.split(".")
                if head == "params" and len(rest) == 1:
                    if rest[0] not in known_params:
                        raise ConfigError(
                            f"Step {step.name!r} refers to an unknown parameter "
                            f"{rest[0]!r}{did_you_mean(rest[0], known_params)}. Parameters: "
                            f"{', '.join(sorted(known_params)) or 'none'}.",
                            code="pipeline.unknown-reference",
                            field=step.name,
                        )
                elif not (head == "steps" and len(rest) == 2):
                    raise ConfigError(
                        f"Step {step.name!r} has the expression ${{{expression}}}, which names "
                        "neither a parameter (${params.NAME}) nor a step's output "
                        "(${steps.STEP.OUTPUT}).",
                        code="pipeline.unknown-reference",
                        field=step.name,
                    )
            for upstream in step.upstream():
                if upstream not in names:
                    raise ConfigError(
                        f"Step {step.name!r} refers to an unknown step {upstream!r}"
                        f"{did_you_mean(upstream, names)}. Steps: {', '.join(names)}.",
                        code="pipeline.unknown-reference",
                        field=step.name,
                    )
            for upstream, output in step.references():
                produced = outputs_of(self.step(upstream))
                if output not in produced:
                    raise ConfigError(
                        f"Step {step.name!r} refers to ${{steps.{upstream}.{output}}}, but step "
                        f"{upstream!r} ({self.step(upstream).type}) has no output {output!r}"
                        f"{did_you_mean(output, produced)}. Its outputs: "
                        f"{', '.join(produced)}.",
                        code="pipeline.unknown-reference",
                        field=step.name,
                    )
        order = self.order()
        if params is not None:
            for step in self.steps:
                STEP_TYPES[step.type].check_values(self, step, params)
        return order

    def order(self) -> list[str]:
        """The steps in an order that runs each after those it depends on (definition order
        among steps that are ready together); a cycle is refused naming its steps."""
        sorter = graphlib.TopologicalSorter({s.name: s.upstream() for s in self.steps})
        try:
            sorter.prepare()
        except graphlib.CycleError as exc:
            cycle = exc.args[1]
            raise ConfigError(
                f"The steps form a cycle: {' → '.join(cycle)}. A step can only use the outputs "
                "of steps that end before it starts; remove one of these references.",
                code="pipeline.cycle",
            ) from None
        position = {s.name: i for i, s in enumerate(self.steps)}
        order: list[str] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=position.__getitem__)
            order.extend(ready)
            sorter.done(*ready)
        return order

    def resolve_params(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The parameters' values: defaults, overridden by ``given`` (converted to each
        parameter's type); an unknown or missing parameter is refused."""
        given = dict(given or {})
        known = {p.name: p for p in self.params}
        for name in given:
            if name not in known:
                raise ConfigError(
                    f"Pipeline {self.name!r} has no parameter {name!r}"
                    f"{did_you_mean(name, known)}. Parameters: "
                    f"{', '.join(known) or 'none'}.",
                    code="pipeline.bad-param",
                    field=name,
                )
        values = {}
        for parameter in self.params:
            if parameter.name in given:
                values[parameter.name] = convert_parameter(parameter, given[parameter.name])
            elif parameter.default is not None:
                values[parameter.name] = parameter.default
            else:
                raise ConfigError(
                    f"Pipeline {self.name!r} needs parameter {parameter.name!r} (a "
                    f"{parameter.type}): give --param {parameter.name}=VALUE.",
                    code="pipeline.bad-param",
                    field=parameter.name,
                )
        return values


def load_pipeline(source: str | os.PathLike | Mapping | Pipeline) -> Pipeline:
    """A pipeline from a YAML file, a parsed definition or a :class:`Pipeline` (returned as is)."""
    if isinstance(source, Pipeline):
        return source
    if isinstance(source, Mapping):
        return Pipeline.from_dict(source)
    from kiln.problems import read_yaml

    path = Path(source)
    if not path.is_file():
        raise ConfigError(
            f"No pipeline file at {str(path)!r}. Give the path of a pipeline YAML file, e.g. "
            "examples/pipelines/churn.yaml.",
            code="pipeline.bad-definition",
        )
    document = read_yaml(path, what="The pipeline file", code="pipeline.bad-definition")
    return Pipeline.from_dict(
        document, base_dir=str(path.resolve().parent), source=str(path.resolve())
    )


def _reference(value: Any, step: str) -> Any:
    """A function given in Python as the ``module:function`` the execution's process imports."""
    if not callable(value):
        return value
    module = getattr(value, "__module__", None)
    name = getattr(value, "__qualname__", "")
    if not module or module == "__main__" or "<" in name:
        raise ConfigError(
            f"Step {step!r}: the function {name or value!r} is defined in {module or 'no module'}"
            ", which the execution's own process cannot import. Move it into a module (a .py "
            "file on the Python path) and pass it, or 'module:function'.",
            code="pipeline.bad-function",
            field=step,
        )
    return f"{module}:{name}"


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [t for v in value.values() for t in _strings(v)]
    if isinstance(value, list | tuple):
        return [t for v in value for t in _strings(v)]
    return []


def _expressions(value: Any) -> list[str]:
    if isinstance(value, str):
        return EXPRESSION.findall(value)
    if isinstance(value, Mapping):
        return [e for v in value.values() for e in _expressions(v)]
    if isinstance(value, list | tuple):
        return [e for v in value for e in _expressions(v)]
    return []


def _type_of(default: Any) -> str:
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    return "str"


def _steps_from_list(items: list) -> dict[str, Any]:
    """Steps written as a list, each with its ``name``: every item needs one, and a name given
    twice is refused (a mapping built from them would keep only the last)."""
    steps: dict[str, Any] = {}
    for index, item in enumerate(items):
        if not isinstance(item, Mapping) or not item.get("name"):
            raise ConfigError(
                f"Step {index + 1} of the list of steps has no name: {item!r}. Give each step "
                "'name:', or write steps as a mapping of names to steps.",
                code="pipeline.bad-definition",
            )
        name = str(item["name"])
        if name in steps:
            raise ConfigError(
                f"Two steps are named {name!r}; step names are unique.",
                code="pipeline.bad-definition",
                field=name,
            )
        steps[name] = {k: v for k, v in item.items() if k != "name"}
    return steps


def _check_step_shape(step: str, after: Any, cache: Any, retry: Any) -> None:
    """``after``, ``cache`` and ``retry`` of a step as read from YAML: each of the shape it must
    have, else a ConfigError naming the step and the value (not a TypeError later)."""
    problem = None
    if not isinstance(after, list | tuple) or not all(isinstance(a, str) for a in after):
        problem = f"'after' is a list of step names; got {after!r}"
    elif not isinstance(retry, Mapping):
        problem = f"'retry' is {{attempts: N, backoff_seconds: S}}; got {retry!r}"
    else:
        try:
            _to_bool(cache)
        except ValueError:
            problem = f"'cache' is true or false; got {cache!r}"
    if problem:
        raise ConfigError(f"Step {step!r}: {problem}.", code="pipeline.bad-definition", field=step)


def _check_retry(step: Step) -> None:
    extra = sorted(set(step.retry) - {"attempts", "backoff_seconds"})
    attempts = step.retry.get("attempts", 1)
    backoff = step.retry.get("backoff_seconds", 0)
    ok = (
        not extra
        and isinstance(attempts, int)
        and not isinstance(attempts, bool)
        and 1 <= attempts <= 20
        and isinstance(backoff, int | float)
        and 0 <= backoff <= 3600
    )
    if not ok:
        raise ConfigError(
            f"Step {step.name!r} has a bad retry policy {step.retry!r}: write retry: {{attempts: "
            "N, backoff_seconds: S}} with N from 1 to 20 and S from 0 to 3600.",
            code="pipeline.bad-retry",
            field=step.name,
        )


def did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""

"""Custom estimators: any scikit-learn-compatible class, named by import path
(``mypkg.models:MyRegressor``), becomes an ``Algorithm`` like a built-in one.

Its hyperparameter schema is read from its ``__init__`` signature (scikit-learn's contract: the
hyperparameters are exactly the keyword arguments of ``__init__``), so ``--hp`` names are checked
the same way as a built-in's. Types come from each default (or annotation): an ``int`` or a
``float`` is a number (so ``--range name=low:high`` works when tuning), a ``bool`` is true/false,
anything else is taken as written. The model version records the import path as its algorithm:
a process that loads the model (a server, a batch transform) must be able to import it too.
"""

from __future__ import annotations

import importlib
import inspect
import math
import re
import sys
from typing import Any

from kiln.algorithms._params import Param
from kiln.errors import ConfigError
from kiln.problems import BINARY, MULTICLASS, PROBLEM_TYPES, REGRESSION

__all__ = ["custom_algorithm", "is_import_path"]

_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
# Arguments of __init__ that configure the run, not the model: kiln passes the seed itself.
_SEED_ARGUMENTS = ("random_state", "seed", "random_seed")


def is_import_path(name: str) -> bool:
    """Whether an algorithm name is an import path (``module:Class``) rather than a built-in."""
    return ":" in name


def custom_algorithm(path: str):
    """The ``Algorithm`` of the estimator class at ``path`` (``package.module:Class``)."""
    from kiln.algorithms._algorithm import Algorithm

    cls = _import(path)
    params = [_param(p, path) for p in _init_parameters(cls)]
    return Algorithm(
        name=path,
        summary=(inspect.getdoc(cls) or f"Custom estimator {path}").splitlines()[0],
        problem_types=_problem_types(cls),
        params=params,
        build=lambda problem_type, hp, seed: _build(cls, hp, seed),
        # Custom models see the default recipe's output: scaled numbers suit most of them and do
        # not hurt a tree.
        scale_numeric=True,
        iterations_param="",
    )


def _import(path: str) -> type:
    if not _PATH.match(path):
        raise ConfigError(
            f"Invalid algorithm import path {path!r}: write it as 'package.module:ClassName', "
            "e.g. 'mypkg.models:MyRegressor'.",
            code="algorithm.bad-import-path",
            field="algorithm",
        )
    module_name, _, attribute = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 — any failure to import is the user's to fix
        raise ConfigError(
            f"Cannot import module {module_name!r} for algorithm {path!r}: "
            f"{type(exc).__name__}: {exc}. Install the package that holds it, or put its folder "
            f"on PYTHONPATH (sys.path here: {', '.join(p or '.' for p in sys.path[:4])}, ...).",
            code="algorithm.bad-import-path",
            field="algorithm",
        ) from exc
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ConfigError(
                f"Module {module_name!r} has no {attribute!r} (for algorithm {path!r}). Its "
                f"classes: {', '.join(_classes(target)) or 'none'}.",
                code="algorithm.bad-import-path",
                field="algorithm",
            )
        target = getattr(target, part)
    missing = [m for m in ("fit", "predict") if not callable(getattr(target, m, None))]
    if not inspect.isclass(target) or missing:
        what = "is not a class" if not inspect.isclass(target) else f"has no {' or '.join(missing)}"
        raise ConfigError(
            f"{path} {what}: a custom algorithm must be a scikit-learn-compatible estimator "
            "class, with fit(X, y) and predict(X) (and get_params/set_params, e.g. from "
            "sklearn.base.BaseEstimator).",
            code="algorithm.not-an-estimator",
            field="algorithm",
        )
    return target


def _classes(module: Any) -> list[str]:
    return sorted(
        name
        for name, value in vars(module).items()
        if inspect.isclass(value) and value.__module__ == module.__name__
    )


def _init_parameters(cls: type) -> list[inspect.Parameter]:
    signature = inspect.signature(cls.__init__)
    return [
        p
        for name, p in signature.parameters.items()
        if name != "self"
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and name not in _SEED_ARGUMENTS
    ]


def _param(parameter: inspect.Parameter, path: str) -> Param:
    default = None if parameter.default is inspect.Parameter.empty else parameter.default
    annotation = parameter.annotation
    kind = "any"
    if isinstance(default, bool) or annotation in (bool, "bool"):
        kind = "bool"
    elif isinstance(default, int) or annotation in (int, "int"):
        kind = "int"
    elif isinstance(default, float) or annotation in (float, "float"):
        kind = "float"
    return Param(
        parameter.name,
        kind,
        default,
        f"an argument of {path}",
        low=-math.inf,
        high=math.inf,
        nullable=default is None,
    )


def _problem_types(cls: type) -> tuple[str, ...]:
    from sklearn.base import is_classifier, is_regressor

    try:
        instance = cls()
    except Exception:  # noqa: BLE001 — a class with required arguments: judge by its type only
        instance = None
    probe = instance if instance is not None else cls
    if _safely(is_classifier, probe):
        return (BINARY, MULTICLASS)
    if _safely(is_regressor, probe):
        return (REGRESSION,)
    return tuple(PROBLEM_TYPES)


def _safely(check, probe) -> bool:
    try:
        return bool(check(probe))
    except Exception:  # noqa: BLE001 — a class that breaks scikit-learn's tags has no known type
        return False


def _build(cls: type, hp: dict[str, Any], seed: int) -> Any:
    arguments = dict(hp)
    accepted = inspect.signature(cls.__init__).parameters
    for name in _SEED_ARGUMENTS:
        if name in accepted and name not in arguments:
            arguments[name] = seed
            break
    return cls(**arguments)

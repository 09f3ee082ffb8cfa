"""The error tree and its codes: every code kiln raises is documented in docs/errors.md, and every
code documented there is raised somewhere."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import kiln.errors
from kiln.errors import ConfigError, DataError, KilnError, RecipeError, class_named, public_class

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "kiln"
DOCS = ROOT / "docs" / "errors.md"

# Codes built at run time, which no literal shows: where they are built → the codes they can be.
# A new dynamic code must be added here (and documented) or the test fails.
DYNAMIC = {
    ("labeling/_jobs.py", 'f"labeling.bad-{field}"'): {"labeling.bad-task", "labeling.bad-kind"},
    # Starlette's router: an unknown path is http.not-found (the literal beside it); a known path
    # asked with the wrong method is the only other status it raises.
    (
        "serving/_app.py",
        '"http.not-found" if exc.status_code == 404 else f"http.{exc.status_code}"',
    ): {"http.not-found", "http.405"},
    ("serving/_app.py", "code"): set(),  # the variable above
    (
        "studio/_app.py",
        '"http.not-found" if exc.status_code == 404 else f"http.{exc.status_code}"',
    ): {"http.not-found", "http.405"},
    ("studio/_app.py", "code"): set(),  # the variable above
    # The client passes the server's code on; a reply that is not kiln's JSON (a proxy's 502) is
    # reported by its status, which docs/errors.md describes in prose.
    ("serving/_client.py", 'body.get("error")'): set(),
    ("serving/_client.py", 'f"http.{response.status_code}"'): set(),
    # Pass-throughs of a code raised elsewhere: the recipe step helper's own ``code`` argument,
    # the error body of any KilnError, and a job's recorded code raised again by its caller.
    ("recipe/_ops/_base.py", "code"): set(),
    ("serving/_cache.py", "code"): set(),  # EndpointUnavailable's own argument
    ("serving/_auth.py", "code"): set(),  # its _refusal helper's ``code`` argument
    ("serving/_async.py", "exc.code"): set(),  # a failed invocation records the error's code
    ("training/_validation.py", "code"): set(),  # its _error helper's ``code`` argument
    ("problems/_spec.py", "code"): set(),  # its _bad helper's ``code`` argument
    ("serving/_multimodel.py", "code"): set(),  # its _bad_request helper's ``code`` argument
    ("problems/_criteria.py", "code"): set(),  # parse_criterion's and check_metric_names'
    ("endpoints/_scaling.py", "code"): set(),  # its _positive_int and _seconds helpers' argument
    ("errors.py", "self.code"): set(),
    ("compute/_local.py", "job.failure_code"): set(),
    ("pipelines/_execution.py", "exc.code"): set(),  # a failed step's own error, named by step
}


def _strings(node: ast.AST) -> set[str] | None:
    """The string values an expression can take, when they are all literals."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        body, orelse = _strings(node.body), _strings(node.orelse)
        if body is not None and orelse is not None:
            return body | orelse
    return None


def _is_none(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _is_str(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _source_codes() -> tuple[dict[str, set[str]], set[tuple[str, str]]]:
    """Every error code in src/kiln (code → files) and the dynamic ones found (file, source)."""
    codes: dict[str, set[str]] = {}
    dynamic: set[tuple[str, str]] = set()

    def add(values: set[str] | None, node: ast.AST, where: str, tree_source: str) -> None:
        if values is None:
            expression = ast.get_source_segment(tree_source, node) or ast.dump(node)
            dynamic.add((where, expression))
            return
        for value in values:
            codes.setdefault(value, set()).add(where)

    for path in sorted(SRC.rglob("*.py")):
        source = path.read_text()
        where = path.relative_to(SRC).as_posix()
        for node in ast.walk(ast.parse(source)):
            # raise SomeError("...", code="x") and helpers that pass a code along
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg == "code":
                        add(_strings(keyword.value), keyword.value, where, source)
            # class SomeError(KilnError): code = "x"
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.Assign) and [
                        getattr(t, "id", None) for t in item.targets
                    ] == ["code"]:
                        add(_strings(item.value), item.value, where, source)
            # def error(self, message, code="x"): the default is raised when no code is passed
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                arguments = node.args.args + node.args.kwonlyargs
                defaults = [None] * (len(node.args.args) - len(node.args.defaults))
                defaults += node.args.defaults + node.args.kw_defaults
                for argument, default in zip(arguments, defaults, strict=True):
                    if argument.arg == "code" and default is not None and not _is_none(default):
                        add(_strings(default), default, where, source)
            # HTTP error bodies written directly: {"error": "x", "detail": ...}
            elif isinstance(node, ast.Dict):
                pairs = zip(node.keys, node.values, strict=True)
                keys = {k.value: v for k, v in pairs if _is_str(k)}
                if "error" in keys and "detail" in keys:
                    add(_strings(keys["error"]), keys["error"], where, source)
            # code = "a" if ... else f"..." in an HTTP handler
            elif isinstance(node, ast.Assign) and [
                getattr(t, "id", None) for t in node.targets
            ] == ["code"]:
                add(_strings(node.value), node.value, where, source)
    return codes, dynamic


def _documented_codes() -> set[str]:
    """Every code in backticks in the first column of docs/errors.md's tables."""
    codes = set()
    for line in DOCS.read_text().splitlines():
        if not line.startswith("| `"):
            continue
        first = line.split("|")[1]
        codes |= set(re.findall(r"`([^`]+)`", first))
    return codes


def test_every_raised_code_is_documented_and_every_documented_code_is_raised():
    raised, dynamic = _source_codes()
    assert dynamic <= set(DYNAMIC), (
        f"Codes built at run time that the test does not know: {sorted(dynamic - set(DYNAMIC))}. "
        "Add them to DYNAMIC with the codes they can be, and document those."
    )
    assert set(DYNAMIC) <= dynamic, f"Stale DYNAMIC entries: {sorted(set(DYNAMIC) - dynamic)}"
    for values in DYNAMIC.values():
        for value in values:
            raised.setdefault(value, set()).add("(dynamic)")
    documented = _documented_codes()
    undocumented = {code: sorted(files) for code, files in raised.items() if code not in documented}
    assert not undocumented, f"Raised but not in docs/errors.md: {undocumented}"
    dead = sorted(documented - set(raised))
    assert not dead, f"In docs/errors.md but raised nowhere in src/kiln: {dead}"


def test_documented_codes_have_no_patterns():
    patterns = [code for code in _documented_codes() if re.search(r"[*{}<>]|\.\.\.|STATUS", code)]
    assert not patterns, f"Name each code in docs/errors.md, not a pattern: {patterns}"


def test_every_error_class_is_drawn_in_the_tree():
    classes = [
        name
        for name in kiln.errors.__all__
        if isinstance(getattr(kiln.errors, name), type)
        and issubclass(getattr(kiln.errors, name), KilnError)
    ]
    docs = DOCS.read_text()
    for name in classes:
        assert name in kiln.errors.__doc__, name
        assert name in docs, name


def test_recipe_errors_are_config_errors_of_the_one_tree():
    import kiln.recipe

    assert kiln.recipe.RecipeError is RecipeError
    assert issubclass(RecipeError, ConfigError)
    assert class_named("RecipeError") is RecipeError


@pytest.mark.parametrize(
    ("error", "name"),
    [
        (DataError("x", code="training.bad-target"), "DataError"),
        (RecipeError("x"), "RecipeError"),
        (type("PluginError", (DataError,), {})("x"), "DataError"),
    ],
)
def test_a_job_records_the_nearest_public_class(error, name):
    assert public_class(error).__name__ == name
    assert class_named(name) is public_class(error)


def test_unknown_class_names_are_not_rebuilt():
    assert class_named("os") is None
    assert class_named("public_class") is None
    assert class_named(None) is None

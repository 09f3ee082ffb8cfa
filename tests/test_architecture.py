"""The structure of src/kiln, held by tests: imports run down the layers only, no package imports
another's private names, and each package's ``__init__`` only re-exports (docs/architecture.md).

Both checks read the source with ``ast`` (nothing is imported), so they also see imports inside
functions. ``if TYPE_CHECKING:`` imports never run; they may name only the ``Context`` type, which
the record services take and which is built from them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# From the bottom up. A module belongs to the layer of its longest listed prefix. A module may
# import its own package and the layers below; packages that share a layer are independent and may
# not import each other.
LAYERS: list[tuple[str, ...]] = [
    ("kiln.errors",),
    ("kiln.refs", "kiln.settings"),
    ("kiln.store", "kiln.artifacts", "kiln.reports"),
    ("kiln.compute",),
    ("kiln.problems",),
    ("kiln.data",),
    ("kiln.registry",),
    ("kiln.experiments", "kiln.endpoints", "kiln.keys", "kiln.users"),
    ("kiln.lineage",),
    ("kiln.context",),
    ("kiln.profile",),
    ("kiln.recipe",),
    ("kiln.algorithms",),
    ("kiln.evaluation",),
    ("kiln.training",),
    ("kiln.forecasting",),
    ("kiln.clarify",),
    ("kiln.labeling", "kiln.features"),
    ("kiln.monitoring",),
    ("kiln.compiler",),
    ("kiln.tuning", "kiln.serving"),
    ("kiln.automl",),
    ("kiln.pipelines",),
    ("kiln.workspace", "kiln.worker"),
    ("kiln.quickstart", "kiln.studio"),
    ("kiln.cli",),
    ("kiln.__main__",),
]
# The root package: lazy attributes that name the public API (kiln.Workspace, kiln.AutoML).
TOP = "kiln"


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (or package)
    names: tuple[str, ...]
    line: int
    type_checking: bool


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def kiln_modules() -> dict[str, Path]:
    return {
        module_name(p): p
        for p in sorted((SRC / "kiln").rglob("*.py"))
        if "migrations" not in p.parts
    }


def imports_of(module: str, path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, type_checking: bool) -> None:
        for child in ast.iter_child_nodes(node):
            guarded = type_checking or (
                isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test)
            )
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    target = ".".join([*base, *([child.module] if child.module else [])])
                else:
                    target = child.module or ""
                names = tuple(a.name for a in child.names)
                found.append(Import(module, target, names, child.lineno, guarded))
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Import(module, alias.name, (), child.lineno, guarded))
            visit(child, guarded)

    visit(tree, False)
    return [i for i in found if i.target == TOP or i.target.startswith(TOP + ".")]


def layer_of(module: str) -> int:
    """The index in LAYERS of the module's longest listed prefix."""
    matches = [
        (len(prefix), index)
        for index, layer in enumerate(LAYERS)
        for prefix in layer
        if module == prefix or module.startswith(prefix + ".")
    ]
    if not matches:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")
    return max(matches)[1]


def package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def layer_violations(modules: dict[str, Path]) -> list[str]:
    found = []
    for module, path in modules.items():
        if module == TOP:
            continue
        for imp in imports_of(module, path):
            if imp.target == TOP:
                continue  # kiln.__version__
            if package_of(imp.target) == package_of(module):
                continue  # inside one package
            if imp.type_checking and imp.target == "kiln.context" and imp.names == ("Context",):
                continue
            mine, theirs = layer_of(module), layer_of(imp.target)
            if theirs > mine or (theirs == mine and package_of(imp.target) != package_of(module)):
                found.append(
                    f"{path.relative_to(SRC)}:{imp.line}: {module} imports {imp.target}, "
                    f"which is {'above it' if theirs > mine else 'beside it'}"
                )
    return found


def private_violations(modules: dict[str, Path]) -> list[str]:
    found = []
    for module, path in modules.items():
        for imp in imports_of(module, path):
            if package_of(imp.target) == package_of(module):
                continue
            private_module = any(part.startswith("_") for part in imp.target.split(".")[2:])
            private_names = [n for n in imp.names if n.startswith("_") and not n.startswith("__")]
            if private_module or private_names:
                what = imp.target + (f" ({', '.join(private_names)})" if private_names else "")
                found.append(f"{path.relative_to(SRC)}:{imp.line}: {module} imports {what}")
    return found


def test_imports_run_down_the_layers():
    assert layer_violations(kiln_modules()) == []


def test_no_package_imports_another_packages_private_names():
    assert private_violations(kiln_modules()) == []


def test_package_inits_only_re_export():
    """An ``__init__.py`` holds imports, ``__all__`` and at most a module-level ``__getattr__``
    with its table for lazy exports: the code lives in its modules."""
    offenders = []
    for module, path in kiln_modules().items():
        if path.name != "__init__.py" or module == TOP:
            continue
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom, ast.Expr)):
                continue  # imports, the docstring
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = {t.id for t in targets if isinstance(t, ast.Name)}
                if names <= {"__all__", "_ESTIMATORS", "_LAZY"}:  # exports, lazy-export tables
                    continue
            offenders.append(f"{path.relative_to(SRC)}:{node.lineno}: {ast.unparse(node)[:60]}")
        exports = _dunder_all(tree)
        assert exports is not None, f"{path.relative_to(SRC)} has no __all__"
    assert offenders == []


def _dunder_all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return [ast.literal_eval(e) for e in node.value.elts if isinstance(e, ast.Constant)]
    return None


def test_every_module_is_in_a_layer():
    for module in kiln_modules():
        if module != TOP:
            layer_of(module)


# -- the checks catch what they should: planted violations ----------------------------------------
@pytest.fixture
def planted(tmp_path, monkeypatch):
    """A copy of the kiln sources the test may break, with SRC pointing at it."""
    import shutil

    copy = tmp_path / "src"
    shutil.copytree(SRC / "kiln", copy / "kiln", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(f"{__name__}.SRC", copy)
    return copy / "kiln"


def _plant(path: Path, code: str) -> None:
    path.write_text(path.read_text() + "\n\n" + code + "\n")


def test_an_import_up_the_layers_is_caught(planted):
    _plant(planted / "data" / "_catalog.py", "def _f():\n    from kiln.training import train\n")
    found = layer_violations(kiln_modules())
    assert len(found) == 1 and "kiln.data._catalog imports kiln.training" in found[0]


def test_a_type_checking_import_of_another_layer_is_caught(planted):
    code = "if TYPE_CHECKING:\n    from kiln.workspace import Workspace\n"
    _plant(planted / "registry" / "_registry.py", code)
    found = layer_violations(kiln_modules())
    assert len(found) == 1 and "imports kiln.workspace" in found[0]


def test_an_import_between_independent_packages_is_caught(planted):
    _plant(planted / "tuning" / "_space.py", "from kiln.serving import transform\n")
    found = layer_violations(kiln_modules())
    assert len(found) == 1 and "beside it" in found[0]


def test_a_private_import_across_packages_is_caught(planted):
    _plant(planted / "automl" / "_job.py", "from kiln.training._job import Problem\n")
    _plant(planted / "serving" / "_app.py", "from kiln.data import _hide_password\n")
    found = private_violations(kiln_modules())
    assert len(found) == 2
    assert "imports kiln.training._job" in found[0] or "imports kiln.training._job" in found[1]

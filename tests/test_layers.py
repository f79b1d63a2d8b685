"""The package's layering, read from the source: no module imports a layer above its own, and
no module imports one that imports it back, however far round (within a package too).

Every import statement counts (top level, inside functions, under TYPE_CHECKING), so a lazy
import cannot hide an upward dependency or a circle.
"""

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import molgen

ROOT = Path(molgen.__file__).parent
#: The infrastructure every layer may use; it imports no other molgen module than
#: molgen.errors, which imports none.
BASE = ("molgen.errors", "molgen.io", "molgen.parallel")
#: The molgen modules each package may import besides itself and BASE.
ALLOWED = {
    "molgen.nn": ("molgen.choices",),  # torch-free, imports nothing: base-like
    "molgen.chem": (),
    "molgen.data": ("molgen.chem", "molgen.config", "molgen"),  # `molgen`: its folder only
    "molgen.metrics": ("molgen.chem", "molgen.plotting"),
}
#: Third-party packages only one part of molgen may import.
CONFINED = {"rdkit": "molgen.chem", "wandb": "molgen.tracking"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_statements(path: Path) -> Iterator[tuple[str, tuple[str, ...]]]:
    """``(module, names)`` per import statement of ``path``: the absolute name of the module
    it imports from (relative imports resolved) and the names ``from ... import`` takes from
    it (none for ``import module``)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            yield base, tuple(alias.name for alias in node.names)


def _imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    return {module for module, _ in _import_statements(path)}


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _modules() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_upward_import(package):
    allowed = (package, *BASE, *ALLOWED[package])
    folder = ROOT / package.split(".")[1]
    wrong = {
        f"{_module_name(path)} imports {name}"
        for path in sorted(folder.rglob("*.py"))
        for name in _imports(path)
        if _within(name, "molgen")
        and not any(name == a if a == "molgen" else _within(name, a) for a in allowed)
    }
    assert not wrong, sorted(wrong)


def test_base_modules_import_no_other_molgen_module():
    for module in BASE:
        path = ROOT / f"{module.split('.')[1]}.py"
        imported = {name for name in _imports(path) if _within(name, "molgen")}
        assert imported <= ({"molgen.errors"} if module != "molgen.errors" else set()), module


def test_choices_import_nothing():
    # molgen.nn and the config both read molgen.choices: it must stay free of torch and of
    # every other module, so that importing the config never imports torch.
    assert _imports(ROOT / "choices.py") <= {"__future__"}


def test_nn_needs_torch_only():
    third_party = {
        name.split(".")[0]
        for path in (ROOT / "nn").rglob("*.py")
        for name in _imports(path)
        if not _within(name, "molgen")
    }
    assert third_party <= {
        "torch",
        "torch_geometric",
        "__future__",
        "math",
        "collections",
        "typing",
        "dataclasses",
        "functools",
        "importlib",
        "warnings",
    }


@pytest.mark.parametrize(("library", "owner"), sorted(CONFINED.items()))
def test_library_is_imported_in_one_place_only(library, owner):
    importers = {
        _module_name(path)
        for path in _modules()
        if any(_within(name, library) for name in _imports(path))
    }
    assert importers and all(_within(m, owner) for m in importers), sorted(importers)


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    # the test above must be able to fail: a metrics module importing training is caught
    fake = tmp_path / "molgen" / "metrics"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text("def f():\n    from ..training import sampling\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path / "molgen")
    with pytest.raises(AssertionError, match="molgen.metrics.bad imports molgen.training"):
        test_no_upward_import("molgen.metrics")


def _import_graph() -> dict[str, set[str]]:
    """Each molgen module and the molgen modules it imports. ``from package import name``
    imports the module ``package.name`` when there is one, else the package's ``__init__``;
    the ``__init__`` of the packages around a module, which Python runs first, is not counted:
    re-exporting its modules is what it is for."""
    paths = {_module_name(path): path for path in _modules()}
    graph = {}
    for module, path in paths.items():
        imported = set()
        for base, names in _import_statements(path):
            submodules = {f"{base}.{name}" for name in names} & paths.keys()
            imported |= submodules
            if base in paths and (not names or len(submodules) < len(names)):
                imported.add(base)
        graph[module] = imported - {module}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle of imports (``[a, b, ..., a]``, from the group's first name) per group of
    modules that import each other: the strongly connected components of ``graph`` (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = set(stack[stack.index(module) :])
            del stack[stack.index(module) :]
            if len(group) > 1:
                circles.append(_path_back(graph, min(group), group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return circles


def _path_back(graph: dict[str, set[str]], start: str, group: set[str]) -> list[str]:
    """The shortest chain of imports from ``start`` back to itself inside ``group``."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for target in sorted(graph[module] & group):
                if target == start:
                    chain = [module]
                    while chain[-1] != start:
                        chain.append(previous[chain[-1]])
                    return [*reversed(chain), start]
                if target not in previous:
                    previous[target] = module
                    following.append(target)
        frontier = following
    raise AssertionError(f"{start} is in no circle of {sorted(group)}")


def test_no_import_circle():
    circles = [" -> ".join(circle) for circle in _circles(_import_graph())]
    assert not circles, circles


def test_the_check_sees_a_circle_within_a_package(tmp_path, monkeypatch):
    # the test above must be able to fail: two metrics modules importing each other, one of
    # them inside a function, through a third and a `from package import module`
    fake = tmp_path / "molgen" / "metrics"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("from molgen.metrics.report import write\n")
    (fake / "report.py").write_text("def write():\n    from molgen.metrics import benchmark\n")
    (fake / "benchmark.py").write_text("from .table import rows\n")
    (fake / "table.py").write_text("from molgen.metrics.report import write\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path / "molgen")
    chain = "molgen.metrics.benchmark -> molgen.metrics.table -> molgen.metrics.report"
    with pytest.raises(AssertionError, match=chain + " -> molgen.metrics.benchmark"):
        test_no_import_circle()

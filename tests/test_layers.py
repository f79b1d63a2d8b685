"""The package's layering, read from the source: no module imports a layer above its own.

Every import statement counts (top level, inside functions, under TYPE_CHECKING), so a lazy
import cannot hide an upward dependency.
"""

import ast
import sys
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


def _imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names.add(base)
    return names


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

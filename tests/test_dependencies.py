"""Every third-party library the code imports is declared in pyproject.toml, and every declared one is used.

The shipped packages (`solver`, `scheduler`, `api`) may import only the project's dependencies; the tests and the
benchmarks may import those and the `dev` extra. A declared library is used when something imports it, or when it
is a runtime part the code names only by string (a database driver in a URL, the server's event loop).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("solver", "scheduler", "api")
AROUND = ("tests", "benchmarks", "fixtures")
NAMED_BY_STRING = {
    "asyncpg": "postgresql+asyncpg:// URLs",
    "httptools": "uvicorn's http='httptools' in benchmarks",
    "pip-audit": "the audit step of dev.py",
    "ruff": "the lint step of dev.py",
    "mypy": "the type check step of dev.py",
    "pytest-xdist": "pytest -n",
    "pytest-asyncio": "async tests, by configuration",
}
"""Declared libraries no module imports by name, and what uses them."""


def _distribution_names(requirements: list[str]) -> set[str]:
    return {_normal(re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0]) for requirement in requirements}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported(folders: tuple[str, ...]) -> set[str]:
    """The top-level modules the folders' Python files import (relative imports and the project's own excluded)."""
    modules: set[str] = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    modules.update(alias.name.partition(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules.add(node.module.partition(".")[0])
                elif _imported_or_skipped(node):
                    modules.add(cast(ast.Constant, cast(ast.Call, node).args[0]).value.partition(".")[0])
    own = set(SHIPPED) | set(AROUND)
    return {module for module in modules if module not in own and module not in sys.stdlib_module_names}


def _imported_or_skipped(node: ast.AST) -> bool:
    """`pytest.importorskip("module")`: an import a test makes when the library is there."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "importorskip"
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )


def _distributions_of(modules: set[str]) -> dict[str, set[str]]:
    """Each imported module's distributions as installed, by the module."""
    installed = packages_distributions()
    return {module: {_normal(name) for name in installed.get(module, [])} for module in modules}


def _project() -> dict[str, list[str]]:
    document = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {"runtime": document["dependencies"], "dev": document["optional-dependencies"]["dev"]}


def test_the_shipped_packages_import_only_declared_runtime_libraries() -> None:
    runtime = _distribution_names(_project()["runtime"])
    undeclared = {
        module: found for module, found in _distributions_of(_imported(SHIPPED)).items() if not found & runtime
    }
    assert not undeclared, f"imported but not declared in [project] dependencies: {undeclared}"


def test_tests_and_benchmarks_import_only_declared_libraries() -> None:
    declared = _distribution_names(_project()["runtime"]) | _distribution_names(_project()["dev"])
    undeclared = {
        module: found for module, found in _distributions_of(_imported(AROUND)).items() if not found & declared
    }
    assert not undeclared, f"imported but declared neither as a dependency nor in the dev extra: {undeclared}"


def test_every_declared_library_is_used() -> None:
    project = _project()
    runtime, dev = _distribution_names(project["runtime"]), _distribution_names(project["dev"])
    used_by_shipped = set().union(*_distributions_of(_imported(SHIPPED)).values())
    used_around = set().union(*_distributions_of(_imported(AROUND)).values())
    assert not set(NAMED_BY_STRING) & (used_by_shipped | used_around), "imported after all: not named by string"
    assert not runtime - used_by_shipped - set(NAMED_BY_STRING), "declared, never imported by the packages"
    assert not dev - used_around - used_by_shipped - set(NAMED_BY_STRING), "in the dev extra, never imported"

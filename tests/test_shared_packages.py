"""The shared packages sit below the apps: ``api`` and ``backoffice`` import neither ``scoring`` nor
``simulations``, and ``simulations`` takes from ``scoring`` only its models and model registry."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("scoring", "simulations")


def imported_modules(package: str) -> set[str]:
    """Every module a package's code imports, at the top of a file or inside a function (tests left out)."""
    modules: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        if "tests" in path.relative_to(ROOT).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module)
    return modules


@pytest.mark.parametrize("package", ["api", "backoffice"])
def test_shared_packages_import_no_app(package):
    assert {module for module in imported_modules(package) if module.split(".")[0] in APPS} == set()


# What simulations still take from scoring's selectors and services.files moves to scoring.model_registry with
# the public model-registry interface (issue 15 item 6); drop these two from here then.
NOT_YET_RETARGETED = {"scoring.selectors", "scoring.services.files"}


def test_simulations_take_from_scoring_only_its_models_and_model_registry():
    from_scoring = {module for module in imported_modules("simulations") if module.split(".")[0] == "scoring"}
    assert from_scoring - {"scoring.models", "scoring.model_registry"} - NOT_YET_RETARGETED == set()

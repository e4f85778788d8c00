"""Two requirement sets: the runtime one (`make run`, the Docker image, the workers) without the test,
benchmark and notebook tools, and the dev one on top of it; each installed where it belongs."""

from __future__ import annotations

import os
import re
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
TEST_TOOLS = {
    "pytest",
    "pytest-django",
    "pytest-timeout",
    "ruff",
    "import-linter",
    "grimp",
    "factory-boy",
    "moto",
    "schemathesis",
    "hypothesis",
    "jsonschema",
    "playwright",
    "pip-audit",
    "pyyaml",
    "psutil",
    "nbformat",
    "nbclient",
    "nbconvert",
    "ipykernel",
    "faker",
}


# drf-spectacular needs these two at run time too; the tests use them directly, so the dev set pins them.
ALSO_RUNTIME_DEPENDENCIES = {"jsonschema", "pyyaml"}


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def pinned(path: Path) -> dict[str, str]:
    """Package -> version of every requirement line (``-r`` lines aside)."""
    versions = {}
    for line in requirement_lines(path):
        if line.startswith("-r "):
            continue
        requirement = Requirement(line)
        assert len(requirement.specifier) == 1 and next(iter(requirement.specifier)).operator == "==", line
        versions[_name(requirement.name)] = next(iter(requirement.specifier)).version
    return versions


def installed_closure(names: set[str]) -> set[str]:
    """``names`` and everything they need, as installed here (extras left out, markers evaluated)."""
    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(_name(requirement.name))
    return seen


def test_the_runtime_requirements_exclude_the_test_tools_even_as_dependencies():
    runtime = pinned(REPO / "requirements.txt")
    assert {"django", "celery", "lightgbm", "scikit-learn", "tqdm"} <= set(runtime)
    assert set(runtime) & TEST_TOOLS == set()
    assert installed_closure(set(runtime)) & (TEST_TOOLS - ALSO_RUNTIME_DEPENDENCIES) == set()


def test_the_dev_requirements_are_the_runtime_ones_and_the_tools_all_pinned():
    lines = requirement_lines(REPO / "requirements-dev.txt")
    assert lines[0] == "-r requirements.txt"
    dev = pinned(REPO / "requirements-dev.txt")
    assert {
        "pytest",
        "ruff",
        "factory-boy",
        "moto",
        "schemathesis",
        "hypothesis",
        "jsonschema",
        "playwright",
        "pip-audit",
        "psutil",
        "nbformat",
    } <= set(dev)
    assert set(dev) & set(pinned(REPO / "requirements.txt")) == set()  # each package pinned in one place only


def make_dry_run(target: str, venv: Path) -> str:
    """The commands ``make TARGET`` would run with the virtual environment at ``venv`` (nothing is run)."""
    env = {**os.environ, "CREDITRISK_DATA_DIR": str(venv)}
    done = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", target, f"VENV={venv}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def installs(commands: str) -> list[str]:
    return re.findall(r"pip install [^\n]*?(-r \S+)", commands)


def test_make_run_installs_the_runtime_set_and_make_test_the_dev_set_even_after_make_run(tmp_path):
    venv = tmp_path / "venv"
    venv.mkdir()
    assert installs(make_dry_run("run", venv)) == ["-r requirements.txt"]
    assert installs(make_dry_run("test", venv)) == ["-r requirements-dev.txt"]
    (venv / ".installed").touch()  # what `make run` leaves: the runtime set is installed
    assert installs(make_dry_run("run", venv)) == []
    assert installs(make_dry_run("test", venv)) == ["-r requirements-dev.txt"]
    assert installs(make_dry_run("audit", venv)) == ["-r requirements-dev.txt"]  # pip-audit is a dev tool
    (venv / ".installed-dev").touch()
    assert installs(make_dry_run("test", venv)) == [] and installs(make_dry_run("run", venv)) == []


@pytest.mark.parametrize("target", ["bench-api", "bench-batch", "eda"])
def test_benchmarks_and_the_notebook_install_the_dev_set(tmp_path, target):
    assert installs(make_dry_run(target, tmp_path)) == ["-r requirements-dev.txt"]


def test_the_image_installs_the_runtime_set_only():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.findall(r"^RUN pip install .*$", dockerfile, flags=re.MULTILINE) == [
        "RUN pip install -r requirements.txt"
    ]
    assert not re.search(r"^(RUN|COPY|ADD)\b.*requirements-dev", dockerfile, flags=re.MULTILINE)
    assert "requirements-dev.txt" in (REPO / ".dockerignore").read_text()  # not even in the build context

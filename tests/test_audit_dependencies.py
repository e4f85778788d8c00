"""`make audit`'s report: a vulnerability fails, a package pip-audit could not look up is counted, never hidden."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "audit_dependencies.py"


@pytest.fixture
def audit(monkeypatch):
    spec = importlib.util.spec_from_file_location("audit_dependencies", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def run(packages: list[dict], *args: str) -> int:
        monkeypatch.setattr(
            module, "pip_audit", lambda report: report.write_text(json.dumps({"dependencies": packages, "fixes": []}))
        )
        monkeypatch.setattr(sys, "argv", ["audit_dependencies.py", *args])
        return module.main()

    return run


CLEAN = {"name": "whitenoise", "version": "6.12.0", "vulns": []}
VULNERABLE = {
    "name": "django",
    "version": "5.2.1",
    "vulns": [{"id": "PYSEC-0000-1", "fix_versions": ["5.2.2"], "aliases": []}],
}
UNKNOWN = {"name": "xlrd", "skip_reason": "Dependency not found on PyPI and could not be audited: xlrd (2.0.2)"}


def test_a_known_vulnerability_fails_and_names_the_fix(audit, capsys):
    assert audit([CLEAN, VULNERABLE]) == 1
    out = capsys.readouterr().out
    assert "VULNERABLE django 5.2.1: PYSEC-0000-1 (fixed in 5.2.2)" in out
    assert "audited 2 of 2 installed packages: 1 with known vulnerabilities" in out


def test_packages_that_could_not_be_audited_are_counted_and_fail_only_when_strict(audit, capsys):
    assert audit([CLEAN, UNKNOWN]) == 0
    captured = capsys.readouterr()
    assert "audited 1 of 2 installed packages: 0 with known vulnerabilities" in captured.out
    assert "NOT AUDITED: 1 packages" in captured.err and "xlrd (2.0.2)" in captured.err
    assert audit([CLEAN, UNKNOWN], "--strict") == 1
    assert audit([CLEAN], "--strict") == 0

"""Known vulnerabilities in the installed packages, by pip-audit against PyPI's advisory data (`make audit`).

Exits 1 on any known vulnerability. pip-audit alone would also print "No known vulnerabilities found"
when PyPI could not be asked about a single package; this says how many packages were really audited,
and with ``--strict`` a package that could not be audited fails the run too.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def pip_audit(report: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--progress-spinner",
        "off",
        "--desc",
        "off",
        "--format",
        "json",
        "--output",
        str(report),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if done.returncode not in (0, 1) or not report.exists():  # 1: vulnerabilities found, reported in the file
        sys.exit(f"pip-audit failed ({done.returncode}):\n{done.stderr}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="fail when a package could not be audited")
    strict = parser.parse_args().strict
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "audit.json"
        pip_audit(report)
        packages = json.loads(report.read_text())["dependencies"]
    skipped = [p for p in packages if "skip_reason" in p]
    vulnerable = [p for p in packages if p.get("vulns")]
    for package in vulnerable:
        for vuln in package["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed release"
            print(f"VULNERABLE {package['name']} {package['version']}: {vuln['id']} (fixed in {fixed})")
    print(
        f"audited {len(packages) - len(skipped)} of {len(packages)} installed packages: "
        f"{len(vulnerable)} with known vulnerabilities"
    )
    if skipped:
        print(
            f"NOT AUDITED: {len(skipped)} packages PyPI could not tell about, for example:\n  "
            + "\n  ".join(p["skip_reason"] for p in skipped[:3]),
            file=sys.stderr,
        )
    return 1 if vulnerable or (strict and skipped) else 0


if __name__ == "__main__":
    sys.exit(main())

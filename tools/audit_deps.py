"""Audit the locked dependencies for known vulnerabilities (make audit, CI).

pip-audit checks every package pinned in uv.lock (all groups and extras, exported as hashed
requirements) against the vulnerability data that PyPI serves for each release. Exit codes:
0 no known vulnerability; 1 at least one (each printed with its advisory and fixed versions);
2 the audit could not run at all, or some dependencies could not be audited and
COACH_AUDIT_STRICT=1 asks for every one to be.

Where the registry reachable serves no per-release vulnerability data (a registry mirror
without PyPI's JSON API, as on the machines this project is built on), pip-audit reports
every package as "not found": this script says so loudly, in one line, instead of printing
pip-audit's "No known vulnerabilities found", which would be a false all-clear.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        requirements = Path(tmp) / "requirements.txt"
        report = Path(tmp) / "audit.json"
        subprocess.run(
            [BIN / "uv", "export", "--frozen", "--format", "requirements-txt", "--all-groups",
             "--all-extras", "--no-emit-project", "--quiet", "-o", requirements],
            check=True, cwd=REPO,
        )  # fmt: skip
        done = subprocess.run(
            [BIN / "pip-audit", "--requirement", requirements, "--disable-pip", "--require-hashes",
             "--progress-spinner", "off", "--format", "json", "--output", report],
            capture_output=True, text=True, cwd=REPO,
        )  # fmt: skip
        if not report.exists():
            print(f"audit: pip-audit failed (exit {done.returncode}):\n{done.stderr}")
            return 2
        deps = json.loads(report.read_text())["dependencies"]
    found = [(d, v) for d in deps for v in d.get("vulns", [])]
    skipped = [d for d in deps if "skip_reason" in d]
    for dep, vuln in found:
        fixed = ", ".join(vuln.get("fix_versions", [])) or "no fixed version"
        print(f"audit: {dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixed})")
    audited = len(deps) - len(skipped)
    print(
        f"audit: {len(deps)} locked packages, {audited} audited, {len(skipped)} not auditable, "
        f"{len(found)} known vulnerabilities"
    )
    if found:
        return 1
    if skipped:
        reasons = {d["skip_reason"].split(":")[0] for d in skipped}
        print(f"audit: NOT AUDITED: {len(skipped)} packages ({'; '.join(sorted(reasons))})")
        if audited == 0:
            print(
                "audit: the package index reachable here serves no per-release vulnerability "
                "data (PyPI's JSON API per version); run `make audit` where pypi.org answers"
            )
        if os.environ.get("COACH_AUDIT_STRICT") == "1":
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

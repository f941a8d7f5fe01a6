"""Dependency audit for CI: pip-audit over requirements.lock, with a verdict that cannot pass
falsely.

pip-audit asks a vulnerability service about every pinned package (by default PyPI's JSON API,
one request per name and version). When the service cannot answer, pip-audit skips the package
("Dependency not found on PyPI and could not be audited") and still prints "No known
vulnerabilities found" and exits 0. This script counts what was audited and says plainly when
nothing, or only part, was:

- a known vulnerability in an audited package fails CI (exit 1), unless its id is listed in
  ``.ci/audit-ignore.txt`` with a reason;
- packages the service did not answer for are named as NOT AUDITED; when none could be audited
  the step says so and exits 0, because CI machines that reach only the package index cannot
  do better (exit 3 instead with ``ENERGY_ASSETS_AUDIT_REQUIRED=1``, for a CI that can).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IGNORE = Path(__file__).with_name("audit-ignore.txt")


def ignored() -> dict[str, str]:
    """Vulnerability id -> why it does not fail CI (lines ``ID reason``; # comments)."""
    found = {}
    for line in IGNORE.read_text().splitlines() if IGNORE.exists() else []:
        line = line.split("#", 1)[0].strip()
        if line:
            vuln, _, reason = line.partition(" ")
            found[vuln] = reason.strip()
    return found


def verdict(report: dict, required: bool = False) -> tuple[int, list[str]]:
    """Exit code and lines to print for pip-audit's JSON report."""
    dependencies = report.get("dependencies", [])
    audited = [d for d in dependencies if "skip_reason" not in d]
    skipped = [d for d in dependencies if "skip_reason" in d]
    findings = [(d, v) for d in audited for v in d.get("vulns", [])]
    lines = [
        f"{d['name']} {d['version']}: {v['id']} ({', '.join(v.get('aliases', [])) or 'no alias'})"
        f"; fixed in {', '.join(v.get('fix_versions', [])) or 'no release yet'}"
        for d, v in findings
    ]
    if findings:
        return 1, [f"dependency audit FAILED: {len(findings)} known vulnerabilities", *lines]
    if not audited:
        reason = skipped[0]["skip_reason"] if skipped else "no dependencies in the report"
        return 3 if required else 0, [
            f"dependency audit NOT DONE: the vulnerability service answered for none of the "
            f"{len(dependencies)} pinned packages ({reason}). This machine reaches the package "
            "index but not the per-release vulnerability data: no verdict either way. Run "
            "`.venv/bin/python .ci/audit.py` where the service is reachable "
            "(ENERGY_ASSETS_AUDIT_REQUIRED=1 makes this a failure)."
        ]
    head = f"dependency audit: {len(audited)} packages audited, no known vulnerabilities"
    if skipped:
        names = ", ".join(d["name"] for d in skipped[:10]) + (", ..." if len(skipped) > 10 else "")
        return 0, [f"{head}; {len(skipped)} NOT AUDITED (service had no answer): {names}"]
    return 0, [head]


def main() -> int:
    ignores = [arg for vuln in ignored() for arg in ("--ignore-vuln", vuln)]
    command = [
        str(ROOT / ".venv" / "bin" / "pip-audit"),
        "--requirement",
        str(ROOT / "requirements.lock"),
        "--no-deps",  # every package is pinned: nothing to resolve
        "--disable-pip",
        "--format",
        "json",
        "--progress-spinner",
        "off",
        *ignores,
    ]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        report = json.loads(run.stdout)
    except ValueError:
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"dependency audit NOT DONE: pip-audit failed (exit {run.returncode}): {last}")
        return 3 if os.environ.get("ENERGY_ASSETS_AUDIT_REQUIRED") == "1" else 0
    code, lines = verdict(report, os.environ.get("ENERGY_ASSETS_AUDIT_REQUIRED") == "1")
    print("\n".join(lines))
    for vuln, reason in ignored().items():
        print(f"  ignored {vuln}: {reason}")
    return code


if __name__ == "__main__":
    sys.exit(main())

"""The CI dependency audit's verdict (.ci/audit.py) on pip-audit's JSON report: a finding fails,
a service that answered for nothing is said to be no audit at all, never a pass."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "audit.py"
spec = importlib.util.spec_from_file_location("ci_audit", SCRIPT)
audit = importlib.util.module_from_spec(spec)
spec.loader.exec_module(audit)

SKIPPED = "Dependency not found on PyPI and could not be audited: pandas (3.1.0)"


def test_a_known_vulnerability_fails_ci():
    report = {
        "dependencies": [
            {"name": "pandas", "version": "3.1.0", "vulns": []},
            {
                "name": "urllib3",
                "version": "1.26.0",
                "vulns": [{"id": "PYSEC-1", "fix_versions": ["1.26.5"], "aliases": ["CVE-1"]}],
            },
        ]
    }
    code, lines = audit.verdict(report)
    assert code == 1
    assert lines == [
        "dependency audit FAILED: 1 known vulnerabilities",
        "urllib3 1.26.0: PYSEC-1 (CVE-1); fixed in 1.26.5",
    ]


def test_a_service_that_answered_for_nothing_is_no_verdict_not_a_pass():
    report = {"dependencies": [{"name": "pandas", "version": "3.1.0", "skip_reason": SKIPPED}]}
    code, (line,) = audit.verdict(report)
    assert code == 0 and line.startswith("dependency audit NOT DONE")
    assert "none of the 1 pinned packages" in line and "no verdict" in line
    assert "no known vulnerabilities" not in line
    assert audit.verdict(report, required=True)[0] == 3


def test_packages_left_unaudited_are_named():
    report = {
        "dependencies": [
            {"name": "numpy", "version": "2.3.0", "vulns": []},
            {"name": "pandas", "version": "3.1.0", "skip_reason": SKIPPED},
        ]
    }
    assert audit.verdict(report) == (
        0,
        [
            "dependency audit: 1 packages audited, no known vulnerabilities; "
            "1 NOT AUDITED (service had no answer): pandas"
        ],
    )


def test_the_ignore_list_needs_a_reason_per_id(tmp_path, monkeypatch):
    ignore = tmp_path / "audit-ignore.txt"
    ignore.write_text("# comment\nPYSEC-1 not reachable: we never parse untrusted URLs\n\n")
    monkeypatch.setattr(audit, "IGNORE", ignore)
    assert audit.ignored() == {"PYSEC-1": "not reachable: we never parse untrusted URLs"}

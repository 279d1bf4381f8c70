"""`make lint`'s dependency audit: pip-audit on requirements.lock, npm audit on both npm locks.

Fails on any known vulnerability not explained in docs/reliability.md (listed in ``EXPLAINED``).
When the advisory database cannot be reached (an offline machine, a registry mirror without the
audit endpoint) it says so loudly and, unless AUDIT_REQUIRED=1, does not fail: an audit that could
not run is reported as not run, never as clean.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NPM_PROJECTS = ("services/web", "services/worker/claude-cli")
# Findings that are explained in docs/reliability.md ("Dependency audit"): advisory id -> why it is accepted.
EXPLAINED: dict[str, str] = {}


def _pip_audit() -> tuple[list[str], str | None]:
    """Findings, and why the audit could not run (None when it did)."""
    command = [str(BIN / "pip-audit"), "-r", "requirements.lock", "--require-hashes", "--disable-pip"]
    command += ["--progress-spinner", "off", "-f", "json"]
    for advisory in EXPLAINED:
        command += ["--ignore-vuln", advisory]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    try:
        report = json.loads(result.stdout)
    except ValueError:
        return [], f"pip-audit failed: {result.stderr.strip().splitlines()[-1:] or result.returncode}"
    findings, skipped = [], 0
    for dependency in report.get("dependencies", []):
        if "skip_reason" in dependency:
            skipped += 1
        for vuln in dependency.get("vulns", []):
            findings.append(f"{dependency['name']} {dependency['version']}: {vuln['id']} (fix: {vuln['fix_versions']})")
    if skipped and skipped == len(report.get("dependencies", [])):
        return findings, "pip-audit could not look up any package (no access to the advisory database)"
    return findings, None


def _npm_audit(project: str) -> tuple[list[str], str | None]:
    result = subprocess.run(
        ["npm", "audit", "--json", "--package-lock-only"],
        cwd=ROOT / project,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report = json.loads(result.stdout or "{}")
    except ValueError:
        return [], f"npm audit in {project} failed: {result.stderr.strip()[:200]}"
    if "error" in report:
        why = report.get("message") or report["error"].get("summary") or "the audit endpoint answered an error"
        return [], f"npm audit in {project} could not run: {why}"
    findings = [
        f"{project}: {name} ({vuln.get('severity')})"
        for name, vuln in report.get("vulnerabilities", {}).items()
        if not any(str(via.get("source")) in EXPLAINED for via in vuln.get("via", []) if isinstance(via, dict))
    ]
    return findings, None


def main() -> None:
    findings, not_run = _pip_audit()
    not_run_reasons = [not_run] if not_run else []
    for project in NPM_PROJECTS:
        npm_findings, npm_not_run = _npm_audit(project)
        findings += npm_findings
        not_run_reasons += [npm_not_run] if npm_not_run else []
    for reason in not_run_reasons:
        print(f"dependency audit NOT RUN: {reason}", file=sys.stderr)
    for finding in findings:
        print(f"dependency audit: {finding}", file=sys.stderr)
    if findings:
        print("Upgrade, or explain each finding in docs/reliability.md and EXPLAINED.", file=sys.stderr)
        raise SystemExit(1)
    if not_run_reasons and os.environ.get("AUDIT_REQUIRED") == "1":
        raise SystemExit(1)
    print("dependency audit: no known vulnerabilities" + (" (partly not run, see above)" if not_run_reasons else ""))


if __name__ == "__main__":
    main()

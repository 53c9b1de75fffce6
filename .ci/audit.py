"""Audit the installed Python environment for known vulnerabilities (pip-audit --local).

    python .ci/audit.py            # what `make audit` (and so `make test`) runs

Exit 1 when an installed package has a known vulnerability that is not accepted in
.ci/pip-audit-ignore.txt (one advisory id per line, with the reason; docs/security.md says
how to accept one). When the vulnerability service cannot be reached (no network, or no
package could be looked up), print one warning line and exit 0: CI must not depend on it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

IGNORE_FILE = Path(__file__).with_name("pip-audit-ignore.txt")
TIMEOUT_S = 600


def accepted() -> list[str]:
    """The accepted advisory ids: the first word of each line that is not a comment."""
    if not IGNORE_FILE.exists():
        return []
    lines = (line.split("#", 1)[0].split() for line in IGNORE_FILE.read_text().splitlines())
    return [words[0] for words in lines if words]


def warn(reason: str) -> int:
    print(f"pip-audit: WARNING: vulnerability database not reachable, audit skipped ({reason})")
    return 0


def main() -> int:
    ignored = accepted()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "audit.json"
        cmd = [sys.executable, "-m", "pip_audit", "--local", "--progress-spinner", "off"]
        cmd += ["--format", "json", "--output", str(report)]
        for vuln_id in ignored:
            cmd += ["--ignore-vuln", vuln_id]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return warn(f"no answer in {TIMEOUT_S} s")
        try:
            data = json.loads(report.read_text())
        except (OSError, ValueError):
            lines = (done.stderr or done.stdout).strip().splitlines()
            return warn(lines[-1][:200] if lines else f"pip-audit exited {done.returncode}")
    return judge(data, ignored)


def judge(data: dict[str, Any], ignored: list[str]) -> int:
    """Print the verdict on a pip-audit JSON report; the exit code."""
    deps = data.get("dependencies", [])
    audited = [d for d in deps if "skip_reason" not in d]
    if not audited:
        return warn(f"none of {len(deps)} packages could be looked up")
    found = [(d["name"], d["version"], v) for d in audited for v in d.get("vulns", [])]
    for name, version, vuln in found:
        fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed version"
        aliases = ", ".join(vuln.get("aliases") or [])
        print(f"pip-audit: {name} {version}: {vuln['id']} ({aliases}); fixed in: {fixes}")
    if found:
        print(f"pip-audit: {len(found)} known vulnerabilities: upgrade, or accept in {IGNORE_FILE}")
        return 1
    note = f", {len(ignored)} accepted in {IGNORE_FILE.name}" if ignored else ""
    print(f"pip-audit: {len(audited)} packages audited, no known vulnerabilities{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

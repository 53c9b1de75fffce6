""".ci/audit.py's verdict on pip-audit's JSON report: a known vulnerability fails, accepted
ones are passed to pip-audit, and an unreachable vulnerability database only warns.

The advisory services cannot be reached from the test machines, so the verdicts are checked
on reports in pip-audit's JSON format; `make audit` runs pip-audit itself."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from tests.deploy.helpers import ROOT

AUDIT = ROOT / ".ci" / "audit.py"


@pytest.fixture(scope="module")
def audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ci_audit", AUDIT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


VULNERABLE = {
    "dependencies": [
        {"name": "filerelay", "skip_reason": "Dependency not found on PyPI"},
        {"name": "requests", "version": "2.31.0", "vulns": []},
        {
            "name": "urllib3",
            "version": "1.26.0",
            "vulns": [
                {
                    "id": "GHSA-v845-jxx5-vc9f",
                    "fix_versions": ["1.26.17", "2.0.6"],
                    "aliases": ["CVE-2023-43804"],
                    "description": "",
                }
            ],
        },
    ],
    "fixes": [],
}


def test_a_known_vulnerability_fails_naming_package_id_and_fix(
    audit: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert audit.judge(VULNERABLE, []) == 1
    out = capsys.readouterr().out
    assert "urllib3 1.26.0: GHSA-v845-jxx5-vc9f (CVE-2023-43804); fixed in: 1.26.17, 2.0.6" in out
    assert "pip-audit-ignore.txt" in out


def test_a_clean_report_passes(audit: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    clean = {"dependencies": [{"name": "requests", "version": "2.32.3", "vulns": []}]}
    assert audit.judge(clean, ["GHSA-aaaa-bbbb-cccc"]) == 0
    assert "1 packages audited, no known vulnerabilities, 1 accepted" in capsys.readouterr().out


def test_nothing_looked_up_is_one_warning_line_not_a_failure(
    audit: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    unreachable = {"dependencies": [{"name": "requests", "skip_reason": "not found on PyPI"}]}
    assert audit.judge(unreachable, []) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith("pip-audit: WARNING: vulnerability database not reachable")


def test_the_accepted_ids_are_read_from_the_ignore_file(
    audit: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ignore = tmp_path / "pip-audit-ignore.txt"
    ignore.write_text("# comment\n\nGHSA-aaaa-bbbb-cccc  # pkg: why\nPYSEC-2024-1\n")
    monkeypatch.setattr(audit, "IGNORE_FILE", ignore)
    assert audit.accepted() == ["GHSA-aaaa-bbbb-cccc", "PYSEC-2024-1"]

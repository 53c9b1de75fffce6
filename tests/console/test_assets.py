"""The console's files: no remote address, every message in both languages, all shipped."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from filerelay.console import STATIC_DIR

ROOT = Path(__file__).resolve().parents[2]
CONSOLE_FILES = sorted(p for p in STATIC_DIR.rglob("*") if p.is_file())
JS_FILES = [p for p in CONSOLE_FILES if p.suffix == ".js"]
#: Namespace names are identifiers that no browser fetches.
NAMESPACES = {"http://www.w3.org/2000/svg"}
URL_RE = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s"'`)]*""")
LINE_COMMENT_RE = re.compile(r"(^|\s)//.*$|/\*.*?\*/", re.MULTILINE)


def _code_without_comments(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    if path.suffix in {".js", ".css"}:
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
        text = re.sub(r"(^|[\s;{}])//[^\n]*", r"\1", text)
    if path.suffix == ".html":
        text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
    return text


def _messages(lang: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((STATIC_DIR / "i18n" / f"{lang}.json").read_text("utf-8"))
    return data


def test_the_console_has_its_pages() -> None:
    # Given the static folder, then every page of the issue has its module
    pages = {p.stem for p in (STATIC_DIR / "js" / "pages").glob("*.js")}
    assert {"dashboard", "files", "file", "sources", "agents", "config", "alerts", "logs"} <= pages
    assert {"audit", "reports", "fleet"} <= pages


@pytest.mark.parametrize("path", CONSOLE_FILES, ids=lambda p: str(p.relative_to(STATIC_DIR)))
def test_no_console_file_references_a_remote_address(path: Path) -> None:
    # Given a console file without its comments
    code = _code_without_comments(path)
    # When its addresses are listed, then none is remote (namespace names aside)
    remote = [m for m in URL_RE.findall(code) if m not in NAMESPACES]
    assert remote == [], f"{path.name} references {remote}"
    assert "@import url(" not in code


def test_both_languages_have_the_same_keys_and_placeholders() -> None:
    # Given the English and the Chinese messages
    en, zh = _messages("en"), _messages("zh-CN")
    # Then they have the same keys, each with the same {placeholders}, and none is empty
    assert sorted(set(en) ^ set(zh)) == []
    for key in en:
        assert set(re.findall(r"\{(\w+)\}", en[key])) == set(re.findall(r"\{(\w+)\}", zh[key])), key
        assert en[key].strip() and zh[key].strip(), key


def _keys_used() -> tuple[set[str], set[str]]:
    """The literal keys passed to t() (ternaries included) and the prefixes of built keys."""
    literal: set[str] = set()
    prefixes: set[str] = set()
    for path in JS_FILES:
        code = path.read_text(encoding="utf-8")
        for call in re.findall(r"\bt\(([^()]*?)[,)]", code):
            literal.update(re.findall(r'"([a-z_]+\.[a-z0-9_.]+)"', call))
            prefixes.update(re.findall(r"`([a-z_]+\.)[a-z_]*\$\{", call))
        literal.update(re.findall(r'key: "([a-z_]+\.[a-z0-9_]+)"', code))
        prefixes.update(re.findall(r'label\("([a-z_]+)"', code))
    return literal, prefixes


def test_every_message_the_code_uses_exists() -> None:
    # Given every key the JavaScript asks for
    literal, prefixes = _keys_used()
    en = _messages("en")
    # Then each exists, and each family of built keys has members
    assert literal, "no t() call found"
    assert sorted(literal - set(en)) == []
    for prefix in prefixes:
        assert any(k.startswith(prefix.rstrip(".") + ".") for k in en), prefix


def test_every_console_file_is_package_data() -> None:
    # Given pyproject's package-data patterns for the filerelay package
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["filerelay"]
    package = ROOT / "filerelay"
    # Then every console file matches one, so a non-editable install has it
    shipped = {path for pattern in patterns for path in package.glob(pattern)}
    assert [str(p) for p in CONSOLE_FILES if p not in shipped] == []

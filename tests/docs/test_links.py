"""The docs point at things that exist: relative links, their anchors, and repository paths.

Checked in README.md, CHANGELOG.md, bench/README.md and every page under docs/:
- every relative Markdown link (``[text](target)``, images too) names an existing file or
  directory, and its ``#anchor``, when it has one, names a heading of the target page;
- every repository path written in backticks (`filerelay/...`, `tests/...`, `bench/...`,
  `deploy/...`, `examples/...`, `docs/...`) exists, so a page cannot name a file that was moved
  or never written. Paths with placeholders (`<family>`, `{relpath}`, `*`) are not paths.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
REPO_PATH = re.compile(r"^(?:filerelay|tests|bench|deploy|examples|docs)/[A-Za-z0-9_./-]*$")


def pages() -> list[Path]:
    """Every Markdown page the checks cover."""
    fixed = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "bench" / "README.md"]
    return fixed + sorted((ROOT / "docs").rglob("*.md"))


def _ids(path: Path) -> str:
    return str(path.relative_to(ROOT))


def prose(text: str) -> str:
    """The text outside fenced code blocks."""
    return FENCE.sub("", text)


def links(text: str) -> list[str]:
    """Link targets in the prose (not inside code)."""
    return LINK.findall(CODE_SPAN.sub("", prose(text)))


def repo_paths(text: str) -> list[str]:
    """Repository paths written in backticks, and bare in fenced code blocks."""
    spans = [m.group(2).strip() for m in CODE_SPAN.finditer(prose(text))]
    fenced = [w for block in FENCE.finditer(text) for w in block.group(0).split()]
    words = [w.strip("\"'`,;()[]") for w in fenced]
    return sorted({p for p in spans + words if REPO_PATH.match(p)})


def _slug_markdown(title: str) -> str:
    """Python-Markdown's toc slug (what MkDocs uses)."""
    value = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value).strip().lower()
    return re.sub(r"[-\s]+", "-", value)


def _slug_github(title: str) -> str:
    """GitHub's heading anchor (what README.md readers get)."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a heading of the page gets, under MkDocs' and GitHub's rules."""
    found: set[str] = set()
    for _level, raw in HEADING.findall(prose(path.read_text(encoding="utf-8"))):
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", raw).replace("`", "")
        found |= {_slug_markdown(title), _slug_github(title)}
    return found


@pytest.mark.parametrize("page", pages(), ids=_ids)
def test_relative_links_resolve(page: Path) -> None:
    # given a page's links that stay in the repository
    assert page.is_file(), f"{_ids(page)} is missing"
    broken = []
    for target in links(page.read_text(encoding="utf-8")):
        if SCHEME.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        # when each is resolved from the page's directory
        dest = (page.parent / file_part).resolve() if file_part else page
        # then it exists, and so does its anchor
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading with anchor #{anchor}")
    assert not broken, f"{_ids(page)}: " + "; ".join(broken)


@pytest.mark.parametrize("page", pages(), ids=_ids)
def test_repository_paths_exist(page: Path) -> None:
    # given every repository path the page names, then each exists in the tree
    missing = [p for p in repo_paths(page.read_text(encoding="utf-8")) if not (ROOT / p).exists()]
    assert not missing, f"{_ids(page)} names paths that do not exist: {', '.join(missing)}"


def test_the_checks_see_links_and_paths() -> None:
    # the extraction itself: a link, a link in code (ignored), paths in spans and fences
    text = (
        "See [it](docs/a.md#b) and `[no](x.md)`; `filerelay/store/` and `filerelay run`.\n"
        "```sh\nfilerelay watch --config examples/s3.yaml\n```\n"
        "`filerelay/actions/<family>/` is a pattern, not a path.\n"
    )
    assert links(text) == ["docs/a.md#b"]
    assert repo_paths(text) == ["examples/s3.yaml", "filerelay/store/"]
    assert _slug_markdown("Scaling `worker`s") == "scaling-workers"

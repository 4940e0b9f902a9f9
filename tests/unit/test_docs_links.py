"""The repository documents itself (issue 14, item 12): every relative link in the README and
in docs/ resolves to a file of the repository, and nothing points to a folder a clone does not
have (the specification the project was built from lives outside it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IGNORED = {".venv", ".git", "node_modules", "dbt_packages", "target", "demo", "data", "reports"}


def documents() -> list[Path]:
    """README.md, everything in docs/, and the README of every folder."""
    found = {ROOT / "README.md", *(ROOT / "docs").rglob("*.md")}
    found |= {p for p in ROOT.rglob("README.md") if not IGNORED & set(p.relative_to(ROOT).parts)}
    return sorted(found)


MD_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
MD_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?")
HTML_LINK = re.compile(r"""<(?:a|img)\s[^>]*(?:href|src)=["']([^"']+)["']""", re.I)
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
CODE_BLOCK = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
OUTSIDE = re.compile(r"(?:\.\./)+shared/")


def links(text: str) -> list[str]:
    text = CODE_BLOCK.sub("", text)
    return [m for pattern in (MD_LINK, MD_IMAGE, HTML_LINK, REFERENCE) for m in pattern.findall(text)]


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = CODE_BLOCK.sub("", path.read_text(encoding="utf-8"))
    return {slug(h) for h in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M)}


def broken(path: Path, text: str | None = None) -> list[str]:
    """The links of a document (its text, or `text` as if it were the document) that do not
    resolve to a file (and heading) of the repository."""
    out = []
    for target in links(path.read_text(encoding="utf-8") if text is None else text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto: ...
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if ROOT not in resolved.parents and resolved != ROOT:
            out.append(f"{target}: outside the repository")
        elif not resolved.exists():
            out.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            out.append(f"{target}: no heading #{anchor}")
    return out


@pytest.mark.parametrize("path", documents(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves_inside_the_repository(path: Path) -> None:
    assert broken(path) == []


@pytest.mark.parametrize("path", documents(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_document_refers_to_the_specification_outside_the_repository(path: Path) -> None:
    lines = [
        f"{n}: {line.strip()}"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert lines == []


def test_the_readme_points_to_the_documentation_of_each_part() -> None:
    """Input contract, measures, decision rules and outputs each have a page in docs/, linked
    from the docs index, which the README links."""
    readme = links((ROOT / "README.md").read_text(encoding="utf-8"))
    assert "docs/README.md" in readme
    index = links((ROOT / "docs" / "README.md").read_text(encoding="utf-8"))
    for page in (
        "input-contract.md",
        "measures.md",
        "decisions.md",
        "outputs.md",
        "glossary.md",
        "warehouse.md",
    ):
        assert page in index and (ROOT / "docs" / page).is_file(), page


def test_the_check_finds_a_broken_link() -> None:
    page = ROOT / "docs" / "README.md"
    assert broken(page, "[a](x)") == ["x: no such file"]
    assert broken(page, "[a](../../shared/spec/metrics.md)") == [
        "../../shared/spec/metrics.md: outside the repository"
    ]
    assert broken(page, "[a](https://example.org) [b](#top)") == ["#top: no heading #top"]

"""Every relative link in the README and docs/ points at a file of the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_links(page: Path) -> list[str]:
    links = [m.group(1) for m in LINK.finditer(page.read_text())]
    return [a for a in links if not a.startswith(("http://", "https://", "mailto:", "#"))]


def test_the_pages_have_relative_links_to_check() -> None:
    assert sum(len(relative_links(p)) for p in PAGES) >= 5


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_relative_link_of_a_page_names_a_file_that_exists(page: Path) -> None:
    missing = [a for a in relative_links(page) if not (page.parent / a.split("#", 1)[0]).exists()]
    assert not missing, f"{page.relative_to(ROOT)} links to missing files: {missing}"

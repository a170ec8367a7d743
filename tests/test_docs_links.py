"""Every relative link in the README, bench/README.md and docs/ leads somewhere.

The README is a front page that links into docs/; a page renamed or a heading reworded must not leave a
link pointing nowhere. Links to files must name a file or folder of the repository, and `#anchor`s
(alone, or after a path to a Markdown file) must match a heading of that file as GitHub makes anchors.
Links to other sites (http, https, mailto) are not followed. No database: the files are only read.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", ROOT / "bench" / "README.md", *(ROOT / "docs").glob("*.md")])

_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"(`+).*?\1")
# [text](target) and ![alt](target), with an optional "title"; the text may hold `code` or brackets.
_INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, ...


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, numbered from 1."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text, lower case, punctuation dropped, spaces to `-`."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text stays
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a Markdown page's headings; a repeated heading gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in _prose_lines(page.read_text(encoding="utf-8")):
        match = _HEADING.match(line)
        if match is None:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[tuple[int, str]]:
    """(line, target) of every link on the page, outside code blocks and code spans."""
    found = []
    for number, line in _prose_lines(page.read_text(encoding="utf-8")):
        reference = _REFERENCE.match(line)
        if reference is not None:
            found.append((number, reference.group(1)))
            continue
        for match in _INLINE.finditer(_CODE_SPAN.sub("", line)):
            found.append((number, match.group(1)))
    return found


def problems(page: Path, root: Path = ROOT) -> list[str]:
    """Each link of the page that leads nowhere, as `page:line: target (why)`."""
    found = []
    for number, target in links(page):
        if _EXTERNAL.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / unquote(path_part)).resolve() if path_part else page
        where = f"{page.relative_to(root)}:{number}: {target}"
        if not destination.exists():
            found.append(f"{where} (no such file)")
        elif root not in destination.parents and destination != root:
            found.append(f"{where} (outside the repository)")
        elif anchor and destination.suffix == ".md" and unquote(anchor).lower() not in anchors(destination):
            found.append(f"{where} (no heading with this anchor in {destination.relative_to(root)})")
    return found


def test_the_pages_exist() -> None:
    assert (ROOT / "README.md").is_file()
    assert len(PAGES) > 2, "docs/ has no pages"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = problems(page)
    assert not broken, "links that lead nowhere:\n" + "\n".join(broken)


def test_the_checker_sees_broken_links(tmp_path: Path) -> None:
    """A link to a missing file, a missing heading, or a heading of another page that is not there."""
    (tmp_path / "other.md").write_text("# Other page\n\n## A section: `code`\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n## Title\n\n"
        "[ok](other.md) [ok](other.md#a-section-code) [ok](#title-1) [ok](https://example.com/x.md)\n"
        "[gone](missing.md) [gone](#nowhere) [gone](other.md#a-section)\n"
        "`[not a link](missing.md)`\n\n```\n[not a link](missing.md)\n```\n",
        encoding="utf-8",
    )
    assert [p.split(": ", 1)[1] for p in problems(page, root=tmp_path)] == [
        "missing.md (no such file)",
        "#nowhere (no heading with this anchor in page.md)",
        "other.md#a-section (no heading with this anchor in other.md)",
    ]

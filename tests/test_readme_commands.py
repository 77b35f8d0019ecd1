"""The README's two set-up commands are the ones that run: CI (``.ci/run``) runs the README's test command
character for character, and every relative link in the README and docs/ points at a file that exists."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Pages other branches of this round write; the merge brings them. Empty this once they are all in.
PAGES_FROM_OTHER_BRANCHES: set[str] = set()  # pages written on a branch not merged yet (none now)


def _bash_blocks_after(text: str, heading: str) -> list[str]:
    """The one-line ```bash blocks that follow the paragraph starting with ``heading``."""
    rest = text.split(heading, 1)[1]
    return [m.group(1).strip() for m in re.finditer(r"```bash\n(.*?)\n```", rest, re.S)]


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    test_cmd = _bash_blocks_after(readme, "Run the tests:")[0]
    assert "\n" not in test_cmd and "pytest" in test_cmd
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    marker = next(i for i, line in enumerate(ci) if line.startswith('# README "Run the tests"'))
    assert ci[marker + 1].strip() == test_cmd


def test_readme_demo_command_installs_and_runs_the_demo() -> None:
    readme = (REPO / "README.md").read_text()
    demo_cmd = _bash_blocks_after(readme, "Run the whole toolkit on built-in defaults")[0]
    assert demo_cmd == "python3 -m venv .venv && .venv/bin/pip install -q -e '.[train]' && .venv/bin/edgesr demo"


def test_readme_stays_short() -> None:
    assert len((REPO / "README.md").read_text().splitlines()) <= 200


def _links(md: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", md.read_text(), flags=re.S)  # code blocks hold no links
    return re.findall(r"\]\(([^)\s]+)\)", text)


def test_relative_links_point_at_files() -> None:
    pages = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    assert len(pages) >= 9
    broken = []
    for page in pages:
        for link in _links(page):
            if re.match(r"[a-z]+:", link) or link.startswith("#"):
                continue
            target = (page.parent / link.split("#", 1)[0]).resolve()
            rel = target.relative_to(REPO).as_posix() if target.is_relative_to(REPO) else str(target)
            if not target.exists() and rel not in PAGES_FROM_OTHER_BRANCHES:
                broken.append(f"{page.relative_to(REPO)}: {link}")
    assert not broken

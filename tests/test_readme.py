"""The README's and the tutorials' Python examples run as written; the README's links resolve."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()
TUTORIALS = sorted((ROOT / "docs" / "tutorials").glob("*.md"))


def python_blocks(text):
    return re.findall(r"```python\n(.*?)```", text, re.S)


BLOCKS = python_blocks(README)
TUTORIAL_BLOCKS = [
    pytest.param(path.name, code, id=f"{path.stem}-{i}")
    for path in TUTORIALS
    for i, code in enumerate(python_blocks(path.read_text()))
]


def test_readme_has_python_examples():
    assert BLOCKS


@pytest.mark.parametrize("code", BLOCKS, ids=lambda c: c.splitlines()[0][:40])
def test_readme_python_example_runs(code):
    exec(compile(code, "README.md", "exec"), {})


def test_tutorials_have_python_examples():
    assert TUTORIAL_BLOCKS


@pytest.mark.parametrize(("name", "code"), TUTORIAL_BLOCKS)
def test_tutorial_python_example_runs(name, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples write files where the user runs them
    exec(compile(code, name, "exec"), {})


def heading_anchors(markdown):
    """The ids MkDocs' toc extension gives a page's headings (lowercase, words joined by '-')."""
    headings = re.findall(r"^#+ (.+)$", markdown, re.M)
    return {re.sub(r"[\s-]+", "-", re.sub(r"[^\w\s-]", "", h).strip().lower()) for h in headings}


def test_readme_relative_links_exist():
    """The README's links into docs/ name existing files and headings (`mkdocs build --strict`
    checks the links within docs/)."""
    links = re.findall(r"\]\(([^)#:]+)(?:#([^)]*))?\)", README)
    assert links
    missing = [path for path, _ in links if not (ROOT / path).exists()]
    assert not missing
    bad_anchors = [
        f"{path}#{anchor}"
        for path, anchor in links
        if anchor and anchor not in heading_anchors((ROOT / path).read_text())
    ]
    assert not bad_anchors

"""The documentation, checked without building the site.

* Every relative link in ``README.md``, ``CONTRIBUTING.md`` and ``docs/**/*.md`` points to a file
  that exists (a link from a docs page stays inside ``docs/``, or the site could not resolve it),
  and its ``#anchor``, if any, to a heading of that file: GitHub's slug, and for a page of the
  site also the slug MkDocs gives it.
* Every fenced code block whose info string says ``runnable`` (```` ```python runnable ```` or
  ```` ```bash runnable ````) runs, in a fresh temporary folder, and exits with status 0.
* Every notebook of ``docs/examples`` is stored without outputs, and the MkDocs hook
  (``docs/hooks.py``) puts every one of them into the site's navigation.

``make docs`` builds the site itself (``mkdocs build --strict``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
TIMEOUT_S = 180


def markdown_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted(DOCS.rglob("*.md"))]
    return [f for f in files if f.is_file()]


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# ----------------------------------------------------------------------------------------------
# Markdown: fenced blocks, headings, links


@dataclass(frozen=True)
class Fence:
    path: Path
    line: int  # 1-based line of the opening fence
    info: str  # the info string: language, then any words
    body: str

    @property
    def lang(self) -> str:
        return self.info.split()[0] if self.info.split() else ""

    @property
    def words(self) -> list[str]:
        return self.info.split()[1:]


OPEN_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*?)[ \t]*$")


def split_fences(text: str, path: Path) -> tuple[list[str], list[Fence]]:
    """``(prose_lines, fences)``: the lines outside fenced code (fence lines blanked, so line
    numbers hold) and the fenced blocks, their bodies dedented by the opening fence's indent."""
    lines = text.splitlines()
    prose: list[str] = []
    fences: list[Fence] = []
    i = 0
    while i < len(lines):
        m = OPEN_FENCE.match(lines[i])
        if not m:
            prose.append(lines[i])
            i += 1
            continue
        indent, fence = len(m["indent"]), m["fence"]
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            line = lines[j]
            body.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
            j += 1
        fences.append(Fence(path, i + 1, m["info"].strip(), "\n".join(body) + "\n"))
        prose.extend([""] * (min(j, len(lines) - 1) - i + 1))
        i = j + 1
    return prose, fences


INLINE_CODE = re.compile(r"(`+)(.+?)\1")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(?P<text>.*?)(?:[ \t]+#+)?[ \t]*$")
LINK_IN_TEXT = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
HTML_ID = re.compile(r"""<a\s[^>]*(?:id|name)=["']([^"']+)["']""")


def heading_text(raw: str) -> str:
    """The text of a heading as rendered: code spans keep their content, links their text,
    tags and emphasis markers go."""
    text = LINK_IN_TEXT.sub(r"\1", raw)
    text = INLINE_CODE.sub(lambda m: m.group(2).strip(), text)
    text = re.sub(r"<[^>]+>", "", text)
    return text


def github_slug(text: str) -> str:
    """GitHub's heading anchor (github-slugger): lower case, punctuation dropped, each space a
    hyphen."""
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def mkdocs_slug(text: str) -> str:
    """The anchor of Python-Markdown's ``toc`` extension (MkDocs' default slugify)."""
    value = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value).strip().lower()
    return re.sub(r"[-\s]+", "-", value)


def unique(slugs: list[str], sep: str) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for s in slugs:
        if s in seen:
            seen[s] += 1
            out.add(f"{s}{sep}{seen[s]}")
        else:
            seen[s] = 0
            out.add(s)
    return out


def anchors(path: Path) -> tuple[set[str], set[str]]:
    """``(github, mkdocs)``: the anchors of the headings of a Markdown file (and explicit
    ``<a id=...>`` anchors, in both)."""
    prose, _ = split_fences(path.read_text(encoding="utf-8"), path)
    texts = [heading_text(m["text"]) for line in prose if (m := HEADING.match(line))]
    explicit = {a for line in prose for a in HTML_ID.findall(line)}
    return (unique([github_slug(t) for t in texts], "-") | explicit,
            unique([mkdocs_slug(t) for t in texts], "_") | explicit)


INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?(?P<target>[^)\s>]+)>?(?:\s+[\"'][^)]*[\"'])?\s*\)")
REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(?P<target>\S+?)>?(?:\s|$)")
HTML_LINK = re.compile(r"""<(?:a|img)\s[^>]*(?:href|src)=["'](?P<target>[^"']+)["']""")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//")


@dataclass(frozen=True)
class Link:
    path: Path
    line: int
    target: str

    def __str__(self) -> str:
        return f"{rel(self.path)}:{self.line}: ({self.target})"


def relative_links(path: Path) -> list[Link]:
    prose, _ = split_fences(path.read_text(encoding="utf-8"), path)
    links = []
    for n, line in enumerate(prose, 1):
        line = INLINE_CODE.sub(lambda m: "code", line)
        for pattern in (INLINE_LINK, REF_DEF, HTML_LINK):
            for m in pattern.finditer(line):
                target = m["target"]
                if not SCHEME.match(target):
                    links.append(Link(path, n, target))
    return links


def link_problem(link: Link) -> str | None:
    """What is wrong with a relative link, or ``None``."""
    target, _, anchor = link.target.partition("#")
    dest = (link.path.parent / target).resolve() if target else link.path
    in_docs = link.path.is_relative_to(DOCS)
    if target.startswith("/"):
        return "an absolute path: use a path relative to the file"
    if not dest.exists():
        return f"{target} does not exist"
    if in_docs and not dest.is_relative_to(DOCS):
        return f"{target} lies outside docs/: the site cannot link it (name it in a code span)"
    if in_docs and dest.is_dir():
        return f"{target} is a folder: link a page"
    if anchor:
        if dest.suffix != ".md":
            return f"#{anchor} on a file that is not Markdown"
        github, mkdocs = anchors(dest)
        if anchor not in github:
            return f"no heading of {rel(dest)} has the anchor #{anchor} (GitHub); it has {sorted(github)}"
        if dest.is_relative_to(DOCS) and anchor not in mkdocs:
            return f"no heading of {rel(dest)} has the anchor #{anchor} (MkDocs); it has {sorted(mkdocs)}"
    return None


def test_the_link_checker_finds_links_and_anchors(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Run configurations: `graphdiff/config.py`\n\n## A, b & c\n\n## A, b & c\n\n"
        "[one](page.md#run-configurations-graphdiffconfigpy) ![img](missing.png) "
        "[`code`](page.md#a-b--c-1) `[not](a-link.md)`\n\n```\n[not](either.md)\n# not a heading\n```\n"
        "[ref]: other.md#x\n",
        encoding="utf-8",
    )
    assert [lk.target for lk in relative_links(page)] == [
        "page.md#run-configurations-graphdiffconfigpy", "missing.png", "page.md#a-b--c-1", "other.md#x"]
    github, mkdocs = anchors(page)
    assert github == {"run-configurations-graphdiffconfigpy", "a-b--c", "a-b--c-1"}
    assert mkdocs == {"run-configurations-graphdiffconfigpy", "a-b-c", "a-b-c_1"}
    problems = [link_problem(lk) for lk in relative_links(page)]
    assert problems[0] is None and problems[2] is None
    assert "does not exist" in problems[1] and "does not exist" in problems[3]


@pytest.mark.parametrize("path", markdown_files(), ids=rel)
def test_relative_links_resolve(path: Path) -> None:
    problems = [f"{lk}: {p}" for lk in relative_links(path) if (p := link_problem(lk))]
    assert not problems, "broken links:\n" + "\n".join(problems)


# ----------------------------------------------------------------------------------------------
# Runnable code blocks


def runnable_blocks() -> list[Fence]:
    blocks = []
    for path in markdown_files():
        _, fences = split_fences(path.read_text(encoding="utf-8"), path)
        blocks += [f for f in fences if "runnable" in f.words]
    return blocks


RUNNERS = {"python": [sys.executable], "bash": ["bash", "-euo", "pipefail"]}
SUFFIX = {"python": ".py", "bash": ".sh"}


def block_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHDIFF_")}
    # `python` and `graphdiff` in a bash block are those of the interpreter running the tests
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update(OMP_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    return env


@pytest.fixture(scope="module")
def block_results() -> Iterator[dict[Fence, subprocess.CompletedProcess | str]]:
    """Start every runnable block at once (each in its own temporary folder, which is also its
    working directory), then wait for all: each pays for importing torch."""
    results: dict[Fence, subprocess.CompletedProcess | str] = {}
    with tempfile.TemporaryDirectory(prefix="graphdiff-doc-blocks-") as tmp:
        started = []
        for k, block in enumerate(runnable_blocks()):
            if block.lang not in RUNNERS:
                results[block] = f"unsupported language {block.lang!r}: use python or bash"
                continue
            cwd = Path(tmp) / f"block{k}"
            cwd.mkdir()
            script = cwd / f"_block{SUFFIX[block.lang]}"
            script.write_text(block.body, encoding="utf-8")
            proc = subprocess.Popen([*RUNNERS[block.lang], script.name], cwd=cwd, env=block_env(),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            started.append((block, proc))
        for block, proc in started:
            try:
                out, err = proc.communicate(timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
                results[block] = f"did not finish within {TIMEOUT_S} s\n{out}\n{err}"
                continue
            results[block] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        yield results


def test_some_blocks_are_runnable() -> None:
    blocks = runnable_blocks()
    assert {b.lang for b in blocks} >= {"python", "bash"}
    assert len(blocks) >= 3, [f"{rel(b.path)}:{b.line}" for b in blocks]


@pytest.mark.parametrize("block", runnable_blocks(), ids=lambda b: f"{rel(b.path)}:{b.line}")
def test_runnable_block_runs(block: Fence, block_results: dict) -> None:
    result = block_results[block]
    where = f"{rel(block.path)}:{block.line} (```{block.info})"
    assert not isinstance(result, str), f"{where}: {result}"
    assert result.returncode == 0, (
        f"{where} exited with {result.returncode}\n--- stdout\n{result.stdout[-3000:]}"
        f"\n--- stderr\n{result.stderr[-3000:]}")


# ----------------------------------------------------------------------------------------------
# Notebooks and the navigation


def notebooks() -> list[Path]:
    return sorted(EXAMPLES.glob("*.ipynb"))



def mkdocs_config() -> dict:
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))


def nav_files(nav: list) -> list[str]:
    out: list[str] = []
    for entry in nav:
        if isinstance(entry, str):
            out.append(entry)
        elif isinstance(entry, dict):
            for value in entry.values():
                out += nav_files(value) if isinstance(value, list) else [value]
    return out


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb.get("nbformat") == 4, f"{path.name}: not an nbformat 4 notebook"
    assert nb.get("cells"), f"{path.name}: no cells"
    dirty = [i for i, cell in enumerate(nb["cells"])
             if cell.get("cell_type") == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: code cells {dirty} carry outputs or execution counts; "
                       "strip them (e.g. `jupyter nbconvert --clear-output --inplace`)")


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_notebook_checks_its_extras_before_anything_else(path: Path) -> None:
    """The first code cell names the optional parts the notebook needs (graphdiff.extras.require),
    so a missing one gives an install line, never an ImportError half-way; and every name it
    asks for is one require() knows."""
    import ast

    from graphdiff.extras import declared

    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c.get("cell_type") == "code"]
    assert code, f"{path.name}: no code cells"
    first = "".join(code[0]["source"]) if isinstance(code[0]["source"], list) else code[0]["source"]
    calls = [n for n in ast.walk(ast.parse(first)) if isinstance(n, ast.Call)
             and getattr(n.func, "id", getattr(n.func, "attr", None)) == "require"]
    assert calls, f"{path.name}: the first code cell does not call graphdiff.extras.require(...)"
    names = [a.value for c in calls for a in c.args if isinstance(a, ast.Constant)]
    assert names and set(names) <= set(declared()), f"{path.name}: require{tuple(names)} names unknown extras"


def test_every_notebook_and_page_is_in_the_nav(load_module) -> None:
    config = mkdocs_config()
    nav = load_module(DOCS / "hooks.py", "graphdiff_docs_hooks").nav_with_examples(config["nav"], DOCS)
    listed = nav_files(nav)
    examples = next((e["Examples"] for e in nav if isinstance(e, dict) and "Examples" in e), [])
    assert nav_files(examples) == [f"examples/{p.name}" for p in notebooks()]
    pages = [p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")]
    assert sorted(set(pages) - set(listed)) == [], "docs pages missing from the nav of mkdocs.yml"
    missing = [f for f in listed if not (DOCS / f).is_file()]
    assert missing == [], "nav entries without a file"


def test_nav_hook_lists_notebooks_sorted_with_titles(tmp_path: Path, load_module) -> None:
    hooks = load_module(DOCS / "hooks.py", "graphdiff_docs_hooks")
    nav = [{"Home": "index.md"}, {"Examples": []}, {"API": ["api/index.md"]}]
    assert hooks.nav_with_examples(nav, tmp_path) == [{"Home": "index.md"}, {"API": ["api/index.md"]}]
    (tmp_path / "examples").mkdir()
    titled = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
              "cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Train a *model*\n", "text"]}]}
    (tmp_path / "examples" / "05-train-a-model.ipynb").write_text(json.dumps(titled), encoding="utf-8")
    (tmp_path / "examples" / "01-graph-database.ipynb").write_text(
        json.dumps({**titled, "cells": []}), encoding="utf-8")
    (tmp_path / "examples" / "notes.md").write_text("not a notebook", encoding="utf-8")
    assert hooks.nav_with_examples(nav, tmp_path) == [
        {"Home": "index.md"},
        {"Examples": [{"Graph database": "examples/01-graph-database.ipynb"},
                      {"Train a *model*": "examples/05-train-a-model.ipynb"}]},
        {"API": ["api/index.md"]},
    ]
    assert hooks.nav_with_examples([{"Home": "index.md"}], tmp_path)[-1]["Examples"][0] == {
        "Graph database": "examples/01-graph-database.ipynb"}


def test_docstring_markup_is_rewritten_for_the_api_reference(load_module) -> None:
    module = load_module(DOCS / "griffe_rst.py", "graphdiff_docs_griffe_rst")
    doc = ("A :class:`~graphdiff.graph.GraphSpec`, :func:`graphdiff.data.read_graphs` and\n"
           ":meth:`the loss <graphdiff.diffusion.GraphDiffusion.loss>`, like this::\n\n"
           "    spec.validate(data)\n\n"
           "===== =========\nlevel tensor\n===== =========\nnode  ``[n]``\n===== =========\nafter")
    assert module.rst_to_markdown(doc).splitlines() == [
        "A `GraphSpec`, `graphdiff.data.read_graphs` and",
        "`the loss`, like this:", "", "    spec.validate(data)", "",
        "```text", "===== =========", "level tensor", "===== =========", "node  [n]", "===== =========", "```",
        "after",
    ]

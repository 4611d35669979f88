"""Griffe extension (``extensions:`` of mkdocstrings in ``mkdocs.yml``): the reStructuredText
markup of graphdiff's docstrings, shown as Markdown in the API reference.

The docstrings are NumPy style, parsed as such by mkdocstrings; inside them, Sphinx roles,
literal-block markers and simple tables are rewritten before parsing:

* ``:class:`~graphdiff.graph.GraphSpec``` becomes the code span ``GraphSpec`` (the last part of
  the name after ``~``, else the whole name; ``:func:``, ``:meth:``, ``:mod:``, ``:attr:``,
  ``:exc:``... alike);
* a paragraph ending in ``::`` ends in ``:`` (the indented block after it is a code block in
  Markdown too);
* a simple table (rows between ``=== ===`` rules) becomes a fenced text block, laid out as
  written, without the double backquotes of its literals.

The source files are not changed.
"""

from __future__ import annotations

import re
from typing import Any

try:  # the `docs` extra; without it rst_to_markdown still works (tests/test_docs.py uses it)
    import griffe
except ImportError:  # pragma: no cover
    griffe = None

ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|mod|attr|obj|data|exc|const|ref|doc|term):"
    r"`(?P<tilde>~?)(?P<text>[^`<]+?)(?:\s*<(?P<target>[^>`]+)>)?`"
)
RULE = re.compile(r"^\s*=+(?:[ \t]+=+)+\s*$")
LITERAL = re.compile(r"(?<=[^\s:]):: *$")


def _role(m: re.Match[str]) -> str:
    text = m["text"].strip()
    if m["target"] is None and m["tilde"]:
        text = text.rsplit(".", 1)[-1]
    return f"`{text}`"


def _tables(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        if RULE.match(lines[i]):
            rules = [j for j in range(i, len(lines)) if RULE.match(lines[j])][:3]
            end = rules[-1] if len(rules) > 1 else None
            if end is not None:
                table = [re.sub(r"``(.+?)``", r"\1", line) for line in lines[i:end + 1]]
                out += ["```text", *table, "```"]
                i = end + 1
                continue
        out.append(lines[i])
        i += 1
    return out


def rst_to_markdown(text: str) -> str:
    """The Markdown reading of one docstring (see the module docstring)."""
    text = ROLE.sub(_role, text)
    lines = [LITERAL.sub(":", line) if line.strip() != "::" else "" for line in text.splitlines()]
    return "\n".join(_tables(lines))


if griffe is not None:

    class RstToMarkdown(griffe.Extension):
        """Rewrite each docstring with :func:`rst_to_markdown` as the object is loaded."""

        def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
            if obj.docstring is not None:
                obj.docstring.value = rst_to_markdown(obj.docstring.value)

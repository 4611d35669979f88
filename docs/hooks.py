"""MkDocs hook (``hooks:`` in ``mkdocs.yml``): the notebooks of ``docs/examples/`` in the nav.

Every ``docs/examples/*.ipynb`` becomes a page under the nav section "Examples", sorted by file
name, so that adding a notebook needs no change to ``mkdocs.yml``. A notebook's title is the
first Markdown heading of its first Markdown cell, else its file name without the leading
number (``04-basic-diffusion.ipynb`` -> "Basic diffusion"). With no notebooks the section is
left out.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

SECTION = "Examples"
FOLDER = "examples"


def notebook_title(path: Path) -> str:
    """The title of a notebook in the nav: its first Markdown heading, else its file name."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        cells = []
    for cell in cells:
        if cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        for line in text.splitlines():
            m = re.match(r"^#{1,6}\s+(.+?)\s*#*\s*$", line)
            if m:
                return m.group(1).strip()
        break
    stem = re.sub(r"^\d+[-_ ]*", "", path.stem)
    return (stem.replace("-", " ").replace("_", " ").strip() or path.stem).capitalize()


def example_pages(docs_dir: str | Path) -> list[dict[str, str]]:
    """``[{title: "examples/NAME.ipynb"}, ...]`` for every notebook, sorted by file name."""
    folder = Path(docs_dir) / FOLDER
    notebooks = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    return [{notebook_title(nb): f"{FOLDER}/{nb.name}"} for nb in notebooks]


def nav_with_examples(nav: list[Any], docs_dir: str | Path) -> list[Any]:
    """``nav`` with its "Examples" section set to :func:`example_pages` (added at the end if
    missing, removed if there are no notebooks)."""
    pages = example_pages(docs_dir)
    out: list[Any] = []
    placed = False
    for entry in nav:
        if isinstance(entry, dict) and SECTION in entry:
            placed = True
            if pages:
                out.append({SECTION: pages})
            continue
        out.append(entry)
    if not placed and pages:
        out.append({SECTION: pages})
    return out


def on_config(config: Any) -> Any:
    if config["nav"] is not None:
        config["nav"] = nav_with_examples(config["nav"], config["docs_dir"])
    return config

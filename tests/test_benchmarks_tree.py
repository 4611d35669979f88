"""The benchmarks tree: one folder per domain with its scripts, recipes and results, each script
and results file listed in its folder's README, and no plot kept that no document shows."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
DOMAINS = ("crystals", "molecules", "graphs", "engine", "targets")
#: the scripts that serve every folder and stay at the top
TOOLS = {"tables.py", "gpu_runs.py", "backfill_provenance.py"}


def _readme_names(domain: str) -> list[str]:
    """Every code span of a folder's README (file names and patterns such as `grid-*.json`)."""
    return re.findall(r"`([^`\s]+)`", (BENCH / domain / "README.md").read_text())


def test_only_the_domain_folders_and_the_shared_tools_are_at_the_top() -> None:
    assert not (BENCH / "results").exists() and not (BENCH / "configs").exists()
    scripts = {p.name for p in BENCH.glob("*.py") if not p.name.startswith("_")}
    assert scripts == TOOLS, f"scripts belong in a domain folder: {sorted(scripts - TOOLS)}"
    for d in DOMAINS:
        assert (BENCH / d / "README.md").is_file() and list((BENCH / d / "results").glob("*.json")), d


@pytest.mark.parametrize("domain", DOMAINS)
def test_each_folder_readme_lists_its_scripts_and_results(domain: str) -> None:
    names = _readme_names(domain)
    for script in sorted((BENCH / domain).glob("*.py")):
        assert script.name in names, f"benchmarks/{domain}/README.md does not list {script.name}"
    patterns = [n for n in names if n.endswith(".json")]
    for results in sorted((BENCH / domain / "results").glob("*.json")):
        assert any(fnmatch.fnmatch(results.name, p) for p in patterns), (
            f"benchmarks/{domain}/README.md does not name results/{results.name} (or a pattern of it)")


def plots_cited_in(text: str) -> set[str]:
    """The plot names ``text`` cites: ``name.png``, or ``name.json`` / ``.png`` (a results file
    and the plot beside it, as the docs write them, across a line break too)."""
    text = re.sub(r"\s+", " ", text)
    return ({f"{m}.png" for m in re.findall(r"([\w.-]+)\.json` / `\.png`", text)}
            | {f"{m}.png" for m in re.findall(r"([\w.-]+)\.png", text)})


def test_a_plot_is_cited_by_name_or_beside_its_results_file() -> None:
    assert plots_cited_in("see `results/a.json` /\n`.png` and [b](results/b.png)") == {"a.png", "b.png"}
    assert plots_cited_in("`results/c.json` alone") == set()


def test_every_plot_kept_is_shown_by_a_document() -> None:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted(BENCH.rglob("README.md"))]
    cited = plots_cited_in("\n".join(p.read_text() for p in docs))
    uncited = [str(p.relative_to(ROOT)) for p in sorted(BENCH.glob("*/results/*.png")) if p.name not in cited]
    assert not uncited, f"plots no document shows (remove them; their command stays in the results): {uncited}"


def _imported_modules(path: Path) -> set[str]:
    """The top-level names of every ``import`` and ``from ... import`` in a script, those inside
    functions included (a lazy import fails only when its branch runs)."""
    import ast

    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("domain", DOMAINS)
def test_a_script_that_imports_another_folders_script_puts_that_folder_on_its_path(domain: str) -> None:
    where = {p.stem: p.parent.name for d in DOMAINS for p in (BENCH / d).glob("*.py")}
    missing = []
    for script in sorted((BENCH / domain).glob("*.py")):
        text = script.read_text()
        for mod in sorted(_imported_modules(script)):
            other = where.get(mod)
            if other and other != domain and f'parents[1] / "{other}"' not in text:
                missing.append(f"{script.relative_to(ROOT)} imports {mod} from benchmarks/{other}/")
    assert not missing, missing

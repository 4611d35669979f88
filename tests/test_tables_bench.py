"""benchmarks/tables.py: README's benchmark table and the docs tables of figures are what the
results files give, every figure of README's graphdiff column is read from a results entry, the
met column follows the targets, and ``--check`` names the figure and file that differ."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "tables.py"


@pytest.fixture(scope="module")
def tables(load_module):
    return load_module(SCRIPT, "tables_bench")


def _results(tmp_path: Path, prov, entries: dict[str, list[tuple[dict, dict]]]) -> Path:
    folder = tmp_path / "results"
    folder.mkdir()
    for name, items in entries.items():
        for key, result in items:
            prov.record(folder / name, key, result, prov.Run(root=tmp_path))
    return folder


@pytest.fixture(scope="module")
def prov(load_module):
    return load_module(ROOT / "benchmarks" / "_provenance.py", "_provenance_tables")


def test_readme_table_is_what_the_results_give(tables) -> None:
    text = (ROOT / "README.md").read_text()
    start, end = tables.region(text)
    assert text[start:end] == tables.render(), (
        "README.md's benchmark table differs from the results files: run python benchmarks/tables.py "
        "(python benchmarks/tables.py --check shows the difference)")


def test_no_figure_of_the_graphdiff_column_is_typed(tables) -> None:
    typed = {row.task: tables.typed_numbers(row.graphdiff) for row in tables.ROWS}
    assert len(typed) == len(tables.ROWS) > 0
    assert {task: found for task, found in typed.items() if found} == {}, (
        "numbers typed into the graphdiff column instead of read from a results entry")


def test_typed_numbers_are_found_outside_placeholders_code_and_links(tables) -> None:
    assert tables.typed_numbers("{k1} % (`carbon24-dng`, [x](docs/a.md#perov-5)) beside 53.8 %") == ["53.8"]
    assert tables.typed_numbers("{a} / {b} (MMD² {c})") == []


def test_a_figure_without_a_results_entry_stops_the_table(tables, prov, tmp_path: Path) -> None:
    results = _results(tmp_path, prov, {"toy.json": [({"k": 2}, {"metrics": {"k=1": {"match_rate": 0.5}}})]})
    row = tables.Row("toy", "{a} %", "–", "–", {"a": tables.Fig("toy.json", {"k": 1}, "metrics/k=1/match_rate", "%1")})
    with pytest.raises(tables.MissingFigure, match=r"toy.json \{'k': 1\}: 0 entries"):
        tables.render_row(row, results)
    gone = tables.Row("toy", "{a} %", "–", "–", {"a": tables.Fig("gone.json", {}, "x")})
    with pytest.raises(tables.MissingFigure, match="gone.json: no such results file"):
        tables.render_row(gone, results)
    deep = tables.Row("toy", "{a} %", "–", "–", {"a": tables.Fig("toy.json", {"k": 2}, "metrics/k=2/match_rate")})
    with pytest.raises(tables.MissingFigure, match="no 'k=2'"):
        tables.render_row(deep, results)


def test_the_table_follows_the_latest_run_and_the_targets(tables, prov, tmp_path: Path) -> None:
    results = _results(tmp_path, prov, {"toy.json": [
        ({"k": 2}, {"rate": 0.40, "rows": [{"n": 64, "s": 0.5}, {"n": 500, "s": 7.25}]}),
        ({"k": 2}, {"rate": 0.538, "rows": [{"n": 64, "s": 0.5}, {"n": 500, "s": 7.25}]}),  # a rerun
        ({"k": 3}, {"rate": 0.9, "rows": []})]})
    figs = {"a": tables.Fig("toy.json", {"k": 2}, "rate", "%1"),
            "first": tables.Fig("toy.json", {"k": 2}, "rate", "%1", run={"rate": 0.40}),
            "s": tables.Fig("toy.json", {"k": 2}, "rows/[n=500]/s", ".2f"),
            "best": tables.Best("toy.json", "rate", lambda r: True, "%0"),
            "gain": tables.Calc(lambda a, b: a / b, [tables.Fig("toy.json", {"k": 2}, "rate"),
                                                     tables.Fig("toy.json", {"k": 2}, "rate", run={"rate": 0.40})],
                                ".2f")}
    row = tables.Row("toy at {s} s", "{a} % (first run {first} %, best {best} %, {gain}×)", "–", "[d](x.md)", figs,
                     [tables.Target("≥ 50 %", lambda v: v["a"] >= 0.5),
                      tables.Target("≥ 65 %", lambda v: v["a"] >= 0.65)])
    assert tables.render_row(row, results) == (
        "| toy at 7.25 s | 53.8 % (first run 40.0 %, best 90 %, 1.34×) | – | ≥ 50 %; ≥ 65 % | yes / no | [d](x.md) |")


def _copy_of_the_pages(tables, tmp_path: Path, monkeypatch) -> Path:
    """README.md and the docs pages with tables, copied under ``tmp_path`` (which the script then
    reads and writes instead of the repository's)."""
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "README.md").read_text())
    for doc in {t.doc for t in tables.doc_tables()}:
        (tmp_path / doc).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / doc).write_text((ROOT / doc).read_text())
    monkeypatch.setattr(tables, "README", readme)
    monkeypatch.setattr(tables, "DOCS_ROOT", tmp_path)
    return readme


def test_check_fails_when_a_results_figure_changes(tables, tmp_path: Path, monkeypatch, capsys) -> None:
    bench = tmp_path / "benchmarks"
    for results in sorted((ROOT / "benchmarks").glob("*/results")):
        shutil.copytree(results, bench / results.parent.name / "results", ignore=shutil.ignore_patterns("*.png"))
    readme = _copy_of_the_pages(tables, tmp_path, monkeypatch)
    monkeypatch.setattr(tables, "BENCH", bench)
    assert tables.main(["--check"]) == 0
    path = bench / "crystals" / "results" / "csp-frequency-baseline.json"
    doc = json.loads(path.read_text())
    entry = next(e for e in doc["entries"] if e["key"].get("action") == "baselines"
                 and e["key"].get("dataset") == "perov_5" and e["key"].get("rows") == 757)
    entry["runs"][-1]["metrics"]["k=1"]["match_rate"] = 0.551
    path.write_text(json.dumps(doc))
    capsys.readouterr()
    assert tables.main(["--check"]) == 1
    assert "55.1 %" in capsys.readouterr().out
    assert tables.main([]) == 0 and "the frequency baseline 55.1 / 97.8 %" in readme.read_text()
    assert tables.main(["--check"]) == 0

    doc = (tmp_path / "docs" / "benchmarks.md").read_text()
    assert "the commonest prototypes first), k = 1 / 2 | 55.1 % / 97.8 % |" in doc  # the docs table follows too


def test_docs_tables_are_what_the_results_give(tables) -> None:
    differ = tables.check_docs()
    assert differ == [], "docs tables differ from the results files (run python benchmarks/tables.py):\n" + (
        "\n".join(differ))
    assert {t.doc for t in tables.doc_tables()} >= {"docs/benchmarks.md", "docs/crystals.md", "docs/molecules.md"}


def test_check_names_the_figure_and_file_of_an_edited_docs_table(tables, tmp_path: Path, monkeypatch,
                                                                  capsys) -> None:
    _copy_of_the_pages(tables, tmp_path, monkeypatch)
    assert tables.main(["--check"]) == 0
    page = tmp_path / "docs" / "benchmarks.md"
    text = page.read_text()
    typed = "| substitution baseline (`graphdiff evaluate --baseline substitution`), k = 1 / 2 | 50.9 % / 92.6 % |"
    assert typed in text
    page.write_text(text.replace(typed, typed.replace("50.9 %", "58.3 %")))
    capsys.readouterr()
    assert tables.main(["--check"]) == 1
    out = capsys.readouterr().out
    assert "docs/benchmarks.md, table perov5-csp" in out
    assert "written '58.3 % / 92.6 %', the results give '50.9 % / 92.6 %'" in out
    assert "perov5-csp.json {'recorded_as': 'k=2'} baselines/substitution/k=1/match_rate" in out
    assert tables.main([]) == 0 and typed in page.read_text()
    assert tables.main(["--check"]) == 0


def test_a_docs_table_without_its_markers_or_entry_fails(tables, tmp_path: Path, monkeypatch, capsys) -> None:
    _copy_of_the_pages(tables, tmp_path, monkeypatch)
    page = tmp_path / "docs" / "crystals.md"
    page.write_text(page.read_text().replace("<!-- end of table scale-slopes -->", ""))
    assert tables.main(["--check"]) == 1
    assert "docs/crystals.md: no table 'scale-slopes'" in capsys.readouterr().out
    import _doctable  # the script put benchmarks/ on the path
    gone = _doctable.Table("toy", "docs/x.md", ["a"], [_doctable.Line(_doctable.Src("gone.json"), ["{x}"])])
    with pytest.raises(tables.MissingFigure, match="gone.json: no such results file"):
        _doctable.render(gone, tables.BENCH)


def test_no_table_of_figures_in_docs_benchmarks_is_typed() -> None:
    """Every table of docs/benchmarks.md that holds figures lies between generated-table markers."""
    lines, inside, typed = (ROOT / "docs" / "benchmarks.md").read_text().splitlines(), False, []
    for i, line in enumerate(lines):
        inside = (inside or "<!-- table " in line) and "<!-- end of table " not in line
        cell_row = line.strip().startswith("|") and not line.strip().startswith("|---")
        if cell_row and not inside and re.search(r"\d+(?:\.\d+)?\s*%|\b\d+\.\d+\b", line):
            typed.append(f"line {i + 1}: {line.strip()[:80]}")
    assert typed == [], "tables of figures typed into docs/benchmarks.md instead of written by benchmarks/tables.py"

"""Generated items as files: candidate ids, per-file formats of folders, folders that are never
overwritten by accident, and graphs that cannot be converted, skipped and reported
(:class:`graphdiff.graphio.GraphSink`, :mod:`graphdiff.outputs`). Toy domains only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Data

from graphdiff.domain import Domain
from graphdiff.errors import DataError, GraphValidationError
from graphdiff.graph import FieldSpec, GraphSpec
from graphdiff.graphio import GraphSink
from graphdiff.outputs import candidate_values, folder_formats, folder_suffix, skip_report_path


class Words(Domain):
    """Words as letter nodes; ``write`` keeps one line per word: ``id<TAB>word<TAB>values``."""

    name = "words"
    write_suffixes = (".txt", ".words")
    file_formats = {"plain": ".txt"}

    def __init__(self) -> None:
        self.calls: list[dict] = []

    @property
    def spec(self) -> GraphSpec:
        return GraphSpec("words", (FieldSpec("letter", "categorical", "node", num_classes=26),))

    def to_graph(self, obj: str) -> Data:
        return Data(num_nodes=len(obj), letter=torch.tensor([ord(c) - 97 for c in obj]))

    def from_graph(self, data: Data) -> str:
        return "".join(chr(97 + int(c)) for c in data.letter)

    def write(self, objs, path, *, append=False, ids=None, extra=None):
        self.calls.append({"path": Path(path), "append": append})
        lines = [f"{ids[k] if ids else '-'}\t{w}\t{json.dumps(extra[k] if extra else {})}\n"
                 for k, w in enumerate(objs)]
        with open(path, "a" if append else "w", encoding="utf-8") as fh:
            fh.writelines(lines)


class Flaky(Words):
    """A domain whose converter refuses some graphs, the ways a plugin may: a word with a
    ``z`` (DataError, as the docs ask), a ``q`` (GraphValidationError), an ``x`` (a bug)."""

    name = "flaky"

    def from_graph(self, data: Data) -> str:
        word = super().from_graph(data)
        if "z" in word:
            raise DataError(f"word {word!r}: no z allowed")
        if "q" in word:
            raise GraphValidationError(f"word {word!r}: q needs u")
        if "x" in word:
            raise KeyError("x")
        return word

    def write(self, objs, path, *, append=False, ids=None, extra=None):
        if any(w.startswith("bad") for w in objs):
            Path(path).write_text("half")
            raise DataError(f"{path}: cannot write a word starting with 'bad'")
        super().write(objs, path, append=append, ids=ids, extra=extra)


def graphs(domain: Domain, words: list[str]) -> list[Data]:
    return [domain.to_graph(w) for w in words]


def lines(path: Path) -> list[list]:
    return [[a, b, json.loads(c)] for a, b, c in (ln.rstrip("\n").split("\t") for ln in path.open())]


# ---------------------------------------------------------------------------- candidates
def test_candidate_values_name_each_candidate_of_an_input():
    assert candidate_values("mp-1", {"sample": 1, "share": 0.25, "distinct": 1}) == {
        "candidate_id": "mp-1-1", "rank": 1, "share": 0.25, "distinct": 1}
    assert list(candidate_values("a", {"distinct": 0, "share": 0.5, "sample": 0})) == [
        "candidate_id", "rank", "share", "distinct"]  # candidate columns first
    assert candidate_values("a", {"rank": 2.0}) == {"candidate_id": "a-2", "rank": 2}  # read back from a CSV
    assert candidate_values("a", {"rank": 1, "candidate_id": "kept"})["candidate_id"] == "kept"
    assert candidate_values("a", {"lambda": 0.5}) == {"lambda": 0.5}  # not a candidate
    assert candidate_values(None, {"sample": 3}) == {"rank": 3}  # no id to name it by


def test_two_inputs_two_ranks_keep_the_input_id_and_get_unique_candidate_ids(tmp_path):
    domain = Words()
    sink = GraphSink(tmp_path / "gen.txt", domain)
    ids = ["in-a", "in-a", "in-b", "in-b"]
    extra = [{"sample": r, "share": s} for r, s in ((0, 0.75), (1, 0.25), (0, 1.0), (1, 0.0))]
    sink.write(graphs(domain, ["ab", "ba"]), ids=ids[:2], extra=extra[:2])
    sink.write(graphs(domain, ["cd", "dc"]), ids=ids[2:], extra=extra[2:])
    sink.close()
    rows = lines(tmp_path / "gen.txt")
    assert [r[0] for r in rows] == ids  # the id column groups candidates by input
    assert [r[2] for r in rows] == [
        {"candidate_id": f"{i}-{r}", "rank": r, "share": e["share"]} for i, e, r in zip(ids, extra, (0, 1, 0, 1))]
    assert [c["append"] for c in domain.calls] == [False, True]
    # a folder: one file per candidate, named {id}-{rank} by default
    folder = GraphSink(f"{tmp_path / 'each'}/", Words())
    folder.write(graphs(domain, ["ab", "ba", "cd", "dc"]), ids=ids, extra=extra)
    folder.close()
    assert [p.name for p in folder.files] == ["in-a-0.txt", "in-a-1.txt", "in-b-0.txt", "in-b-1.txt"]
    assert lines(folder.files[3]) == [["in-b", "dc", {"candidate_id": "in-b-1", "rank": 1, "share": 0.0}]]
    # de novo items: the id is the index, zero-padded in the name; ids that repeat get _dup2
    denovo = GraphSink(f"{tmp_path / 'dn'}/", Words(), start=3)
    denovo.write(graphs(domain, ["a", "b", "c"]), ids=["3", "same", "same"])
    assert [p.name for p in denovo.files] == ["00003.txt", "same.txt", "same_dup2.txt"]
    assert denovo.file_for(4).name == "same.txt"


# ---------------------------------------------------------------------------- formats and folders
def test_format_chooses_the_files_of_a_folder(tmp_path):
    domain = Words()
    assert folder_formats(domain) == {"txt": ".txt", "words": ".words", "plain": ".txt"}
    assert folder_suffix(domain) == ".txt" and folder_suffix(domain, "WORDS") == ".words"
    with pytest.raises(DataError, match=r"format 'cif': domain 'words' writes one item per file as "
                                        r"jsonl, plain, txt, words"):
        folder_suffix(domain, "cif")
    sink = GraphSink(tmp_path / "out", domain, format="words")  # a name without a suffix: a folder
    sink.write(graphs(domain, ["hi"]), ids=["w1"])
    assert sink.mode == "folder" and [p.name for p in sink.files] == ["w1.words"]
    sink = GraphSink(tmp_path / "plain.txt", domain, format="plain")  # agrees with the suffix: fine
    assert sink.mode == "domain"
    with pytest.raises(DataError, match=r"format 'words' writes .words files, not .txt"):
        GraphSink(tmp_path / "x.txt", domain, format="words")
    # graphdiff's own JSON lines, one file per graph, for any domain
    sink = GraphSink(f"{tmp_path / 'js'}/", domain, format="jsonl")
    sink.write(graphs(domain, ["ok"]), ids=["j"])
    assert json.loads((tmp_path / "js" / "j.jsonl").read_text())["id"] == "j"


def test_a_folder_with_files_is_never_written_into_without_overwrite(tmp_path):
    folder = tmp_path / "gen"
    folder.mkdir()
    (folder / ".hidden").write_text("ignored")  # hidden entries do not count
    GraphSink(folder, Words()).write(graphs(Words(), ["a"]), ids=["a"])
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match=r"gen: the folder exists and holds 2 file\(s\) \(e.g. a.txt\); write to a "
                                        r"new or empty folder, or pass --overwrite \(overwrite=True\)"):
        GraphSink(f"{folder}/", Words())
    sink = GraphSink(folder, Words(), overwrite=True)
    sink.write(graphs(Words(), ["b"]), ids=["a"])  # replaces a.txt, leaves notes.txt
    assert lines(folder / "a.txt") == [["a", "b", {}]] and (folder / "notes.txt").read_text() == "mine"
    with pytest.raises(DataError, match="exists and is not a folder"):
        GraphSink(f"{folder / 'notes.txt'}/", Words())


# ---------------------------------------------------------------------------- skipped items
def test_graphs_that_cannot_be_converted_are_skipped_counted_and_reported(tmp_path):
    domain = Flaky()
    out = tmp_path / "gen.txt"
    sink = GraphSink(out, domain)
    sink.write(graphs(domain, ["ok", "zap", "fine"]), ids=["r1", "r1", "r2"],
               extra=[{"sample": 0}, {"sample": 1}, {"sample": 0}])
    sink.write(graphs(domain, ["quip", "axe", "zoo", "last"]))  # de novo ids: none given
    assert (sink.count, sink.written, sink.next_index) == (7, 3, 7)  # indices count skipped ones
    sink.close()
    assert [r[1] for r in lines(out)] == ["ok", "fine", "last"]
    assert sink.skipped == [
        {"index": 1, "id": "r1-1", "reason": "word 'zap': no z allowed"},
        {"index": 3, "id": None, "reason": "word 'quip': q needs u"},
        {"index": 4, "id": None, "reason": "KeyError: 'x'"},
        {"index": 5, "id": None, "reason": "word 'zoo': no z allowed"},
    ]
    assert sink.skip_report == out.with_name("gen.txt.skipped.json") == skip_report_path(out, folder=False)
    report = json.loads(sink.skip_report.read_text())
    assert report == {"output": str(out), "generated": 7, "skipped": sink.skipped}
    summary = sink.skip_summary()
    assert summary.startswith("skipped 4 of 7 generated items that could not be converted: "
                              "word 'zap': no z allowed; word 'quip': q needs u; KeyError: 'x'; and 1 other")
    assert summary.endswith(f"(list: {sink.skip_report})")
    # the same output again without failures: the earlier report no longer describes it
    again = GraphSink(out, Words())
    again.write(graphs(domain, ["ok"]))
    again.close()
    assert not sink.skip_report.exists() and again.skipped == [] and again.skip_summary() is None


def test_strict_makes_the_first_unconvertible_graph_an_error(tmp_path):
    domain = Flaky()
    sink = GraphSink(tmp_path / "gen.txt", domain, strict=True)
    sink.write(graphs(domain, ["ok"]), ids=["a"])
    with pytest.raises(DataError, match=r"generated item 2 \(id b-1\) cannot be converted to a flaky object: "
                                        r"word 'zz': no z allowed"):
        sink.write(graphs(domain, ["fine", "zz"]), ids=["b", "b"], extra=[{"sample": 0}, {"sample": 1}])


def test_every_graph_skipped_leaves_the_report_and_no_stale_output(tmp_path):
    out = tmp_path / "gen.txt"
    out.write_text("an earlier run\n")
    sink = GraphSink(out, Flaky())
    sink.write(graphs(Flaky(), ["zz", "qq"]))
    sink.close()
    assert not out.exists() and sink.written == 0
    assert len(json.loads(sink.skip_report.read_text())["skipped"]) == 2
    assert sink.skip_summary().startswith("skipped 2 of 2 generated items")


def test_a_folder_skips_unconvertible_and_unwritable_items_and_reports_beside_it(tmp_path):
    domain = Flaky()
    sink = GraphSink(f"{tmp_path / 'gen'}/", domain)
    sink.write(graphs(domain, ["good", "zed", "badly", "fine"]), ids=["0", "1", "2", "3"],
               objs=["good", None, "badly", "fine"])  # None: converted (and refused) here
    sink.close()
    assert [p.name for p in sink.files] == ["00000.txt", "00003.txt"]
    assert sorted(p.name for p in (tmp_path / "gen").iterdir()) == ["00000.txt", "00003.txt"]  # no half file
    assert [(s["index"], s["reason"][:30]) for s in sink.skipped] == [
        (1, "word 'zed': no z allowed"), (2, f"{tmp_path / 'gen' / '00002.txt'}: cannot write"[:30])]
    assert sink.skip_report == tmp_path / "gen.skipped.json"  # beside the folder, not an item in it
    # torchrun ranks sharing one folder each write their own report
    ranked = GraphSink(f"{tmp_path / 'gen'}/", domain, start=10, shared=True)
    ranked.write(graphs(domain, ["zz"]))
    ranked.close()
    assert ranked.skip_report == tmp_path / "gen.skipped-00010.json" and sink.skip_report.exists()


def test_domain_free_outputs_store_the_graphs_and_skip_nothing(tmp_path):
    domain = Flaky()
    for name in ("gen.jsonl", "gen.pt"):
        sink = GraphSink(tmp_path / name, domain)
        sink.write(graphs(domain, ["zz", "ok"]), ids=["a", "a"], extra=[{"sample": 0}, {"sample": 1}])
        sink.close()
        assert (sink.written, sink.skipped) == (2, [])
    first = json.loads((tmp_path / "gen.jsonl").read_text().splitlines()[1])
    assert (first["id"], first["candidate_id"], first["rank"]) == ("a", "a-1", 1)

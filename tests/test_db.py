"""The on-disk graph database (graphdiff.db) and its CLI (`graphdiff db ...`).

Most tests use a tiny synthetic domain ("rings": JSON lines, one graph per line) so they run
in milliseconds; the crystals tests build from a 12-row slice of the bundled Perov-5 sample.
"""

from __future__ import annotations

import csv
import json
import math
import multiprocessing
import os
import pickle
import signal
import sqlite3
import threading
import time
import warnings
from contextlib import closing
from pathlib import Path
from typing import Any, Iterator

import pytest
import torch
from click.testing import CliRunner
from torch_geometric.data import Data

import graphdiff
from graphdiff.cli import cli
from graphdiff.data import BatchStream
from graphdiff.db import DatabaseDataset, DatabaseError, GraphDatabase, decode_tensors, encode_tensors
from graphdiff.db_format import decode_values, encode_values
from hypothesis import given, settings
from hypothesis import strategies as st
from graphdiff.domain import Domain, Record
from graphdiff.errors import DataError
from graphdiff.graph import FieldSpec, GraphSpec
from graphdiff.graphio import graph_from_json

SPEC = GraphSpec("rings", (FieldSpec("types", "categorical", "node", num_classes=3),
                           FieldSpec("xy", "continuous", "node", dim=2)), properties=("weight",))


class RingsDomain(Domain):
    """One graph per JSON line ``{"id", "types", "xy", "weight"?}``; ``interrupt_after`` and
    ``delay`` read options simulate a crash and a slow source."""

    name, version = "rings", "1"
    read_suffixes = write_suffixes = (".txt",)
    converted = 0  # to_graph calls, per instance

    @property
    def spec(self) -> GraphSpec:
        return SPEC

    def to_graph(self, obj: Any) -> Data:
        types, xy = obj
        self.converted += 1
        return Data(types=torch.tensor(types), xy=torch.tensor(xy, dtype=torch.float32).view(-1, 2),
                    num_nodes=len(types))

    def from_graph(self, data: Data) -> Any:
        return data.types.tolist(), data.xy.tolist()

    def read(self, path: Any, *, strict: bool = False, skipped: list | None = None,
             interrupt_after: int | None = None, delay: float = 0.0, **options: Any) -> Iterator[Record]:
        for n, line in enumerate(Path(path).read_text().splitlines(), 1):
            if interrupt_after is not None and n > interrupt_after:
                raise RuntimeError(f"reader died after {interrupt_after} lines")
            time.sleep(delay)
            where = f"{Path(path).name} line {n}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                if strict:
                    raise DataError(f"{where}: not JSON: {exc}") from None
                skipped.append({"where": where, "reason": f"not JSON: {exc}"})
                continue
            props = {"weight": rec["weight"]} if "weight" in rec else {}
            yield Record(id=rec["id"], obj=(rec["types"], rec["xy"]), props=props, source=where)

    def write(self, objs: list, path: Any, *, append: bool = False, ids: list | None = None) -> None:
        with open(path, "a" if append else "w") as fh:
            for k, (types, xy) in enumerate(objs):
                fh.write(json.dumps({"id": ids[k] if ids else str(k), "types": types, "xy": xy}) + "\n")


def ring_item(k: int) -> dict[str, Any]:
    n = 3 + k % 5
    item: dict[str, Any] = {"id": f"g{k}", "types": [(k + i) % 3 for i in range(n)],
                            "xy": [[math.cos(k + i) / 3, k * 0.25 - i] for i in range(n)]}
    if k % 4:
        item["weight"] = float("nan") if k % 10 == 3 else k * 0.5
    return item


def write_rings(path: Path, n: int, bad: dict[int, str] | None = None) -> Path:
    """``n`` ring graphs ``g0..g{n-1}``; ``bad`` replaces line ``k`` (1-based) by raw text."""
    lines = [json.dumps(ring_item(k)) for k in range(n)]
    for k, text in (bad or {}).items():
        lines[k - 1] = text
    path.write_text("\n".join(lines) + "\n")
    return path


def assert_same_graph(a: Data, b: Data) -> None:
    keys_a, keys_b = set(a.keys()) - {"item_id"}, set(b.keys()) - {"item_id"}
    assert keys_a == keys_b
    assert a.num_nodes == b.num_nodes
    for key in keys_a - {"num_nodes"}:
        torch.testing.assert_close(getattr(a, key), getattr(b, key), rtol=0, atol=0, equal_nan=True)


def expected_graphs(domain: Domain, path: Path) -> list[tuple[str, Data]]:
    return [(str(r["id"]), domain.record_to_graph(r)) for r in domain.read(path, skipped=[])]


@pytest.fixture(scope="module")
def crystals() -> Any:
    return graphdiff.load_domain("crystals")


@pytest.fixture(scope="module")
def crystal_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 rows of the bundled sample plus a 13th whose cif cell is not a CIF."""
    import graphdiff_crystals

    with open(graphdiff_crystals.sample_path(), newline="") as fh:
        rows = list(csv.reader(fh))[:13]
    rows.append(["9999", "bad-1", "this is not a cif", "X", "1", "1", "0", "0"])
    path = tmp_path_factory.mktemp("crystals") / "small.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


# ---------------------------------------------------------------------------- format
pytestmark = pytest.mark.filterwarnings("ignore:.*ignoring non-numeric:UserWarning")


def test_blob_round_trip_every_dtype_and_shape() -> None:
    tensors = {"f": torch.randn(4, 3), "d": torch.randn(2, dtype=torch.float64), "b": torch.tensor([True, False]),
               "h": torch.randn(3, dtype=torch.bfloat16), "i": torch.arange(6).view(2, 3), "s": torch.tensor(7.5),
               "e": torch.empty(0, 2, dtype=torch.long), "u": torch.tensor([1, 255], dtype=torch.uint8)}
    back = decode_tensors(encode_tensors(tensors))
    assert list(back) == list(tensors)
    for k, t in tensors.items():
        torch.testing.assert_close(back[k], t, rtol=0, atol=0)
    blob = encode_tensors(tensors)
    with pytest.raises(DatabaseError, match="damaged"):
        decode_tensors(blob[:-3])
    with pytest.raises(DatabaseError, match="damaged"):
        decode_tensors(b"pickle" + blob)


_PLAIN = st.recursive(st.none() | st.booleans() | st.integers() | st.text()
                      | st.floats(allow_nan=False) | st.sampled_from([float("inf"), -float("inf")]),
                      lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner), max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(values=st.dictionaries(st.text(min_size=1, max_size=8), _PLAIN, max_size=4))
def test_plain_values_round_trip_with_their_types(values: dict[str, Any]) -> None:
    back = decode_values(encode_values(values))
    assert repr(back) == repr(values)  # repr tells a tuple from a list and 1 from 1.0 and True


def test_plain_values_round_trip_through_a_database_and_others_are_refused(tmp_path: Path) -> None:
    db = GraphDatabase.create(tmp_path / "v.db", RingsDomain())
    graph = RingsDomain().to_graph(([0, 1, 2], [[0.0, 0.0]] * 3))
    graph.node_labels = [(0, 1), "b", 3]
    graph.note = float("nan")
    db.append([("a", graph)], source="mem")
    back = db[0]
    assert back.node_labels == [(0, 1), "b", 3] and isinstance(back.node_labels[0], tuple)
    assert math.isnan(back.note) and not hasattr(back, "__values__")
    torch.testing.assert_close(back.types, graph.types, rtol=0, atol=0)
    graph.node_labels = [object()]
    with pytest.raises(DatabaseError, match=r"id b: attribute 'node_labels'.* holds a object"):
        db.append([("b", graph)], source="mem")
    assert len(db) == 1
    db.close()


# ---------------------------------------------------------------------------- crystals
def test_crystals_build_equals_record_to_graph_and_records_skips(crystals: Any, crystal_csv: Path,
                                                                 tmp_path: Path) -> None:
    report = GraphDatabase.build(crystals, crystal_csv, tmp_path / "c.db", progress=False, chunk=5)
    assert (report.stored, report.skipped, report.complete) == (12, 1, True)
    expected = expected_graphs(crystals, crystal_csv)
    with GraphDatabase.open(tmp_path / "c.db", domain=crystals) as db:
        assert len(db) == len(expected) == 12
        assert db.ids() == [rid for rid, _ in expected]
        for k, (_, graph) in enumerate(expected):
            assert_same_graph(db[k], graph)
        assert db[-1].frac_coords.dtype == torch.float64
        skipped = db.skipped()
        assert len(skipped) == 1 and "row 13" in skipped[0]["where"] and skipped[0]["reason"]
        info = db.info()
    assert info["num_graphs"] == 12 and info["num_skipped"] == 1 and info["domain"] == "crystals"
    gaps = [float(g.heat_all) for _, g in expected]
    assert info["properties"]["heat_all"]["max"] == pytest.approx(max(gaps))
    assert info["properties"]["heat_all"]["mean"] == pytest.approx(sum(gaps) / 12, rel=1e-6)
    assert info["num_nodes"]["histogram"] == {5: 12}
    assert all(s["complete"] for s in info["sources"].values())


def test_crystals_export_csv_reads_back(crystals: Any, crystal_csv: Path, tmp_path: Path) -> None:
    GraphDatabase.build(crystals, crystal_csv, tmp_path / "c.db", progress=False)
    with GraphDatabase.open(tmp_path / "c.db") as db:
        assert db.export(tmp_path / "out.csv", chunk=5) == 12  # three appending writes
        stored = list(db.iter_graphs(batch=5, with_ids=True))
    back = expected_graphs(crystals, tmp_path / "out.csv")
    assert [rid for rid, _ in back] == [rid for rid, _ in stored]
    for (_, a), (_, b) in zip(back, stored):
        assert torch.equal(a.heat_all, b.heat_all) and torch.equal(a.dir_gap, b.dir_gap)  # properties as columns
        assert torch.equal(a.atom_types, b.atom_types)
        torch.testing.assert_close(a.frac_coords, b.frac_coords, rtol=0, atol=1e-6)
        torch.testing.assert_close(a.lattice, b.lattice, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------- building
def test_bad_items_are_skipped_and_stored_or_raise_when_strict(tmp_path: Path) -> None:
    src = write_rings(tmp_path / "r.txt", 20, bad={4: "{oops", 9: json.dumps({**ring_item(8), "types": [0, 5, 1]}),
                                                   12: json.dumps(ring_item(0))})
    report = GraphDatabase.build(RingsDomain(), src, tmp_path / "r.db", progress=False, chunk=3)
    assert (report.read, report.stored, report.skipped) == (19, 17, 3)
    with GraphDatabase.open(tmp_path / "r.db") as db:
        reasons = {s["where"]: s["reason"] for s in db.skipped()}
        assert db.ids() == [f"g{k}" for k in range(20) if k not in (3, 8, 11)]
    assert "not JSON" in reasons["r.txt line 4"]
    assert "types" in reasons["r.txt line 9"] and "[0, 3)" in reasons["r.txt line 9"]
    assert "duplicate id 'g0'" in reasons["r.txt line 12"]
    with pytest.raises(DataError, match="r.txt line 4"):
        GraphDatabase.build(RingsDomain(), src, tmp_path / "strict.db", progress=False, strict=True)


def test_interrupted_build_resumes_without_duplicates_or_losses(tmp_path: Path) -> None:
    src = write_rings(tmp_path / "r.txt", 50, bad={30: "nope"})
    path, domain = tmp_path / "r.db", RingsDomain()
    with pytest.raises(RuntimeError, match="died after 23"):
        GraphDatabase.build(domain, src, path, progress=False, chunk=5, interrupt_after=23)
    with GraphDatabase.open(path) as db:
        assert db.ids() == [f"g{k}" for k in range(23)]
        assert not db.sources()[str(src.resolve())]["complete"]
    partial = GraphDatabase.build(domain, src, path, progress=False, chunk=4, max_items=35)
    # 35 records are lines 1-36 but the bad line 30: 23 stored before, 12 new
    assert (partial.already, partial.stored, partial.complete) == (23, 12, False)
    converted = domain.converted
    report = GraphDatabase.build(domain, src, path, progress=False, chunk=7)
    assert (report.already, report.stored, report.skipped, report.complete) == (35, 14, 1, True)
    assert domain.converted - converted == 14  # stored items are not converted again
    expected = expected_graphs(domain, src)
    with GraphDatabase.open(path) as db:
        assert len(db) == 49 and db.ids() == [rid for rid, _ in expected]
        for (_, want), got in zip(expected, db.iter_graphs(batch=6)):
            assert_same_graph(got, want)
        assert len(db.skipped()) == 1  # the bad line, reported by two runs, stored once


def test_a_failed_build_with_nothing_stored_leaves_nothing_to_resume(tmp_path: Path) -> None:
    src, path, domain = write_rings(tmp_path / "r.txt", 10), tmp_path / "r.db", RingsDomain()
    # the reader dies before any item: a new database file is removed, and the error says so
    with pytest.raises(DatabaseError, match=r"nothing stored from .*r.txt \(.*r.db removed\): reader died after 0"):
        GraphDatabase.build(domain, src, path, progress=False, interrupt_after=0)
    assert not path.exists() and not Path(f"{path}-wal").exists()
    # strict meets a bad first item: the same, and the error keeps its kind
    bad = write_rings(tmp_path / "bad.txt", 3, bad={1: "{oops"})
    with pytest.raises(DataError, match=r"nothing stored .*removed\): bad.txt line 1: not JSON"):
        GraphDatabase.build(domain, bad, path, progress=False, strict=True)
    assert not path.exists()
    # into a database that holds another source: that one is kept, the failed one not recorded
    GraphDatabase.build(domain, src, path, progress=False)
    with pytest.raises(DataError, match="keeps its other sources; this one is not recorded"):
        GraphDatabase.build(domain, bad, path, progress=False, strict=True)
    with GraphDatabase.open(path) as db:
        assert list(db.sources()) == [str(src.resolve())] and len(db) == 10 and db.skipped() == []
    # a source that yields nothing at all
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DataError, match=r"empty.txt: no 'rings' item to store \(.*new.db removed\)"):
        GraphDatabase.build(domain, tmp_path / "empty.txt", tmp_path / "new.db", progress=False)
    assert not (tmp_path / "new.db").exists()
    # something stored before the failure: resumable, as before
    with pytest.raises(RuntimeError, match="died after 4"):
        GraphDatabase.build(domain, src, tmp_path / "part.db", progress=False, chunk=2, interrupt_after=4)
    with GraphDatabase.open(tmp_path / "part.db") as db:
        assert len(db) == 4 and not db.sources()[str(src.resolve())]["complete"]


def test_cli_build_with_every_item_skipped_fails_and_says_why(tmp_path: Path) -> None:
    src = tmp_path / "bad.csv"
    src.write_text("material_id,cif\na,not a cif\nb,\n")
    out = tmp_path / "bad.db"
    res = CliRunner().invoke(cli, ["db", "build", str(src), "-d", "crystals", "-o", str(out), "-q"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "nothing stored: all 2 item(s)" in res.output and "bad.csv row 1 (material_id a)" in res.output
    with GraphDatabase.open(out) as db:  # kept: it records why
        assert len(db) == 0 and len(db.skipped()) == 2
    missing_column = tmp_path / "nocif.csv"
    missing_column.write_text("material_id,structure\na,x\n")
    res = CliRunner().invoke(cli, ["db", "build", str(missing_column), "-d", "crystals", "-o",
                                   str(tmp_path / "n.db"), "-q"])
    assert res.exit_code == 2 and "nothing stored" in res.output and "no 'cif' column" in res.output
    assert not (tmp_path / "n.db").exists()


def _slow_build(src: Path, path: Path) -> None:
    GraphDatabase.build(RingsDomain(), src, path, progress=False, chunk=5, delay=0.01)


def test_build_killed_hard_keeps_committed_chunks_and_resumes(tmp_path: Path) -> None:
    src, path = write_rings(tmp_path / "r.txt", 300), tmp_path / "r.db"
    child = multiprocessing.get_context("fork").Process(target=_slow_build, args=(src, path))
    child.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not path.exists() or _count(path) < 15):
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    with GraphDatabase.open(path) as db:
        before = len(db)
        assert 15 <= before < 300 and before % 5 == 0  # whole chunks only
        assert db.ids() == [f"g{k}" for k in range(before)]
    report = GraphDatabase.build(RingsDomain(), src, path, progress=False)
    assert (report.already, report.stored) == (before, 300 - before)
    with GraphDatabase.open(path) as db:
        assert db.ids() == [f"g{k}" for k in range(300)]


def _count(path: Path) -> int:
    try:
        with GraphDatabase.open(path) as db:
            return len(db)
    except (DatabaseError, sqlite3.OperationalError):
        return 0


# ---------------------------------------------------------------------------- concurrency
def test_two_readers_while_a_writer_appends(tmp_path: Path) -> None:
    path, domain = tmp_path / "c.db", RingsDomain()
    GraphDatabase.create(path, domain).close()
    with closing(sqlite3.connect(path)) as conn:  # WAL: readers never wait for the writer
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    items = [(f"g{k}", domain.record_to_graph({"obj": (i["types"], i["xy"]), "props": {}}))
             for k, i in enumerate(map(ring_item, range(210)))]
    done, seen, errors = threading.Event(), [set(), set()], []

    def write() -> None:
        with GraphDatabase.open(path, readonly=False) as db:
            for k in range(0, 210, 7):
                db.append(items[k:k + 7], "synthetic", chunk=7)
                time.sleep(0.005)
        done.set()

    def read(r: int) -> None:
        try:
            with GraphDatabase.open(path) as db:
                while True:
                    finished = done.is_set()  # then this read must see everything
                    got = list(db.iter_graphs(batch=16, with_ids=True))
                    assert len(got) % 7 == 0
                    assert [rid for rid, _ in got] == [rid for rid, _ in items[:len(got)]]
                    if got:
                        assert_same_graph(got[-1][1], items[len(got) - 1][1])
                    seen[r].add(len(got))
                    if finished:
                        assert len(got) == 210
                        break
        except BaseException as exc:  # noqa: BLE001 - reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read, args=(r,)) for r in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert all(len(s) >= 2 and max(s) == 210 for s in seen), seen  # each reader saw the file grow
    with GraphDatabase.open(path, readonly=False) as db:
        with pytest.raises(DatabaseError, match="'g3'"):
            db.append(items[3:4], "synthetic")
        with pytest.raises(DatabaseError, match="'x'"):
            db.append([("x", items[0][1]), ("y", items[1][1]), ("x", items[2][1])], "synthetic")
        assert len(db) == 210 and db.ids()[-1] == "g209"


# ---------------------------------------------------------------------------- checks and errors
def test_domain_name_or_version_mismatch_is_refused(tmp_path: Path) -> None:
    src = write_rings(tmp_path / "r.txt", 5)
    GraphDatabase.build(RingsDomain(), src, tmp_path / "r.db", progress=False)

    class RingsV2(RingsDomain):
        version = "2"

    with pytest.raises(DatabaseError, match=r"'rings' version 1, not 'rings' version 2"):
        GraphDatabase.open(tmp_path / "r.db", domain=RingsV2())
    with pytest.raises(DatabaseError, match="version 2"):
        GraphDatabase.build(RingsV2(), src, tmp_path / "r.db", progress=False)
    with pytest.raises(DatabaseError, match="not 'crystals'"):
        GraphDatabase.open(tmp_path / "r.db", domain="crystals")
    with pytest.raises(DatabaseError, match="already exists"):
        GraphDatabase.create(tmp_path / "r.db", RingsDomain())
    with GraphDatabase.open(tmp_path / "r.db") as db, pytest.raises(DatabaseError, match="read-only"):
        db.append([], "x")


def test_missing_corrupt_and_foreign_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="no such database file"):
        GraphDatabase.open(tmp_path / "none.db")
    (tmp_path / "junk.db").write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(DatabaseError, match="not a graphdiff database"):
        GraphDatabase.open(tmp_path / "junk.db")
    other = sqlite3.connect(tmp_path / "other.db")
    other.execute("CREATE TABLE people (name TEXT)")
    other.commit()
    other.close()
    with pytest.raises(DatabaseError, match="not a graphdiff database"):
        GraphDatabase.open(tmp_path / "other.db")
    with pytest.raises(DataError, match="no such file"):
        GraphDatabase.build(RingsDomain(), tmp_path / "none.txt", tmp_path / "x.db")


# ---------------------------------------------------------------------------- reading and export
@pytest.fixture
def rings_db(tmp_path: Path) -> tuple[Path, list[tuple[str, Data]]]:
    src = write_rings(tmp_path / "r.txt", 40)
    GraphDatabase.build(RingsDomain(), src, tmp_path / "r.db", progress=False, chunk=9)
    return tmp_path / "r.db", expected_graphs(RingsDomain(), src)


def test_info_statistics(rings_db: tuple[Path, list]) -> None:
    path, expected = rings_db
    with GraphDatabase.open(path) as db:
        info = db.info()
    weights = [float(g.weight) for _, g in expected if "weight" in g]
    finite = [w for w in weights if not math.isnan(w)]
    p = info["properties"]["weight"]
    assert (p["count"], p["nan"], p["missing"]) == (len(finite), len(weights) - len(finite), 40 - len(weights))
    assert (p["min"], p["max"]) == (min(finite), max(finite)) and p["mean"] == pytest.approx(sum(finite) / len(finite))
    assert info["num_nodes"]["histogram"] == {n: 8 for n in range(3, 8)}


def test_export_jsonl_round_trip_and_domain_writer(rings_db: tuple[Path, list], tmp_path: Path) -> None:
    path, expected = rings_db
    with GraphDatabase.open(path) as db:
        assert db.export(tmp_path / "all.jsonl") == 40
        assert db.export(tmp_path / "all.txt", domain=RingsDomain(), chunk=6) == 40  # appends in chunks
    lines = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    assert [line["id"] for line in lines] == [rid for rid, _ in expected]
    for line, (_, want) in zip(lines, expected):
        assert_same_graph(graph_from_json(line, SPEC), want)
    back = expected_graphs(RingsDomain(), tmp_path / "all.txt")
    assert [rid for rid, _ in back] == [rid for rid, _ in expected]
    for (_, got), (_, want) in zip(back, expected):
        assert torch.equal(got.types, want.types) and torch.equal(got.xy, want.xy)


def test_dataset_with_dataloader_workers_and_batchstream(rings_db: tuple[Path, list]) -> None:
    from torch_geometric.loader import DataLoader

    path, expected = rings_db
    ds = DatabaseDataset(path, domain="rings")
    assert len(ds) == 40
    assert_same_graph(ds[-1], expected[-1][1])  # opens a connection before the workers fork
    assert "weight" not in expected[0][1] and math.isnan(ds[0].weight)  # filled: batches collate
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batches = list(DataLoader(ds, batch_size=6, num_workers=2, multiprocessing_context="fork"))
    assert sum(b.num_graphs for b in batches) == 40
    assert torch.equal(torch.cat([b.types for b in batches]), torch.cat([g.types for _, g in expected]))
    clone = pickle.loads(pickle.dumps(ds))
    assert_same_graph(clone[7], expected[7][1])
    assert "weight" not in DatabaseDataset(path, fill=None)[0]
    stream = BatchStream(ds, batch_size=8, shuffle=False)
    assert torch.equal(stream.batch_at(1).xy, torch.cat([g.xy for _, g in expected[8:16]]))
    with pytest.raises(IndexError):
        ds[40]


# ---------------------------------------------------------------------------- CLI
def test_cli_build_info_export(crystal_csv: Path, tmp_path: Path) -> None:
    runner, db = CliRunner(), tmp_path / "c.db"
    res = runner.invoke(cli, ["db", "build", str(crystal_csv), "--domain", "crystals", "--out", str(db), "-q"])
    assert res.exit_code == 0, res.output
    assert "12 graph(s) stored" in res.output and "1 skipped" in res.output
    res = runner.invoke(cli, ["db", "build", str(crystal_csv), "-d", "crystals", "-o", str(db), "-q"])
    assert res.exit_code == 0 and "0 graph(s) stored, 12 already there" in res.output
    res = runner.invoke(cli, ["db", "info", str(db), "--json"])
    info = json.loads(res.output)
    assert info["num_graphs"] == 12 and info["skipped"][0]["where"].startswith("small.csv row 13")
    res = runner.invoke(cli, ["db", "info", str(db)])
    assert res.exit_code == 0 and "12 graph(s) of domain 'crystals'" in res.output and "row 13" in res.output
    res = runner.invoke(cli, ["db", "export", str(db), "--out", str(tmp_path / "c.jsonl"), "-q"])
    assert res.exit_code == 0 and len((tmp_path / "c.jsonl").read_text().splitlines()) == 12
    res = runner.invoke(cli, ["db", "export", str(db), "--out", str(tmp_path / "c.xyz"), "-q"])
    assert res.exit_code == 2 and "writes" in res.output and ".jsonl" in res.output
    for sub in ("build", "info", "export"):
        assert runner.invoke(cli, ["db", sub, "--help"]).exit_code == 0


def test_cli_errors_are_clean(crystal_csv: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    (tmp_path / "junk.db").write_text("hello")
    cases = [(["db", "info", str(tmp_path / "junk.db")], "not a graphdiff database"),
             (["db", "info", str(tmp_path / "none.db")], "no such database file"),
             (["db", "build", str(tmp_path / "none.csv"), "-d", "crystals", "-o", str(tmp_path / "a.db")],
              "no such file"),
             (["db", "build", str(crystal_csv), "-d", "nonexistent", "-o", str(tmp_path / "a.db")], "--domain")]
    write_rings(tmp_path / "r.txt", 3)
    GraphDatabase.build(RingsDomain(), tmp_path / "r.txt", tmp_path / "r.db", progress=False)
    cases.append((["db", "build", str(crystal_csv), "-d", "crystals", "-o", str(tmp_path / "r.db")],
                  "built for domain 'rings'"))
    for args, message in cases:
        res = runner.invoke(cli, args)
        assert res.exit_code == 2, (args, res.output)
        assert message in res.output and "Traceback" not in res.output

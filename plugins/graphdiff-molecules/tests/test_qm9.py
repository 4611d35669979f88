"""QM9 from the qm9pack wheel: counts, EDM's split, records with skip reports, the extxyz export.

Counts and splits use the full index (a ~1 s scan); conversions stay at a few hundred molecules.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from graphdiff.errors import DataError
from graphdiff_molecules import MoleculeDomain
from graphdiff_molecules.qm9 import (EDM_SPLIT_SIZES, POLARIZABILITY_COLUMNS, PROPERTY_COLUMNS,
                                     QM9_COUNT, main, parse_qm9_source, qm9_files, qm9_id,
                                     qm9_indices, qm9_split, read_qm9)

DOMAIN = MoleculeDomain()
PROPS = set(PROPERTY_COLUMNS.values()) | set(POLARIZABILITY_COLUMNS.values()) | {"omega1"}
#: First entries of QM9's uncharacterized.txt (1-based indices), and its last one.
UNCHARACTERIZED_SAMPLE = (58, 61, 80, 185, 186, 245, 267, 280, 286, 752, 133866)


# ---------------------------------------------------------------------------- counts and split
def test_qm9pack_ships_the_characterized_molecules():
    idx = qm9_indices()
    assert len(idx) == QM9_COUNT == 130831
    assert idx[0] == 1 and idx[-1] == 133885
    present = set(idx)
    assert not present & set(UNCHARACTERIZED_SAMPLE)
    assert set(range(1, 58)) <= present
    assert len(set(range(1, 133886)) - present) == 3054


def test_edm_split_sizes_disjoint_and_sorted():
    split = qm9_split()
    assert {k: len(v) for k, v in split.items()} == {"train": 100000, "valid": 17748, "test": 13083}
    assert EDM_SPLIT_SIZES == {"train": 100000, "valid": 17748, "test": 13083}
    sets = {k: set(v) for k, v in split.items()}
    assert not sets["train"] & sets["valid"] and not sets["train"] & sets["test"]
    assert not sets["valid"] & sets["test"]
    assert sets["train"] | sets["valid"] | sets["test"] == {qm9_id(i) for i in qm9_indices()}
    for ids in split.values():  # EDM keeps archive (index) order within a split
        assert ids == sorted(ids)


def test_edm_split_follows_gen_splits_gdb9_literally():
    """EDM's code, step by step (qm9/data/prepare/qm9.py::gen_splits_gdb9), on the same index."""
    excluded = sorted(set(range(133885)) - {i - 1 for i in qm9_indices()})
    assert len(excluded) == 3054
    included = np.array(sorted(set(range(133885)) - set(excluded)))
    nmols = 133885 - 3054
    ntrain, ntest = 100000, int(0.1 * nmols)
    nvalid = nmols - (ntrain + ntest)
    state = np.random.get_state()
    try:
        np.random.seed(0)
        perm = np.random.permutation(nmols)
    finally:
        np.random.set_state(state)
    train, valid, test, extra = np.split(perm, [ntrain, ntrain + nvalid, ntrain + nvalid + ntest])
    assert len(extra) == 0
    expect = {name: sorted(qm9_id(i + 1) for i in included[part])
              for name, part in (("train", train), ("valid", valid), ("test", test))}
    assert qm9_split(0) == expect


def test_split_is_pinned_and_seeded():
    split = qm9_split()
    assert split["train"][:3] == ["dsgdb9nsd_000001", "dsgdb9nsd_000002", "dsgdb9nsd_000004"]
    assert split["test"][:5] == ["dsgdb9nsd_000011", "dsgdb9nsd_000014", "dsgdb9nsd_000022",
                                 "dsgdb9nsd_000031", "dsgdb9nsd_000044"]
    assert qm9_split(0) == split
    other = qm9_split(1)
    assert {k: len(v) for k, v in other.items()} == {k: len(v) for k, v in split.items()}
    assert other["test"] != split["test"]


def test_data_comes_from_the_wheel_without_importing_qm9pack():
    parts, polar = qm9_files()
    assert [p.name for p in parts] == ["qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv"]
    assert polar.name == "qm9_polarizability.csv"
    list(read_qm9(ids=["dsgdb9nsd_000001"]))
    # importing qm9pack would need pkg_resources (gone from recent setuptools): never done
    assert "qm9pack.qm9pack_getdata" not in sys.modules


# ---------------------------------------------------------------------------- records
def test_methane_record_has_every_property():
    (rec,) = read_qm9(ids=["dsgdb9nsd_000001"])
    assert rec["id"] == "dsgdb9nsd_000001"
    assert isinstance(rec["obj"], Atoms) and rec["obj"].get_chemical_formula() == "CH4"
    assert rec["smiles"] == "C"
    assert set(rec["props"]) == PROPS
    p = rec["props"]
    # QM9's dsgdb9nsd_000001.xyz: A B C mu alpha homo lumo gap r2 zpve U0 U H G Cv
    assert (p["A"], p["B"], p["C"]) == (157.7118, 157.70997, 157.70699)
    assert (p["mu"], p["alpha"], p["homo"], p["lumo"], p["gap"]) == (0.0, 13.21, -0.3877, 0.1171, 0.5048)
    assert (p["r2"], p["zpve"], p["U0"], p["U"], p["H"], p["G"], p["Cv"]) == (
        35.3641, 0.044749, -40.47893, -40.476062, -40.475117, -40.498597, 6.469)
    assert p["omega1"] == 3151.7078 and p["alpha_xx"] == 13.211
    np.testing.assert_allclose(rec["obj"].positions[0], [-0.0126981359, 1.0858041578, 0.0080009958])


def test_split_records_are_checked_molecules():
    test_ids = set(qm9_split()["test"])
    skipped: list = []
    records = list(read_qm9("test", max_items=200, skipped=skipped, check=DOMAIN.check))
    assert len(records) == 200 and skipped == []
    assert all(r["id"] in test_ids for r in records)
    assert [r["id"] for r in records] == sorted(r["id"] for r in records)
    for r in records:
        assert set(r["props"]) == PROPS and all(math.isfinite(v) for v in r["props"].values())
        assert set(r["obj"].get_chemical_symbols()) <= {"H", "C", "N", "O", "F"}
    graph = DOMAIN.record_to_graph(records[0])
    assert graph.item_id == records[0]["id"] and float(graph.gap) == pytest.approx(records[0]["props"]["gap"])


def _rows(n: int) -> tuple[list[str], list[list[str]]]:
    parts, _ = qm9_files()
    with parts[0].open("r", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        head = next(reader)
        return head, [row for row, _ in zip(reader, range(n))]


def test_bad_rows_are_skipped_and_reported(tmp_path):
    head, rows = _rows(8)
    col = {name: k for k, name in enumerate(head)}
    rows[1][col["XYZ_Ang"]] = "[[0.0,0.0,zero]]"                       # unparsable coordinates
    rows[2][col["N_atoms"]] = "7"                                      # count disagrees
    rows[3][col["HOMO_au"]] = "n/a"                                    # property not a number
    text = rows[4][col["XYZ_Ang"]]
    xyz = np.array([float(x) for x in text.replace("[", " ").replace("]", " ").split(",")]).reshape(-1, 3)
    xyz[1] = xyz[0] + 0.01                                             # overlapping atoms
    rows[4][col["XYZ_Ang"]] = json.dumps(xyz.tolist())
    path = tmp_path / "qm9_part1.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([head, *rows])
    skipped: list = []
    records = list(read_qm9(files=[path], polarizability=False, skipped=skipped, check=DOMAIN.check))
    assert [r["id"] for r in records] == [qm9_id(i) for i in (1, 6, 7, 8)]
    assert all("alpha_xx" not in r["props"] for r in records)
    assert [s["where"] for s in skipped] == [
        "qm9_part1.csv row 3 (dsgdb9nsd_000002)", "qm9_part1.csv row 4 (dsgdb9nsd_000003)",
        "qm9_part1.csv row 5 (dsgdb9nsd_000004)", "qm9_part1.csv row 6 (dsgdb9nsd_000005)"]
    reasons = [s["reason"] for s in skipped]
    assert "XYZ_Ang: not a list of numbers" in reasons[0]
    assert "N_atoms = 7 disagree" in reasons[1]
    assert "HOMO_au = 'n/a' is not a number" in reasons[2]
    assert "closer than min_distance" in reasons[3]
    with pytest.raises(DataError, match=r"qm9_part1.csv row 3 \(dsgdb9nsd_000002\)"):
        list(read_qm9(files=[path], polarizability=False, strict=True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(list(read_qm9(files=[path], polarizability=False))) == 5
    assert [str(w.message).split(":")[0] for w in caught] == [
        "skipped qm9_part1.csv row 3 (dsgdb9nsd_000002)", "skipped qm9_part1.csv row 4 (dsgdb9nsd_000003)",
        "skipped qm9_part1.csv row 5 (dsgdb9nsd_000004)"]


def test_unknown_split_and_ids_are_refused():
    with pytest.raises(DataError, match="unknown QM9 split 'val'"):
        list(read_qm9("val"))
    with pytest.raises(DataError, match="not a QM9 id"):
        list(read_qm9(ids=["methane"]))


# ---------------------------------------------------------------------------- qm9:// sources
def test_domain_reads_qm9_sources():
    assert parse_qm9_source("qm9://train") == {"split": "train", "seed": 0}
    assert parse_qm9_source(Path("qm9://test?seed=3")) == {"split": "test", "seed": 3}
    assert parse_qm9_source("data/qm9.xyz") is None
    valid = set(qm9_split()["valid"])
    records = list(itertools.islice(DOMAIN.read("qm9://valid"), 30))
    assert len(records) == 30 and all(r["id"] in valid for r in records)
    with pytest.raises(DataError, match="unknown QM9 split 'dev'"):
        list(DOMAIN.read("qm9://dev"))
    with pytest.raises(DataError, match="unknown option 'max'"):
        list(DOMAIN.read("qm9://test?max=3"))


def test_read_graphs_takes_a_qm9_source():
    from graphdiff.data import read_graphs

    graphs = read_graphs(DOMAIN, "qm9://test", max_items=25)
    assert len(graphs) == 25 and graphs[0].item_id == qm9_split()["test"][0]


def test_cached_qm9_splits_are_kept_apart():
    """The graph cache keys a dataset URI by the URI: two splits never share a cache entry."""
    from graphdiff.data import read_graphs

    test = read_graphs(DOMAIN, "qm9://test", max_items=5, cache=True)
    valid = read_graphs(DOMAIN, "qm9://valid", max_items=5, cache=True)
    assert [g.item_id for g in valid] == qm9_split()["valid"][:5]
    assert [g.item_id for g in read_graphs(DOMAIN, "qm9://test", max_items=5, cache=True)] == \
        [g.item_id for g in test]


def test_a_run_config_keeps_dataset_uris(tmp_path):
    from graphdiff.config import load_config

    path = tmp_path / "run.toml"
    path.write_text('[data]\ndomain = "molecules"\ntrain_source = "qm9://train"\n'
                    'val_source = "data/valid.xyz"\n')
    cfg = load_config(path)
    assert cfg.data.train_source == "qm9://train"
    assert cfg.data.val_source == str((tmp_path / "data/valid.xyz").resolve())


# ---------------------------------------------------------------------------- command line
def test_cli_writes_extxyz_splits_the_domain_reads(tmp_path, capsys):
    assert main([str(tmp_path), "--max", "40"]) == 0
    manifest = json.loads((tmp_path / "qm9_splits.json").read_text())
    assert manifest["sizes"] == {"train": 100000, "valid": 17748, "test": 13083}
    assert manifest["written"] == {"train": 40, "valid": 40, "test": 40}
    assert manifest["ids"]["test"] == qm9_split()["test"]
    direct = list(read_qm9("test", max_items=40))
    back = list(DOMAIN.read(tmp_path / "qm9_test.extxyz", strict=True))
    assert [r["id"] for r in back] == [r["id"] for r in direct]
    for a, b in zip(direct, back):
        assert DOMAIN.equal(a["obj"], b["obj"])
        assert b["props"] == pytest.approx(a["props"], rel=1e-12)
        assert b["obj"].info["smiles"] == a["smiles"]
    assert "wrote 40 molecules" in capsys.readouterr().out


def test_cli_rejects_bad_max(tmp_path):
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--max", "0"])


def test_graph_database_builds_from_a_qm9_source(tmp_path):
    """`db build` takes a dataset URI: keyed by the URI (not a path), resumable, and the CLI
    does not collapse `qm9://` to `qm9:/`."""
    from click.testing import CliRunner

    from graphdiff.cli import cli
    from graphdiff.db import GraphDatabase

    path = tmp_path / "qm9.db"
    report = GraphDatabase.build(DOMAIN, "qm9://test", path, max_items=4, progress=False)
    assert (report.stored, report.complete) == (4, False)
    result = CliRunner().invoke(cli, ["db", "build", "qm9://test", "--domain", "molecules", "--out", str(path),
                                      "--max-items", "6", "-q"])
    assert result.exit_code == 0, result.output
    assert "2 graph(s) stored, 4 already there" in result.output
    with GraphDatabase.open(path, domain=DOMAIN) as db:
        assert db.ids() == qm9_split()["test"][:6]
        assert list(db.sources()) == ["qm9://test"]
        assert "gap" in db.property_names()
    result = CliRunner().invoke(cli, ["db", "build", "nowhere.xyz", "--domain", "molecules", "--out", str(path)])
    assert result.exit_code == 2 and "nowhere.xyz: no such file or folder" in result.output

"""benchmarks/_provenance.py, the one writer of benchmark results, and the results it wrote:
keys, repeats kept beside earlier runs, inputs by content hash rather than machine path, the
dirty flag; benchmarks/backfill_provenance.py on a small history; and every file of
benchmarks/<domain>/results in the entries layout with a provenance on each run."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
MACHINE_PATH = re.compile(r"(?<![\w.~/-])/(?:work|home)/[\w.-]")


@pytest.fixture(scope="module")
def prov(load_module):
    return load_module(BENCH / "_provenance.py", "_provenance")


@pytest.fixture(scope="module")
def backfill(load_module):
    return load_module(BENCH / "backfill_provenance.py", "backfill_provenance_under_test")


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t",
                           "-c", "commit.gpgsign=false", *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A git repository with one committed file."""
    root = tmp_path / "repo"
    (root / "benchmarks" / "toy" / "results").mkdir(parents=True)
    (root / "code.py").write_text("x = 1\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    return root


# ----------------------------------------------------------------------------------------------
# keys and repeats


def test_a_rerun_with_the_same_key_is_appended_beside_the_first(prov, repo: Path) -> None:
    path = repo / "benchmarks" / "toy" / "results" / "toy.json"
    run = prov.Run(seeds={"seed": 0}, argv=["benchmarks/toy.py", "--k", "2"], root=repo)
    prov.record(path, {"k": 2, "rows": 757}, {"match_rate": 0.551}, run)
    prov.record(path, {"rows": 757, "k": 2}, {"match_rate": 0.538}, run)  # same key, names in another order
    prov.record(path, {"k": 2, "rows": 757, "draws": 10}, {"match_rate": 0.540}, run)  # one more parameter
    doc = json.loads(path.read_text())
    assert [e["key"] for e in doc["entries"]] == [{"k": 2, "rows": 757}, {"draws": 10, "k": 2, "rows": 757}]
    first = doc["entries"][0]["runs"]
    assert [r["match_rate"] for r in first] == [0.551, 0.538]  # the first run kept, the repeat after it
    assert all(r["provenance"]["commit"] == git(repo, "rev-parse", "HEAD").strip() for r in first)
    assert prov.latest(prov.entries(path, k=2, rows=757)[0])["match_rate"] == 0.538
    assert len(prov.entries(path, k=2)) == 2 and prov.entries(path, k=3) == []
    assert prov.newest(prov.entries(path))["match_rate"] == 0.540
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not the temporary file's 0600
    assert [p.name for p in path.parent.iterdir()] == ["toy.json"]  # no temporary file left


def test_a_key_from_arguments_leaves_out_what_only_names_the_output(prov, repo: Path) -> None:
    ns = argparse.Namespace(dataset="perov_5", k=2, draws=None, name="perov5-csp", quiet=True,
                            test=repo / "runs" / "test.csv", sizes=(1, 2))
    key = prov.key_from_args(ns, ignore=("name", "quiet"), root=repo, threads=1)
    assert key["k"] == 2 and key["draws"] is None and key["threads"] == 1 and key["sizes"] == [1, 2]
    assert "name" not in key and "quiet" not in key
    stored = prov.canonical_key(key, repo)
    assert stored["test"] == "runs/test.csv" and list(stored) == sorted(stored)


def test_a_file_of_another_layout_is_refused_and_left_alone(prov, repo: Path) -> None:
    path = repo / "benchmarks" / "toy" / "results" / "old.json"
    path.write_text(json.dumps({"runs": {"k=2": {"match_rate": 0.5}}}))
    with pytest.raises(prov.ResultsFormatError, match="not a results file of entries"):
        prov.record(path, {"k": 2}, {"match_rate": 0.6}, prov.Run(root=repo))
    assert json.loads(path.read_text()) == {"runs": {"k=2": {"match_rate": 0.5}}}


# ----------------------------------------------------------------------------------------------
# what a run records


def test_inputs_are_named_by_hash_and_repository_path_never_by_machine_path(prov, repo: Path) -> None:
    split = repo / "runs" / "perov_5" / "test.csv"
    split.parent.mkdir(parents=True)
    split.write_text("material_id,cif\n1,x\n")
    folder = repo / "runs" / "graphs"
    folder.mkdir()
    (folder / "train.jsonl").write_text("{}\n")
    run = prov.Run(seeds=[0, 1], data=[split, folder, repo / "runs" / "missing.csv"], root=repo)
    path = repo / "benchmarks" / "toy" / "results" / "toy.json"
    prov.record(path, {"source": split}, {"source": str(split), "log": f"wrote {split} in 1 s"}, run)
    text = path.read_text()
    assert str(repo) not in text and str(repo.parent) not in text
    stored = json.loads(text)["entries"][0]
    assert stored["key"] == {"source": "runs/perov_5/test.csv"}
    assert stored["runs"][0]["log"] == "wrote runs/perov_5/test.csv in 1 s"
    data = stored["runs"][0]["provenance"]["data"]
    assert data[0] == {"path": "runs/perov_5/test.csv", "sha256": hashlib.sha256(split.read_bytes()).hexdigest(),
                       "bytes": split.stat().st_size}
    assert data[1]["path"] == "runs/graphs" and len(data[1]["sha256"]) == 64
    assert data[2] == {"path": "runs/missing.csv", "sha256": None, "missing": True}
    # the same content elsewhere has the same hash
    other = repo / "copy.csv"
    other.write_bytes(split.read_bytes())
    assert prov.file_ref(other, repo)["sha256"] == data[0]["sha256"]


def test_a_file_outside_the_repository_keeps_only_its_name(prov, repo: Path, tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside.csv"
    outside.write_text("a\n")
    try:
        ref = prov.file_ref(outside, repo / "benchmarks")
    finally:
        outside.unlink()
    assert ref["path"] is None and ref["name"] == outside.name and len(ref["sha256"]) == 64


def test_the_dirty_flag_follows_uncommitted_code_but_not_results(prov, repo: Path) -> None:
    clean = prov.git_state(repo)
    assert clean["dirty"] is False and clean["changed"] == [] and clean["diff_sha256"] is None
    assert clean["commit"] == git(repo, "rev-parse", "HEAD").strip()
    (repo / "benchmarks" / "toy" / "results" / "toy.json").write_text("{}")  # what benchmarks write
    (repo / "runs").mkdir()
    (repo / "runs" / "x.csv").write_text("a\n")
    assert prov.git_state(repo)["dirty"] is False
    (repo / "code.py").write_text("x = 2\n")
    (repo / "new.py").write_text("y = 1\n")
    dirty = prov.git_state(repo)
    assert dirty["dirty"] is True and dirty["changed"] == ["code.py", "new.py"]
    run = prov.Run(root=repo)
    assert run.provenance()["dirty"] is True
    assert run.provenance()["diff_sha256"] == dirty["diff_sha256"]  # the same code, the same hash
    (repo / "new.py").write_text("y = 2\n")
    assert prov.git_state(repo)["diff_sha256"] != dirty["diff_sha256"]


def test_a_run_keeps_the_commit_it_started_with_when_head_moves(prov, repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD").strip()
    run = prov.Run(root=repo)
    assert "tree_at_end" not in run.provenance()
    (repo / "code.py").write_text("x = 3\n")  # a commit lands while the run runs
    git(repo, "commit", "-q", "-am", "second")
    p = run.provenance()
    assert (p["commit"], p["dirty"]) == (first, False)
    assert p["tree_at_end"]["commit"] == git(repo, "rev-parse", "HEAD").strip() != first
    assert "started with" in p["tree_at_end"]["note"]


@pytest.mark.parametrize("value, expected", [
    ("/elsewhere/main/runs/perov_5/train.csv", "runs/perov_5/train.csv"),   # trained on another checkout
    ("/data/x/shared/data/perov_5/val.csv", "../shared/data/perov_5/val.csv"),
    ("/home/someone/secret/train.csv", "train.csv"),                        # nothing to recognise: the name
    ("runs/x.csv", "runs/x.csv"),                                           # already relative
    ("crystals", "crystals"),
])
def test_metadata_paths_of_another_checkout_become_repository_relative(prov, repo: Path, value, expected) -> None:
    assert prov.portable_path(value, repo) == expected
    assert prov.portable_path(str(repo / "runs" / "a.csv"), repo) == "runs/a.csv"  # this checkout
    meta = prov.portable_meta({"source": value, "test_ids": ["a"], "nested": {"paths": [value]}, "n": 3}, repo)
    assert meta == {"source": expected, "nested": {"paths": [expected]}, "n": 3}


def test_outside_a_git_checkout_the_commit_is_unknown(prov, tmp_path: Path) -> None:
    assert prov.git_state(tmp_path) == {"commit": None, "dirty": None, "changed": None, "diff_sha256": None}


def test_a_run_records_argv_versions_machine_seeds_and_times(prov, repo: Path) -> None:
    run = prov.Run(seeds={"seed": 3}, argv=[str(repo / "benchmarks" / "toy.py"), "--out", str(repo / "o.json")],
                   root=repo)
    p = run.provenance()
    assert p["argv"] == ["python", "benchmarks/toy.py", "--out", "o.json"]
    assert p["command"] == "python benchmarks/toy.py --out o.json"
    assert p["seeds"] == {"seed": 3}
    assert set(p["versions"]) == {"python", "graphdiff", "torch", "pymatgen", "chgnet"}
    assert p["versions"]["graphdiff"] is not None
    assert prov.versions(["graphdiff-no-such-distribution"])["graphdiff-no-such-distribution"] is None
    assert {"cpu", "cores", "torch_threads", "gpu"} <= set(p["machine"]) and p["machine"]["cores"] >= 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", p["started_utc"])
    assert p["wall_seconds"] >= 0


def test_recording_imports_none_of_the_heavy_packages() -> None:
    code = (f"import sys; sys.path.insert(0, {str(BENCH)!r}); import _provenance as p; p.Run().provenance(); "
            "print(sorted(m for m in ('torch', 'pymatgen', 'chgnet') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_bundled_names_resolve_to_plugin_files(prov) -> None:
    assert prov.bundled("perov5-csp").name == "perov5-csp.ckpt"
    assert prov.bundled("perov5-heat").name == "perov5-heat.pt"
    assert prov.bundled("no-such-model") is None and prov.bundled(None) is None


# ----------------------------------------------------------------------------------------------
# the backfill of older files


def test_backfill_recovers_overwritten_runs_and_drops_machine_paths(backfill, prov, repo: Path,
                                                                    monkeypatch) -> None:
    monkeypatch.setattr(backfill, "ROOT", repo)
    monkeypatch.setattr(backfill, "file_ref", lambda p: prov.file_ref(p, repo))
    results = repo / "benchmarks" / "toy" / "results"
    path = results / "toy.json"
    (repo / "runs").mkdir()
    (repo / "runs" / "train.csv").write_text("id\n1\n")

    def commit(doc: dict, msg: str) -> str:
        path.write_text(json.dumps(doc))
        git(repo, "add", ".")
        git(repo, "commit", "-q", "-m", msg)
        return git(repo, "rev-parse", "HEAD").strip()

    first = commit({"checkpoint": "toy", "runs": {"k=2": {"k": 2, "rate": 0.491, "rmse": 0.10, "n": 757}}}, "a")
    second = commit({"checkpoint": "toy", "runs": {"k=2": {"k": 2, "rate": 0.551, "rmse": 0.07, "n": 757}}}, "b")
    # the same run with a field added: not a new run
    third = commit({"checkpoint": "toy", "runs": {"k=2": {"k": 2, "rate": 0.551, "rmse": 0.07, "n": 757,
                                                          "seconds": 5.0}}}, "c")
    path.write_text(json.dumps({"checkpoint": "toy", "runs": {
        "k=2": {"k": 2, "rate": 0.538, "rmse": 0.076, "n": 757, "source": "/work/main/runs/train.csv"}}}))
    doc, report = backfill.convert(path)
    (entry,) = doc["entries"]
    assert entry["key"] == {"recorded_as": "k=2"}
    assert [r["rate"] for r in entry["runs"]] == [0.491, 0.551, 0.538]
    assert entry["runs"][1]["seconds"] == 5.0 and entry["runs"][0]["checkpoint"] == "toy"
    provs = [r["provenance"] for r in entry["runs"]]
    assert all(p["commit"] is None and p["note"] == "recorded before provenance was kept" for p in provs)
    assert [p["recorded_in_commit"] for p in provs] == [first, second, None]
    assert [p.get("replaced_in_commit") for p in provs] == [second, None, None]
    assert third not in json.dumps(doc)
    assert entry["runs"][2]["source"] == "runs/train.csv"
    assert provs[2]["data"] == [{**prov.file_ref(repo / "runs" / "train.csv", repo), "hashed_at_backfill": True}]
    assert "/work/" not in json.dumps(doc) and report


def test_backfill_leaves_a_converted_file_alone(backfill, prov, repo: Path) -> None:
    path = repo / "benchmarks" / "toy" / "results" / "toy.json"
    prov.record(path, {"k": 1}, {"rate": 0.5}, prov.Run(root=repo))
    assert backfill.convert(path) is None


# ----------------------------------------------------------------------------------------------
# the results as they are


def results_files() -> list[Path]:
    found = sorted(BENCH.glob("*/results/*.json"))
    assert found, "no results files under benchmarks/<domain>/results"
    return found


@pytest.mark.parametrize("path", results_files(), ids=lambda p: p.name)
def test_every_results_file_keeps_runs_with_their_provenance(prov, path: Path) -> None:
    doc = prov.load(path)  # raises on any other layout
    assert doc["entries"], f"{path.name}: no entries"
    keys = [json.dumps(e["key"], sort_keys=True) for e in doc["entries"]]
    assert len(keys) == len(set(keys)), f"{path.name}: two entries with one key (a rerun belongs beside the first)"
    for entry in doc["entries"]:
        for run in entry["runs"]:
            p = run.get("provenance")
            assert isinstance(p, dict) and "commit" in p, f"{path.name} {entry['key']}: a run without provenance"
            if p["commit"] is None:
                assert p.get("note"), f"{path.name} {entry['key']}: an unknown commit without a note saying why"
            else:
                assert re.fullmatch(r"[0-9a-f]{40}", p["commit"]) and isinstance(p["dirty"], bool)
                assert p["argv"] and p["started_utc"] and p["wall_seconds"] >= 0
                assert all("sha256" in d and not str(d.get("path") or "").startswith("/") for d in p["data"])


@pytest.mark.parametrize("path", results_files(), ids=lambda p: p.name)
def test_no_results_file_names_a_machine_path(path: Path) -> None:
    found = MACHINE_PATH.findall(path.read_text())
    assert not found, f"{path.name}: machine paths {sorted(set(found))[:3]}; record inputs repository-relative"

"""Bring results files written before provenance was kept into the entries layout.

    python benchmarks/backfill_provenance.py            # rewrite benchmarks/*/results/*.json
    python benchmarks/backfill_provenance.py --dry-run  # only report what it would do

A results file of the old layouts — one result per file, or results under ad-hoc labels (a
``"runs"`` mapping, or labels at the top level) — becomes ``{"entries": [...]}``
(``benchmarks/_provenance.py``): one entry per old label, keyed ``{"recorded_as": LABEL}`` (the
file's name for a file that held one result), since the parameters behind an old label cannot
be told with certainty. Nothing is rerun. Each run gets the provenance that can still be told:

* ``commit`` null and the note "recorded before provenance was kept" (the code that made it is
  not known);
* ``recorded_in_commit``: the first commit whose copy of the file holds this run, so the code was
  at most that commit (null when the run was never committed);
* runs that a later rerun wrote over are recovered from the file's git history and stored before
  it, as earlier runs of the same entry, with ``replaced_in_commit``; a later copy that only adds
  or rewords fields of the same run (every number the two share is equal) is the same run;
* every machine path (``/work/...``, ``/home/...``) becomes repository-relative, and each file
  named that exists now is listed in ``data`` with its SHA-256 (``hashed_at_backfill``: the file as
  it is now, e.g. a seeded split that ``crystals_csp.py split`` remade).

Files already in the entries layout are left as they are, so a second run changes nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks' shared helpers
from _provenance import LEGACY, ROOT, file_ref, relative_paths, results_files, write_json  # noqa: E402

#: files whose top-level values are each one labelled result
TOP_LEVEL_LABELS = {"perov5-xrd", "carbon24-xrd-ranking", "crystals_throughput"}
#: machine paths as older scripts wrote them (the repository then lay at /work/main)
MACHINE_PATH = re.compile(r"(?<![\w.~/-])/(?:work|home)/[^\s\"'();,]+")
OLD_ROOTS = ("/work/main",)


def git(*args: str) -> str | None:
    res = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    return res.stdout if res.returncode == 0 else None


def history(path: Path) -> Iterator[tuple[str | None, Any]]:
    """``(commit, parsed JSON)`` of each committed copy of ``path``, oldest first, then the copy
    in the working tree (commit ``None``)."""
    rel = path.resolve().relative_to(ROOT).as_posix()
    for sha in (git("log", "--format=%H", "--reverse", "--", rel) or "").split():
        text = git("show", f"{sha}:{rel}")
        if text is None:
            continue
        try:
            yield sha, json.loads(text)
        except json.JSONDecodeError:
            continue
    yield None, json.loads(path.read_text())


def is_entries(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("entries"), list)


def labelled(doc: Any, stem: str) -> dict[str, dict]:
    """The results of one copy of an old-layout file by label; the file-level fields of a
    labelled file go into each of its results."""
    if isinstance(doc, dict) and isinstance(doc.get("runs"), dict):
        shared = {k: v for k, v in doc.items() if k != "runs"}
        return {label: {**shared, **run} for label, run in doc["runs"].items() if isinstance(run, dict)}
    if stem in TOP_LEVEL_LABELS and isinstance(doc, dict):
        return {label: run for label, run in doc.items() if isinstance(run, dict)}
    return {stem: doc}


def numbers(obj: Any, prefix: str = "") -> dict[str, float]:
    """Every number in ``obj`` by its path (booleans and NaN left out)."""
    out: dict[str, float] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(numbers(v, f"{prefix}/{k}"))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.update(numbers(v, f"{prefix}/{i}"))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool) and not (
            isinstance(obj, float) and math.isnan(obj)):
        out[prefix] = float(obj)
    return out


def same_run(old: Any, new: Any) -> bool:
    """Whether ``new`` is ``old`` with fields added or reworded: they share at least three
    numbers and half of the numbers of the one with fewer, and every number they share is equal."""
    a, b = numbers(old), numbers(new)
    common = a.keys() & b.keys()
    return (len(common) >= 3 and 2 * len(common) >= min(len(a), len(b))
            and all(a[k] == b[k] for k in common))


def local_path(match: str) -> str:
    """A machine path as the repository-relative path it stood for."""
    for old in OLD_ROOTS:
        if match == old:
            return "."
        if match.startswith(old + "/"):
            return match[len(old) + 1:]
    return str(relative_paths(match))


def machine_paths(obj: Any) -> list[str]:
    """The machine paths named anywhere in ``obj``'s strings."""
    if isinstance(obj, str):
        return MACHINE_PATH.findall(obj)
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in machine_paths(k) + machine_paths(v)]
    if isinstance(obj, list):
        return [p for v in obj for p in machine_paths(v)]
    return []


def scrub(obj: Any) -> Any:
    """``obj`` with its machine paths made repository-relative."""
    if isinstance(obj, str):
        return MACHINE_PATH.sub(lambda m: local_path(m.group(0)), obj)
    if isinstance(obj, dict):
        return {scrub(k): scrub(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [scrub(v) for v in obj]
    return obj


def provenance(run: dict, first: str | None, replaced: str | None, removed: str | None) -> dict:
    prov: dict[str, Any] = {**LEGACY, "dirty": None, "recorded_in_commit": first}
    if replaced:
        prov["replaced_in_commit"] = replaced
        prov["recovered_from"] = "the git history of this file"
    if removed:
        prov["removed_in_commit"] = removed
        prov["recovered_from"] = "the git history of this file"
    data = []
    for p in sorted({local_path(m) for m in machine_paths(run)}):
        if (ROOT / p).is_file():
            data.append({**file_ref(ROOT / p), "hashed_at_backfill": True})
    if data:
        prov["data"] = data
    return prov


def current_runs(files: list[Path]) -> list[tuple[str, str, Any]]:
    """``(file name, label, result)`` of every result the old-layout files hold now."""
    out = []
    for f in files:
        doc = json.loads(f.read_text())
        if not is_entries(doc):
            out += [(f.name, label, run) for label, run in labelled(doc, f.stem).items()]
    return out


def convert(path: Path, now: list[tuple[str, str, Any]] = ()) -> tuple[dict, list[str]] | None:
    """The entries layout of an old-layout results file and a line per recovered run; ``None``
    when the file is in the entries layout already. ``now``: the results all files hold today
    (:func:`current_runs`); a run of the history that is one of them under another label or in
    another file was moved there, not replaced, and is not recovered twice."""
    current = json.loads(path.read_text())
    if is_entries(current):
        return None
    stem = path.stem
    hist: dict[str, list[dict]] = {}  # label -> versions, oldest first
    order: list[str] = []
    for sha, doc in history(path):
        if is_entries(doc):  # a copy already converted (the working tree): nothing older to add
            continue
        runs = labelled(doc, stem)
        for label, run in runs.items():
            versions = hist.setdefault(label, [])
            if label not in order:
                order.append(label)
            if versions and versions[-1].get("removed") is not None:
                versions[-1]["removed"] = None  # back in the file
            if versions and versions[-1]["run"] == run:
                continue
            if versions and same_run(versions[-1]["run"], run):
                versions[-1]["run"] = run  # the same run, fields added or reworded: keep the later copy
                continue
            earlier = next((v for v in versions[:-1] if same_run(v["run"], run)), None)
            if versions:
                versions[-1]["replaced"] = sha
            if earlier is not None:  # an earlier run put back over a later one: it is the latest again
                versions.remove(earlier)
                versions.append({**earlier, "run": run, "replaced": None, "removed": None})
                continue
            versions.append({"run": run, "first": sha, "replaced": None, "removed": None})
        for label, versions in hist.items():
            if label not in runs and versions[-1]["removed"] is None:
                versions[-1]["removed"] = sha or "the working tree"
    report, doc_entries = [], []
    for label in order:
        versions = hist[label]
        for v in list(versions):
            if v["replaced"] is None and v["removed"] is None:
                continue  # in the file today
            moved = next(((f, lb) for f, lb, run in now if (f, lb) != (path.name, label) and same_run(v["run"], run)),
                         None)
            if moved is not None:
                versions.remove(v)
                report.append(f"{path.name} [{label}]: the run of {v['first'] or 'the working tree'} is {moved[0]} "
                              f"[{moved[1]}] today")
        if not versions:
            continue
        stored = []
        for v in versions:
            run = scrub({k: val for k, val in v["run"].items() if k != "provenance"}) if isinstance(v["run"], dict) \
                else {"value": scrub(v["run"])}
            run["provenance"] = provenance(v["run"], v["first"], v["replaced"], v["removed"])
            stored.append(run)
        if len(stored) > 1:
            report.append(f"{path.name} [{label}]: {len(stored)} runs ({len(stored) - 1} recovered from history)")
        elif versions[-1]["removed"]:
            report.append(f"{path.name} [{label}]: recovered from history (no longer in the file)")
        doc_entries.append({"key": {"recorded_as": label}, "runs": stored})
    return {"entries": doc_entries}, report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="report only; write nothing")
    ap.add_argument("files", nargs="*", type=Path, help="results files (default: benchmarks/*/results/*.json)")
    args = ap.parse_args(argv)
    files = [f.resolve() for f in args.files] or results_files()
    now = current_runs(results_files())
    converted = 0
    for path in files:
        out = convert(path, now)
        if out is None:
            continue
        doc, report = out
        converted += 1
        for line in report:
            print(line)
        if not args.dry_run:
            write_json(path, doc)
    print(f"{'would convert' if args.dry_run else 'converted'} {converted} of {len(files)} results files")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where a benchmark figure came from, and the one way a results file is written.

Every script that writes ``benchmarks/<domain>/results/<name>.json`` starts a :class:`Run` when its work
begins and hands the figures to :func:`record` at the end. A results file holds entries, one per
*key* (every parameter that changes the figure), and each entry keeps all its runs, oldest first::

    {"entries": [
        {"key": {"dataset": "perov_5", "k": 2, "rows": 757, "draws": 10, "seed": 0, ...},
         "runs": [{...figures..., "provenance": {...}},      # a rerun with the same key is
                  {...figures..., "provenance": {...}}]}]}   # appended, never written over

A run's ``provenance`` holds the git commit and whether the tree had uncommitted changes, the
full argv, the versions of graphdiff / torch / pymatgen / CHGNet (null where not installed), the
seeds, the machine (CPU model, usable cores, torch threads, GPU), the start time (UTC) and the
measured wall time, and every input file (data split, checkpoint) by its path relative to the
repository and its SHA-256, never by a path of the machine it ran on. Runs recorded before this
was kept carry ``{"commit": null, "note": "recorded before provenance was kept"}``
(``benchmarks/backfill_provenance.py``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling helper below
from _machine import cpu_model, usable_cores  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: the benchmarks folder: results files are named by their path under it,
#: ``<domain>/results/<name>.json``
BENCH = ROOT / "benchmarks"
#: one folder per domain, each holding its scripts, their ``configs/`` and their ``results/``
DOMAINS = ("crystals", "molecules", "graphs", "engine", "targets")
#: distributions whose versions every run records (null where not installed)
PACKAGES = ("graphdiff", "torch", "pymatgen", "chgnet")
#: the provenance of a run recorded before provenance was kept
LEGACY = {"commit": None, "note": "recorded before provenance was kept"}
#: folders whose changes do not make the tree dirty: what benchmarks write while they run
NOT_CODE = ("benchmarks/*/results/*", "benchmarks/gpu-samples", "runs")  # git pathspecs


def results_files(bench: Path = BENCH) -> list[Path]:
    """Every results file of every domain folder (``<domain>/results/*.json``), sorted."""
    return sorted(p for d in DOMAINS for p in (bench / d / "results").glob("*.json"))


class ResultsFormatError(ValueError):
    """A results file that is not in the entries layout (see the module docstring)."""


# ----------------------------------------------------------------------------------------------
# Paths: relative to the repository, never the machine's


def repo_path(path: str | os.PathLike, root: Path = ROOT) -> str | None:
    """``path`` relative to the repository root (``../shared/...`` for a sibling of it), POSIX
    style; ``None`` for a file elsewhere on the machine (only its name and hash are kept then)."""
    p = Path(path).expanduser()
    p = (p if p.is_absolute() else Path.cwd() / p).resolve()
    for base, prefix in ((root, ""), (root.parent, "../")):
        try:
            rel = p.relative_to(base).as_posix()
        except ValueError:
            continue
        return prefix + rel if rel != "." else (prefix.rstrip("/") or ".")
    return None


def relative_paths(obj: Any, root: Path = ROOT) -> Any:
    """``obj`` with every machine path in its strings made repository-relative: the repository
    root is dropped, its parent becomes ``..`` and the home folder ``~``. Paths become strings;
    tuples become lists (as JSON would have them)."""
    if isinstance(obj, os.PathLike):
        obj = os.fspath(obj)
    if isinstance(obj, str):
        for base, repl in ((str(root), ""), (str(root.parent), ".."), (str(Path.home()), "~")):
            if len(base) > 1 and base in obj:
                # the base as a whole path at the start of a path (not "/work/mainline", "a/work/main")
                start = rf"(?<![\w.~/-]){re.escape(base)}"
                obj = re.sub(start + r"/", f"{repl}/" if repl else "", obj)
                obj = re.sub(start + r"(?![\w.-])", repl or ".", obj)
        return obj
    if isinstance(obj, Mapping):
        return {str(relative_paths(k, root)): relative_paths(v, root) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [relative_paths(v, root) for v in obj]
    return obj


#: folders of this repository (and its sibling ``shared``) that a path written on another
#: checkout or machine is recognised by: ``/elsewhere/main/runs/x.csv`` is ``runs/x.csv`` here
_REPO_TOPS = ("runs", "benchmarks", "plugins", "graphdiff", "tests", "docs", "examples")


def portable_path(value: str, root: Path = ROOT) -> str:
    """An absolute path as this repository would name it: repository-relative when it lies in
    this checkout (or, written on another checkout or machine, when it passes through one of the
    repository's top folders or a ``shared`` sibling), else the file name alone. Other strings
    are returned unchanged."""
    if not value.startswith("/"):
        return value
    here = repo_path(value, root)
    if here is not None:
        return here
    parts = Path(value).parts
    for i in range(len(parts) - 1, 0, -1):
        if parts[i] == "shared":
            return "../" + "/".join(parts[i:])
    for i, part in enumerate(parts[1:], 1):
        if part in _REPO_TOPS:
            return "/".join(parts[i:])
    return parts[-1]


def portable_meta(meta: Mapping[str, Any] | None, root: Path = ROOT) -> dict:
    """A checkpoint's or predictor's metadata for a results file: without ``test_ids`` (the
    split's ids, long), and with the absolute paths it was made with (its training source)
    named as :func:`portable_path` names them."""
    def walk(v: Any) -> Any:
        if isinstance(v, str):
            return portable_path(v, root)
        if isinstance(v, Mapping):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [walk(x) for x in v]
        return v

    return {k: walk(v) for k, v in (meta or {}).items() if k != "test_ids"}


def sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file, or of a folder: of its files' relative names and hashes, sorted."""
    p = Path(path)
    h = hashlib.sha256()
    if p.is_dir():
        for f in sorted(x for x in p.rglob("*") if x.is_file()):
            h.update(f"{f.relative_to(p).as_posix()}\0{sha256(f)}\n".encode())
        return h.hexdigest()
    with p.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_ref(path: str | os.PathLike, root: Path = ROOT) -> dict:
    """An input file as a results file names it: repository-relative path, SHA-256 and size."""
    p = Path(path)
    ref: dict[str, Any] = {"path": repo_path(p, root)}
    if ref["path"] is None:
        ref["name"] = p.name
    if p.is_file():
        ref.update(sha256=sha256(p), bytes=p.stat().st_size)
    elif p.is_dir():
        ref.update(sha256=sha256(p), bytes=sum(f.stat().st_size for f in p.rglob("*") if f.is_file()))
    else:
        ref["sha256"] = None
        ref["missing"] = True
    return ref


def bundled(name: str | None, root: Path = ROOT) -> Path | None:
    """The file of a checkpoint or predictor bundled in a plugin under ``name`` (``NAME.ckpt`` or
    ``NAME.pt``), a path given as such, or ``None`` (to name it among a run's inputs)."""
    if not name:
        return None
    given = Path(name)
    if given.suffix in (".ckpt", ".pt") and given.exists():
        return given
    for pattern in (f"plugins/*/*/checkpoints/{name}.ckpt", f"plugins/*/*/predictors/{name}.pt"):
        found = sorted(root.glob(pattern))
        if found:
            return found[0]
    return None


# ----------------------------------------------------------------------------------------------
# What a run records


def git_state(root: Path = ROOT) -> dict:
    """``{"commit", "dirty", "changed", "diff_sha256"}``: HEAD, the files that differ from it
    (tracked changes and untracked files outside :data:`NOT_CODE`), and a SHA-256 of those
    differences (``git diff HEAD`` and the untracked files' contents: two runs with the same
    commit and the same hash ran the same code); ``None`` where git cannot tell."""
    def git(*args: str) -> str | None:
        try:
            res = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return res.stdout if res.returncode == 0 else None

    scope = ("--", ".", *(f":(exclude){p}" for p in NOT_CODE))
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=all", *scope)
    if commit is None or status is None:
        return {"commit": None, "dirty": None, "changed": None, "diff_sha256": None}
    changed = sorted({line[3:].strip().strip('"') for line in status.splitlines() if line.strip()})
    digest = None
    if changed:
        h = hashlib.sha256((git("diff", "HEAD", "--binary", *scope) or "").encode())
        untracked = sorted(line[3:].strip().strip('"') for line in status.splitlines() if line.startswith("??"))
        for name in untracked:
            if (root / name).is_file():
                h.update(f"{name}\0{sha256(root / name)}\n".encode())
        digest = h.hexdigest()
    return {"commit": commit.strip(), "dirty": bool(changed), "changed": changed, "diff_sha256": digest}


def versions(packages: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    """Installed versions (``importlib.metadata``: nothing is imported), ``None`` where missing."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def gpu_names() -> list[str]:
    """The GPUs this process can see: torch's view when torch is already imported, else
    ``nvidia-smi``'s; empty when there are none."""
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            return []
        except Exception:  # a broken CUDA set-up is a machine without a usable GPU
            return []
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        res = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in res.stdout.splitlines() if line.strip()] if res.returncode == 0 else []


def machine() -> dict:
    """CPU model, cores this process may use, torch's intra-op threads (when torch is imported),
    ``OMP_NUM_THREADS`` and the GPUs."""
    torch = sys.modules.get("torch")
    return {"cpu": cpu_model(), "cores": usable_cores(),
            "torch_threads": torch.get_num_threads() if torch is not None else None,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "gpu": gpu_names(), "system": f"{platform.system()} {platform.machine()}"}


def command_argv(argv: Iterable[str] | None = None, root: Path = ROOT) -> list[str]:
    """The full command line: the interpreter as ``python``, the script repository-relative."""
    args = [str(a) for a in (sys.argv if argv is None else argv)]
    if args:
        args[0] = repo_path(args[0], root) or Path(args[0]).name
    return ["python", *relative_paths(args, root)]


class Run:
    """One execution of a benchmark: started when the work begins, its provenance taken when the
    figures are recorded (so the wall time is measured, not a budget).

    Parameters
    ----------
    seeds : mapping of seed names to values (``{"seed": 0}``), or a list of seeds.
    data : input files (data split, checkpoint, predictor); more with :meth:`add_data`.
    argv : the command line; ``sys.argv`` by default.
    """

    def __init__(self, *, seeds: Mapping[str, Any] | Iterable[Any] = (), data: Iterable[str | os.PathLike] = (),
                 argv: Iterable[str] | None = None, root: Path = ROOT) -> None:
        self.root = root
        self.seeds = dict(seeds) if isinstance(seeds, Mapping) else list(seeds)
        self.data: list[Path] = []
        self.argv = command_argv(argv, root)
        self.started = datetime.now(timezone.utc)
        self._t0 = time.perf_counter()
        #: the code the run starts with: HEAD may move (a checkout, a commit) while a long run runs
        self._git = git_state(root)
        self.add_data(*data)

    def add_data(self, *paths: str | os.PathLike | None) -> "Run":
        """Name more input files; each is hashed when the run is recorded."""
        for p in paths:
            if p is not None and Path(p) not in self.data:
                self.data.append(Path(p))
        return self

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self._t0

    def provenance(self) -> dict:
        git, at_end = self._git, git_state(self.root)
        moved = {k: at_end[k] for k in ("commit", "diff_sha256") if at_end[k] != git[k]}
        return {"commit": git["commit"], "dirty": git["dirty"], "changed": git["changed"],
                "diff_sha256": git["diff_sha256"],
                **({"tree_at_end": {**at_end, "note": "the tree changed while the run ran; commit, dirty and "
                                    "diff_sha256 above are those it started with"}} if moved else {}),
                "argv": self.argv, "command": shlex.join(self.argv),
                "versions": versions(), "seeds": self.seeds, "machine": machine(),
                "started_utc": self.started.isoformat(timespec="seconds"),
                "wall_seconds": round(self.seconds, 2),
                "data": [file_ref(p, self.root) for p in self.data]}


# ----------------------------------------------------------------------------------------------
# Results files: entries by key, runs appended


def canonical_key(key: Mapping[str, Any], root: Path = ROOT) -> dict:
    """A key as stored: JSON values only, paths repository-relative, names sorted."""
    return json.loads(json.dumps(relative_paths(dict(key), root), sort_keys=True, default=str))


def key_from_args(args: Any, ignore: Iterable[str] = (), *, root: Path = ROOT, **extra: Any) -> dict:
    """A key from parsed arguments (an ``argparse.Namespace`` or a mapping): every argument but
    those in ``ignore`` (output names, verbosity, resumption: what leaves the figure unchanged),
    paths relative to ``root``, and ``extra`` (values the script resolved, e.g. the threads)."""
    items = vars(args) if not isinstance(args, Mapping) else args
    skip = set(ignore)

    def value(v: Any) -> Any:
        if isinstance(v, os.PathLike):
            return repo_path(v, root) or Path(v).name
        return [value(x) for x in v] if isinstance(v, (list, tuple)) else v

    return {**{k: value(v) for k, v in items.items() if k not in skip and not callable(v)}, **extra}


def label(key: Mapping[str, Any]) -> str:
    """A short text of a key, ``name=value`` pairs joined by commas (for plots and logs)."""
    return ",".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in sorted(key.items()))


def load(path: str | os.PathLike) -> dict:
    """A results file (``{"entries": []}`` when absent); :class:`ResultsFormatError` when it is
    not in the entries layout."""
    p = Path(path)
    if not p.exists():
        return {"entries": []}
    doc = json.loads(p.read_text())
    if not isinstance(doc, dict) or not isinstance(doc.get("entries"), list) or any(
            not isinstance(e, dict) or "key" not in e or not isinstance(e.get("runs"), list) for e in doc["entries"]):
        raise ResultsFormatError(f"{p}: not a results file of entries (key, runs); "
                                 "see benchmarks/_provenance.py")
    return doc


def entries(path: str | os.PathLike, **match: Any) -> list[dict]:
    """The entries of a results file whose key has every ``name=value`` of ``match``."""
    want = canonical_key(match)
    return [e for e in load(path)["entries"] if all(k in e["key"] and e["key"][k] == v for k, v in want.items())]


def latest(entry: Mapping[str, Any]) -> dict:
    """The last run recorded for an entry."""
    return entry["runs"][-1]


def in_file(entry: Mapping[str, Any]) -> bool:
    """Whether an entry's latest run still stood in its file when provenance began to be kept
    (not one recovered from the file's history after it had been taken out)."""
    return not latest(entry).get("provenance", {}).get("removed_in_commit")


def newest(found: Iterable[Mapping[str, Any]]) -> dict | None:
    """The most recently started run of the given entries (runs recorded before provenance was
    kept count as the oldest, in file order); ``None`` when there is none."""
    best, best_rank = None, None
    for i, entry in enumerate(found):
        for j, run in enumerate(entry["runs"]):
            rank = (run.get("provenance", {}).get("started_utc") or "", i, j)
            if best_rank is None or rank >= best_rank:
                best, best_rank = run, rank
    return best


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (two scripts recording at once wait for each other)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def write_json(path: Path, doc: Any) -> None:
    """Write ``doc`` as indented JSON through a temporary file and a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if path.exists():  # the file keeps its permissions; a new one gets what the umask allows
            mode = path.stat().st_mode & 0o777
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def record(path: str | os.PathLike, key: Mapping[str, Any], result: Mapping[str, Any], run: Run) -> dict:
    """Append ``result`` with ``run``'s provenance to the entry of ``key`` in the results file
    ``path`` (a new entry when no earlier run had this key); earlier runs are kept. Returns the
    run as stored."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    stored_key = canonical_key(key, run.root)
    stored = json.loads(json.dumps(relative_paths({k: v for k, v in result.items() if k != "provenance"}, run.root),
                                   default=str))
    stored["provenance"] = run.provenance()
    with _locked(p.parent):
        doc = load(p)
        for entry in doc["entries"]:
            if entry["key"] == stored_key:
                entry["runs"].append(stored)
                break
        else:
            doc["entries"].append({"key": stored_key, "runs": [stored]})
        write_json(p, doc)
    return stored

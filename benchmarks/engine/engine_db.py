"""On-disk graph database: build time, streaming throughput, file size and peak RAM vs. graph count.

    nice -n 10 python benchmarks/engine/engine_db.py --counts 10000 100000 1000000

Each count runs in a fresh child process (so peak RSS belongs to that count alone), which

1. creates a database for a tiny synthetic domain (3-8 nodes; a 4-class categorical node field
   ``types`` ``long [n]``, a 2-D continuous node field ``xy`` ``float [n, 2]`` and one float
   property ``energy``), generates the graphs on the fly ``--chunk`` at a time and stores them
   with :meth:`GraphDatabase.append` (validated, one transaction per chunk);
2. streams every graph back with :meth:`GraphDatabase.iter_graphs` (checking the node total);
3. reads ``--random`` graphs in shuffled batches of 256 through :class:`DatabaseDataset`
   (the DataLoader access pattern).

A thread samples the resident set size every 20 ms; the JSON records the peak of each phase
and the RSS after imports. Results: ``benchmarks/engine/results/engine_db.{json,png}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterator

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _provenance import Run, key_from_args, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"


def rss_bytes() -> int:
    """Current resident set size of this process, from ``/proc/self/statm``."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Samples :func:`rss_bytes` in a thread; ``phase(name)`` starts a new peak."""

    def __init__(self, every: float = 0.02) -> None:
        self.peaks: dict[str, int] = {}
        self.current = "start"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)
        self._thread.start()

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            self.sample()

    def sample(self) -> None:
        value = rss_bytes()
        self.peaks[self.current] = max(self.peaks.get(self.current, 0), value)

    def phase(self, name: str) -> None:
        self.sample()
        self.current = name
        self.sample()

    def stop(self) -> dict[str, int]:
        self.sample()
        self._stop.set()
        self._thread.join()
        return self.peaks


def synthetic_domain() -> Any:
    import torch
    from torch_geometric.data import Data

    from graphdiff.domain import Domain
    from graphdiff.graph import FieldSpec, GraphSpec

    spec = GraphSpec("synthetic", (FieldSpec("types", "categorical", "node", num_classes=4),
                                   FieldSpec("xy", "continuous", "node", dim=2)), properties=("energy",))

    class Synthetic(Domain):
        name, version = "synthetic", "1"

        @property
        def spec(self) -> GraphSpec:
            return spec

        def to_graph(self, obj: Any) -> Data:
            types, xy = obj
            return Data(types=torch.as_tensor(types), xy=torch.as_tensor(xy, dtype=torch.float32), num_nodes=len(types))

        def from_graph(self, data: Data) -> Any:
            return data.types, data.xy

    return Synthetic()


def synthetic_chunks(count: int, chunk: int, seed: int = 0) -> Iterator[tuple[list[tuple[str, Any]], int]]:
    """Chunks of ``(item_id, Data)`` made on the fly (vectorised per chunk), with their node total."""
    import torch
    from torch_geometric.data import Data

    gen = torch.Generator().manual_seed(seed)
    for start in range(0, count, chunk):
        n = min(chunk, count - start)
        sizes = torch.randint(3, 9, (n,), generator=gen)
        total = int(sizes.sum())
        types = torch.randint(0, 4, (total,), generator=gen).split(sizes.tolist())
        xy = torch.randn(total, 2, generator=gen).split(sizes.tolist())
        energy = torch.randn(n, 1, generator=gen)
        yield [(f"s{start + k:07d}", Data(types=types[k], xy=xy[k], energy=energy[k], num_nodes=int(sizes[k])))
               for k in range(n)], total


def child(count: int, chunk: int, random_reads: int, folder: Path) -> dict[str, Any]:
    """Build, stream and randomly read ``count`` graphs; the measurements as a dict."""
    import torch

    from graphdiff.db import DatabaseDataset, GraphDatabase

    torch.set_num_threads(1)
    monitor = PeakRSS()
    after_imports = rss_bytes()
    path = folder / f"synthetic-{count}.db"
    monitor.phase("build")
    t0, nodes = time.perf_counter(), 0
    with GraphDatabase.create(path, synthetic_domain()) as db:
        for pairs, total in synthetic_chunks(count, chunk):
            db.append(pairs, "synthetic", chunk=chunk)
            nodes += total
    build_s = time.perf_counter() - t0
    size = path.stat().st_size
    monitor.phase("stream")
    t0, seen, streamed_nodes = time.perf_counter(), 0, 0
    with GraphDatabase.open(path) as db:
        for graph in db.iter_graphs(batch=chunk):
            seen += 1
            streamed_nodes += graph.num_nodes
    stream_s = time.perf_counter() - t0
    if (seen, streamed_nodes) != (count, nodes):
        raise SystemExit(f"streamed {seen} graphs / {streamed_nodes} nodes, stored {count} / {nodes}")
    monitor.phase("random")
    reads = min(random_reads, count)
    order = torch.randperm(count, generator=torch.Generator().manual_seed(1))[:reads].tolist()
    ds = DatabaseDataset(path)
    t0 = time.perf_counter()
    for k in range(0, reads, 256):
        ds.__getitems__(order[k:k + 256])
    random_s = time.perf_counter() - t0
    peaks = monitor.stop()
    mib = 2 ** 20
    return {"count": count, "nodes": nodes, "build_s": build_s, "build_graphs_per_s": count / build_s,
            "stream_s": stream_s, "stream_graphs_per_s": count / stream_s, "random_reads": reads,
            "random_graphs_per_s": reads / random_s, "file_mib": size / mib, "bytes_per_graph": size / count,
            "rss_after_imports_mib": after_imports / mib, "peak_rss_build_mib": peaks["build"] / mib,
            "peak_rss_stream_mib": peaks["stream"] / mib, "peak_rss_random_mib": peaks["random"] / mib}


def plot(results: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = [r["count"] for r in results]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    ax = axes[0]
    for key, label in (("peak_rss_build_mib", "peak RSS, build"), ("peak_rss_stream_mib", "peak RSS, stream"),
                       ("rss_after_imports_mib", "RSS after imports")):
        ax.plot(counts, [r[key] for r in results], "o-", label=label)
    ax.plot(counts, [r["file_mib"] for r in results], "k--", label="database file")
    ax.set(xscale="log", yscale="log", xlabel="graphs", ylabel="MiB", title="memory stays flat, the file grows")
    ax.legend(fontsize=8)
    ax = axes[1]
    for key, label in (("build_graphs_per_s", "build (append)"), ("stream_graphs_per_s", "stream (iter_graphs)"),
                       ("random_graphs_per_s", "random batches of 256")):
        ax.plot(counts, [r[key] for r in results], "o-", label=label)
    ax.set(xscale="log", xlabel="graphs", ylabel="graphs / s", title="throughput")
    ax.legend(fontsize=8)
    ax = axes[2]
    ax.plot(counts, [r["build_s"] for r in results], "o-", label="build")
    ax.plot(counts, [r["stream_s"] for r in results], "o-", label="stream")
    ax.set(xscale="log", yscale="log", xlabel="graphs", ylabel="seconds", title="wall time")
    ax.legend(fontsize=8)
    fig.suptitle("graphdiff graph database (SQLite, WAL), synthetic graphs of 3-8 nodes")
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--chunk", type=int, default=1000, help="graphs per append transaction and per read")
    parser.add_argument("--random", type=int, default=50_000, help="graphs read in shuffled batches")
    parser.add_argument("--budget-min", type=float, default=15.0,
                        help="skip a count whose predicted time (from the previous one) exceeds this")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.chunk, args.random, args.folder)))
        return
    run = Run(seeds={"graphs": 0, "random_read_order": 1})
    results, skipped = [], []
    with tempfile.TemporaryDirectory(prefix="engine_db-") as tmp:
        for count in sorted(args.counts):
            if results:
                last = results[-1]
                predicted = (last["build_s"] + last["stream_s"]) * count / last["count"] / 60
                if predicted > args.budget_min:
                    skipped.append({"count": count, "predicted_min": round(predicted, 1)})
                    print(f"skipping {count}: predicted {predicted:.1f} min > --budget-min {args.budget_min}")
                    continue
            cmd = [sys.executable, __file__, "--child", str(count), "--chunk", str(args.chunk),
                   "--random", str(args.random), "--folder", tmp]
            row = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            results.append(row)
            Path(tmp, f"synthetic-{count}.db").unlink()
            print(f"{count:>9} graphs: build {row['build_s']:.1f} s ({row['build_graphs_per_s']:.0f}/s), "
                  f"stream {row['stream_s']:.1f} s ({row['stream_graphs_per_s']:.0f}/s), "
                  f"random {row['random_graphs_per_s']:.0f}/s, file {row['file_mib']:.1f} MiB, peak RSS build "
                  f"{row['peak_rss_build_mib']:.0f} / stream {row['peak_rss_stream_mib']:.0f} MiB", flush=True)
    counts = " ".join(map(str, args.counts))
    out = {"command": f"nice -n 10 python benchmarks/engine/engine_db.py --counts {counts} --chunk {args.chunk} "
                      f"--random {args.random} --budget-min {args.budget_min}",
           "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                      f"Python {platform.python_version()}, SQLite {__import__('sqlite3').sqlite_version}",
           "note": "each count in a fresh process; peak RSS sampled every 20 ms; a concurrent training job "
                   "shared the 2 cores, so times are pessimistic",
           "results": results, "skipped_counts": skipped}
    record(RESULTS / "engine_db.json", key_from_args(args, ignore=("child", "folder")), out, run)
    plot(results, RESULTS / "engine_db.png")
    print(f"wrote {RESULTS / 'engine_db.json'} and engine_db.png")


if __name__ == "__main__":
    main()

"""Start-up time of the commands that need no model, against ``python -c "import torch"``.

    python benchmarks/engine/engine_startup.py [--repeats 9]

Each command runs as a fresh process of the installed ``graphdiff`` (every installed plugin
discovered: the ``GRAPHDIFF_*`` plugin variables are unset), its output discarded; the wall time
is measured around the process. The commands and the two references (``python -c "import torch"``
and ``python -c pass``, the interpreter alone) run in rounds, one of each per round in a fixed
order, after one warm-up round that is not counted: a change of load on a shared machine then
hits every command alike. The figure of a command is its median over the rounds, and its ratio
is that median over the median of ``import torch`` in the same run.

Goals: ``graphdiff --help`` at most 0.2x ``import torch``; ``graphdiff plugins --json`` and
``graphdiff checkpoints`` at most 0.5x.

Results: ``benchmarks/engine/results/engine-startup.json`` (an entry per ``--repeats``, every run kept,
with its provenance: commit, dirty tree, argv, versions, machine) and ``engine-startup.png``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _provenance import Run, key_from_args, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
NAME = "engine-startup"
#: command label -> the most it may take, as a fraction of ``import torch``
GOALS = {"graphdiff --help": 0.2, "graphdiff plugins --json": 0.5, "graphdiff checkpoints": 0.5}
PLUGIN_ENV = ("GRAPHDIFF_DISABLE_PLUGIN_AUTOLOAD", "GRAPHDIFF_PLUGINS", "GRAPHDIFF_STRICT_PLUGINS",
              "GRAPHDIFF_PREDICTORS")
#: a small run config for ``graphdiff config validate``
CONFIG = """\
[data]
domain = "social"
source = "graphs.jsonl"

[diffusion]
generate = ["edges"]
"""


def commands(python: str, graphdiff: str, config: Path) -> dict[str, list[str]]:
    """Label -> argv of everything timed (the references first)."""
    return {
        'python -c "import torch"': [python, "-c", "import torch"],
        "python -c pass": [python, "-c", "pass"],
        "graphdiff --help": [graphdiff, "--help"],
        "graphdiff --version": [graphdiff, "--version"],
        "graphdiff sample --help": [graphdiff, "sample", "--help"],
        "graphdiff plugins --json": [graphdiff, "plugins", "--json"],
        "graphdiff checkpoints": [graphdiff, "checkpoints"],
        "graphdiff targets": [graphdiff, "targets"],
        "graphdiff config validate": [graphdiff, "config", "validate", str(config)],
    }


def wall(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    """Seconds from starting ``argv`` to its exit; a failure stops the benchmark."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return seconds


def plot(rows: dict[str, dict], torch_median: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(rows)[::-1]
    medians = [rows[k]["median_s"] for k in labels]
    colours = ["#888888" if k.startswith("python") else "#1f77b4" for k in labels]
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(labels) + 1.2))
    ax.barh(labels, medians, color=colours)
    for y, k in enumerate(labels):
        ax.text(rows[k]["median_s"], y, f"  {rows[k]['median_s']:.2f} s ({rows[k]['ratio_to_import_torch']:.2f}x)",
                va="center", fontsize=8)
    for frac, style in ((0.2, ":"), (0.5, "--")):
        ax.axvline(frac * torch_median, color="#d62728", linestyle=style, linewidth=1,
                   label=f"{frac}x import torch")
    ax.set_xlabel("wall time, median of the rounds (s)")
    ax.set_xlim(0, max(medians) * 1.35)
    ax.set_title("Start-up of commands that need no model")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9, help="Counted rounds (at least 5).")
    parser.add_argument("--out", type=Path, default=RESULTS / f"{NAME}.json", help="Results JSON (PNG beside it).")
    args = parser.parse_args()
    if args.repeats < 5:
        parser.error("--repeats must be at least 5")
    run = Run()
    python = sys.executable
    graphdiff = str(Path(python).with_name("graphdiff"))
    env = {k: v for k, v in os.environ.items() if k not in PLUGIN_ENV}
    times: dict[str, list[float]] = {}
    load_before = list(os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "run.toml").write_text(CONFIG)
        todo = commands(python, graphdiff, folder / "run.toml")
        for name, argv in todo.items():  # warm-up round: page cache, .pyc files
            wall(argv, env, folder)
        for r in range(args.repeats):
            for name, argv in todo.items():
                times.setdefault(name, []).append(wall(argv, env, folder))
            print(f"round {r + 1}/{args.repeats}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()),
                  file=sys.stderr)
    torch_median = statistics.median(times['python -c "import torch"'])
    rows = {}
    for name, values in times.items():
        med = statistics.median(values)
        rows[name] = {"median_s": round(med, 4), "min_s": round(min(values), 4), "max_s": round(max(values), 4),
                      "times_s": [round(v, 4) for v in values],
                      "ratio_to_import_torch": round(med / torch_median, 4)}
        if name in GOALS:
            rows[name]["goal_ratio"] = GOALS[name]
            rows[name]["goal_met"] = med / torch_median <= GOALS[name]
    result = {"commands": rows, "import_torch_median_s": round(torch_median, 4),
              "all_goals_met": all(r["goal_met"] for r in rows.values() if "goal_met" in r),
              "rounds": args.repeats, "warm_up_rounds": 1,
              "load_average_before": load_before, "load_average_after": list(os.getloadavg())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plot(rows, torch_median, args.out.with_suffix(".png"))
    record(args.out, key_from_args(args, ignore=("out",)), result, run)
    for name, row in rows.items():
        goal = (f"  (goal <= {row['goal_ratio']}x: {'met' if row['goal_met'] else 'NOT met'})"
                if "goal_ratio" in row else "")
        print(f"{name:32s} {row['median_s']:.3f} s  {row['ratio_to_import_torch']:.3f}x{goal}")
    print(f"wrote {args.out} and {args.out.with_suffix('.png').name}")


if __name__ == "__main__":
    main()

"""How close crystal sampling gets to the machine, sharding with torchrun, streaming to disk.

    python benchmarks/crystals/crystals_throughput.py flops    [--steps 100] [--batches 1 16 64 256]
    python benchmarks/crystals/crystals_throughput.py torchrun [--rows 128 512] [--steps 100] [--repeats 2]
    python benchmarks/crystals/crystals_throughput.py stream   [--nums 1000 3000 10000] [--steps 10]

``flops`` measures the matrix-multiply peak of the machine (``torch.matmul`` on float32 square
matrices, ``2 n^3 / t``, median of repeats, at 1 thread and at all threads), counts the FLOPs of
one forward of the bundled Perov-5 CSP denoiser (``perov5-csp``) with
``torch.utils.flop_counter.FlopCounterMode`` (matrix multiplies only) and with an element count
of every other operator, times full CSP sampling at several batch sizes on one thread and
reports the achieved GFLOP/s beside the peak; then profiles a few sampling steps at batch 64
with ``torch.profiler`` and groups the operators' self CPU time into categories.

``torchrun`` times ``graphdiff sample --task csp`` on N Perov-5 rows in one process against
``torchrun --standalone --nproc_per_node 2`` (one thread per process) and checks that the rank
files together hold every input row exactly once.

``stream`` runs ``graphdiff sample --checkpoint carbon24-dng --num N`` in fresh processes and
records each one's peak resident memory (``os.wait4``) and resident memory over time, to show
that the output streams to disk in constant memory.

Each sub-command records its part in ``benchmarks/crystals/results/crystals_throughput.json`` (keyed by
the part, its options and the threads; earlier runs are kept) and redraws
``crystals_throughput.png`` from the latest run of each part.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch
sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _machine import cpu_model, usable_cores  # noqa: E402
from _provenance import Run, entries, key_from_args, newest, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
NAME = "crystals_throughput"
PEROV = ROOT / "plugins" / "graphdiff-crystals" / "graphdiff_crystals" / "data" / "perov5_sample.csv"
VENV_BIN = Path(sys.executable).parent


# ---------------------------------------------------------------------------- machine
def all_threads() -> int:
    """CPU cores this process may run on."""
    return usable_cores()


def machine_info() -> dict[str, Any]:
    return {"cpu": cpu_model(), "cores": all_threads(), "python": platform.python_version(),
            "torch": torch.__version__, "platform": platform.platform(),
            "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
            "load_average": list(os.getloadavg())}


def matmul_times(n: int, threads: int | None = None, repeats: int = 3) -> tuple[list[float], list[float]]:
    """Wall and CPU (this process, all threads) seconds of ``repeats`` ``torch.matmul`` calls on
    two float32 ``n x n`` matrices at ``threads`` intra-op threads (default: the current
    setting, restored afterwards), after one warm-up call."""
    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        g = torch.Generator().manual_seed(n)
        a = torch.randn(n, n, generator=g)
        b = torch.randn(n, n, generator=g)
        torch.matmul(a, b)  # warm-up
        walls, cpus = [], []
        for _ in range(repeats):
            c0, t0 = time.process_time(), time.perf_counter()
            torch.matmul(a, b)
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
    finally:
        torch.set_num_threads(old)
    return walls, cpus


def matmul_gflops(n: int, threads: int | None = None, repeats: int = 3) -> float:
    """Median GFLOP/s (wall clock) of ``torch.matmul`` on two float32 ``n x n`` matrices
    (``2 n^3 / t``) at ``threads`` intra-op threads."""
    return 2 * n ** 3 / statistics.median(matmul_times(n, threads, repeats)[0]) / 1e9


def matmul_peak(sizes: Sequence[int], threads: int, repeats: int = 3) -> dict[str, Any]:
    """GFLOP/s at each size: the median and the best of ``repeats`` (wall clock) and, at one
    thread, from the median CPU time (what the core delivers while it runs, whatever else
    shares the machine). The peak is the best size's median."""
    med, best, cpu = {}, {}, {}
    for n in sizes:
        walls, cpus = matmul_times(int(n), threads, repeats)
        flop = 2 * int(n) ** 3 / 1e9
        med[int(n)], best[int(n)] = flop / statistics.median(walls), flop / min(walls)
        if threads == 1:
            cpu[int(n)] = flop / statistics.median(cpus)
    out = {"threads": threads, "repeats": repeats, "gflops_by_size": med, "best_gflops_by_size": best,
           "peak_gflops": max(med.values()), "best_gflops": max(best.values())}
    if cpu:
        out["cpu_time_gflops_by_size"] = cpu
        out["cpu_time_peak_gflops"] = max(cpu.values())
    return out


# ---------------------------------------------------------------------------- FLOP counting
MATMUL_OPS = ("addmm", "mm", "bmm", "matmul", "linear", "baddbmm", "addbmm", "addmv", "mv", "dot",
              "scaled_dot_product_attention", "convolution", "conv1d", "conv2d", "einsum")
SCATTER_OPS = ("index", "scatter", "gather", "index_select", "index_add", "index_put", "embedding",
               "nonzero", "segment", "take", "masked_select", "searchsorted", "bincount")
ELEMENTWISE_OPS = ("add", "sub", "mul", "div", "silu", "sigmoid", "relu", "gelu", "tanh", "exp",
                   "log", "sqrt", "rsqrt", "pow", "neg", "abs", "round", "floor", "ceil", "clamp",
                   "where", "remainder", "fmod", "rsub", "lerp", "maximum", "minimum", "reciprocal",
                   "softmax", "log_softmax", "sign", "eq", "ne", "lt", "le", "gt", "ge", "logical",
                   "bitwise", "isnan", "nan_to_num", "mean", "sum", "norm", "var", "std", "amax",
                   "amin", "max", "min", "cumsum", "logsumexp", "erf", "square", "addcmul", "addcdiv",
                   "sort", "topk", "argmax", "argmin", "any", "all")
MEMORY_OPS = ("cat", "stack", "copy", "clone", "empty", "zeros", "ones", "full", "fill", "arange",
              "linspace", "to", "_to_copy", "contiguous", "view", "reshape", "expand", "repeat",
              "flatten", "unsqueeze", "squeeze", "select", "slice", "narrow", "permute", "transpose",
              "t", "split", "chunk", "unbind", "detach", "as_strided", "resize", "new_zeros",
              "new_empty", "new_full", "zero", "item", "local_scalar_dense", "lift_fresh",
              "lift_fresh_copy", "alias", "unfold", "pad", "constant_pad_nd", "tensor", "scalar_tensor",
              "unsafe_view", "is_nonzero", "result_type", "to_copy", "full_like", "expand_as", "view_as",
              "resolve_conj", "resolve_neg", "split_with_sizes", "index_fill", "masked_fill")
RANDOM_OPS = ("rand", "randn", "normal", "uniform", "multinomial", "bernoulli", "randint", "randperm",
              "exponential", "random")

CATEGORIES = ["matmul/linear", "elementwise", "scatter/index", "layernorm", "sin/cos features",
              "memory/shape", "random", "other"]


def _base(op: str) -> str:
    """``aten::index_select`` / ``aten.add_.Tensor`` / ``aten::_to_copy`` -> ``index_select`` /
    ``add`` / ``to_copy``: the operator without namespace, overload and in-place/private marks."""
    name = op.split("::")[-1]
    if "::" not in op and "." in op:  # the dispatcher's spelling: aten.NAME.OVERLOAD
        parts = op.split(".")
        name = parts[1] if parts[0] == "aten" and len(parts) > 1 else parts[0]
    return name.strip("_") or name


def categorize(op: str) -> str:
    """The category of an ATen operator name (profiler or dispatcher spelling)."""
    name = _base(op)
    if "layer_norm" in name:
        return "layernorm"
    if name in ("sin", "cos", "sincos"):
        return "sin/cos features"
    if name in MATMUL_OPS:
        return "matmul/linear"
    if any(name == s or name.startswith(s) for s in SCATTER_OPS):
        return "scatter/index"
    if any(name == s or name.startswith(s + "_") for s in RANDOM_OPS):
        return "random"
    if name in MEMORY_OPS or name.startswith(("empty", "zeros", "ones", "new_", "copy")):
        return "memory/shape"
    if name in ELEMENTWISE_OPS or name.startswith(tuple(s + "_" for s in ELEMENTWISE_OPS)):
        return "elementwise"
    return "other"


def count_matmul_flops(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
    """FLOPs of ``fn(*args, **kwargs)`` as ``FlopCounterMode`` counts them (matrix-multiply-like
    operators only: mm, addmm, bmm, convolution, attention; ``2 m n k`` each):
    ``(total, {operator: flops})``."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn(*args, **kwargs)
    per_op = {str(k): int(v) for k, v in counter.get_flop_counts().get("Global", {}).items()}
    return int(counter.get_total_flops()), per_op


def count_elements(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, dict[str, int]]:
    """Per category: operator calls and output elements of every ATen operator ``fn`` runs (a
    dispatcher-level count). Used as the estimate of the work that ``FlopCounterMode`` leaves out:
    one operation per output element of an elementwise, scatter, sin/cos or layer-norm operator
    (a sine costs tens of instructions, a layer norm about eight per element: a lower bound)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    calls: Counter = Counter()
    elements: Counter = Counter()

    class _Count(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            cat = categorize(str(func))
            calls[cat] += 1
            for t in (out if isinstance(out, (tuple, list)) else (out,)):
                if isinstance(t, torch.Tensor):
                    elements[cat] += t.numel()
            return out

    with torch.no_grad(), _Count():
        fn(*args, **kwargs)
    return {c: {"calls": calls[c], "output_elements": elements[c]} for c in CATEGORIES if calls[c]}


def profiler_flops(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """FLOPs ``torch.profiler`` estimates (``with_flops=True``: matrix multiplies, convolutions
    and elementwise add/mul), for comparison with :func:`count_matmul_flops`."""
    from torch.profiler import ProfilerActivity, profile

    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        fn(*args, **kwargs)
    return int(sum(getattr(e, "flops", 0) or 0 for e in prof.key_averages()))


# ---------------------------------------------------------------------------- the CSP model
def perov_rows(n: int, src: Path = PEROV) -> tuple[list[str], list[list[str]]]:
    """The header and the first ``n`` data rows of the Perov-5 sample CSV (fewer if it has fewer)."""
    csv.field_size_limit(sys.maxsize)
    with src.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = [row for _, row in zip(range(n), reader)]
    return header, rows


def perov_templates(n: int) -> list:
    """``n`` Perov-5 compositions as graphs (the sample's rows, repeated if ``n`` exceeds them)."""
    import warnings

    from graphdiff.plugins import get_manager

    domain = get_manager().get("domains", "crystals")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graphs = [domain.record_to_graph(r) for r in domain.read(PEROV)]
    return [graphs[i % len(graphs)] for i in range(n)]


def denoiser_input(model, templates: list) -> Any:
    """The ``NoisyGraphs`` the denoiser gets at the first step of sampling ``templates``."""
    seen = []
    forward = model.denoiser.forward

    def grab(graphs):
        seen.append(graphs)
        return forward(graphs)

    model.denoiser.forward = grab
    try:
        model.sample(template=templates, steps=1, generator=torch.Generator().manual_seed(0))
    finally:
        del model.denoiser.forward
    return seen[0]


def time_sampling(model, templates: list, steps: int, repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of ``repeats`` sampling calls of ``steps`` steps, after a warm-up."""
    walls, cpus = [], []
    model.sample(template=templates, steps=2, generator=torch.Generator().manual_seed(99))  # warm-up
    for r in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        model.sample(template=templates, steps=steps, generator=torch.Generator().manual_seed(r))
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return walls, cpus


def time_forward(model, graphs, repeats: int) -> float:
    with torch.no_grad():
        model.denoiser(graphs)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model.denoiser(graphs)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _profile_call(model, templates: list, steps: int) -> tuple[float, dict[str, float], dict[str, int], list]:
    """One profiled ``sample`` call: wall seconds, self CPU seconds and calls per category, and
    the ATen events (``key_averages``)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        model.sample(template=templates, steps=steps, generator=torch.Generator().manual_seed(1))
        wall = time.perf_counter() - t0
    ops = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    secs: dict[str, float] = {c: 0.0 for c in CATEGORIES}
    calls: dict[str, int] = {c: 0 for c in CATEGORIES}
    for e in ops:
        secs[categorize(e.key)] += e.self_cpu_time_total / 1e6
        calls[categorize(e.key)] += e.count
    return wall, secs, calls, ops


def profile_steps(model, templates: list, steps: int) -> dict[str, Any]:
    """Where the time of a reverse step goes: self CPU time of the ATen operators, grouped by
    category, in a profiled ``sample`` call of ``1 + steps`` steps minus one of 1 step (so the
    per-call set-up, batching the templates and splitting the output, drops out and is reported
    on its own); ``python/dispatch overhead`` is the wall time minus the operators' self time."""
    model.sample(template=templates, steps=2, generator=torch.Generator().manual_seed(99))  # warm-up
    t0 = time.perf_counter()
    model.sample(template=templates, steps=1 + steps, generator=torch.Generator().manual_seed(1))
    plain = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.sample(template=templates, steps=1, generator=torch.Generator().manual_seed(1))
    plain1 = time.perf_counter() - t0
    w1, s1, c1, ops1 = _profile_call(model, templates, 1)
    wn, sn, cn, ops = _profile_call(model, templates, 1 + steps)
    wall = (wn - w1) / steps
    per_step = {c: max(sn[c] - s1[c], 0.0) / steps for c in CATEGORIES}
    calls = {c: (cn[c] - c1[c]) / steps for c in CATEGORIES}
    op_time = sum(per_step.values())
    table = [{"category": c, "seconds_per_step": per_step[c], "share": per_step[c] / wall,
              "calls_per_step": calls[c]} for c in CATEGORIES if per_step[c] > 0]
    table.append({"category": "python/dispatch overhead", "seconds_per_step": max(wall - op_time, 0.0),
                  "share": max(wall - op_time, 0.0) / wall, "calls_per_step": None})
    table.sort(key=lambda r: -r["share"])
    step_profiled = wall
    setup = max(w1 - step_profiled, 0.0)
    one = {e.key: e for e in ops1}
    diff = {e.key: ((e.self_cpu_time_total - (one[e.key].self_cpu_time_total if e.key in one else 0)) / 1e6 / steps,
                    (e.count - (one[e.key].count if e.key in one else 0)) / steps) for e in ops}
    top = sorted(diff.items(), key=lambda kv: -kv[1][0])[:15]
    return {"batch": len(templates), "steps": steps,
            "method": ("profiled sample() with 1 + steps steps minus a profiled sample() with 1 step, "
                       "divided by steps"),
            "wall_s_per_step_profiled": wall,
            "wall_s_per_step_unprofiled": (plain - plain1) / steps,
            "op_calls_per_step": sum(calls.values()),
            "setup_s_per_call_profiled": setup, "setup_op_calls_per_call": sum(c1.values()) - sum(calls.values()),
            "categories": table,
            "top_ops": [{"op": k, "category": categorize(k), "calls_per_step": n, "self_ms_per_step": 1e3 * t,
                         "share": t / wall} for k, (t, n) in top]}


def run_flops(args: argparse.Namespace) -> dict[str, Any]:
    from graphdiff.model import load_model

    cores = all_threads()
    load_before = list(os.getloadavg())
    print(f"matmul peak on {args.peak_sizes} at 1 and {cores} threads ...", flush=True)
    peak1 = matmul_peak(args.peak_sizes, 1, args.peak_repeats)
    peak_all = matmul_peak(args.peak_sizes, cores, args.peak_repeats)
    print(f"  peak {peak1['peak_gflops']:.1f} GFLOP/s (1 thread; best {peak1['best_gflops']:.1f}, by CPU "
          f"time {peak1['cpu_time_peak_gflops']:.1f}), {peak_all['peak_gflops']:.1f} ({cores} threads; best "
          f"{peak_all['best_gflops']:.1f})", flush=True)
    torch.set_num_threads(1)
    model, cfg, _ = load_model("perov5-csp")
    rows = []
    for b in args.batches:
        templates = perov_templates(b)
        graphs = denoiser_input(model, templates)
        mm, per_op = count_matmul_flops(model.denoiser, graphs)
        elems = count_elements(model.denoiser, graphs)
        step_elems = count_elements(model.sample, template=templates, steps=1,
                                    generator=torch.Generator().manual_seed(0))
        other = sum(v["output_elements"] for c, v in elems.items() if c in
                    ("elementwise", "scatter/index", "layernorm", "sin/cos features"))
        prof = profiler_flops(model.denoiser, graphs)
        fwd = time_forward(model, graphs, args.forward_repeats)
        times, cpu_times = time_sampling(model, templates, args.steps, args.repeats)
        t, tc = statistics.median(times), statistics.median(cpu_times)
        gflops = mm * args.steps / t / 1e9
        row = {"batch": b, "atoms": int(graphs.num_nodes), "pairs": int(sum(
            int(n) ** 2 for n in (graphs.ptr[1:] - graphs.ptr[:-1]))),
            "matmul_flops_per_forward": mm, "matmul_flops_by_op": per_op,
            "profiler_flops_per_forward": prof,
            "other_elements_per_forward": other, "elements_by_category": elems,
            "sampling_step_elements_by_category": step_elems,
            "steps": args.steps, "sampling_s": times, "median_sampling_s": t,
            "structures_per_s": b / t, "achieved_gflops": gflops,
            "achieved_gflops_with_other": (mm + other) * args.steps / t / 1e9,
            "fraction_of_peak_1_thread": gflops / peak1["peak_gflops"],
            "sampling_cpu_s": cpu_times, "cpu_time_gflops": mm * args.steps / tc / 1e9,
            "cpu_time_fraction_of_cpu_time_peak": mm * args.steps / tc / 1e9 / peak1["cpu_time_peak_gflops"],
            "median_forward_s": fwd, "forward_gflops": mm / fwd / 1e9,
            "forward_share_of_step": fwd / (t / args.steps)}
        rows.append(row)
        print(f"  batch {b:>4}: {mm / 1e6:8.2f} MFLOP/forward (matmul; +{other / 1e6:.2f} M other elements), "
              f"{t:.2f} s for {args.steps} steps, {b / t:7.1f} structures/s, {gflops:6.2f} GFLOP/s = "
              f"{100 * row['fraction_of_peak_1_thread']:.1f} % of 1-thread peak "
              f"(forward alone {row['forward_gflops']:.2f} GFLOP/s; by CPU time {row['cpu_time_gflops']:.2f} = "
              f"{100 * row['cpu_time_fraction_of_cpu_time_peak']:.1f} %)", flush=True)
    print(f"profiling {args.profile_steps} steps at batch {args.profile_batch} ...", flush=True)
    profile = profile_steps(model, perov_templates(args.profile_batch), args.profile_steps)
    for r in profile["categories"]:
        print(f"  {r['category']:>26}: {100 * r['share']:5.1f} %  "
              f"({1e3 * r['seconds_per_step']:.2f} ms/step)")
    return {"command": _command(), "machine": machine_info(), "load_average_before": load_before,
            "torch_threads_sampling": 1,
            "checkpoint": "perov5-csp", "sampler": "ancestral",
            "peak": {"one_thread": peak1, "all_threads": peak_all},
            "note": ("FlopCounterMode counts only matrix-multiply-like operators (mm, addmm, bmm, "
                     "convolution, attention: 2 m n k each). The rest (elementwise, scatter, "
                     "layer norm, sin/cos) is estimated as one operation per output element of each "
                     "operator (a dispatcher-level count; a sine or a layer norm costs more per "
                     "element, so this is a lower bound). profiler_flops is torch.profiler's own "
                     "estimate (with_flops=True: matrix multiplies plus elementwise add/mul)."),
            "by_batch": rows, "profile": profile}


# ---------------------------------------------------------------------------- torchrun
def read_ids(path: Path) -> list[str]:
    """The id column of a crystals CSV (``material_id``, else ``id``, else the first column)."""
    csv.field_size_limit(sys.maxsize)
    with Path(path).open(newline="") as fh:
        reader = csv.DictReader(fh)
        fields = reader.fieldnames or []
        key = next((k for k in ("material_id", "id") if k in fields), fields[0] if fields else None)
        return [row[key] for row in reader]


def rank_files(out: Path, world: int) -> list[Path]:
    """The files ``graphdiff sample --out OUT`` writes under torchrun with ``world`` ranks."""
    return [out.with_name(f"{out.stem}.rank{r}of{world}{out.suffix}") for r in range(world)]


def merge_check(expected: Sequence[str], per_rank: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Do the ranks' outputs together hold every expected id exactly once?"""
    want = Counter(expected)
    got = Counter(i for ids in per_rank for i in ids)
    missing = sorted((want - got).elements())
    extra = got - want
    duplicated = sorted(i for i in extra if i in want)
    unexpected = sorted(i for i in extra if i not in want)
    return {"ok": not missing and not duplicated and not unexpected, "expected": len(expected),
            "written": sum(got.values()), "rows_per_rank": [len(ids) for ids in per_rank],
            "missing": missing[:20], "duplicated": duplicated[:20], "unexpected": unexpected[:20]}


SAMPLING_LINE = re.compile(r"wrote (\d+) graphs to .*? in ([0-9.]+) s")


def timed_run(cmd: Sequence[str], env: dict[str, str], cwd: Path | None = None,
              poll: float | None = None) -> dict[str, Any]:
    """Run ``cmd``; its wall time, CPU time and peak RSS (``os.wait4``: this process and the
    descendants it waited for), the ``wrote N graphs ... in T s`` lines it printed and, with
    ``poll``, its resident memory (``/proc/PID/status`` VmRSS) every ``poll`` seconds."""
    out_f = tempfile.TemporaryFile(mode="w+")
    t0 = time.perf_counter()
    proc = subprocess.Popen(list(cmd), env=env, cwd=cwd, stdout=out_f, stderr=subprocess.STDOUT, text=True)
    trace: list[tuple[float, float]] = []
    stop = threading.Event()

    def watch():
        status = Path(f"/proc/{proc.pid}/status")
        while not stop.is_set():
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        trace.append((time.perf_counter() - t0, int(line.split()[1]) / 1024))
            except OSError:
                break
            stop.wait(poll)

    watcher = threading.Thread(target=watch, daemon=True) if poll else None
    if watcher:
        watcher.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    stop.set()
    if watcher:
        watcher.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    out_f.seek(0)
    text = out_f.read()
    out_f.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{text[-3000:]}")
    wrote = [(int(n), float(s)) for n, s in SAMPLING_LINE.findall(text)]
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024,
            "wrote": wrote, "rss_trace_mb": trace}


def worker_env(threads: int = 1) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONWARNINGS="ignore")
    return env


MULTI_GPU = (
    "On one node with G GPUs: torchrun --standalone --nproc_per_node G -m graphdiff sample ...; on "
    "several nodes: torchrun --nnodes M --node_rank R --rdzv_backend c10d --rdzv_endpoint HOST:PORT "
    "--nproc_per_node G -m graphdiff sample ... on each node. graphdiff sample splits the input "
    "rows (or --num) into WORLD_SIZE contiguous shares by RANK, seeds each rank with seed + 7919 * "
    "rank and writes OUT.rank<r>of<world>.csv; the ranks never communicate, so the speed-up is "
    "limited only by the slowest share and the start-up (import, checkpoint load) of each process. "
    "Devices: graphdiff sample --device auto (the default) gives each rank cuda:LOCAL_RANK where "
    "CUDA is present (graphdiff/cli/sample.py, graphdiff.load), and graphdiff/runner.py "
    "sample_in_chunks seeds each chunk's torch.Generator on the model's device. This benchmark "
    "measures the CPU path only: this machine has no GPU.")


def torchrun_config(tmp: Path, n_rows: int, args: argparse.Namespace) -> dict[str, Any]:
    """Time ``n_rows`` rows x ``args.steps`` steps in one process and under torchrun, alternating,
    ``args.repeats`` times each; check every output."""
    header, rows = perov_rows(n_rows)
    src = tmp / f"perov5_{len(rows)}.csv"
    with src.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    expected = read_ids(src)
    common = ["sample", "--checkpoint", "perov5-csp", "--task", "csp", "--input", str(src),
              "--steps", str(args.steps), "-q"]
    multi_label = f"torchrun {args.nproc}"
    runs: dict[str, list] = {"1 process": [], multi_label: []}
    checks = []
    load_before = list(os.getloadavg())
    for r in range(args.repeats):
        for label in runs:
            out = tmp / f"{'single' if label == '1 process' else 'ranks'}{n_rows}_{r}.csv"
            if label == "1 process":
                cmd = [str(VENV_BIN / "graphdiff"), *common, "--out", str(out)]
                files = [out]
            else:
                cmd = [str(VENV_BIN / "torchrun"), "--standalone", "--nproc_per_node", str(args.nproc),
                       "-m", "graphdiff", *common, "--out", str(out)]
                files = rank_files(out, args.nproc)
            res = timed_run(cmd, worker_env(1))
            res.pop("rss_trace_mb")
            check = merge_check(expected, [read_ids(f) if f.exists() else [] for f in files])
            check.update(label=label, repeat=r)
            checks.append(check)
            res["check_ok"] = check["ok"]
            runs[label].append(res)
            print(f"  {len(rows)} rows, {label:>12}, run {r}: {res['wall_s']:.1f} s wall, sampling "
                  f"{max(s for _, s in res['wrote']):.1f} s (slowest rank), cpu {res['cpu_s']:.1f} s, "
                  f"every row once: {check['ok']}", flush=True)

    def med(label: str, key: Callable[[dict], float]) -> float:
        return statistics.median(key(x) for x in runs[label])

    wall = {k: med(k, lambda x: x["wall_s"]) for k in runs}
    samp = {k: med(k, lambda x: max(s for _, s in x["wrote"])) for k in runs}
    return {"rows": len(rows), "steps": args.steps, "runs": runs, "checks": checks,
            "all_rows_once": all(c["ok"] for c in checks),
            "load_average_before": load_before, "load_average_after": list(os.getloadavg()),
            "median_wall_s": wall, "median_sampling_s": samp,
            "speedup_wall": ratio(wall["1 process"], wall[multi_label]),
            "speedup_sampling": ratio(samp["1 process"], samp[multi_label])}


def ratio(a: float, b: float) -> float:
    """``a / b``; NaN where ``b`` is 0 (graphdiff prints its sampling time to 0.1 s)."""
    return a / b if b else float("nan")


def run_torchrun(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="graphdiff-throughput-"))
    try:
        configs = [torchrun_config(tmp, n, args) for n in args.rows]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for c in configs:
        print(f"{c['rows']} rows x {c['steps']} steps: speed-up {c['speedup_wall']:.2f} (wall), "
              f"{c['speedup_sampling']:.2f} (sampling); load {c['load_average_before'][0]:.1f} -> "
              f"{c['load_average_after'][0]:.1f}")
    shape = "OMP_NUM_THREADS=1 {} sample --checkpoint perov5-csp --task csp --input ROWS.csv --steps %d -q " \
            "--out X.csv" % args.steps
    return {"command": _command(), "machine": machine_info(), "torch_threads_per_process": 1,
            "nproc": args.nproc, "ideal_speedup": float(args.nproc),
            "commands": {"1 process": shape.format("graphdiff"),
                         f"torchrun {args.nproc}": shape.format(
                             f"torchrun --standalone --nproc_per_node {args.nproc} -m graphdiff")},
            "configs": configs, "all_rows_once": all(c["all_rows_once"] for c in configs),
            "note": ("wall: the whole command, start-up (imports, checkpoint load, reading the CSV) "
                     "included; sampling: the 'wrote N graphs ... in T s' time graphdiff prints, "
                     "slowest rank. The machine's cores are shared with other jobs: the load average "
                     "(1, 5, 15 min) before/after each configuration shows how busy they were."),
            "multi_gpu": MULTI_GPU}


# ---------------------------------------------------------------------------- streaming
def count_rows(path: Path) -> int:
    csv.field_size_limit(sys.maxsize)
    with Path(path).open(newline="") as fh:
        return sum(1 for _ in csv.DictReader(fh))


def run_stream(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="graphdiff-stream-"))
    try:
        graphdiff = str(VENV_BIN / "graphdiff")
        runs = []
        load_before = list(os.getloadavg())
        for n in args.nums:
            out = tmp / f"carbon_{n}.csv"
            cmd = [graphdiff, "sample", "--checkpoint", "carbon24-dng", "--num", str(n), "--out", str(out),
                   "--steps", str(args.steps), "--batch-size", str(args.batch_size), "-q"]
            res = timed_run(cmd, worker_env(1), poll=args.poll)
            res["num"] = n
            res["rows_written"] = count_rows(out)
            res["file_mb"] = out.stat().st_size / 1e6
            out.unlink()
            runs.append(res)
            print(f"  N={n:>6}: peak RSS {res['peak_rss_mb']:.0f} MB, {res['rows_written']} rows, "
                  f"{res['wall_s']:.0f} s", flush=True)
        first, last = runs[0], runs[-1]
        return {"command": _command(), "machine": machine_info(), "torch_threads": 1,
                "checkpoint": "carbon24-dng", "steps": args.steps, "batch_size": args.batch_size,
                "cli": f"OMP_NUM_THREADS=1 graphdiff sample --checkpoint carbon24-dng --num N --out X.csv "
                       f"--steps {args.steps} --batch-size {args.batch_size} -q",
                "note": (f"{args.steps} reverse steps instead of the checkpoint's 500: this measures memory, "
                         "not sample quality (per-step memory does not depend on the number of steps)."),
                "load_average_before": load_before, "load_average_after": list(os.getloadavg()),
                "runs": runs, "peak_rss_mb": {str(r["num"]): r["peak_rss_mb"] for r in runs},
                "peak_ratio_last_to_first": last["peak_rss_mb"] / first["peak_rss_mb"],
                "all_rows_written": all(r["rows_written"] == r["num"] for r in runs)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------- results
def _command() -> str:
    return " ".join(["python", "benchmarks/crystals/crystals_throughput.py", *sys.argv[1:]])


def parts(path: Path | None = None) -> dict[str, Any]:
    """The latest run of each part recorded in the results JSON (``{part: figures}``)."""
    path = path or RESULTS / f"{NAME}.json"
    found: dict[str, list] = {}
    for e in entries(path):
        found.setdefault(e["key"].get("part") or e["key"].get("recorded_as"), []).append(e)
    return {part: newest(es) for part, es in found.items()}


def save_part(part: str, value: dict[str, Any], run: Run, key: dict[str, Any] | None = None,
              path: Path | None = None) -> dict[str, Any]:
    """Record a run of ``part`` (keyed by ``key`` and the part; the earlier runs are kept) and
    return the latest run of every part."""
    path = path or RESULTS / f"{NAME}.json"
    record(path, {**(key or {}), "part": part}, value, run)
    return parts(path)


def plot(data: dict[str, Any], path: Path | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = path or RESULTS / f"{NAME}.png"
    panels = [p for p in ("flops", "profile", "torchrun", "stream")
              if (p == "profile" and "flops" in data) or p in data]
    if not panels:
        raise ValueError("nothing to plot")
    cols = 2 if len(panels) > 1 else 1
    rows = (len(panels) + 1) // 2
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 4 * rows), squeeze=False)
    axes = list(axes.flat)
    for ax in axes[len(panels):]:
        ax.axis("off")
    for ax, p in zip(axes, panels):
        if p == "flops":
            f = data["flops"]
            bs = [r["batch"] for r in f["by_batch"]]
            ax.plot(bs, [r["achieved_gflops"] for r in f["by_batch"]], "o-", label="sampling (matmul FLOPs)")
            ax.plot(bs, [r["forward_gflops"] for r in f["by_batch"]], "s--", label="denoiser forward alone")
            ax.axhline(f["peak"]["one_thread"]["peak_gflops"], color="k", ls=":",
                       label=f"matmul peak, 1 thread ({f['peak']['one_thread']['peak_gflops']:.0f})")
            ax.axhline(f["peak"]["all_threads"]["peak_gflops"], color="r", ls=":",
                       label=f"matmul peak, {f['peak']['all_threads']['threads']} threads "
                             f"({f['peak']['all_threads']['peak_gflops']:.0f}; shared cores)")
            for r in f["by_batch"]:
                ax.annotate(f"{100 * r['fraction_of_peak_1_thread']:.1f} %", (r["batch"], r["achieved_gflops"]),
                            textcoords="offset points", xytext=(0, 8), ha="center", fontsize=8)
            ax.set_xscale("log", base=2)
            ax.set_xticks(bs, [str(b) for b in bs])
            ax.set_ylim(0, 1.3 * max(f["peak"]["one_thread"]["peak_gflops"], f["peak"]["all_threads"]["peak_gflops"]))
            ax.set_xlabel("Perov-5 compositions per batch")
            ax.set_ylabel("GFLOP/s (1 thread)")
            ax.set_title("perov5-csp sampling against the machine")
            ax.legend(fontsize=7)
        elif p == "profile":
            prof = data["flops"]["profile"]
            cats = prof["categories"][::-1]
            ax.barh([c["category"] for c in cats], [100 * c["share"] for c in cats])
            ax.set_xlabel("share of sampling wall time (%)")
            ax.set_title(f"where the time goes, batch {prof['batch']} "
                         f"({1e3 * prof['wall_s_per_step_unprofiled']:.1f} ms/step)")
        elif p == "torchrun":
            t = data["torchrun"]
            labels = list(t["commands"])
            width = 0.8 / len(t["configs"])
            for k, c in enumerate(t["configs"]):
                xs = [i + (k - (len(t["configs"]) - 1) / 2) * width for i in range(len(labels))]
                bars = ax.bar(xs, [c["median_wall_s"][lb] for lb in labels], width * 0.95,
                              label=f"{c['rows']} rows: speed-up {c['speedup_wall']:.2f} whole command, "
                             f"{c['speedup_sampling']:.2f} sampling")
                ax.bar(xs, [c["median_sampling_s"][lb] for lb in labels], width * 0.5, color="k", alpha=0.45,
                       label="sampling alone (inner bars)" if k == 0 else None)
                for x, lb in zip(xs, labels):
                    ax.annotate(f"{c['median_sampling_s'][lb]:.1f}", (x, c["median_sampling_s"][lb]),
                                textcoords="offset points", xytext=(0, 2), ha="center", fontsize=7)
                for b in bars:
                    b.set_alpha(0.8)
            ax.set_xticks(range(len(labels)), labels)
            ax.set_ylim(0, 1.45 * max(max(c["median_wall_s"].values()) for c in t["configs"]))
            ax.set_ylabel("seconds (median)")
            ax.set_title(f"perov5-csp, {t['configs'][0]['steps']} steps: 1 process vs torchrun "
                         f"(ideal speed-up {t['ideal_speedup']:.0f})", fontsize=9)
            ax.legend(fontsize=7)
        else:
            s = data["stream"]
            for r in s["runs"]:
                tr = r["rss_trace_mb"]
                if tr:
                    ax.plot([a for a, _ in tr], [b for _, b in tr], label=f"N = {r['num']:,} "
                            f"(peak {r['peak_rss_mb']:.0f} MB)")
            ax.set_xlabel("seconds")
            ax.set_ylabel("resident memory (MB)")
            ax.set_ylim(bottom=0)
            ax.set_title(f"carbon24-dng --num N, {s['steps']} steps, batch {s['batch_size']}")
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: Iterable[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="part", required=True)
    f = sub.add_parser("flops", help="achieved FLOP/s of CSP sampling beside the matmul peak; profile")
    f.add_argument("--steps", type=int, default=100)
    f.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64, 256])
    f.add_argument("--repeats", type=int, default=5)
    f.add_argument("--forward-repeats", type=int, default=20)
    f.add_argument("--peak-sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    f.add_argument("--peak-repeats", type=int, default=5)
    f.add_argument("--profile-batch", type=int, default=64)
    f.add_argument("--profile-steps", type=int, default=10)
    t = sub.add_parser("torchrun", help="1 process against torchrun --nproc_per_node 2")
    t.add_argument("--rows", type=int, nargs="+", default=[128, 512])
    t.add_argument("--steps", type=int, default=100)
    t.add_argument("--nproc", type=int, default=2)
    t.add_argument("--repeats", type=int, default=2)
    s = sub.add_parser("stream", help="peak memory of de novo sampling against N")
    s.add_argument("--nums", type=int, nargs="+", default=[1000, 3000, 10000])
    s.add_argument("--steps", type=int, default=10)
    s.add_argument("--batch-size", type=int, default=256)
    s.add_argument("--poll", type=float, default=0.5, help="seconds between resident-memory readings")
    sub.add_parser("plot", help="redraw the picture from the JSON")
    args = ap.parse_args(argv)
    if args.part == "plot":
        data = parts()
    else:
        measure = {"flops": run_flops, "torchrun": run_torchrun, "stream": run_stream}[args.part]
        run = Run(argv=None if argv is None else [__file__, *argv],
                  seeds={"sampling": "torch.Generator().manual_seed(r) for timed repeat r, 99 for warm-ups"},
                  data=[PEROV, ROOT / "plugins" / "graphdiff-crystals" / "graphdiff_crystals" / "checkpoints"
                        / ("carbon24-dng.ckpt" if args.part == "stream" else "perov5-csp.ckpt")])
        data = save_part(args.part, measure(args), run, key_from_args(args, threads=torch.get_num_threads()))
    print(f"wrote {RESULTS / (NAME + '.json')} and {plot(data)}")


if __name__ == "__main__":
    main()

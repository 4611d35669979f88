"""What the benchmark scripts record about the machine they ran on."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; ``platform.processor()`` where that is absent)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def run_phase(name: str, cmd: list[str], log_path: Path, log, root: Path) -> dict:
    """Run ``cmd`` in ``root`` with one OpenMP thread (the CPU affinity is inherited), its output
    to ``log_path``; stop with the log's tail if it fails. Returns the command, wall time, the
    process's peak RSS and CPU time, the load averages before and after, and the log's path
    (relative to ``root`` where it lies inside it)."""
    import shlex
    import subprocess
    import time

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    load_before = list(os.getloadavg())
    log(f"[{name}] {shlex.join(cmd)}")
    t0 = time.perf_counter()
    with log_path.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=root)
        _, status, usage = os.wait4(proc.pid, 0)
        returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if returncode != 0:
        tail = "\n".join(log_path.read_text().splitlines()[-30:])
        raise SystemExit(f"[{name}] failed (exit {returncode}); {log_path}:\n{tail}")
    try:
        where = str(log_path.resolve().relative_to(root))
    except ValueError:
        where = str(log_path)
    res = {"command": shlex.join(cmd), "wall_seconds": round(wall, 2),
           "process_peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
           "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
           "load_average_before": load_before, "load_average_after": list(os.getloadavg()), "log": where}
    log(f"[{name}] {wall:.1f} s, peak RSS {res['process_peak_rss_mb']:.0f} MB")
    return res

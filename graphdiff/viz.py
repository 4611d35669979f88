"""Pictures of the basics: schedules, and a graph noised at several times."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

__all__ = ["plot_schedules", "plot_noised_graph"]


def _figure(**kwargs):
    """A matplotlib ``Figure`` outside pyplot: saving it needs no backend, and the caller's
    backend (a notebook's inline one, an interactive window) is left as it was."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def plot_schedules(out: str | Path, names: Sequence[str] | None = None) -> list[Path]:
    """ᾱ(t) and log SNR(t) of registered schedules (default options), side by side."""
    from graphdiff.plugins import get_manager

    registry = get_manager().registry("schedules")
    names = list(names) if names else registry.names()
    fig = _figure(figsize=(10, 4))
    a1, a2 = fig.subplots(1, 2)
    t = torch.linspace(0, 1, 501, dtype=torch.float64)
    for name in names:
        sched = registry.get(name)()
        ab = sched.alpha_bar(t)
        a1.plot(t, ab, label=name)
        a2.plot(t[1:-1], torch.log(sched.snr(t[1:-1])), label=name)
    a1.set(xlabel="t", ylabel="ᾱ(t)", title="signal kept")
    a2.set(xlabel="t", ylabel="log SNR(t)", title="log signal-to-noise ratio")
    for ax in (a1, a2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    return [out]


def plot_noised_graph(out: str | Path, times: Sequence[float] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
                      schedule: str = "cosine", seed: int = 0) -> Path:
    """A ring-with-chords graph whose 2-D node positions (positions process) and edges
    (categorical process over node pairs, marginal prior) are noised at several ``t``."""
    from graphdiff.diffusion import edges_to_pairs
    from graphdiff.graph import FieldSpec
    from graphdiff.nn.base import all_pairs
    from graphdiff.plugins import get_manager
    from graphdiff.processes import CategoricalProcess, PositionsProcess

    sched = get_manager().get("schedules", schedule)()
    n = 12
    angle = torch.arange(n) * 2 * math.pi / n
    pos = torch.stack([angle.cos(), angle.sin()], -1)
    u = torch.cat([torch.arange(n), torch.arange(0, n, 3)])
    v = torch.cat([(torch.arange(n) + 1) % n, (torch.arange(0, n, 3) + 6) % n])
    lo, hi = torch.minimum(u, v), torch.maximum(u, v)
    ptr = torch.tensor([0, n])
    batch = torch.zeros(n, dtype=torch.long)
    pair_index, pair_batch = all_pairs(ptr)
    classes = edges_to_pairs(torch.stack([lo, hi]), torch.ones_like(lo), ptr, batch, pair_index.size(1))
    pos_proc = PositionsProcess(FieldSpec("pos", "positions", "node", dim=2), sched)
    pos_proc.fit(pos, batch)
    edge_proc = CategoricalProcess(FieldSpec("edges", "categorical", "edge", num_classes=2), sched)
    edge_proc.fit(classes)
    gen = torch.Generator().manual_seed(seed)
    fig = _figure(figsize=(2.6 * len(times), 2.8))
    axes = np.atleast_1d(fig.subplots(1, len(times)))
    for ax, t in zip(axes, times):
        x_t, _ = pos_proc.noise(pos, torch.full((n,), float(t)), batch, gen)
        e_t, _ = edge_proc.noise(classes, torch.full((classes.numel(),), float(t)), pair_batch, gen)
        xy = pos_proc.finalize(x_t)
        for k in torch.nonzero(e_t).view(-1).tolist():
            i, j = pair_index[:, k].tolist()
            ax.plot(*zip(xy[i].tolist(), xy[j].tolist()), color="0.5", lw=0.8, zorder=1)
        ax.scatter(xy[:, 0], xy[:, 1], s=25, c=range(n), cmap="viridis", zorder=2)
        ax.set_title(f"t = {t:.1f}")
        ax.set_aspect("equal")
        ax.set_xlim(-3, 3)
        ax.set_ylim(-3, 3)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"a graph noised by the positions and edge processes ({schedule} schedule)")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    return out

"""Pictures of the basics: schedules, and a graph noised at several times."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

__all__ = ["plot_schedules", "plot_noised_graph", "AtomsPanel", "plot_atoms"]


def _figure(**kwargs):
    """A matplotlib ``Figure`` outside pyplot: saving it needs no backend, and the caller's
    backend (a notebook's inline one, an interactive window) is left as it was."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


class AtomsPanel:
    """One 3-D picture of atoms: Cartesian positions ``xyz [N, 3]``, a colour and a marker size
    per atom, optional bonds ``(i, j, width)`` and an optional periodic ``cell`` (3x3 rows) whose
    edges are drawn; ``equal`` scales the three axes alike around the atoms (molecules)."""

    def __init__(self, xyz: np.ndarray, colors: Sequence, sizes: Sequence[float], *, title: str = "",
                 bonds: Sequence[tuple[int, int, float]] = (), cell: np.ndarray | None = None,
                 equal: bool = False) -> None:
        self.xyz = np.asarray(xyz, dtype=float).reshape(-1, 3)
        self.colors, self.sizes, self.title = list(colors), list(sizes), title
        self.bonds, self.cell, self.equal = list(bonds), cell, equal


def plot_atoms(panels: Sequence[Sequence[AtomsPanel]], out: str | Path, *, size: float = 3.0,
               dpi: int = 110) -> Path:
    """A grid of 3-D atom pictures (rows of :class:`AtomsPanel`) saved to ``out``; the caller's
    matplotlib backend is left alone."""
    rows = [list(r) for r in panels]
    ncols = max((len(r) for r in rows), default=1) or 1
    fig = _figure(figsize=(size * ncols, size * max(len(rows), 1)))
    for r, row in enumerate(rows):
        for c, p in enumerate(row):
            ax = fig.add_subplot(len(rows), ncols, r * ncols + c + 1, projection="3d")
            if p.cell is not None:
                corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)]) @ np.asarray(p.cell)
                for a in range(8):
                    for b in range(a + 1, 8):
                        if bin(a ^ b).count("1") == 1:
                            ax.plot(*zip(corners[a], corners[b]), color="0.6", lw=0.7)
            for i, j, width in p.bonds:
                ax.plot(*zip(p.xyz[i], p.xyz[j]), color="0.5", lw=width)
            if len(p.xyz):
                ax.scatter(p.xyz[:, 0], p.xyz[:, 1], p.xyz[:, 2], c=p.colors, s=p.sizes, depthshade=False,
                           edgecolors="k", linewidths=0.4)
            if p.equal and len(p.xyz):
                span = max(np.ptp(p.xyz, axis=0).max(), 1.0) / 2
                mid = p.xyz.mean(axis=0)
                ax.set_xlim(mid[0] - span, mid[0] + span)
                ax.set_ylim(mid[1] - span, mid[1] + span)
                ax.set_zlim(mid[2] - span, mid[2] + span)
            ax.set_title(p.title, fontsize=8)
            ax.set_axis_off()
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=dpi)
    return out


def figure_path(out: str | Path) -> Path:
    """Where a figure is written: ``out``, ``.png`` added when it has no suffix (as matplotlib
    does); a suffix matplotlib cannot write raises :class:`~graphdiff.errors.ConfigError` before
    any work."""
    from matplotlib.backend_bases import FigureCanvasBase

    from graphdiff.errors import ConfigError

    out = Path(out)
    if not out.suffix:
        return out.with_name(out.name + ".png")
    formats = FigureCanvasBase.get_supported_filetypes()
    if out.suffix[1:].lower() not in formats:
        raise ConfigError(f"{out}: cannot write a figure as {out.suffix!r}; formats: {', '.join(sorted(formats))}")
    return out


def plot_schedules(out: str | Path, names: Sequence[str] | None = None) -> list[Path]:
    """ᾱ(t) and log SNR(t) of registered schedules (default options), side by side."""
    from graphdiff.plugins import get_manager

    out = figure_path(out)
    registry = get_manager().registry("schedules")
    names = list(names) if names else registry.names()
    schedules = {name: registry.get(name) for name in names}  # unknown names fail before drawing
    fig = _figure(figsize=(10, 4))
    a1, a2 = fig.subplots(1, 2)
    t = torch.linspace(0, 1, 501, dtype=torch.float64)
    for name, cls in schedules.items():
        sched = cls()
        ab = sched.alpha_bar(t)
        a1.plot(t, ab, label=name)
        a2.plot(t[1:-1], torch.log(sched.snr(t[1:-1])), label=name)
    a1.set(xlabel="t", ylabel="ᾱ(t)", title="signal kept")
    a2.set(xlabel="t", ylabel="log SNR(t)", title="log signal-to-noise ratio")
    for ax in (a1, a2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
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
    out = figure_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    return out

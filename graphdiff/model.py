"""Build a :class:`~graphdiff.diffusion.GraphDiffusion` from a run config; save and load checkpoints.

Checkpoint format (one file, written atomically: temp file + rename, read with
``torch.load(weights_only=True)``)::

    {
      "format": "graphdiff-checkpoint", "version": 1,
      "config": "<RunConfig as JSON>", "spec": "<GraphSpec as JSON>", "meta": "<JSON>",
      "model": state_dict, "ema": state_dict | None,
      "optimizer": ..., "scheduler": ..., "step": int, "rng": {...},  # training state
      "ema_state": {"updates": int, "start_share": float}            # training state
    }

``ema_state`` (the EMA's update count, for its warm-up, and the share of the starting weights
left in the average; also in ``meta``) is absent from checkpoints written before it existed;
resuming one of those takes the EMA as updated at every step with its fixed ``ema_decay``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from graphdiff.config import RunConfig
from graphdiff.diffusion import GraphDiffusion
from graphdiff.constraints import check_constraint
from graphdiff.objectives import build_objectives
from graphdiff.errors import CheckpointError, ConfigError, GraphdiffError
from graphdiff.graph import FieldKind, GraphSpec

__all__ = ["build_model", "save_checkpoint", "read_checkpoint", "load_model", "resolve_checkpoint",
           "export_checkpoint", "auto_denoiser"]

FORMAT = "graphdiff-checkpoint"


def auto_denoiser(domain: Any, spec: GraphSpec) -> str:
    """The denoiser ``[model] denoiser = "auto"`` stands for: the domain's ``default_denoiser``
    if it names one, else ``periodic`` for a spec with a torus field, ``egnn`` for one with a
    positions field, and ``graph_transformer`` otherwise."""
    name = getattr(domain, "default_denoiser", None)
    if name:
        return name
    if spec.of_kind(FieldKind.TORUS):
        return "periodic"
    if spec.of_kind(FieldKind.POSITIONS):
        return "egnn"
    return "graph_transformer"


def build_model(cfg: RunConfig, domain: Any = None, spec: GraphSpec | None = None) -> GraphDiffusion:
    """The untrained model a config describes (processes, denoiser, task)."""
    from graphdiff.plugins import get_manager
    from graphdiff.processes import build_process

    manager = get_manager()
    if domain is None:
        domain = manager.get("domains", cfg.data.domain)
    spec = spec or domain.spec
    d = cfg.diffusion
    for key in ("given", "generate", "fields"):
        for name in (getattr(d, key) or []):
            if name not in spec:
                raise ConfigError(f"diffusion.{key}: {name!r} is not a field of domain {spec.name!r} "
                                  f"(fields: {', '.join(spec.names)})")
    generate = list(d.generate) if d.generate else [n for n in spec.names if n not in d.given]
    try:  # before the denoiser is built, so that the message says why (e.g. nothing left to generate)
        constraint = check_constraint(d.constraint, spec, generate)
    except GraphdiffError as exc:
        raise ConfigError(f"diffusion.constraint: {exc}") from exc
    processes = {n: build_process(spec[n], d.fields.get(n)) for n in generate + list(d.given)}
    denoiser_name = cfg.model.denoiser if cfg.model.denoiser != "auto" else auto_denoiser(domain, spec)
    denoiser_cls = manager.get("denoisers", denoiser_name)
    outputs = {n: spec[n].width for n in generate}
    objectives = build_objectives(d, spec, generate)
    denoiser = denoiser_cls(spec, outputs, cond_dim=len(d.condition), hidden=cfg.model.hidden,
                            layers=cfg.model.layers, **cfg.model.options, **_encoder_options(cfg, manager))
    weights = {n: c.loss_weight for n, c in d.fields.items()}
    return GraphDiffusion(spec, denoiser, processes, generate=generate, given=d.given,
                          condition=d.condition, cond_drop=d.cond_drop, loss_weights=weights,
                          constraint=constraint, objectives=objectives)


def _encoder_options(cfg: RunConfig, manager: Any) -> dict[str, Any]:
    """The denoiser's ``encoder`` and ``encoder_options`` arguments a config sets (none when it
    leaves them at their defaults: a denoiser that takes no encoder still builds)."""
    from graphdiff.errors import RegistryError

    m = cfg.model
    for key in ("encoder", "encoder_options"):
        if key in m.options:
            raise ConfigError(f"model.options.{key}: set it as model.{key}")
    out: dict[str, Any] = {}
    if m.encoder is not None:
        try:
            manager.registry("encoders").entry(m.encoder)
        except RegistryError as exc:
            raise ConfigError(f"model.encoder: {exc}") from None
        out["encoder"] = m.encoder
    if m.encoder_options:
        out["encoder_options"] = dict(m.encoder_options)
    return out


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save({"format": FORMAT, "version": 1, **payload}, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def export_checkpoint(src: str | Path, dst: str | Path, meta: dict[str, Any] | None = None,
                      weights_dtype: torch.dtype | None = None) -> Path:
    """A model-only copy of a training checkpoint (EMA weights, config, spec; no optimiser):
    what gets bundled and shared.

    ``weights_dtype=torch.float16`` stores the floating-point weights at half precision (half
    the file); they are loaded back into the float32 model. Buffers that hold statistics
    (normalisation, size histograms) stay float32."""
    ckpt = read_checkpoint(src)
    weights = ckpt["ema"] if ckpt.get("ema") is not None else ckpt["model"]
    if weights_dtype is not None:
        weights = {k: (v.to(weights_dtype) if v.is_floating_point() and v.numel() > 64 and "hist" not in k else v)
                   for k, v in weights.items()}
        meta = {**(meta or {}), "weights_dtype": str(weights_dtype).replace("torch.", "")}
    old = json.loads(ckpt.get("meta") or "{}")
    return save_checkpoint(dst, {"config": ckpt["config"], "spec": ckpt["spec"],
                                 "meta": json.dumps({**old, **(meta or {})}), "model": weights})


def resolve_checkpoint(name_or_path: str | Path) -> Path:
    """A checkpoint path, or the path of a bundled checkpoint registered under that name."""
    path = Path(name_or_path)
    if path.exists():
        return path
    from graphdiff.checkpoints import find_named

    found = find_named(str(name_or_path))
    if found is None:
        from graphdiff.checkpoints import list_named

        names = ", ".join(c.name for c in list_named()) or "none installed"
        raise CheckpointError(f"{name_or_path}: no such file and no bundled checkpoint of that name "
                              f"(bundled: {names})")
    return found.path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint file safely (``weights_only=True``), with clear errors."""
    path = resolve_checkpoint(path)
    ckpt = load_torch_file(Path(path))
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a graphdiff checkpoint")
    return ckpt


def load_torch_file(path: Path, kind: str = "checkpoint", mmap: bool = False) -> Any:
    """``torch.load(path, weights_only=True)`` for a graphdiff ``kind`` of file ("checkpoint",
    "predictor"), refusing what cannot be one before torch reads it (a folder, an empty file, a
    file that is neither the zip archive ``torch.save`` writes nor its legacy pickle) and turning
    torch's errors into one :class:`CheckpointError` line that names the file."""
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a {kind} file")
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such {kind} file") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not head:
        raise CheckpointError(f"{path}: not a readable {kind}: the file is empty (0 bytes; an "
                              "interrupted copy?)")
    if not (head.startswith(b"PK") or head[:1] == b"\x80"):
        raise CheckpointError(f"{path}: not a readable {kind}: graphdiff {kind}s are files "
                              f"torch.save writes (a zip archive); this one starts with {head!r}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a corrupt file
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        if len(first) > 160 and ". " in first:  # torch's advice that follows is not for this case
            first = first[:first.index(". ") + 1]
        if "weights_only" in first or "Weights only load failed" in first:
            first = ("it holds Python objects besides tensors and plain containers, and graphdiff "
                     f"loads {kind}s with weights_only=True (no code from a file is run)")
        raise CheckpointError(f"{path}: not a readable {kind} ({type(exc).__name__}: {first})") from None


def load_model(path: str | Path, use_ema: bool | None = None) -> tuple[GraphDiffusion, RunConfig, dict[str, Any]]:
    """Rebuild the model stored in a checkpoint: ``(model, config, meta)`` (model in eval mode).

    ``use_ema``: the moving average of the weights (where the checkpoint has one) or the raw
    weights; ``None`` (the default): as the checkpoint's ``sampling.use_ema`` says."""
    ckpt = read_checkpoint(path)
    try:
        cfg = RunConfig.model_validate(json.loads(ckpt["config"]))
        spec = GraphSpec.from_dict(json.loads(ckpt["spec"]))
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"{path}: its config cannot be read ({exc})") from None
    model = build_model(cfg, spec=spec)
    if use_ema is None:
        use_ema = cfg.sampling.use_ema
    state = ckpt["ema"] if use_ema and ckpt.get("ema") is not None else ckpt["model"]
    load_state(model, state, str(path))
    model.eval()
    meta = json.loads(ckpt.get("meta") or "{}")
    return model, cfg, meta


def load_state(model: torch.nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """``load_state_dict`` with a message that names missing/unexpected/mismatched tensors."""
    hist = state.get("num_nodes_hist")
    if hist is not None and getattr(model, "num_nodes_hist", None) is not None:
        # its length depends on the training data's largest graph
        model.num_nodes_hist = torch.zeros_like(hist)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}")
        if shapes:
            parts.append("shape mismatch " + ", ".join(
                f"{k}: {list(state[k].shape)} vs {list(own[k].shape)}" for k in shapes[:5]))
        raise CheckpointError(f"{where}: the checkpoint does not fit this model's config: " + "; ".join(parts))
    model.load_state_dict(state)

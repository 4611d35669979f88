r"""Training objectives: the loss of each generated field.

:meth:`GraphDiffusion.loss <graphdiff.diffusion.GraphDiffusion.loss>` draws a time per graph,
noises every generated field with its process, runs the denoiser once, and hands each field's
prediction and target (:class:`LossTerms`) to that field's objective. The objective returns a
loss per *element* (node, graph or node pair: ``[M]``); the model averages it over the elements
of the batch and sums the fields with their ``loss_weight``.

=================  ============================  ================================================
registered name    fields                        loss per element
=================  ============================  ================================================
``denoising``      every kind                    the process's own loss (:meth:`Process.loss
                                                 <graphdiff.processes.base.Process.loss>`): what
                                                 ``mse`` and ``cross_entropy`` compute for the
                                                 built-in processes; the default
``mse``            continuous, positions, torus  :math:`\tfrac1d \lVert \hat{\mathbf{y}} -
                                                 \mathbf{y} \rVert^2` to the process's target (ε,
                                                 x₀ or v; on the torus the scaled score of the
                                                 wrapped normal: denoising score matching)
``cross_entropy``  categorical                   :math:`-\log \mathrm{softmax}(\hat{\mathbf{y}})_{x_0}`
``min_snr``        continuous, positions         ``mse`` weighted by the Min-SNR-γ rule (Hang et
                                                 al. 2023), :math:`\min(\mathrm{SNR}_t, \gamma)`
                                                 over the weight the prediction type implies
=================  ============================  ================================================

A run config picks them by name: ``[diffusion] objective`` for every generated field whose kind
the objective takes (the others keep ``denoising``), ``[diffusion.fields.NAME] objective`` for
one field, each with ``objective_options``. Plugins register more with ``register_objectives``:
a subclass of :class:`Objective`, built as ``cls(field, **options)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from graphdiff.graph import FieldKind, FieldSpec

__all__ = ["LossTerms", "Objective", "DenoisingObjective", "MSEObjective", "CrossEntropyObjective",
           "MinSNRObjective", "BUILTIN_OBJECTIVES", "DEFAULT_OBJECTIVE", "build_objectives"]

#: The objective of a field whose config names none.
DEFAULT_OBJECTIVE = "denoising"


@dataclass
class LossTerms:
    """What an objective receives for one generated field of a training batch.

    ``M`` is the number of the field's elements in the batch (nodes, graphs or node pairs).

    Attributes
    ----------
    field:
        The field.
    process:
        Its :class:`~graphdiff.processes.base.Process` (schedule, prediction type, statistics).
    pred:
        ``[M, width]`` the denoiser's prediction, after the process's preconditioning
        (:meth:`~graphdiff.processes.base.Process.precondition`): logits of the clean class for
        a categorical field.
    target:
        What the process trains ``pred`` toward (from
        :meth:`~graphdiff.processes.base.Process.noise`): ``[M, d]`` ε, x₀ or v of the
        normalised field, the scaled torus score, or the clean class ids ``[M]``.
    x0:
        ``[M, ...]`` the clean values, in the field's own units (class ids for categorical
        fields; for an edge field, the class of every node pair).
    x_t:
        ``[M, ...]`` the noisy state the denoiser saw.
    t:
        ``[M]`` the diffusion time of each element (its graph's).
    index:
        ``[M]`` the graph of each element.
    """

    field: FieldSpec
    process: Any
    pred: Tensor
    target: Tensor
    x0: Tensor
    x_t: Tensor
    t: Tensor
    index: Tensor


class Objective(nn.Module):
    """Base class of registered training objectives.

    Subclasses set :attr:`kinds` (the field kinds they take) and implement :meth:`forward`. An
    objective is a module of the model: parameters or buffers it holds are trained and saved
    with the weights (the built-ins hold none). It must not keep the process as an attribute
    (it arrives with every call, ``terms.process``).

    Parameters
    ----------
    field:
        The field this objective scores.
    **options:
        The objective's options (``objective_options`` in a run config).
    """

    #: field kinds this objective takes
    kinds: ClassVar[frozenset[FieldKind]] = frozenset(FieldKind)

    def __init__(self, field: FieldSpec, **options: Any) -> None:
        super().__init__()
        if options:
            raise TypeError(f"{type(self).__name__}: unknown option(s) {sorted(options)}")
        if field.kind not in self.kinds:
            raise ValueError(f"{type(self).__name__} takes {_kinds(self.kinds)} fields; "
                             f"{field.name!r} is {field.kind.value}")
        self.field = field

    def forward(self, terms: LossTerms) -> Tensor:  # pragma: no cover - abstract
        """The loss of each element, ``[M]``."""
        raise NotImplementedError


def _kinds(kinds: frozenset[FieldKind] | Sequence[FieldKind]) -> str:
    return ", ".join(sorted(k.value for k in kinds))


class DenoisingObjective(Objective):
    """Each process's own training loss, :meth:`Process.loss
    <graphdiff.processes.base.Process.loss>` (squared error to its target for Gaussian, positions
    and torus fields; cross-entropy of the clean class for categorical fields)."""

    def forward(self, terms: LossTerms) -> Tensor:
        return terms.process.loss(terms.pred, terms.target, terms.x0, terms.t)


class MSEObjective(Objective):
    r"""Mean squared error to the process's target, averaged over the field's dimensions:
    :math:`\tfrac1d \lVert \hat{\mathbf{y}} - \mathbf{y} \rVert^2` (ε, x₀ or v; the scaled torus
    score)."""

    kinds = frozenset({FieldKind.CONTINUOUS, FieldKind.POSITIONS, FieldKind.TORUS})

    def forward(self, terms: LossTerms) -> Tensor:
        return ((terms.pred - terms.target) ** 2).mean(-1)


class CrossEntropyObjective(Objective):
    """Cross-entropy of the clean class under the predicted logits."""

    kinds = frozenset({FieldKind.CATEGORICAL})

    def forward(self, terms: LossTerms) -> Tensor:
        return F.cross_entropy(terms.pred, terms.target.long(), reduction="none")


class MinSNRObjective(Objective):
    r"""Min-SNR-γ weighting (Hang et al. 2023) of the squared error of a Gaussian field.

    With :math:`\mathrm{SNR}_t = \bar\alpha_t / (1 - \bar\alpha_t)`, the squared error to the
    process's target is weighted so that, as a loss on :math:`x_0`, each time counts
    :math:`\min(\mathrm{SNR}_t, \gamma)`:

    .. math::
        w_t = \frac{\min(\mathrm{SNR}_t, \gamma)}{\mathrm{SNR}_t} \;(\varepsilon), \qquad
        \min(\mathrm{SNR}_t, \gamma) \;(x_0), \qquad
        \frac{\min(\mathrm{SNR}_t, \gamma)}{\mathrm{SNR}_t + 1} \;(v)

    Low-noise times, where the target is easy and the gradients of the fields conflict, stop
    dominating training.

    Parameters
    ----------
    field:
        A continuous or positions field.
    gamma:
        :math:`\gamma` (> 0). Default 5, as in the paper.
    """

    kinds = frozenset({FieldKind.CONTINUOUS, FieldKind.POSITIONS})

    def __init__(self, field: FieldSpec, gamma: float = 5.0, **options: Any) -> None:
        super().__init__(field, **options)
        if not float(gamma) > 0:
            raise ValueError(f"MinSNRObjective: gamma must be > 0, got {gamma!r}")
        self.gamma = float(gamma)

    def forward(self, terms: LossTerms) -> Tensor:
        process = terms.process
        schedule, prediction = getattr(process, "schedule", None), getattr(process, "prediction", None)
        if schedule is None or prediction not in ("eps", "x0", "v"):
            raise TypeError(f"min_snr needs a Gaussian process with a schedule and a prediction type; "
                            f"field {terms.field.name!r} has {type(process).__name__}")
        snr = schedule.snr(terms.t).to(terms.pred).clamp_min(1e-12)
        clipped = snr.clamp_max(self.gamma)
        weight = {"eps": clipped / snr, "x0": clipped, "v": clipped / (snr + 1)}[prediction]
        return weight * ((terms.pred - terms.target) ** 2).mean(-1)


#: Registered name -> objective class, registered by :mod:`graphdiff.builtins`.
BUILTIN_OBJECTIVES: dict[str, type[Objective]] = {
    "denoising": DenoisingObjective,
    "mse": MSEObjective,
    "cross_entropy": CrossEntropyObjective,
    "min_snr": MinSNRObjective,
}


def _objective_class(name: str, where: str) -> type[Objective]:
    from graphdiff.errors import ConfigError, RegistryError
    from graphdiff.plugins import get_manager

    try:
        cls = get_manager().get("objectives", name)
    except RegistryError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Objective)):
        raise ConfigError(f"{where}: objective {name!r} is {cls!r}, not a subclass of "
                          "graphdiff.objectives.Objective")
    return cls


def _build(cls: type[Objective], name: str, field: FieldSpec, options: Mapping[str, Any], where: str) -> Objective:
    from graphdiff.errors import ConfigError

    try:
        return cls(field, **dict(options))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: objective {name!r} for field {field.name!r}: {exc}") from None


def build_objectives(cfg: Any, spec: Any, generate: Sequence[str]) -> dict[str, Objective]:
    """The objective of every generated field from a :class:`~graphdiff.config.DiffusionConfig`.

    A field's own ``objective`` must take the field's kind; the run's ``objective`` applies to
    every generated field whose kind it takes (with ``objective_options``, and the field's own
    ``objective_options`` over them), the others keep ``denoising``.

    Raises
    ------
    ConfigError
        Naming the config key: an unknown objective (the message lists the registered ones),
        one that does not take the field's kind, a run-wide objective that takes none of the
        generated fields, or options the objective refuses.
    """
    from graphdiff.errors import ConfigError

    for name, own in cfg.fields.items():
        if own.objective is not None and name not in generate:
            raise ConfigError(f"diffusion.fields.{name}.objective: {name!r} is not generated, so it has no "
                              f"training loss (generated: {', '.join(generate)})")
    out: dict[str, Objective] = {}
    run_cls = _objective_class(cfg.objective, "diffusion.objective")
    inherit = [n for n in generate if not _names_own(cfg, n)]
    if inherit and not any(spec[n].kind in run_cls.kinds for n in inherit):
        raise ConfigError(f"diffusion.objective: {cfg.objective!r} takes {_kinds(run_cls.kinds)} fields; "
                          "none of the generated fields without an objective of their own is one ("
                          + ", ".join(f"{n}: {spec[n].kind.value}" for n in inherit) + ")")
    for name in generate:
        field = spec[name]
        own = cfg.fields.get(name)
        if name not in inherit:
            where = f"diffusion.fields.{name}.objective"
            cls = _objective_class(own.objective, where)
            if field.kind not in cls.kinds:
                raise ConfigError(f"{where}: objective {own.objective!r} takes {_kinds(cls.kinds)} fields; "
                                  f"{name!r} is {field.kind.value}")
            out[name] = _build(cls, own.objective, field, own.objective_options, where)
        elif field.kind in run_cls.kinds:
            options = {**cfg.objective_options, **(own.objective_options if own is not None else {})}
            out[name] = _build(run_cls, cfg.objective, field, options, "diffusion.objective")
        elif own is not None and own.objective_options:
            raise ConfigError(f"diffusion.fields.{name}.objective_options: field {name!r} "
                              f"({field.kind.value}) keeps {DEFAULT_OBJECTIVE!r}, which takes no "
                              f"options ({cfg.objective!r} takes {_kinds(run_cls.kinds)} fields)")
        else:
            out[name] = DenoisingObjective(field)
    return out


def _names_own(cfg: Any, name: str) -> bool:
    """Whether field ``name`` names an objective of its own."""
    own = cfg.fields.get(name)
    return own is not None and own.objective is not None

"""Hook specifications of the ``graphdiff`` plugin system (register style).

A plugin is a module named by an entry point in the ``graphdiff`` group::

    [project.entry-points.graphdiff]
    mydomain = "my_package.plugin"

The module implements any of the hooks below with ``@graphdiff.hookimpl``. Each hook receives
a ``register`` callable bound to one registry and to the plugin (so duplicates name their
origin)::

    @graphdiff.hookimpl
    def register_schedules(register):
        register("my-schedule", "my_package.schedules:MySchedule", description="...")

``register(name, obj, description="", **metadata)`` takes the object itself or, better, where it
lives: a location ``"package.module:attribute"`` or a :func:`graphdiff.registry.factory`
(``factory("my_package.domain:MyDomain")`` for an instance), imported on first use, so that
``graphdiff --help`` and the listings import no plugin code beyond the hook module. ``metadata``
holds the facts listings show without importing the object (a target's ``domain``, ``units``,
``differentiable``; a domain's ``fields``; a reference's ``domain``, ``columns``, ``options``,
``similarity_description``; see docs/writing-a-plugin.md). A taken name is reported against the
plugin, which carries on: a core name stays the core's, and a name two plugins register is used
by neither (a look-up raises :class:`graphdiff.errors.AmbiguousNameError` naming both; see
:mod:`graphdiff.plugins.manager`). A hook that raises has its registrations rolled back.
``register.registry`` is the registry being filled, as registered so far.
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

hookspec = pluggy.HookspecMarker("graphdiff")
hookimpl = pluggy.HookimplMarker("graphdiff")

Register = Callable[..., Any]


@hookspec
def register_domains(register: Register) -> None:
    """Register :class:`graphdiff.domain.Domain` instances (converter + GraphSpec + readers)."""


@hookspec
def register_targets(register: Register) -> None:
    """Register :class:`graphdiff.targets.Target` instances (graph-level property functions)."""


@hookspec
def register_metrics(register: Register) -> None:
    """Register metric callables ``metric(generated, reference, **kw) -> dict[str, float]``."""


@hookspec
def register_schedules(register: Register) -> None:
    """Register :class:`graphdiff.schedules.NoiseSchedule` subclasses."""


@hookspec
def register_processes(register: Register) -> None:
    """Register :class:`graphdiff.processes.base.Process` subclasses, keyed by field kind."""


@hookspec
def register_encoders(register: Register) -> None:
    """Register encoders: subclasses of :class:`graphdiff.nn.encoders.Encoder`, built as
    ``cls(spec, hidden, **options)``, turning a batch of noisy graphs into the denoiser's node
    features ``[N, hidden]`` (and optionally edge features). The built-in denoisers take theirs
    by name (``[model] encoder``, ``encoder_options``)."""


@hookspec
def register_denoisers(register: Register) -> None:
    """Register denoiser classes (``torch.nn.Module`` subclasses of ``graphdiff.nn.base.Denoiser``)."""


@hookspec
def register_objectives(register: Register) -> None:
    """Register training objectives: subclasses of :class:`graphdiff.objectives.Objective`, built
    as ``cls(field, **options)``, turning one field's prediction and target
    (:class:`graphdiff.objectives.LossTerms`) into a loss per element. A run config picks them
    by name (``[diffusion] objective``, ``[diffusion.fields.NAME] objective``)."""


@hookspec
def register_checkpoints(register: Register) -> None:
    """Register :class:`graphdiff.checkpoints.NamedCheckpoint` entries (bundled trained models,
    addressable by name wherever a checkpoint path is accepted)."""


@hookspec
def register_baselines(register: Register) -> None:
    """Register baseline callables: reference methods a model's samples are compared with.

    A baseline is a callable::

        baseline(references: list[Record], train: list[Record], k: int, seed: int = 0) -> list[Record]

    For each reference record it returns up to ``k`` candidate records built from the training
    records (no model involved), each carrying the reference's ``"id"`` and its domain object
    under ``"obj"``; the candidates of one reference come in rank order (the first is the
    baseline's best guess), optionally with a ``"sample"`` rank. A reference for which the
    baseline has no candidate simply gets none (the metric counts it as unmatched). The same
    ``seed`` must give the same candidates.

    Name it ``<domain>-<name>``: ``graphdiff evaluate --domain D --task T --baseline NAME`` looks
    up ``D-NAME`` and scores its candidates with the metric ``D-T``, exactly as it scores a
    model's ``--generated`` file.
    """


@hookspec
def register_commands(register: Register) -> None:
    """Register :class:`click.Command` objects: subcommands a plugin adds to ``graphdiff``
    (e.g. ``graphdiff stability`` from the crystals plugin). The registered name is the
    subcommand's name; it may not shadow a core command."""


@hookspec
def register_references(register: Register) -> None:
    """Register :class:`graphdiff.references.Reference` kinds: observations generated items are
    matched against (a diffraction pattern for crystals). Each becomes a ``graphdiff sample``
    option ``--<name> FILE`` and an input column ``<name>`` (a file per row): candidates are
    ranked by their similarity to it, and a model trained on the reference's encoding is
    conditioned on it."""


@hookspec
def register_features(register: Register) -> None:
    """Register class-feature tables: fixed descriptors of the classes of a categorical node
    field (an element's electronegativity, radius, group...). Each is a callable::

        table(field: graphdiff.graph.FieldSpec) -> torch.Tensor  # float [field.num_classes, d]

    that raises ``ValueError`` for a field it does not describe. A denoiser's option
    ``class_features = {FIELD = "NAME"}`` embeds each node's class descriptors beside its
    class (:class:`graphdiff.nn.embeddings.NodeFieldEmbedding`)."""


@hookspec
def register_constraints(register: Register) -> None:
    """Register :class:`graphdiff.constraints.EdgeConstraint` instances: edge-deletion invariant
    properties (planarity, acyclicity...) that projected sampling keeps in every state of the
    reverse process (``[diffusion] constraint``, ``graphdiff sample --constraint``)."""


@hookspec
def register_extras(register: Register) -> None:
    """Register :class:`graphdiff.extras.Extra` instances: optional features a notebook or script
    checks for with :func:`graphdiff.extras.require` before it starts (the modules each needs
    and the line that installs them). A domain plugin registers its domain's name (``crystals``)
    and any optional part of its own; the core registers ``plots``, ``orbits``, ``periodic`` and
    ``notebooks``."""


@hookspec
def register_lattices(register: Register) -> None:
    """Register :class:`graphdiff.lattices.LatticeCodec` instances: how a domain's graph-level
    lattice field becomes lattice matrices ``[B, 3, 3]``, for models that need the geometry of a
    noisy periodic state (the radius graph of the ``periodic`` denoiser, which names its codec in
    ``[model.options] lattice``, or uses the only one registered)."""

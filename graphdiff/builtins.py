"""The core's own registrations, made through the same hooks as any plugin.

Each is registered by where it lives (``"module:attribute"``), so that loading the plugin
manager imports neither torch nor networkx; the object is imported on first use.
"""

from __future__ import annotations

from graphdiff.plugins.hookspecs import hookimpl
from graphdiff.registry import factory

#: name -> (location, description)
SCHEDULES = {
    "linear": ("graphdiff.schedules:LinearSchedule",
               "DDPM's linear β schedule in continuous form (Ho et al. 2020)."),
    "cosine": ("graphdiff.schedules:CosineSchedule", "Cosine schedule (Nichol & Dhariwal 2021) with offset ``s``."),
    "polynomial": ("graphdiff.schedules:PolynomialSchedule",
                   "EDM's polynomial schedule: ``α(t) = (1 − 2s)(1 − t^power) + s``, ``ᾱ = α²``."),
    "sigmoid": ("graphdiff.schedules:SigmoidSchedule",
                "Sigmoid schedule (Jabri et al. 2022) between logits ``start`` and ``end``, temperature ``tau``."),
}
#: field kind -> (location, description)
PROCESSES = {
    "continuous": ("graphdiff.processes.gaussian:GaussianProcess", "Gaussian diffusion of a continuous field."),
    "categorical": ("graphdiff.processes.categorical:CategoricalProcess",
                    "Discrete diffusion of a categorical field (node, graph or edge level)."),
    "torus": ("graphdiff.processes.torus:TorusProcess",
              "Wrapped-normal diffusion of a torus field with values in ``[0, 1)``."),
    "positions": ("graphdiff.processes.positions:PositionsProcess",
                  "Zero-CoM Gaussian diffusion of Cartesian positions (node level)."),
}
#: name -> (location, description)
DENOISERS = {
    "graph_transformer": ("graphdiff.nn.graph_transformer:GraphTransformerDenoiser",
                          "DiGress-style dense graph transformer denoiser for plain graphs."),
    "egnn": ("graphdiff.nn.egnn:EGNNDenoiser",
             "E(n)-equivariant denoiser for graphs with a Cartesian ``positions`` field."),
    "periodic": ("graphdiff.nn.periodic:PeriodicDenoiser",
                 "CSPNet-like denoiser for crystals: a torus field of fractional coordinates, node fields "
                 "(atom types) and invariant graph-level fields (the lattice)."),
}
#: name -> (location, description)
ENCODERS = {
    "fields": ("graphdiff.nn.encoders:FieldEncoder",
               "A linear embedding of each categorical and continuous node field (the default)."),
    "positional": ("graphdiff.nn.encoders:PositionalEncoder",
                   "fields + log-degree and random-walk return probabilities of the noisy edge field "
                   "(plain graphs; option walk_steps)."),
    "distances": ("graphdiff.nn.encoders:DistanceEncoder",
                  "fields + a Gaussian radial basis of each edge's length in a positions or continuous "
                  "node field (options field, num_basis, max_distance)."),
}
#: name -> (location, description)
OBJECTIVES = {
    "denoising": ("graphdiff.objectives:DenoisingObjective",
                  "Each process's own loss: squared error to its target (eps, x0 or v; the torus score), "
                  "cross-entropy for categorical fields (the default; every field kind)."),
    "mse": ("graphdiff.objectives:MSEObjective",
            "Mean squared error to the process's target (eps, x0 or v; denoising score matching on the "
            "torus); continuous, positions and torus fields."),
    "cross_entropy": ("graphdiff.objectives:CrossEntropyObjective",
                      "Cross-entropy of the clean class; categorical fields."),
    "min_snr": ("graphdiff.objectives:MinSNRObjective",
                "Squared error weighted by the Min-SNR-gamma rule (Hang et al. 2023; option gamma, default 5); "
                "continuous and positions fields."),
}
#: name -> description (the objects are graphdiff.constraints.BUILTIN_CONSTRAINTS[name])
CONSTRAINTS = {
    "planar": "planar graphs (no K5 or K3,3 minor); the projector rejects edges that break planarity",
    "forest": "acyclic graphs (forests); the projector rejects edges that close a cycle",
    **{f"max-degree-{k}": f"every node has at most {k} neighbours" for k in (2, 3, 4, 5, 6)},
}


@hookimpl
def register_schedules(register):
    for name, (location, description) in SCHEDULES.items():
        register(name, location, description=description)


@hookimpl
def register_processes(register):
    for kind, (location, description) in PROCESSES.items():
        register(kind, location, description=description)


@hookimpl
def register_denoisers(register):
    for name, (location, description) in DENOISERS.items():
        register(name, location, description=description)


@hookimpl
def register_encoders(register):
    for name, (location, description) in ENCODERS.items():
        register(name, location, description=description)


@hookimpl
def register_objectives(register):
    for name, (location, description) in OBJECTIVES.items():
        register(name, location, description=description)


@hookimpl
def register_constraints(register):
    for name, description in CONSTRAINTS.items():
        register(name, factory("graphdiff.constraints:BUILTIN_CONSTRAINTS.get", name), description=description)


#: name -> description (the objects are graphdiff.extras.EXTRAS[name])
EXTRAS = {
    "orbits": "4-node orbit counts for the orbit MMD",
    "periodic": "neighbour lists for the radius graph of the periodic denoiser",
    "plots": "plotting",
    "notebooks": "running the example notebooks",
}


@hookimpl
def register_extras(register):
    for name, description in EXTRAS.items():
        register(name, factory("graphdiff.extras:EXTRAS.get", name), description=description)


@hookimpl
def register_targets(register):
    # trained property predictors listed in $GRAPHDIFF_PREDICTORS (see graphdiff.predictors);
    # only their headers are read here, their networks are built on first use
    import os

    if not os.environ.get("GRAPHDIFF_PREDICTORS"):
        return
    from graphdiff.predictor_files import register_env_predictors

    register_env_predictors(register)

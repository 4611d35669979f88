"""The Python API: every task as a function or a method, domain objects in and out.

::

    import graphdiff

    model = graphdiff.load("perov5-csp")             # a bundled name or a checkpoint file
    print(model)                                      # what it is: domain, task, fields, data
    cands = model.complete(["SrTiO3", "Sr2Ti2O6"], k=2, seed=0)
    cands[0][0]                                       # a pymatgen Structure: SrTiO3's first candidate
    cands[0].info[0]                                  # {'rank': 0, 'share': 0.75, 'distinct': 1}

    carbon = graphdiff.load("carbon24-dng").sample(4, seed=0)       # de novo: 4 Structures
    heat = graphdiff.load_predictor("perov5-heat")
    mean, std = heat.predict(cands[0])                 # [n, 1] arrays

The CLI (``graphdiff sample``, ``interpolate``, ``evaluate``, ``predict``) parses its options,
calls these and writes files.

The API is a package of small modules, all re-exported here: :mod:`graphdiff.api.model`
(:func:`load`, :class:`Model`), :mod:`graphdiff.api.samples` (:class:`Samples`),
:mod:`graphdiff.api.completing` and :mod:`graphdiff.api.relaxing` (the conditional tasks and the
relaxation step of :class:`Model`), :mod:`graphdiff.api.requests` (targets, judges, rankings),
:mod:`graphdiff.api.evaluation` (:func:`evaluate`) and :mod:`graphdiff.api.predictors`
(:func:`load_predictor`). None imports torch or a domain until it is called.
"""

from __future__ import annotations

from graphdiff.api.evaluation import evaluate, resolve_domain
from graphdiff.api.model import Model, load, resolve_device
from graphdiff.api.predictors import PredictorModel, load_predictor
from graphdiff.api.requests import TargetRanking, domain_target, judge_targets, request_report
from graphdiff.api.samples import Samples

__all__ = ["load", "Model", "Samples", "TargetRanking", "evaluate", "load_predictor", "PredictorModel",
           "resolve_device", "request_report", "resolve_domain", "domain_target", "judge_targets"]

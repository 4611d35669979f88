"""Property predictors: GNN regressors of graph-level properties, for any registered domain.

A predictor reuses the domain's own encoder: the denoiser ``model.denoiser = "auto"`` picks
(``periodic`` for crystals, ``egnn`` for molecules, ``graph_transformer`` for plain graphs), built
on the domain's :class:`~graphdiff.graph.GraphSpec` plus one extra graph-level continuous field,
the *head*, whose output is the prediction. Every domain field enters clean, as given context, at
``t = 0`` (``noisy = true``: the generated fields are noised at a random ``t`` in training, so
the predictor also reads the noisy graphs a diffusion model sees, with their ``t``).

Each ensemble member predicts, per property, a mean and (``variance = true``) a noise variance,
trained with the β-NLL loss (Seitzer et al. 2022, β = 0.5) on standardised targets. The ensemble
(``ensemble`` members, seeds ``training.seed + 1000 m``, all on the same training split unless
``bootstrap = true``) gives the prediction

    mean = (1/M) Σ μ_m,     std² = (1/M) Σ σ_m² + (1/M) Σ (μ_m − mean)²

(aleatoric + epistemic; without ``variance`` only the spread of the members). Calibration on the
validation split (fraction of ``|y − mean|`` within 1 and 2 predicted std; MAE, RMSE, R²) is
written beside the predictor file.

Public API: :class:`PredictorConfig` / :func:`load_predictor_config`, :func:`read_labelled`,
:class:`Predictor` (``predict``, ``predict_objects``, ``predict_fields``, ``save``, ``load``),
:func:`train_predictor`, :func:`calibration`, :func:`predict_file`, :func:`predictor_targets`,
:func:`register_predictor`, :func:`target_guidance`. The command line is
``graphdiff predictor train CONFIG`` and ``graphdiff predict``. See ``docs/predictors.md``.

The package's modules, each importing only the public names of the others:
:mod:`~graphdiff.predictors.config` (the ``[predictor]`` config),
:mod:`~graphdiff.predictors.data` (labelled data, domain and target look-ups),
:mod:`~graphdiff.predictors.files` (the file format, headers, bundled predictors),
:mod:`~graphdiff.predictors.model` (the :class:`Predictor` network),
:mod:`~graphdiff.predictors.inputs` (what its members read),
:mod:`~graphdiff.predictors.offset` (its Δ-learning baseline),
:mod:`~graphdiff.predictors.validation` (calibration on held-out labels),
:mod:`~graphdiff.predictors.training` (:func:`train_predictor`),
:mod:`~graphdiff.predictors.predict` (prediction files, out-of-domain checks),
:mod:`~graphdiff.predictors.targets` (predictors as targets) and
:mod:`~graphdiff.predictors.guidance` (gradient guidance by a target).
"""

from graphdiff.predictors.config import (PredictorConfig, PredictorOptions, load_predictor_config,
                                         parse_predictor_config)
from graphdiff.predictors.data import (LabelledData, load_domain, read_labelled, target_values,
                                       without_gradient)
from graphdiff.predictors.files import (PREDICTOR_FORMAT, bundled_predictors, predictor_header,
                                        predictor_target_files, resolve_predictor)
from graphdiff.predictors.guidance import GUIDANCE_MODES, guidance_reading, target_guidance
from graphdiff.predictors.model import Predictor
from graphdiff.predictors.predict import (as_predictor, out_of_domain, out_of_domain_objects, predict_file,
                                          training_classes)
from graphdiff.predictors.targets import (PREDICTORS_ENV, env_predictor_targets, predictor_targets,
                                          register_predictor)
from graphdiff.predictors.training import fold_indices, train_predictor
from graphdiff.predictors.validation import calibration, member_predict

__all__ = [
    "bundled_predictors",
    "predictor_target_files",
    "resolve_predictor",
    "out_of_domain",
    "out_of_domain_objects",
    "training_classes",
    "PredictorOptions",
    "PredictorConfig",
    "parse_predictor_config",
    "load_predictor_config",
    "LabelledData",
    "read_labelled",
    "Predictor",
    "train_predictor",
    "fold_indices",
    "calibration",
    "member_predict",
    "predict_file",
    "as_predictor",
    "predictor_targets",
    "register_predictor",
    "predictor_header",
    "env_predictor_targets",
    "GUIDANCE_MODES",
    "guidance_reading",
    "target_guidance",
    "load_domain",
    "target_values",
    "without_gradient",
    "PREDICTOR_FORMAT",
    "PREDICTORS_ENV",
]

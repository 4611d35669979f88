"""Trained property predictors from Python: :func:`load_predictor`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

__all__ = ["PredictorModel", "load_predictor"]


class PredictorModel:
    """A trained property predictor (:func:`load_predictor`): :meth:`predict` takes domain objects."""

    def __init__(self, predictor: Any, path: Path) -> None:
        self.module = predictor
        self.path = path

    @property
    def properties(self) -> list[str]:
        return list(self.module.properties)

    @property
    def domain(self) -> str:
        return self.module.domain

    def predict(self, objects: Sequence[Any], batch_size: int = 256) -> tuple[Any, Any]:
        """Mean and ensemble std, ``numpy`` arrays ``[n, len(properties)]``, of domain objects."""
        objects = list(objects)
        mean, std = self.module.predict_objects(objects, batch_size=batch_size)
        return mean.numpy(), std.numpy()

    def out_of_domain(self, objects: Sequence[Any]) -> list[str]:
        """Per object, why it lies outside the predictor's training data (crystals: elements no
        training item had, more atoms than any had), ``""`` where it does not."""
        from graphdiff.predictors import out_of_domain_objects

        return out_of_domain_objects(self.module, list(objects))

    def __repr__(self) -> str:
        return f"<graphdiff predictor {self.path.stem!r}: {self.domain} -> {', '.join(self.properties)}>"


def load_predictor(name_or_path: str | Path, *, device: str = "cpu") -> PredictorModel:
    """A property predictor from its file (``graphdiff predictor train`` wrote it) or a bundled
    one by name (``perov5-heat``, ``qm9-gap``)."""
    from graphdiff.predictors import Predictor, resolve_predictor

    path = resolve_predictor(name_or_path)
    return PredictorModel(Predictor.load(path, device=device), Path(path))

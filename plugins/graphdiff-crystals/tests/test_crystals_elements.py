"""The ``elements`` class-feature table (Magpie descriptors) and its use by a crystal model."""

from __future__ import annotations

import pytest
import torch
from matminer.utils.data import MagpieData
from pymatgen.core import Element

from graphdiff.graph import FieldSpec
from graphdiff.plugins import get_manager
from graphdiff_crystals.domain import CrystalDomain
from graphdiff_crystals.elements import MAGPIE_PROPERTIES, element_features, element_table


def test_the_plugin_registers_the_table():
    assert get_manager().get("features", "elements") is element_features


def test_table_rows_are_the_standardised_magpie_descriptors_of_each_class():
    spec = CrystalDomain().spec
    table = element_features(spec["atom_types"])
    assert table.shape == (100, len(MAGPIE_PROPERTIES)) == (100, 22)
    assert torch.isfinite(table).all()
    # standardised over H..Fm: zero mean, unit std per column
    assert torch.allclose(table.double().mean(0), torch.zeros(22, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(table.double().std(0, unbiased=False), torch.ones(22, dtype=torch.float64), atol=1e-4)
    # row Z - 1 describes element Z: undo the standardisation for oxygen and compare with matminer
    data = MagpieData()
    raw = torch.tensor([[float(data.get_elemental_property(Element.from_Z(z), p)) for p in MAGPIE_PROPERTIES]
                        for z in range(1, 101)], dtype=torch.float64)
    o = 7
    back = table[o].double() * raw.std(0, unbiased=False) + raw.mean(0)
    assert torch.allclose(back, raw[o], rtol=1e-4, atol=1e-3)
    assert float(raw[o, MAGPIE_PROPERTIES.index("Electronegativity")]) == pytest.approx(3.44)
    # chemically close elements are closer than distant ones (Na-K vs Na-Cl)
    na, k, cl = 10, 18, 16
    assert (table[na] - table[k]).norm() < (table[na] - table[cl]).norm()


def test_any_field_labelled_with_elements_gets_its_rows_in_its_class_order():
    _, full = element_table()
    field = FieldSpec("atoms", "categorical", "node", num_classes=3, labels=("O", "H", "Fe"))
    assert torch.equal(element_features(field), full[[7, 0, 25]])
    with pytest.raises(ValueError, match="no class labels"):
        element_features(FieldSpec("atoms", "categorical", "node", num_classes=3))
    with pytest.raises(ValueError, match=r"not elements H\.\.Fm: \['Xx'\]"):
        element_features(FieldSpec("atoms", "categorical", "node", num_classes=2, labels=("H", "Xx")))


def test_a_periodic_model_with_element_features_trains_and_reloads(tmp_path):
    """The denoiser option reaches the predictor's members; the saved file carries the table."""
    from graphdiff.predictors import Predictor

    spec = CrystalDomain().spec
    model = Predictor(spec, ["y"], "periodic", hidden=16, layers=1, ensemble=1,
                      options={"class_features": {"atom_types": "elements"}}, domain="crystals")
    emb = model.members[0].node_in
    assert emb.feature_fields == ["atom_types"]
    assert torch.equal(emb.table_atom_types, element_features(spec["atom_types"]))
    path = tmp_path / "p.pt"
    model.save(path)
    again = Predictor.load(path)
    assert torch.equal(again.members[0].node_in.table_atom_types, emb.table_atom_types)
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)

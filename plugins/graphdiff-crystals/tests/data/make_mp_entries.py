"""Write ``mp_entries_na_cl_o.json``: reference entries of the Na-Cl-O system in the layout the
Materials Project API client writes them (``mp_api``'s ``MPRester().get_entries(...)`` returns
``ComputedStructureEntry`` objects; ``json.dump([e.as_dict() for e in entries], f)`` saves them).

    python plugins/graphdiff-crystals/tests/data/make_mp_entries.py

Each entry carries what an MP GGA entry carries: its structure, the uncorrected energy, the VASP
run parameters ``MaterialsProject2020Compatibility`` reads (``run_type``, ``potcar_spec``,
``hubbards``, ``is_hubbard``), ``data`` with the ``oxide_type`` and ids, and the MP2020
``energy_adjustments`` already applied, as MP serves them. The energies are not Materials
Project's: each structure is relaxed with CHGNet (its bundled weights) and the uncorrected energy
is CHGNet's energy minus the entry's MP2020 correction, so that after MP2020 the entries sit on
CHGNet's scale and the tests can compare them with CHGNet energies. A second NaCl entry is an
r2SCAN run, which MP2020 rejects.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from pymatgen.core import Lattice, Structure
from pymatgen.entries.compatibility import MaterialsProject2020Compatibility
from pymatgen.entries.computed_entries import ComputedStructureEntry

OUT = Path(__file__).resolve().parent / "mp_entries_na_cl_o.json"
POTCARS = {"Na": "PAW_PBE Na_pv 19Sep2006", "Cl": "PAW_PBE Cl 06Sep2000", "O": "PAW_PBE O 08Apr2002"}


def structures() -> dict[str, Structure]:
    """Na (bcc), Cl2 and O2 molecules in boxes, rocksalt NaCl and antifluorite Na2O."""
    return {
        "na": Structure(Lattice.from_parameters(3.7, 3.7, 3.7, 109.47, 109.47, 109.47), ["Na"], [[0, 0, 0]]),
        "cl2": Structure(Lattice.cubic(10.0), ["Cl", "Cl"], [[0, 0, 0], [0.2, 0, 0]]),
        "o2": Structure(Lattice.cubic(10.0), ["O", "O"], [[0, 0, 0], [0.121, 0, 0]]),
        "nacl": Structure(Lattice.from_parameters(4.0, 4.0, 4.0, 60, 60, 60), ["Na", "Cl"],
                          [[0, 0, 0], [0.5, 0.5, 0.5]]),
        "na2o": Structure(Lattice.from_parameters(3.93, 3.93, 3.93, 60, 60, 60), ["O", "Na", "Na"],
                          [[0, 0, 0], [0.25, 0.25, 0.25], [0.75, 0.75, 0.75]]),
    }


def parameters(structure: Structure, run_type: str) -> dict:
    symbols = sorted({el.symbol for el in structure.composition.elements})
    return {"run_type": run_type, "is_hubbard": False, "hubbards": {},
            "potcar_spec": [{"titel": POTCARS[s], "hash": None} for s in symbols]}


def main() -> None:
    from graphdiff_crystals.stability import Relaxer, RelaxSettings

    warnings.simplefilter("ignore")
    relaxer = Relaxer(RelaxSettings(steps=300, time_limit=None))
    compat = MaterialsProject2020Compatibility()
    docs = []
    for name, s in structures().items():
        res = relaxer.relax(s)
        assert res["error"] is None, (name, res["error"])
        relaxed = res["structure"]
        for run_type in ("GGA", "R2SCAN") if name == "nacl" else ("GGA",):
            entry_id = f"{name}-{run_type}"
            data = {"material_id": name, "task_id": f"{name}-task", "run_type": run_type}
            probe = ComputedStructureEntry(relaxed, 0.0, parameters=parameters(relaxed, "GGA"), data=dict(data))
            correction = compat.get_adjustments(probe) if run_type == "GGA" else []
            shift = sum(a.value for a in correction)
            entry = ComputedStructureEntry(relaxed, res["energy"] - shift, parameters=parameters(relaxed, run_type),
                                           data=data, entry_id=entry_id, energy_adjustments=correction)
            if run_type == "GGA":
                entry.data["oxide_type"] = "oxide" if name == "na2o" else "None"
            docs.append(entry.as_dict())
    OUT.write_text(json.dumps(docs, indent=1) + "\n")
    print(f"wrote {len(docs)} entries to {OUT}")


if __name__ == "__main__":
    main()

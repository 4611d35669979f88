"""graphdiff.asedb: the ASE-database row walk the crystals and molecules domains share (a bad row
names the file and the row; a file that is not an ASE database is refused untouched)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from graphdiff.asedb import check_ase_database, connect_ase_database, iter_ase_rows
from graphdiff.errors import DataError
from graphdiff.testing import assert_refuses_non_ase_databases

ase_db = pytest.importorskip("ase.db")
from ase import Atoms  # noqa: E402


def _refuse_h2(atoms, where):
    if atoms.get_chemical_formula() == "H2":
        raise DataError(f"{where}: no hydrogen molecules here")


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "rows.db"
    with ase_db.connect(str(path)) as db:
        db.write(Atoms("CO", positions=[[0, 0, 0], [0, 0, 1.13]]), name="co")
        db.write(Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]]), name="hydrogen")
        db.write(Atoms("N2", positions=[[0, 0, 0], [0, 0, 1.1]]), data={"material_id": "18517"})
    return path


def test_rows_are_walked_in_order_with_their_names(db_path):
    rows = list(iter_ase_rows(db_path, label="rows.db", names=("material_id", "name")))
    assert [r.id for r in rows] == [1, 2, 3]
    assert [r.name for r in rows] == ["co", "hydrogen", "18517"]  # key-value pair, else row.data
    assert [r.where for r in rows] == ["rows.db row 1 (co)", "rows.db row 2 (hydrogen)", "rows.db row 3 (18517)"]
    assert rows[0].atoms.get_chemical_formula() == "CO" and rows[0].key_value_pairs == {"name": "co"}
    assert rows[2].data == {"material_id": "18517"}


def test_a_bad_row_names_the_file_and_the_row(db_path):
    skipped: list[tuple[str, str]] = []
    rows = list(iter_ase_rows(db_path, check=_refuse_h2, bad=lambda where, why: skipped.append((where, why))))
    assert [r.name for r in rows] == ["co", None]
    assert skipped == [(f"{db_path} row 2 (hydrogen)", "no hydrogen molecules here")]
    with pytest.raises(DataError, match=r"rows\.db row 2 \(hydrogen\): no hydrogen molecules here"):
        list(iter_ase_rows(db_path, check=_refuse_h2))


def test_a_row_that_makes_no_atoms_is_reported(db_path, monkeypatch):
    from ase.db.row import AtomsRow

    real = AtomsRow.toatoms

    def toatoms(self, *args, **kwargs):
        if self.id == 3:
            raise ValueError("broken cell")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(AtomsRow, "toatoms", toatoms)
    with pytest.raises(DataError, match=r"f\.db row 3: cannot make ase\.Atoms: ValueError: broken cell"):
        list(iter_ase_rows(db_path, label="f.db"))


def test_files_that_are_not_ase_databases_are_refused_untouched(tmp_path):
    assert_refuses_non_ase_databases(lambda path: iter_ase_rows(path), tmp_path)
    with pytest.raises(DataError, match="junk: not an ASE database .not an SQLite file"):
        check_ase_database(tmp_path / "junk.db", "junk")
    with pytest.raises(DataError, match="none.db: no such file"):
        connect_ase_database(tmp_path / "none.db")
    assert not (tmp_path / "none.db").exists()
    with pytest.raises(DataError, match="is a folder"):
        list(iter_ase_rows(tmp_path))


def test_importing_the_module_does_not_import_ase():
    code = "import sys, graphdiff, graphdiff.asedb; assert 'ase' not in sys.modules, 'ase imported'"
    subprocess.run([sys.executable, "-c", code], check=True)

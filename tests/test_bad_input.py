"""Wrong numbers, paths and names reach the command line as one clear error (exit status 2, no
traceback), checked without training where possible, and existing files are left as they were."""

from __future__ import annotations

import re
import sqlite3
import warnings
from pathlib import Path
from typing import Any

import click
import pytest
import torch
from click.testing import CliRunner
from torch_geometric.data import Data

import graphdiff
from graphdiff.cli import cli
from graphdiff.domain import Domain, Record, report_skip
from graphdiff.errors import CheckpointError, DataError
from graphdiff.graph import FieldSpec, GraphSpec
from graphdiff.targets import Target


class DotsDomain(Domain):
    """Graphs of ``n`` unconnected nodes with a value each; objects are tuples of floats. Reads
    ``.dots`` files (one object per line); items with a negative value are refused."""

    name = "dots"
    read_suffixes = (".dots",)

    @property
    def spec(self) -> GraphSpec:
        return GraphSpec("dots", (FieldSpec("value", "continuous", "node", dim=1),))

    def to_graph(self, obj: tuple[float, ...]) -> Data:
        if any(v < 0 for v in obj):
            raise DataError(f"negative value in {obj}")
        return Data(num_nodes=len(obj), value=torch.tensor(obj, dtype=torch.float32).view(-1, 1))

    def from_graph(self, data: Data) -> tuple[float, ...]:
        return tuple(data.value[:, 0].tolist())

    def read(self, path, *, strict=False, skipped=None, **options):
        for k, line in enumerate(Path(path).read_text().splitlines()):
            try:
                yield Record(id=str(k), obj=tuple(float(v) for v in line.split()), props={})
            except ValueError as exc:
                report_skip(skipped, f"{Path(path).name} line {k + 1}", str(exc), strict)


class DotsPlugin:
    @graphdiff.hookimpl
    def register_domains(self, register):
        register("dots", DotsDomain())

    @graphdiff.hookimpl
    def register_targets(self, register):
        register("dots-total", Target("dots-total", "dots", lambda obj: float(sum(obj))), domain="dots")

    @graphdiff.hookimpl
    def register_commands(self, register):
        @click.command("dots-warn")
        def warn() -> None:
            warnings.warn("the dots are uneven", RuntimeWarning, stacklevel=1)
            click.echo("done")

        register("dots-warn", warn, description="warn once")


@pytest.fixture
def dots(graphdiff_plugins, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("GRAPHDIFF_DEBUG", raising=False)
    return graphdiff_plugins(DotsPlugin())


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def fails(*args: str) -> str:
    """Run a command that must fail cleanly; returns its stderr."""
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output, result.output
    assert result.stderr.startswith("error: ") or "Error: " in result.stderr, result.output
    return result.stderr


def config(tmp_path: Path, source: str, condition: str | None = None) -> Path:
    path = tmp_path / "run.toml"
    text = f'[data]\ndomain = "dots"\nsource = "{source}"\n'
    if condition is not None:
        text += f'\n[diffusion]\ncondition = ["{condition}"]\n'
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------- config validate
def test_validate_checks_a_condition_against_a_csv_header_and_the_targets(dots, tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("id,values,band_gap\n1,0.5,1.2\n")
    assert invoke("config", "validate", str(config(tmp_path, "data.csv", "band_gap"))).exit_code == 0
    assert invoke("config", "validate", str(config(tmp_path, "data.csv", "dots-total"))).exit_code == 0
    err = fails("config", "validate", str(config(tmp_path, "data.csv", "band_gpa")))
    assert "diffusion.condition: 'band_gpa' is neither a column of data.source" in err
    assert "id, values, band_gap" in err and "did you mean 'band_gap'?" in err
    assert "graphdiff targets --domain dots" in err


def test_validate_checks_a_condition_against_a_graph_databases_properties(dots, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "graphs.db") as conn:
        conn.execute("CREATE TABLE graphs (row INTEGER, item_id TEXT, p_energy REAL)")
    assert invoke("config", "validate", str(config(tmp_path, "graphs.db", "energy"))).exit_code == 0
    err = fails("config", "validate", str(config(tmp_path, "graphs.db", "enrgy")))
    assert "is neither a property of data.source" in err and "did you mean 'energy'?" in err


def test_validate_warns_where_only_reading_the_data_could_tell(dots, tmp_path: Path) -> None:
    (tmp_path / "items.dots").write_text("1 2\n")
    result = invoke("config", "validate", str(config(tmp_path, "items.dots", "dots-totl")))
    assert result.exit_code == 0 and result.stdout.endswith("OK (domain 'dots')\n")
    assert "warning:" in result.stderr and "'dots-totl' is not a registered target" in result.stderr
    assert "did you mean 'dots-total'?" in result.stderr
    missing = invoke("config", "validate", str(config(tmp_path, "nowhere.dots")))
    assert missing.exit_code == 0 and "data.source: " in missing.stderr and "no such file or folder" in missing.stderr


# ---------------------------------------------------------------------------- reading data
def test_no_usable_items_says_why(dots, tmp_path: Path) -> None:
    from graphdiff.data import read_graphs

    source = tmp_path / "bad.dots"
    source.write_text("1 -2\nx\n3 -1\n-5\n")
    with pytest.raises(DataError) as info:
        read_graphs(graphdiff.load_domain("dots"), source, skipped=[])
    msg = str(info.value)
    assert "no usable items (4 skipped; the first: " in msg
    assert "item 0 (id 0): negative value in (1.0, -2.0)" in msg and "bad.dots line 2:" in msg
    assert "and 1 more" in msg


# ---------------------------------------------------------------------------- checkpoints
@pytest.mark.parametrize(("content", "reason"), [
    (b"", "not a readable checkpoint: the file is empty (0 bytes"),
    (b'{"not": "a checkpoint"}', "not a readable checkpoint: graphdiff checkpoints are files torch.save"),
    (None, "is a folder, not a checkpoint file"),
])
def test_what_cannot_be_a_checkpoint_is_named_before_torch_reads_it(tmp_path: Path, content: bytes | None,
                                                                    reason: str) -> None:
    from graphdiff.model import read_checkpoint

    path = tmp_path / "model.ckpt"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=re.escape(reason)):
        read_checkpoint(path)


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "not a readable predictor: the file is empty (0 bytes"),
    (b"garbage, not an archive", "not a readable predictor: graphdiff predictors are files torch.save"),
    (b"PK\x03\x04truncated", "not a readable predictor (RuntimeError: PytorchStreamReader failed"),
])
def test_a_corrupt_predictor_file_gets_one_clear_line(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "heat.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=re.escape(reason)) as info:
        graphdiff.load_predictor(path)
    assert "\n" not in str(info.value) and "torch.load" not in str(info.value)
    err = fails("predict", "-p", str(path), "-i", str(path), "-o", str(tmp_path / "out.csv"))
    assert reason in err
    assert not (tmp_path / "out.csv").exists()


def test_a_torch_file_of_other_objects_is_not_told_to_drop_weights_only(tmp_path: Path) -> None:
    from graphdiff.model import read_checkpoint

    path = tmp_path / "pickled.ckpt"
    torch.save({"callable": print}, path)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert "weights_only=True" in str(info.value) and "Re-running" not in str(info.value)


# ---------------------------------------------------------------------------- the command line
def test_a_refused_value_from_the_command_line_names_the_field(dots, tmp_path: Path) -> None:
    (tmp_path / "items.dots").write_text("1 2\n")
    err = fails("train", str(config(tmp_path, "items.dots")), "--max-steps", "-1")
    assert err == "error: training.max_steps: Input should be greater than 0 (got -1)\n"


def test_a_file_where_a_folder_is_needed_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("keep me")
    err = fails("schedule", "plot", "--out", str(blocker / "schedules.png"))
    assert f"{blocker}: is a file, not a folder" in err
    assert blocker.read_text() == "keep me"


def test_a_figure_format_matplotlib_cannot_write_is_refused_first(tmp_path: Path) -> None:
    err = fails("schedule", "plot", "--out", str(tmp_path / "plot.qqq"))
    assert "cannot write a figure as '.qqq'" in err and "png" in err
    assert not any(tmp_path.iterdir())


def test_a_database_under_a_file_is_refused_and_the_file_kept(dots, tmp_path: Path) -> None:
    (tmp_path / "items.dots").write_text("1 2\n3\n")
    blocker = tmp_path / "taken"
    blocker.write_text("keep me")
    err = fails("db", "build", str(tmp_path / "items.dots"), "--domain", "dots", "--out",
                str(blocker / "graphs.db"), "--quiet")
    assert f"{blocker} is a file, not a folder" in err and blocker.read_text() == "keep me"


def test_warnings_are_one_line_each_and_debug_keeps_pythons_format(dots, monkeypatch: pytest.MonkeyPatch) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        shown = invoke("dots-warn")
        assert shown.exit_code == 0 and shown.stderr == "warning: the dots are uneven\n"
        monkeypatch.setenv("GRAPHDIFF_DEBUG", "1")
        with pytest.warns(RuntimeWarning, match="uneven"):
            assert invoke("dots-warn").exit_code == 0

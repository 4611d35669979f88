"""Where generated graphs go and how graph metrics are chosen: ``--out DIR/`` and ``--kernel``.

``graphdiff sample``/``interpolate --out DIR/`` write one file per graph, named from its id
(``DIR/<index:05d><ext>`` for de novo items), in the domain's single-graph format
(:attr:`graphdiff.domain.Domain.single_file_suffix`);
``graphdiff evaluate --kernel gdss|digress`` passes the MMD kernel convention to graph metrics.
"""

from __future__ import annotations

import csv
import json
import sys
import warnings
from pathlib import Path

import networkx as nx
import pytest
import torch
from click.testing import CliRunner
from torch_geometric.data import Data

from graphdiff.cli import cli
from graphdiff.domain import Domain
from graphdiff.errors import DataError
from graphdiff.graph import FieldSpec, GraphSpec
from graphdiff.graphio import GraphSink, graph_from_json, is_folder_target, single_file_suffix
from graphdiff_social import SocialDomain

SOCIAL = SocialDomain()


def run(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def fails(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    return result.output


def _social_graphs() -> list[nx.Graph]:
    return [nx.cycle_graph(5), nx.path_graph(4), nx.star_graph(3), nx.complete_graph(4), nx.empty_graph(2)]


# ---------------------------------------------------------------------------- GraphSink, folders
def test_folder_targets():
    assert is_folder_target("gen/") and not is_folder_target("gen") and not is_folder_target(Path("gen/"))
    assert is_folder_target(Path(__file__).parent)  # an existing directory, with or without "/"


def test_social_folder_holds_one_graphml_per_graph_readable_by_the_domain(tmp_path):
    graphs = _social_graphs()
    sink = GraphSink(f"{tmp_path / 'gen'}/", SOCIAL)
    sink.write([SOCIAL.to_graph(g) for g in graphs[:3]])   # chunks keep the numbering going
    sink.write([SOCIAL.to_graph(g) for g in graphs[3:]])
    sink.close()
    assert sink.count == 5 and sink.mode == "folder"
    assert sorted(p.name for p in (tmp_path / "gen").iterdir()) == [f"{i:05d}.graphml" for i in range(5)]
    for i, graph in enumerate(graphs):
        (record,) = SOCIAL.read(tmp_path / "gen" / f"{i:05d}.graphml", strict=True)
        assert SOCIAL.equal(record["obj"], graph)
        assert sorted(record["obj"].nodes) == sorted(graph.nodes)  # int labels come back as ints
    records = list(SOCIAL.read(tmp_path / "gen", strict=True))  # the folder reads as a whole too
    assert [r["id"] for r in records] == [f"{i:05d}.graphml" for i in range(5)]


def test_folder_start_offset_and_no_overwriting(tmp_path):
    folder = tmp_path / "gen"
    folder.mkdir()
    sink = GraphSink(folder, SOCIAL, start=7)  # an existing (empty) directory needs no trailing "/"
    sink.write([SOCIAL.to_graph(nx.path_graph(3))])
    assert [p.name for p in folder.iterdir()] == ["00007.graphml"]
    assert sink.next_index == 8
    # a folder with files in it is refused, whatever the names would be
    with pytest.raises(DataError, match=r"gen: the folder exists and holds 1 file\(s\) \(e.g. 00007.graphml\)"
                                        r".*--overwrite \(overwrite=True\)"):
        GraphSink(folder, SOCIAL, start=0)
    # writers sharing the folder (torchrun ranks) accept other files, never a file of the same name
    sink = GraphSink(folder, SOCIAL, start=6, shared=True)
    with pytest.raises(DataError, match=r"00007.graphml: already exists; files are never overwritten"):
        sink.write([SOCIAL.to_graph(nx.path_graph(2)), SOCIAL.to_graph(nx.path_graph(2))])
    assert sorted(p.name for p in folder.iterdir()) == ["00006.graphml", "00007.graphml"]
    # overwrite=True replaces the files of the same name and leaves the others
    sink = GraphSink(folder, SOCIAL, start=7, overwrite=True)
    sink.write([SOCIAL.to_graph(nx.path_graph(5))])
    (record,) = SOCIAL.read(folder / "00007.graphml", strict=True)
    assert record["obj"].number_of_nodes() == 5
    assert sorted(p.name for p in folder.iterdir()) == ["00006.graphml", "00007.graphml"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="exists and is not a folder"):
        GraphSink(f"{tmp_path / 'file'}/", SOCIAL)
    with pytest.raises(DataError, match=r"end the path with '/' to write one file per graph"):
        GraphSink(tmp_path / "no-suffix", SOCIAL)


@pytest.fixture(scope="module")
def structures():
    from graphdiff_crystals import sample_path
    from graphdiff_crystals.domain import CrystalDomain

    csv.field_size_limit(sys.maxsize)
    domain = CrystalDomain()
    records = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the sample's non-numeric 'formula' column
        for record in domain.read(sample_path()):
            records.append(record)
            if len(records) == 3:
                break
    return domain, [r["obj"] for r in records]


def test_crystals_folder_holds_one_cif_per_structure(tmp_path, structures):
    domain, objs = structures
    sink = GraphSink(f"{tmp_path / 'cifs'}/", domain)
    sink.write([domain.to_graph(s) for s in objs], ids=["a", "b", "c"], extra=[{"sample": 0}] * 3)
    sink.close()
    names = [f"{i}_{s.composition.reduced_formula}_0.cif" for i, s in zip("abc", objs)]
    assert [p.name for p in sink.files] == names  # {id}_{reduced formula}_{rank}.cif
    assert sorted(p.name for p in (tmp_path / "cifs").iterdir()) == sorted(names)
    assert sink.unstored == set()  # the crystals writer takes ids and extra
    for path, structure, rid in zip(sink.files, objs, "abc"):
        assert f"data_{rid}-0\n" in path.read_text()  # the candidate id names the CIF block
        (record,) = domain.read(path, strict=True)
        assert record["id"] == rid and record["text"] == {"candidate_id": f"{rid}-0"}
        assert record["props"] == {"rank": 0}
        assert domain.equal(record["obj"], structure, tol=1e-6)


class _Letters(Domain):
    """A toy domain: words as letter nodes."""

    name = "letters"

    @property
    def spec(self) -> GraphSpec:
        return GraphSpec("letters", (FieldSpec("letter", "categorical", "node", num_classes=26),))

    def to_graph(self, obj: str) -> Data:
        return Data(num_nodes=len(obj), letter=torch.tensor([ord(c) - 97 for c in obj]))

    def from_graph(self, data: Data) -> str:
        return "".join(chr(97 + int(c)) for c in data.letter)


class _LettersWriter(_Letters):
    write_suffixes = ("<folder>", ".txt", ".words")

    def write(self, objs, path, *, fmt=None):  # takes neither ids nor extra
        Path(path).write_text("\n".join(objs) + "\n")


def test_single_file_suffix_defaults_and_checks(tmp_path):
    assert single_file_suffix(SOCIAL) == ".graphml"
    writer = _LettersWriter()
    assert single_file_suffix(writer) == ".txt"  # the first file suffix the domain writes
    writer.single_file_suffix = ".words"
    assert single_file_suffix(writer) == ".words"
    writer.single_file_suffix = ".cif"
    with pytest.raises(DataError, match=r"single_file_suffix '.cif' is not a file suffix it writes"):
        single_file_suffix(writer)
    assert single_file_suffix(_Letters()) == ".jsonl"  # no writer: graphdiff's own JSON lines
    # a writer without ids/extra: what it could not store is reported, never dropped silently
    sink = GraphSink(f"{tmp_path / 'w'}/", _LettersWriter())
    sink.write([_Letters().to_graph("abc")], ids=["0"], extra=[{"lambda": 0.0}])
    sink.write([_Letters().to_graph("de")], ids=["ref-9"])
    assert (tmp_path / "w" / "00000.txt").read_text() == "abc\n"
    assert sink.unstored == {"lambda", "id"}
    sink = GraphSink(f"{tmp_path / 'j'}/", _Letters())
    sink.write([_Letters().to_graph("xy")], ids=["x"], extra=[{"sample": 1}])
    rec = json.loads((tmp_path / "j" / "x-1.jsonl").read_text())  # a candidate: {id}-{rank}
    assert (rec["id"], rec["candidate_id"], rec["rank"]) == ("x", "x-1", 1) and "sample" not in rec
    assert _Letters().from_graph(graph_from_json(rec, _Letters().spec)) == "xy"


# ---------------------------------------------------------------------------- the CLI
@pytest.fixture(scope="module")
def social_model(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("social")
    data = root / "graphs.jsonl"
    SOCIAL.write([nx.cycle_graph(n) for n in range(4, 8)] + [nx.path_graph(n) for n in range(4, 8)], data)
    cfg = root / "run.toml"
    cfg.write_text(f"""
[data]
domain = "social"
source = "{data}"
val_fraction = 0.0
batch_size = 4

[model]
hidden = 16
layers = 1

[training]
max_steps = 2
log_every = 1
out_dir = "{root / 'run'}"

[sampling]
steps = 3
""")
    run(["train", str(cfg), "--quiet"])
    return {"checkpoint": root / "run" / "last.ckpt", "data": data}


def test_sample_to_a_folder_writes_graphml_files_equal_to_a_file_output(social_model, tmp_path):
    ckpt = str(social_model["checkpoint"])
    common = ["sample", "--checkpoint", ckpt, "--num", "5", "--batch-size", "2", "--seed", "3", "--quiet"]
    text = run([*common, "--out", f"{tmp_path / 'gen'}/"])
    assert "wrote 5 graphs to" in text and "(00000.graphml .. 00004.graphml)" in text
    run([*common, "--out", str(tmp_path / "gen.json")])
    expected = [r["obj"] for r in SOCIAL.read(tmp_path / "gen.json", strict=True)]
    files = sorted((tmp_path / "gen").iterdir())
    assert [p.name for p in files] == [f"{i:05d}.graphml" for i in range(5)]
    for path, graph in zip(files, expected):
        (record,) = SOCIAL.read(path, strict=True)
        assert SOCIAL.equal(record["obj"], graph)
    # an existing folder needs no trailing "/", and a folder with files is never written into
    assert "the folder exists and holds 5 file(s)" in fails([*common, "--out", str(tmp_path / "gen")])


def test_torchrun_ranks_share_one_folder(social_model, tmp_path, monkeypatch):
    out = f"{tmp_path / 'gen'}/"
    for rank in (1, 0):  # each rank numbers its files from the index of its first graph
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        run(["sample", "--checkpoint", str(social_model["checkpoint"]), "--num", "5", "--quiet", "--out", out])
    assert sorted(p.name for p in (tmp_path / "gen").iterdir()) == [f"{i:05d}.graphml" for i in range(5)]


def test_interpolate_to_a_folder(social_model, tmp_path):
    out = tmp_path / "path"
    out.mkdir()
    result = CliRunner().invoke(cli, ["interpolate", "--checkpoint", str(social_model["checkpoint"]),
                                      "--input", str(social_model["data"]), "--pair", "0", "4",
                                      "--num", "3", "--steps", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["00000.graphml", "00001.graphml", "00002.graphml"]
    assert "not stored" not in result.output  # GraphML keeps lambda as a graph attribute
    import networkx as nx

    lams = [nx.read_graphml(out / f"0000{i}.graphml").graph["lambda"] for i in range(3)]
    assert lams == sorted(lams) and lams[0] == 0.0 and lams[-1] == 1.0
    first = next(SOCIAL.read(out / "00000.graphml", strict=True))["obj"]
    assert first.number_of_nodes() == 4


def test_crystals_sample_to_a_folder_writes_cif_files(tmp_path):
    from graphdiff_crystals import sample_path

    csv.field_size_limit(sys.maxsize)
    with open(sample_path(), newline="") as fh:
        rows = list(csv.reader(fh))[:9]
    keep = [i for i, name in enumerate(rows[0]) if name != "formula"]  # text: not a property
    data = tmp_path / "small.csv"
    with data.open("w", newline="") as fh:
        csv.writer(fh).writerows([[row[i] for i in keep] for row in rows])
    cfg = tmp_path / "run.toml"
    cfg.write_text(f"""
[data]
domain = "crystals"
source = "{data}"
val_fraction = 0.0
batch_size = 8

[model]
hidden = 16
layers = 1

[training]
max_steps = 2
out_dir = "{tmp_path / 'run'}"

[sampling]
steps = 3
""")
    run(["train", str(cfg), "--quiet"])
    common = ["sample", "--checkpoint", str(tmp_path / "run" / "last.ckpt"), "--num", "3", "--seed", "1", "--quiet"]
    text = run([*common, "--out", f"{tmp_path / 'cifs'}/"])
    run([*common, "--out", str(tmp_path / "gen.cif")])
    files = sorted((tmp_path / "cifs").iterdir())
    assert [p.name[:6] for p in files] == ["00000_", "00001_", "00002_"]  # index, then the formula
    assert f"({files[0].name} .. {files[2].name})" in text
    # an untrained model's cells are too degenerate for pymatgen to parse back: compare the text
    # with the multi-block CIF the same seed gives, one block per file
    blocks = (tmp_path / "gen.cif").read_text()
    for i, path in enumerate(files):
        text = path.read_text()
        assert text in blocks and text.count("data_") == 1 and f"data_{i}\n" in text


# ---------------------------------------------------------------------------- evaluate --kernel
@pytest.fixture(scope="module")
def graph_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("graphs")
    files = {"gen": root / "gen.jsonl", "ref": root / "ref.jsonl"}
    SOCIAL.write([nx.gnp_random_graph(8, 0.4, seed=i) for i in range(4)], files["gen"])
    SOCIAL.write([nx.cycle_graph(n) for n in range(5, 9)], files["ref"])
    return files


def _evaluate(files, tmp_path, *extra: str) -> dict:
    out = tmp_path / f"m{len(list(tmp_path.iterdir()))}.json"
    run(["evaluate", "--domain", "social", "--task", "dng", "--generated", str(files["gen"]),
         "--reference", str(files["ref"]), *extra, "--out", str(out)])
    return json.loads(out.read_text())


def test_evaluate_kernel_chooses_the_mmd_convention(graph_files, tmp_path):
    gdss = _evaluate(graph_files, tmp_path, "--kernel", "gdss")
    digress = _evaluate(graph_files, tmp_path, "--kernel", "DiGress")
    assert gdss["kernel"] == "gdss" and digress["kernel"] == "digress"
    assert gdss["kernel_settings"]["degree"]["kernel"] == "gaussian_emd"
    assert digress["kernel_settings"]["degree"]["kernel"] == "gaussian_tv"
    assert gdss["mmd"]["degree"] != digress["mmd"]["degree"]
    # without --kernel: the dataset's convention (planar: digress), which --kernel overrides
    assert _evaluate(graph_files, tmp_path, "--dataset", "planar")["kernel"] == "digress"
    assert _evaluate(graph_files, tmp_path, "--dataset", "planar", "--kernel", "gdss")["kernel"] == "gdss"
    text = fails(["evaluate", "--domain", "social", "--task", "dng", "--generated", str(graph_files["gen"]),
                  "--reference", str(graph_files["ref"]), "--kernel", "rbf"])
    assert "'--kernel'" in text and "rbf" in text and "digress" in text


def test_evaluate_shows_the_metrics_progress_on_stderr_unless_quiet(graph_files):
    args = ["evaluate", "--domain", "social", "--task", "dng", "--generated", str(graph_files["gen"]),
            "--reference", str(graph_files["ref"])]
    shown = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert shown.exit_code == 0 and "dng: MMD²" in shown.stderr and "statistic" in shown.stderr
    assert json.loads(shown.stdout)["task"] == "dng"  # stdout holds the JSON alone
    quiet = CliRunner().invoke(cli, [*args, "--quiet"], catch_exceptions=False)
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_evaluate_kernel_is_an_error_for_a_metric_without_one(graph_files):
    # crystals-csp takes **options but no kernel: refused before any file is read
    text = fails(["evaluate", "--domain", "crystals", "--task", "csp", "--generated", str(graph_files["gen"]),
                  "--reference", str(graph_files["ref"]), "--kernel", "gdss"])
    assert "--kernel: the metric 'crystals-csp' takes no kernel" in text
    assert "social-dng" in text and "traffic-dng" in text


def test_train_init_starts_a_new_run_from_a_checkpoints_weights(social_model, tmp_path):
    """`graphdiff train --init CKPT`: step count and optimiser start afresh, the weights are the
    checkpoint's (its EMA), the start is recorded, and a checkpoint of another model is refused."""
    from graphdiff.config import load_config
    from graphdiff.model import build_model, load_model, read_checkpoint
    from graphdiff.runner import init_weights, train

    src = social_model["checkpoint"]
    cfg = load_config(src.parent.parent / "run.toml")
    cfg.training.out_dir = str(tmp_path / "again")
    start, _, _ = load_model(src)
    fresh = build_model(cfg, SOCIAL)
    assert any(not torch.equal(fresh.state_dict()[k], v) for k, v in start.state_dict().items())
    sizes = fresh.num_nodes_hist.clone()
    init_weights(fresh, cfg, src)
    for key, value in start.state_dict().items():
        if key != "num_nodes_hist":  # the sizes stay those of the data the new run trains on
            assert torch.equal(fresh.state_dict()[key], value), key
    assert torch.equal(fresh.num_nodes_hist, sizes)
    trainer, last = train(cfg, init=src, max_steps=1, progress=False)
    assert trainer.step == 1 and "optimizer" in read_checkpoint(last)
    meta = json.loads(read_checkpoint(last)["meta"])
    assert meta["init"]["from"] == str(src) and meta["init"]["step"] == 2
    # through the CLI, and a config whose model differs cannot start from those weights
    text = run(["train", str(src.parent.parent / "run.toml"), "--init", str(src), "--quiet",
                "--out-dir", str(tmp_path / "cli")])
    assert "trained 2 steps" in text
    cfg.model.hidden = 8
    with pytest.raises(Exception, match="another \\[model\\] config"):
        train(cfg, init=src, max_steps=1, progress=False)
    with pytest.raises(Exception, match="not both"):
        train(load_config(src.parent.parent / "run.toml"), init=src, resume=last, progress=False)


def test_train_init_turns_an_unconditional_checkpoint_into_a_conditional_model(social_model, tmp_path):
    """An unconditional checkpoint starts a model conditioned on a property: at the start it draws
    exactly what the checkpoint draws, whatever the condition; then it trains, and the start
    records the added condition. Any other [diffusion] difference is still refused."""
    from graphdiff.config import load_config
    from graphdiff.model import build_model, load_model, read_checkpoint
    from graphdiff.runner import init_weights, load_training_data, statistics_sample, train

    src = social_model["checkpoint"]
    cfg = load_config(src.parent.parent / "run.toml")
    cfg.training.out_dir = str(tmp_path / "cond")
    cfg.diffusion.condition = ["social-density"]
    start, _, _ = load_model(src)
    graphs, _, _ = load_training_data(cfg, SOCIAL)
    fresh = build_model(cfg, SOCIAL)
    fresh.fit_statistics(statistics_sample(graphs, seed=0))
    mean = fresh.cond_mean.clone()
    meta = init_weights(fresh, cfg, src)
    assert meta["adds_condition"] == ["social-density"]
    assert torch.equal(fresh.cond_mean, mean)  # the condition's normaliser: this run's data

    def draw(model, **kw):
        out = model.eval().sample([5, 6, 7], steps=3, generator=torch.Generator().manual_seed(4), **kw)
        return [g.edges.tolist() for g in out]

    plain = draw(start)
    assert draw(fresh, cond={"social-density": 0.1}) == plain
    assert draw(fresh, cond={"social-density": 0.9}) == plain
    trainer, last = train(cfg, init=src, max_steps=1, progress=False)
    assert trainer.step == 1
    assert json.loads(read_checkpoint(last)["meta"])["init"]["adds_condition"] == ["social-density"]
    # the other way round, or another change to [diffusion], cannot start from those weights
    with pytest.raises(Exception, match="another \\[diffusion\\] config"):
        train(load_config(src.parent.parent / "run.toml"), init=last, max_steps=1, progress=False)
    from graphdiff.config import FieldProcessConfig

    cfg.diffusion.fields = {"edges": FieldProcessConfig(prior="uniform")}
    with pytest.raises(Exception, match="another \\[diffusion\\] config"):
        train(cfg, init=src, max_steps=1, progress=False)

"""Crystals end to end through the CLI: train, sample (CSP and de novo), evaluate, interpolate."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import graphdiff
from graphdiff.cli import cli
from graphdiff_crystals import sample_path


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory, sample_head) -> Path:
    return sample_head(tmp_path_factory.mktemp("data"), 41)


def run(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_csv) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for task, given in (("csp", '["atom_types"]'), ("dng", "[]")):
        cfg = root / f"{task}.toml"
        cfg.write_text(f"""
[data]
domain = "crystals"
source = "{small_csv}"
val_fraction = 0.1
batch_size = 16

[model]
hidden = 32
layers = 2

[diffusion]
given = {given}
condition = ["heat_ref"]

[training]
max_steps = 6
log_every = 2
val_every = 3
out_dir = "{root / task}"

[sampling]
steps = 5
""")
        text = run(["train", str(cfg), "--quiet"])
        assert "trained 6 steps" in text
        out[task] = root / task / "last.ckpt"
    meta = graphdiff.load(out["dng"], device="cpu").meta
    assert set(meta["target_ranges"]) == {"crystals-density", "crystals-volume_per_atom", "crystals-num_elements"}
    assert meta["target_ranges"]["crystals-density"][2] == meta["num_train"]  # every training structure
    return out


def test_csp_sample_writes_one_row_per_input_and_k_candidates(trained, small_csv, tmp_path):
    gen = tmp_path / "gen.csv"
    text = run(["sample", "--checkpoint", str(trained["csp"]), "--input", str(small_csv), "-k", "2",
                "--out", str(gen), "--quiet", "--steps", "4", "--batch-size", "16", "--allow-unseen"])
    assert "wrote 80 graphs" in text
    with gen.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    with small_csv.open(newline="") as fh:
        refs = list(csv.DictReader(fh))
    assert [r["material_id"] for r in rows] == [r["material_id"] for r in refs for _ in range(2)]
    assert [r["rank"] for r in rows[:4]] == ["0", "1", "0", "1"]
    assert [r["candidate_id"] for r in rows[:2]] == [f"{rows[0]['material_id']}-{k}" for k in (0, 1)]
    # the composition is given: every candidate keeps its reference's formula (read from the CIF
    # text: an untrained model's cells may be too degenerate for pymatgen to parse)
    from pymatgen.core import Composition

    def formula(cif: str) -> str:
        line = next(x for x in cif.splitlines() if x.startswith("_chemical_formula_sum"))
        return Composition(line.split(None, 1)[1].strip("'\" ")).reduced_formula

    for row, ref in zip(rows[::2], refs):
        assert formula(row["cif"]) == formula(ref["cif"])
    metrics = tmp_path / "m.json"
    run(["evaluate", "--task", "csp", "--generated", str(gen), "--reference", str(small_csv),
         "--k", "1", "--k", "2", "--out", str(metrics)])
    result = json.loads(metrics.read_text())
    assert set(result["metrics"]) == {"k=1", "k=2"} and result["num_references"] == 40
    assert len(result["per_item"]) == 40


def test_dng_sample_with_target_and_jsonl(trained, tmp_path):
    gen = tmp_path / "gen.jsonl"
    run(["sample", "--checkpoint", str(trained["dng"]), "--num", "7", "--target", "heat_ref=-0.5",
         "--guidance-scale", "1.0", "--out", str(gen), "--quiet", "--batch-size", "3"])
    lines = [json.loads(line) for line in gen.read_text().splitlines()]
    assert len(lines) == 7 and all(rec["num_nodes"] == len(rec["fields"]["atom_types"]) for rec in lines)


def test_bad_cli_input_is_reported(trained, small_csv, tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["sample", "--checkpoint", str(trained["csp"]), "--num", "3", "--out",
                              str(tmp_path / "x.csv")])
    assert res.exit_code == 2 and "use --input" in res.output
    res = runner.invoke(cli, ["sample", "--checkpoint", str(trained["dng"]), "--num", "3", "--target", "heat_ref",
                              "--out", str(tmp_path / "x.csv")])
    assert res.exit_code == 2 and "expected NAME=VALUE" in res.output
    res = runner.invoke(cli, ["sample", "--checkpoint", "no-such-model", "--num", "3", "--out",
                              str(tmp_path / "x.csv")])
    assert res.exit_code == 2 and "no bundled checkpoint" in res.output
    res = runner.invoke(cli, ["sample", "--checkpoint", str(trained["dng"]), "--num", "3", "--out",
                              str(tmp_path / "x.xyz")])
    assert res.exit_code == 2 and "writes" in res.output


def test_interpolate_between_two_crystals(trained, small_csv, tmp_path):
    out = tmp_path / "path.csv"
    text = run(["interpolate", "--checkpoint", str(trained["dng"]), "--input", str(small_csv), "--pair", "0", "1",
                "--num", "4", "--steps", "5", "--target-path", "heat_ref", "-1.0", "0.0", "--out", str(out)])
    assert "wrote 4 graphs" in text
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["lambda"]) for r in rows] == [0.0, 1 / 3, 2 / 3, 1.0]
    assert [float(r["heat_ref"]) for r in rows] == pytest.approx([-1.0, -2 / 3, -1 / 3, 0.0])


def test_train_streams_from_a_graph_database(small_csv, tmp_path):
    db = tmp_path / "perov.db"
    run(["db", "build", str(small_csv), "--domain", "crystals", "--out", str(db), "--quiet"])
    cfg = tmp_path / "db.yaml"
    cfg.write_text(f"""
data: {{domain: crystals, source: "{db}", val_fraction: 0.1, batch_size: 8}}
model: {{hidden: 16, layers: 1}}
diffusion: {{given: [atom_types]}}
training: {{max_steps: 3, log_every: 1, out_dir: "{tmp_path / 'run'}"}}
""")
    text = run(["train", str(cfg), "--quiet"])
    assert "trained 3 steps" in text
    from graphdiff.model import load_model

    model, _, meta = load_model(tmp_path / "run" / "last.ckpt")
    assert meta["num_train"] + meta["num_val"] == 40 and model.given == ["atom_types"]


def test_bundled_checkpoint_is_listed_by_name_with_its_figures():
    items = json.loads(run(["checkpoints", "--json"]))
    perov = next(c for c in items if c["name"] == "perov5-csp")
    assert perov["domain"] == "crystals" and perov["task"] == "csp"
    assert 0 < perov["figures"]["match_rate@1"] <= perov["figures"]["match_rate@2"] <= 1
    assert Path(perov["path"]).stat().st_size < 20e6


@pytest.mark.parametrize("name, column, value, validity_key", [
    ("perov5-dng", "heat_ref", "0.6", "dng_structural_validity"),
    ("carbon24-dng-energy", "energy_per_atom", "-154.46", "structural_validity_unguided"),
])
def test_bundled_conditioned_de_novo_models_take_their_condition(tmp_path, name, column, value, validity_key):
    """A bundled de novo model conditioned on a column is found by name, says which column, and
    samples with and without a request on it."""
    from graphdiff.model import load_model

    items = {c["name"]: c for c in json.loads(run(["checkpoints", "--json"]))}
    dng = items[name]
    assert dng["task"] == "dng" and Path(dng["path"]).stat().st_size < 20e6
    assert 0.9 < dng["figures"][validity_key] <= 1
    model, cfg, _ = load_model(dng["path"])
    assert cfg.diffusion.condition == [column] and not model.given
    for extra in ([], ["--target", f"{column}={value}", "--guidance-scale", "3"]):
        out = tmp_path / f"gen{len(extra)}.csv"
        run(["sample", "-c", name, "--task", "dng", "--num", "3", "--steps", "20", "-q", "-o", str(out), *extra])
        with out.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == 3 and all(r["cif"].startswith("# generated") or "data_" in r["cif"] for r in rows)


def test_demo_runs_on_the_bundled_checkpoints(tmp_path):
    from graphdiff_crystals.demo import main

    result = main(["--out", str(tmp_path), "--num", "3", "--k", "2", "--steps", "5", "--dng", "3"])
    summary = result["csp"]
    assert summary["num"] == 3 and summary["k"] == 2 and summary["samples_drawn"] >= 12
    assert len(list((tmp_path / "cif").glob("*.cif"))) == 6
    assert len(list((tmp_path / "dng").glob("*.cif"))) == 3 and result["dng"]["num"] == 3
    for name in ("structures.png", "distributions.png", "dng_distributions.png", "metrics.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert json.loads((tmp_path / "metrics.json").read_text())["dng"]["reference"].startswith("bundled")
    # every composition came from the checkpoint's held-out split
    from graphdiff.model import load_model

    _, _, meta = load_model("perov5-csp")
    ids = {p.name.split("_")[0] for p in (tmp_path / "cif").glob("*.cif")}
    assert ids <= set(meta["test_ids"])


def test_sampling_is_sharded_across_torchrun_ranks(trained, small_csv, tmp_path):
    outs = []
    for rank in (0, 1):
        result = CliRunner().invoke(
            cli, ["sample", "--checkpoint", str(trained["csp"]), "--input", str(small_csv), "--out",
                  str(tmp_path / "gen.csv"), "--quiet", "--steps", "2", "--allow-unseen"],
            env={"RANK": str(rank), "WORLD_SIZE": "2"}, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        with (tmp_path / f"gen.rank{rank}of2.csv").open(newline="") as fh:
            outs.append([r["material_id"] for r in csv.DictReader(fh)])
    with small_csv.open(newline="") as fh:
        ids = [r["material_id"] for r in csv.DictReader(fh)]
    assert outs[0] + outs[1] == ids and len(outs[0]) == 20


def test_csp_candidates_are_ranked_with_their_share(trained, small_csv, tmp_path):
    gen = tmp_path / "gen.csv"
    run(["sample", "--checkpoint", str(trained["csp"]), "--task", "csp", "--input", str(small_csv), "-k", "3",
         "--draws", "4", "--max-draws", "8", "--out", str(gen), "--quiet", "--steps", "3", "--allow-unseen"])
    with gen.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 120 and set(rows[0]) >= {"material_id", "cif", "candidate_id", "rank", "share", "distinct"}
    for i in range(0, 120, 3):
        group = rows[i:i + 3]
        assert [r["rank"] for r in group] == ["0", "1", "2"]
        assert len({r["material_id"] for r in group}) == 1
        shares = [float(r["share"]) for r in group if r["distinct"] == "1"]
        assert all(0 < s <= 1 for s in shares) and sum(shares) <= 1 + 1e-9


def test_a_de_novo_model_does_csp_by_holding_the_composition(trained, small_csv, tmp_path):
    gen = tmp_path / "gen.csv"
    run(["sample", "--checkpoint", str(trained["dng"]), "--task", "csp", "--input", str(small_csv),
         "--out", str(gen), "--quiet", "--steps", "4", "--allow-unseen"])
    from pymatgen.core import Composition

    def formula(cif: str) -> str:
        line = next(x for x in cif.splitlines() if x.startswith("_chemical_formula_sum"))
        return Composition(line.split(None, 1)[1].strip("'\" ")).reduced_formula

    with gen.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    with small_csv.open(newline="") as fh:
        refs = list(csv.DictReader(fh))
    assert [formula(r["cif"]) for r in rows] == [formula(r["cif"]) for r in refs]


def test_task_mismatches_are_reported(trained, small_csv, tmp_path):
    runner = CliRunner()
    out = str(tmp_path / "x.csv")
    res = runner.invoke(cli, ["sample", "-c", str(trained["csp"]), "--task", "dng", "--input", str(small_csv),
                              "--out", out])
    assert res.exit_code == 2 and "de novo" in res.output
    res = runner.invoke(cli, ["sample", "-c", str(trained["dng"]), "--task", "csp", "--num", "2", "--out", out])
    assert res.exit_code == 2 and "pass --input" in res.output
    res = runner.invoke(cli, ["sample", "-c", str(trained["dng"]), "--task", "nope", "--num", "2", "--out", out])
    assert res.exit_code == 2 and "csp, dng" in res.output


def test_inputs_larger_than_any_training_item_are_refused(trained, tmp_path, sample_head):
    big = sample_head(tmp_path, 3, "carbon_24")
    res = CliRunner().invoke(cli, ["sample", "-c", str(trained["csp"]), "--input", str(big), "--out",
                                   str(tmp_path / "x.csv"), "--steps", "2"])
    assert res.exit_code == 2 and "trained on at most 5" in res.output and "--allow-larger" in res.output
    run(["sample", "-c", str(trained["csp"]), "--input", str(big), "--out", str(tmp_path / "x.csv"),
         "--steps", "2", "--allow-larger", "--allow-unseen", "--quiet"])


def _column(path: Path, name: str) -> list[float]:
    with path.open(newline="") as fh:
        return [float(r[name]) for r in csv.DictReader(fh)]


def test_sample_and_interpolate_steered_by_a_crystal_target(tmp_path, monkeypatch):
    """``--target crystals-density>=V`` (a differentiable target) steers the bundled de novo
    model's samples, and every point of an interpolation, by gradient guidance; each generated
    graph is converted to a structure once, for the target and the writer alike."""
    import graphdiff
    from graphdiff_crystals.domain import CrystalDomain
    from graphdiff_crystals.targets import density

    domain = graphdiff.load_domain("crystals")
    conversions = []
    original = CrystalDomain.from_graph

    def counting(self, graph):
        conversions.append(1)
        return original(self, graph)

    monkeypatch.setattr(CrystalDomain, "from_graph", counting)

    def densities(path: Path) -> list[float]:
        return [density(r["obj"]) for r in domain.read(path, validate=False)]

    common = ["--checkpoint", "carbon24-dng", "--quiet", "--steps", "20", "--seed", "1"]
    plain, pushed = tmp_path / "plain.csv", tmp_path / "pushed.csv"
    run(["sample", *common, "--num", "6", "--out", str(plain)])
    conversions.clear()
    text = run(["sample", *common, "--num", "6", "--target", "crystals-density>=3.9", "--out", str(pushed)])
    assert len(conversions) == 6
    assert "crystals-density >= 3.9: mean" in text
    assert min(densities(pushed)) > 3.8 > max(densities(plain))
    assert _column(pushed, "crystals-density") == pytest.approx(densities(pushed), rel=1e-6)
    with pushed.open(newline="") as fh:
        assert {r["requested_crystals-density"] for r in csv.DictReader(fh)} == {">=3.9"}

    # the same request steers every point of an interpolation between two 8-atom crystals
    csv.field_size_limit(sys.maxsize)
    with open(sample_path("carbon_24"), newline="") as fh:
        rows = list(csv.reader(fh))
    pair = tmp_path / "pair.csv"
    with pair.open("w", newline="") as fh:
        csv.writer(fh).writerows([rows[0], rows[1], rows[5]])  # header, 8 atoms, 8 atoms
    path_plain, path_pushed = tmp_path / "path.csv", tmp_path / "path_pushed.csv"
    args = ["interpolate", "--checkpoint", "carbon24-dng", "--input", str(pair), "--num", "3", "--steps", "20"]
    run([*args, "--out", str(path_plain)])
    text = run([*args, "--target", "crystals-density>=3.9", "--out", str(path_pushed)])
    assert "crystals-density (requested >=3.9) along the path" in text
    assert min(densities(path_pushed)) > 3.8 > max(densities(path_plain))
    with path_pushed.open(newline="") as fh:
        out = list(csv.DictReader(fh))
    assert [r["requested_crystals-density"] for r in out] == [">=3.9"] * 3
    assert [float(r["lambda"]) for r in out] == [0.0, 0.5, 1.0]
    res = CliRunner().invoke(cli, [*args, "--target", "crystals-nothing>=1", "--out", str(tmp_path / "x.csv")])
    assert res.exit_code == 2 and "not a condition of this model" in res.output
    # guiding only the fractional coordinates cannot move a density: the path is the plain one
    path_pos = tmp_path / "path_pos.csv"
    run([*args, "--target", "crystals-density>=3.9", "--guide-fields", "frac_coords", "--out", str(path_pos)])
    assert densities(path_pos) == pytest.approx(densities(path_plain), rel=1e-6)
    res = CliRunner().invoke(cli, [*args, "--guide-fields", "lattice", "--out", str(tmp_path / "y.csv")])
    assert res.exit_code != 0 and "needs a --target or --target-path request" in res.output


def test_oversample_keeps_the_samples_that_best_meet_the_requests(tmp_path):
    """``--oversample F`` draws F x N de novo samples and keeps the N nearest the requests, in
    drawn order; with ``--gradient-scale 0`` the targets only select, so a target without a
    gradient (the number of elements) may be asked for."""
    import graphdiff
    from graphdiff_crystals.targets import density

    domain = graphdiff.load_domain("crystals")
    common = ["--checkpoint", "carbon24-dng", "--quiet", "--steps", "10", "--seed", "3"]
    every, kept = tmp_path / "every.csv", tmp_path / "kept.csv"
    run(["sample", *common, "--num", "12", "--out", str(every)])
    text = run(["sample", *common, "--num", "4", "--oversample", "3", "--gradient-scale", "0",
                "--target", "crystals-density=3.3", "--out", str(kept)])
    assert "kept 4 of 12 samples" in text
    all_d = [density(r["obj"]) for r in domain.read(every, validate=False)]
    kept_d = [density(r["obj"]) for r in domain.read(kept, validate=False)]
    # the same 12 draws (same seed, no gradient): the kept ones are the 4 nearest 3.3, in drawn order
    best = sorted(sorted(range(12), key=lambda i: abs(all_d[i] - 3.3))[:4])
    assert best != [0, 1, 2, 3] and kept_d == pytest.approx([all_d[i] for i in best], rel=1e-6)
    assert max(abs(d - 3.3) for d in kept_d) <= sorted(abs(d - 3.3) for d in all_d)[4]
    assert _column(kept, "crystals-density") == pytest.approx(kept_d, rel=1e-6)
    # selection alone accepts a target without a gradient; guidance by it is still refused
    text = run(["sample", *common, "--num", "2", "--oversample", "2", "--gradient-scale", "0",
                "--target", "crystals-num_elements=1", "--out", str(tmp_path / "n.csv")])
    assert "kept 2 of 4 samples" in text
    for extra, why in ((["--oversample", "2"], "not differentiable"),
                       (["--oversample", "0.5", "--gradient-scale", "0"], "at least 1"),
                       (["--oversample", "2", "--gradient-scale", "0", "--target", "crystals-density>=3"][:-2],
                        "none was given")):
        args = ["sample", *common, "--num", "2", *extra, "--out", str(tmp_path / "x.csv")]
        if "none was given" not in why:
            args += ["--target", "crystals-num_elements=1"]
        res = CliRunner().invoke(cli, args)
        assert res.exit_code != 0 and why in res.output, res.output


def test_guide_fields_limit_what_gradient_guidance_moves(tmp_path):
    """``--guide-fields``: the density depends on the cell alone, so guiding only the fractional
    coordinates leaves the samples as the unguided ones (same seed), and guiding only the cell
    moves them as guiding everything does."""
    import graphdiff
    from graphdiff_crystals.targets import density

    domain = graphdiff.load_domain("crystals")
    common = ["sample", "--checkpoint", "carbon24-dng", "--quiet", "--steps", "10", "--seed", "2", "--num", "4"]

    def densities(*extra: str) -> list[float]:
        out = tmp_path / f"{len(list(tmp_path.iterdir()))}.csv"
        run([*common, *extra, "--out", str(out)])
        return [density(r["obj"]) for r in domain.read(out, validate=False)]

    plain = densities()
    request = ["--target", "crystals-density>=3.9"]
    assert densities(*request, "--guide-fields", "frac_coords") == pytest.approx(plain, rel=1e-6)
    pushed = densities(*request, "--guide-fields", "lattice")
    assert min(pushed) > 3.8 > max(plain)
    for extra, why in ((["--guide-fields", "lattice"], "needs a --target request"),
                       ([*request, "--guide-fields", "atom_types"], "not continuous fields this model generates")):
        res = CliRunner().invoke(cli, [*common, *extra, "--out", str(tmp_path / "x.csv")])
        assert res.exit_code != 0 and why in res.output, res.output


def test_interpolate_along_a_differentiable_target_writes_values_and_a_plot(trained, small_csv, tmp_path):
    out, png = tmp_path / "path.csv", tmp_path / "path.png"
    text = run(["interpolate", "--checkpoint", str(trained["dng"]), "--input", str(small_csv), "--pair", "0", "1",
                "--num", "5", "--steps", "5", "--target-path", "crystals-density", "3.0", "7.0",
                "--out", str(out), "--plot", str(png)])
    assert "crystals-density (requested 3 .. 7; the ends unguided) along the path:" in text
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["requested_crystals-density"]) for r in rows] == pytest.approx([3.0, 4.0, 5.0, 6.0, 7.0])
    assert all(float(r["crystals-density"]) > 0 for r in rows) and {r["valid"] for r in rows} <= {"0", "1"}
    assert png.stat().st_size > 1000
    res = CliRunner().invoke(cli, ["interpolate", "--checkpoint", str(trained["dng"]), "--input", str(small_csv),
                                   "--target-path", "no-such", "1", "2", "--out", str(tmp_path / "x.csv")])
    assert res.exit_code == 2 and "not a condition of this model" in res.output


def test_rank_by_orders_each_items_candidates_by_a_registered_target(small_csv, tmp_path):
    """--rank-by NAME[:min|:max]: the distinct candidates of every input item come in the
    target's order (the column NAME holds the value of the written structure), and it is refused
    where it cannot apply."""
    import math

    from pymatgen.core import Structure

    head = tmp_path / "three.csv"
    with small_csv.open(newline="") as fh:
        reader = csv.DictReader(fh)
        rows = [r for _, r in zip(range(3), reader)]
    with head.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=reader.fieldnames)
        w.writeheader()
        w.writerows(rows)
    seen = {}
    for way in ("max", "min"):
        gen = tmp_path / f"{way}.csv"
        run(["sample", "-c", "perov5-csp", "--input", str(head), "-k", "3", "--draws", "6", "--steps", "20",
             "--rank-by", f"crystals-density:{way}", "--out", str(gen), "-q"])
        with gen.open(newline="") as fh:
            out = list(csv.DictReader(fh))
        assert [r["material_id"] for r in out] == [r["material_id"] for r in rows for _ in range(3)]
        for r in out:
            v = float(r["crystals-density"])
            if not math.isnan(v):
                assert v == pytest.approx(float(Structure.from_str(r["cif"], fmt="cif").density), rel=1e-4)
        for mid in {r["material_id"] for r in rows}:
            vals = [float(r["crystals-density"]) for r in out if r["material_id"] == mid and r["distinct"] == "1"]
            finite = [v for v in vals if not math.isnan(v)]
            assert finite == sorted(finite, reverse=way == "max")
            assert vals[:len(finite)] == finite  # unscored answers come last
            seen[way, mid] = finite
    # the same draws (same seed); each answer is represented by its best draw for the order
    # asked, so the densest first candidate is at least as dense as any lowest-first one
    assert any(len(v) > 1 for v in seen.values())
    for mid in {r["material_id"] for r in rows}:
        assert seen["max", mid][0] >= max(seen["min", mid]) - 1e-4
    pattern = tmp_path / "ref.cif"
    pattern.write_text(rows[0]["cif"])
    bad = [(["--rank-by", "nope"], "no such registered target; crystals targets: crystals-chgnet_energy"),
           (["--rank-by", "crystals-density:up"], "NAME:min (lowest first) or NAME:max"),
           (["--rank-by", "crystals-density", "--no-distinct"], "it needs --input and no --no-distinct"),
           (["--rank-by", "crystals-density", "--xrd", str(pattern)], "candidates are ranked one way")]
    for extra, message in bad:
        r = CliRunner().invoke(cli, ["sample", "-c", "perov5-csp", "--input", str(head), "-k", "2",
                                     "--out", str(tmp_path / "x.csv"), "-q", *extra])
        assert r.exit_code != 0 and message in r.output, (extra, r.output)
    r = CliRunner().invoke(cli, ["sample", "-c", "perov5-dng", "--num", "2", "--rank-by", "crystals-density",
                                 "--out", str(tmp_path / "y.csv"), "-q"])
    assert r.exit_code != 0 and "it needs --input" in r.output

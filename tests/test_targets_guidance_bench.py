"""benchmarks/targets/targets_guidance.py: the per-dataset spec (Carbon-24 as it was, Perov-5 added)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "targets" / "targets_guidance.py"


@pytest.fixture(scope="module")
def bench(load_module):
    return load_module(SCRIPT, "targets_guidance_bench")


def test_carbon24_names_and_files_stay_as_they_were(bench):
    spec = bench.SPECS["carbon_24"]
    assert spec.name == "carbon24-energy-guidance"
    assert (spec.generator, spec.column) == ("carbon24-dng", "energy_per_atom")
    assert spec.judge_column == "judged_carbon24judge-energy_per_atom"
    assert spec.role_dir("judge") == bench.RUNS / "carbon24-judge"
    assert bench.unguided_csv(spec, 64, 200, 0) == bench.RUNS / "carbon24-energy-guidance-unguided-n64-s200-seed0.csv"
    assert bench.guided_csv(spec, "clean", 30.0, 64, 200, 0) == bench.RUNS / "carbon24-energy-guidance-guided.csv"
    assert bench.guided_csv(spec, "noisy", 10.0, 64, 200, 0) == bench.RUNS / "carbon24-energy-guidance-noisy-guided.csv"
    assert bench.plot_path(spec, "clean", 300.0).name == "carbon24-energy-guidance-scale300.png"
    assert bench.plot_path(spec, "noisy", 1000.0).name == "carbon24-energy-guidance-noisy-scale1000.png"
    assert bench.entry_key("clean", 300.0) == "scale=300"
    assert bench.entry_key("noisy", 10.0) == "noisy,scale=10"


def test_carbon24_commands_stay_as_they_were(bench):
    spec = bench.SPECS["carbon_24"]
    assert bench.run_command(spec, 64, 200, 0.1, 30.0, 0, "clean") == (
        "python benchmarks/targets/targets_guidance.py run --num 64 --steps 200 --quantile 0.1 --scale 30.0 --seed 0")
    assert bench.run_command(spec, 64, 200, 0.1, 10.0, 0, "noisy") == (
        "python benchmarks/targets/targets_guidance.py run --num 64 --steps 200 --quantile 0.1 --scale 10.0 --seed 0 "
        "--guide noisy")
    assert bench.predictors_command(spec, "clean") == "python benchmarks/targets/targets_guidance.py predictors"
    assert bench.predictors_command(spec, "noisy") == (
        "python benchmarks/targets/targets_guidance.py predictors --role tguide")


def test_carbon24_guidance_arguments(bench):
    spec = bench.SPECS["carbon_24"]
    args = bench.guided_args(spec, "clean", -154.5, 30.0)
    assert args == ["--predictor", str(bench.RUNS / "carbon24-guide" / "predictor.pt"),
                    "--target", "carbon24guide-energy_per_atom=-154.5",
                    "--gradient-scale", "30.0", "--guidance-mode", "clean"]
    args = bench.guided_args(spec, "noisy", -154.5, 10.0)
    assert args[:4] == ["--predictor", str(bench.RUNS / "carbon24-tguide" / "predictor.pt"),
                        "--target", "carbon24tguide-energy_per_atom=-154.5"]
    assert args[-2:] == ["--guidance-mode", "noisy"]
    assert not spec.conditioned


def test_carbon24_predictor_configs(bench):
    spec = bench.SPECS["carbon_24"]
    judge = tomllib.loads(bench.predictor_config(spec, "judge", 3000))
    assert judge["data"]["source"] == str(bench.RUNS / "carbon_24" / "test.csv")
    assert judge["predictor"] == {"properties": ["energy_per_atom"], "ensemble": 3, "name": "carbon24judge"}
    assert judge["training"]["out_dir"] == str(bench.RUNS / "carbon24-judge")
    tguide = tomllib.loads(bench.predictor_config(spec, "tguide", 3000))
    assert tguide["data"]["source"] == str(bench.RUNS / "carbon_24" / "train.csv")
    assert tguide["predictor"]["noisy"] is True and tguide["predictor"]["processes_from"] == "carbon24-dng"
    assert spec.default_roles == ("guide", "judge")


def test_perov5_spec(bench):
    spec = bench.SPECS["perov_5"]
    assert (spec.generator, spec.column, spec.name) == ("perov5-dng", "heat_ref", "perov5-heat-guidance")
    assert spec.conditioned and spec.default_roles == ("judge",)
    assert spec.judge_column == "judged_perov5judge-heat_ref"
    assert spec.role_dir("judge") == bench.RUNS / "perov5-judge"
    judge = tomllib.loads(bench.predictor_config(spec, "judge", 3000))
    assert judge["data"]["source"] == str(bench.RUNS / "perov_5" / "test.csv")
    assert judge["predictor"] == {"properties": ["heat_ref"], "ensemble": 3, "name": "perov5judge"}
    assert bench.unguided_csv(spec, 64, 200, 0) == bench.RUNS / "perov5-heat-guidance-unguided-n64-s200-seed0.csv"
    # every guided set is kept, one file per guide and scale
    assert bench.guided_csv(spec, "cfg", 3.0, 64, 200, 0).name == "perov5-heat-guidance-cfg-scale3-n64-s200-seed0.csv"
    assert bench.guided_csv(spec, "clean", 30.0, 64, 200, 0).name == (
        "perov5-heat-guidance-clean-scale30-n64-s200-seed0.csv")
    assert bench.plot_path(spec, "cfg", 1.0).name == "perov5-heat-guidance-cfg-scale1.png"
    assert bench.plot_path(spec, "clean", 100.0).name == "perov5-heat-guidance-scale100.png"
    assert bench.entry_key("cfg", 3.0) == "cfg,scale=3"
    assert bench.entry_key("clean", 100.0) == "scale=100"


def test_perov5_guidance_arguments_and_commands(bench):
    spec = bench.SPECS["perov_5"]
    # classifier-free: the model's own condition, weighted by --guidance-scale
    assert bench.guided_args(spec, "cfg", -1.25, 3.0) == ["--target", "heat_ref=-1.25", "--guidance-scale", "3.0"]
    # gradient: the bundled predictor's registered target, no --predictor file
    assert bench.guided_args(spec, "clean", -1.25, 30.0) == [
        "--target", "perov5-heat_ref=-1.25", "--gradient-scale", "30.0", "--guidance-mode", "clean"]
    # physical: CHGNet's differentiable energy, asked to stay under a value, read on the clean estimate
    assert bench.guided_args(spec, "chgnet", -9.06, 1.0) == [
        "--target", "crystals-chgnet_energy<=-9.06", "--gradient-scale", "1.0", "--guidance-mode", "clean"]
    assert bench.guide_role(spec, "chgnet") is None and bench.entry_key("chgnet", 1.0) == "chgnet,scale=1"
    assert "CHGNet" in bench.guide_description(spec, "chgnet")
    assert bench.guide_target(spec, "cfg") == "heat_ref"
    assert bench.guide_target(spec, "clean") == "perov5-heat_ref"
    assert bench.run_command(spec, 64, 200, 0.1, 3.0, 0, "cfg") == (
        "python benchmarks/targets/targets_guidance.py run --num 64 --steps 200 --quantile 0.1 --scale 3.0 --seed 0 "
        "--dataset perov_5 --guide cfg")
    assert bench.run_command(spec, 64, 200, 0.1, 30.0, 0, "clean") == (
        "python benchmarks/targets/targets_guidance.py run --num 64 --steps 200 --quantile 0.1 --scale 30.0 --seed 0 "
        "--dataset perov_5")
    assert bench.predictors_command(spec, "cfg") == (
        "python benchmarks/targets/targets_guidance.py predictors --dataset perov_5")
    assert bench.predictors_command(spec, "clean", 1500) == (
        "python benchmarks/targets/targets_guidance.py predictors --dataset perov_5 --predictor-steps 1500")


def test_cfg_needs_a_conditioned_generator(bench):
    with pytest.raises(ValueError, match="cfg"):
        bench.run(4, 2, 0.1, 1.0, 0, "cfg", bench.SPECS["carbon_24"])


def test_goal_value_is_the_lower_quantile_without_interpolation(bench):
    vals = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert bench.goal_value(vals, 0.0) == 1.0
    assert bench.goal_value(vals, 0.1) == 1.0     # int(0.1 * 4) = 0
    assert bench.goal_value(vals, 0.5) == 3.0
    assert bench.goal_value(vals, 1.0) == 5.0


def test_guide_descriptions(bench):
    c24, p5 = bench.SPECS["carbon_24"], bench.SPECS["perov_5"]
    assert bench.guide_description(c24, "clean") == (
        "GNN ensemble trained on runs/carbon_24/train.csv (the generator's split)")
    assert bench.guide_description(c24, "noisy").startswith(
        "time-aware GNN ensemble (noisy = true, processes_from = carbon24-dng)")
    assert "perov5-heat" in bench.guide_description(p5, "clean")
    assert "classifier-free" in bench.guide_description(p5, "cfg")


def test_oversample_and_corrector_runs_get_their_own_entries_files_and_flags(bench):
    spec = bench.SPECS["carbon_24"]
    assert bench.entry_key("clean", 100.0, 4.0, 0) == "scale=100,oversample=4"
    assert bench.entry_key("cfg", 1.0, 4.0, seed=1) == "cfg,scale=1,oversample=4,seed=1"
    assert bench.entry_key("cfg", 1.0, seed=0) == "cfg,scale=1"
    assert bench.entry_key("cfg", 1.0, 4.0, quantile=0.5) == "cfg,scale=1,oversample=4,quantile=0.5"
    assert bench.entry_key("cfg", 1.0, 4.0, seed=1, quantile=0.9) == "cfg,scale=1,oversample=4,quantile=0.9,seed=1"
    assert bench.entry_key("cfg", 1.0, quantile=bench.DEFAULT_QUANTILE) == "cfg,scale=1"
    assert bench.guided_csv(spec, "cfg", 1.0, 64, 200, 0, 4.0, quantile=0.9).name.endswith(
        "-oversample4-quantile0.9-n64-s200-seed0.csv")
    assert bench.plot_path(spec, "cfg", 1.0, 4.0, quantile=0.9).name.endswith("-cfg-scale1-oversample4-quantile0.9.png")
    assert bench.plot_path(spec, "cfg", 1.0, 4.0, seed=1, quantile=0.9).name.endswith(
        "-cfg-scale1-oversample4-quantile0.9-seed1.png")
    assert bench.entry_key("clean", 300.0, 1.0, 1) == "scale=300,corrector=1"
    assert bench.guided_csv(spec, "clean", 100.0, 64, 200, 0, 4.0).name == (
        "carbon24-energy-guidance-clean-scale100-oversample4-n64-s200-seed0.csv")
    assert bench.plot_path(spec, "clean", 100.0, 4.0, 1).name == (
        "carbon24-energy-guidance-scale100-oversample4-corrector1.png")
    args = bench.guided_args(spec, "clean", -154.5, 100.0, 4.0, 1)
    assert args[-4:] == ["--oversample", "4", "--corrector-steps", "1"]
    assert bench.run_command(spec, 64, 200, 0.1, 100.0, 0, "clean", 4.0, 1).endswith(
        "--scale 100.0 --seed 0 --oversample 4 --corrector-steps 1")


def test_extra_requests_and_guided_fields_get_their_own_entries_and_flags(bench):
    spec = bench.SPECS["carbon_24"]
    also, fields = ("crystals-density<=3.7@0.03",), ("frac_coords",)
    assert bench.entry_key("clean", 300.0, 1.0, 0, also, fields) == (
        "scale=300,also=crystals-density<=3.7@0.03,fields=frac_coords")
    name = bench.guided_csv(spec, "clean", 300.0, 64, 200, 0, 1.0, 0, also, fields).name
    assert name.startswith("carbon24-energy-guidance-clean-scale300-fieldsfrac_coords-also") and "<" not in name
    args = bench.guided_args(spec, "clean", -154.5, 300.0, 1.0, 0, also, fields)
    assert args[2:6] == ["--target", "carbon24guide-energy_per_atom=-154.5", "--target", also[0]]
    assert args[-2:] == ["--guide-fields", "frac_coords"]
    assert bench.run_command(spec, 64, 200, 0.1, 300.0, 0, "clean", 1.0, 0, also, fields).endswith(
        "--also 'crystals-density<=3.7@0.03' --guide-fields frac_coords")


def test_another_generator_gets_its_own_results_unguided_set_and_flag(bench):
    spec = bench.SPECS["carbon_24"].with_generator("carbon24-dng-energy")
    assert spec.conditioned and spec.generator == "carbon24-dng-energy"
    assert spec.name == "carbon24-energy-guidance-carbon24-dng-energy"
    assert spec.role_dir("judge") == bench.RUNS / "carbon24-judge"       # the same judge
    assert bench.unguided_csv(spec, 64, 200, 0).name == (
        "carbon24-energy-guidance-carbon24-dng-energy-unguided-n64-s200-seed0.csv")
    assert bench.guided_args(spec, "cfg", -154.5, 3.0) == [
        "--target", "energy_per_atom=-154.5", "--guidance-scale", "3.0"]
    assert bench.run_command(spec, 64, 200, 0.1, 3.0, 0, "cfg").endswith(
        "--seed 0 --generator carbon24-dng-energy --guide cfg")


def test_classifier_free_guidance_with_oversample_selects_by_the_guide_without_its_gradient(bench):
    c24 = bench.SPECS["carbon_24"].with_generator("carbon24-dng-energy")
    args = bench.guided_args(c24, "cfg", -154.5, 3.0, 4.0)
    assert args == ["--target", "energy_per_atom=-154.5", "--guidance-scale", "3.0",
                    "--predictor", str(bench.RUNS / "carbon24-guide" / "predictor.pt"),
                    "--target", "carbon24guide-energy_per_atom=-154.5", "--gradient-scale", "0",
                    "--oversample", "4"]
    assert bench.entry_key("cfg", 3.0, 4.0) == "cfg,scale=3,oversample=4"
    assert "carbon24guide-energy_per_atom" in bench.guide_description(c24, "cfg", 4.0)
    assert "nearest" not in bench.guide_description(c24, "cfg")
    # Perov-5's guide is bundled: no --predictor file
    p5 = bench.SPECS["perov_5"]
    assert bench.guided_args(p5, "cfg", -1.25, 1.0, 2.0) == [
        "--target", "heat_ref=-1.25", "--guidance-scale", "1.0",
        "--target", "perov5-heat_ref=-1.25", "--gradient-scale", "0", "--oversample", "2"]


def test_validation_judge_is_the_judge_config_on_the_validation_rows(bench):
    spec = bench.SPECS["perov_5"]
    judge = tomllib.loads(bench.predictor_config(spec, "judge", 3000))
    vjudge = tomllib.loads(bench.predictor_config(spec, "vjudge", 3000))
    assert vjudge["data"]["source"] == str(bench.RUNS / "perov_5" / "val.csv")
    assert vjudge["predictor"] == {"properties": ["heat_ref"], "ensemble": 3, "name": "perov5vjudge"}
    assert vjudge["training"]["out_dir"] == str(bench.RUNS / "perov5-vjudge")
    # the same config otherwise: only the rows, the name and the folder differ
    for cfg in (judge, vjudge):
        del cfg["data"]["source"], cfg["predictor"]["name"], cfg["training"]["out_dir"]
    assert vjudge == judge
    assert spec.judged_column("vjudge") == "judged_perov5vjudge-heat_ref"
    assert spec.judged_column("judge") == spec.judge_column
    assert set(bench.JUDGES) == {"judge", "vjudge"}
    assert bench.predictors_command(spec, "cfg", judge="vjudge") == (
        "python benchmarks/targets/targets_guidance.py predictors --dataset perov_5 --role vjudge")


def test_selection_draws_never_share_an_entry_or_a_file_with_the_reported_ones(bench):
    spec = bench.SPECS["perov_5"]
    sel = bench.results_key(spec, "cfg", 3.0, 64, 200, 100, judge="vjudge")
    rep = [bench.results_key(spec, "cfg", 3.0, 64, 200, s) for s in bench.REPORT_SEEDS]
    assert sel["judge"] == "vjudge" and sel["seed"] == 100
    assert [k["judge"] for k in rep] == ["judge"] * 3 and [k["seed"] for k in rep] == [0, 1, 2]
    assert sel not in rep and len({str(sorted(k.items())) for k in rep}) == 3
    assert bench.entry_key("cfg", 3.0, seed=100, judge="vjudge") == "cfg,scale=3,seed=100,judge=vjudge"
    assert bench.entry_key("cfg", 3.0, seed=2) == "cfg,scale=3,seed=2"
    assert bench.SELECTION_SEED not in bench.REPORT_SEEDS
    assert bench.plot_path(spec, "cfg", 3.0, seed=100, judge="vjudge").name == (
        "perov5-heat-guidance-cfg-scale3-seed100-vjudge.png")
    assert bench.run_command(spec, 64, 200, 0.1, 3.0, 100, "cfg", judge="vjudge").endswith(
        "--seed 100 --dataset perov_5 --guide cfg --judge-role vjudge")
    # the choice and the report: their own entries, the report's key without the chosen weight
    skey = bench.selection_key(spec, "cfg", bench.SELECT_SCALES, 64, 200, 100)
    rkey = bench.report_key(spec, "cfg", bench.SELECT_SCALES, 64, 200, bench.REPORT_SEEDS, 100)
    assert (skey["action"], skey["judge"], skey["seed"]) == ("select", "vjudge", 100)
    assert (rkey["action"], rkey["judge"], rkey["seeds"]) == ("report", "judge", [0, 1, 2])
    assert "scale" not in rkey and rkey["scales"] == [0.0, 1.0, 3.0, 6.0]
    assert bench.select_report_command(spec, "cfg", bench.SELECT_SCALES, 64, 200, 0.1, 100, (0, 1, 2)) == (
        "python benchmarks/targets/targets_guidance.py select-report --num 64 --steps 200 --quantile 0.1 "
        "--dataset perov_5 --guide cfg")
    with pytest.raises(ValueError, match="selection seed"):
        bench.select_report(spec, seeds=(0, 100))


def _cand(mae: float, dv: float = 0.0) -> dict:
    return {"guided": {"mae_to_goal": mae}, "validity_change_points": dv}


def test_selection_rule_lowest_guided_distance_with_validity_kept(bench):
    assert bench.choose_scale({0.0: _cand(0.20), 1.0: _cand(0.17), 3.0: _cand(0.14), 6.0: _cand(0.16)}) == 3.0
    # a weight that costs more than 2 points of validity is passed over
    assert bench.choose_scale({0.0: _cand(0.20), 3.0: _cand(0.10, -3.1), 6.0: _cand(0.15, -2.0)}) == 6.0
    # none keeps validity: the lowest distance among all; ties go to the smaller weight
    assert bench.choose_scale({1.0: _cand(0.3, -5), 3.0: _cand(0.2, -9)}) == 3.0
    assert bench.choose_scale({6.0: _cand(0.15), 1.0: _cand(0.15)}) == 1.0
    # a set the judge could not score (NaN) is never chosen over a scored one
    assert bench.choose_scale({0.0: _cand(float("nan")), 1.0: _cand(0.5)}) == 1.0
    with pytest.raises(ValueError):
        bench.choose_scale({})


def test_figures_over_seeds_are_mean_and_sample_sd(bench):
    runs = [{"mae_ratio_unguided_over_guided": r, "validity_change_points": 0.0,
             "guided": {"mae_to_goal": g, "structural_validity": 1.0},
             "unguided": {"mae_to_goal": u, "structural_validity": 1.0}}
            for r, g, u in ((4.0, 0.2, 0.8), (5.0, 0.16, 0.8), (6.0, 0.14, 0.84))]
    out = bench.over_seeds(runs)
    assert out["ratio"]["mean"] == pytest.approx(5.0) and out["ratio"]["sd"] == pytest.approx(1.0)
    assert out["guided_mae"]["values"] == [0.2, 0.16, 0.14]
    assert out["validity_change_points"] == {"mean": 0.0, "sd": 0.0, "values": [0.0, 0.0, 0.0]}
    assert set(out) == set(bench.SEED_FIGURES)


def test_carbon24_energy_selection_and_report_carry_the_oversampling(bench):
    spec = bench.SPECS["carbon_24"].with_generator("carbon24-dng-energy")
    scales = (0.0, 1.0, 3.0)
    skey = bench.selection_key(spec, "cfg", scales, 64, 200, 100, oversample=4.0)
    rkey = bench.report_key(spec, "cfg", scales, 64, 200, bench.REPORT_SEEDS, 100, oversample=4.0)
    assert (skey["generator"], skey["oversample"], skey["scales"]) == ("carbon24-dng-energy", 4.0, [0.0, 1.0, 3.0])
    assert (rkey["action"], rkey["oversample"], rkey["seeds"]) == ("report", 4.0, [0, 1, 2])
    # sets drawn without oversampling keep the keys they were recorded under (Perov-5)
    p5 = bench.SPECS["perov_5"]
    assert "oversample" not in bench.selection_key(p5, "cfg", bench.SELECT_SCALES, 64, 200, 100)
    assert "oversample" not in bench.report_key(p5, "cfg", bench.SELECT_SCALES, 64, 200, bench.REPORT_SEEDS, 100)
    assert bench.select_report_command(spec, "cfg", scales, 64, 200, 0.1, 100, (0, 1, 2), oversample=4.0) == (
        "python benchmarks/targets/targets_guidance.py select-report --num 64 --steps 200 --quantile 0.1 "
        "--generator carbon24-dng-energy --guide cfg --oversample 4 --scales 0 --scales 1 --scales 3")
    # the selection draws and the reported ones: entries of their own, beside the oversampled sweep's
    assert bench.entry_key("cfg", 1.0, 4.0, seed=100, judge="vjudge") == (
        "cfg,scale=1,oversample=4,seed=100,judge=vjudge")
    assert bench.guided_csv(spec, "cfg", 1.0, 64, 200, 100, 4.0).name == (
        "carbon24-energy-guidance-carbon24-dng-energy-cfg-scale1-oversample4-n64-s200-seed100.csv")
    assert bench.plot_path(spec, "cfg", 1.0, 4.0, seed=100, judge="vjudge").name == (
        "carbon24-energy-guidance-carbon24-dng-energy-cfg-scale1-oversample4-seed100-vjudge.png")
    # the guide that keeps the best of an oversampled set is one of the run's inputs
    assert bench.keeping_files(spec, "cfg", 4.0) == [bench.RUNS / "carbon24-guide" / "predictor.pt"]
    assert bench.keeping_files(spec, "cfg", 1.0) == [] and bench.keeping_files(p5, "cfg", 4.0) == []
    assert bench.keeping_files(spec, "clean", 4.0) == []


def test_select_report_draws_every_set_with_the_oversampling(bench, monkeypatch):
    spec = bench.SPECS["carbon_24"].with_generator("carbon24-dng-energy")
    calls, recorded = [], []

    def fake_run(num, steps, quantile, scale, seed, reading, spec_, oversample=1.0, *rest, judge_role="judge"):
        calls.append((scale, seed, oversample, judge_role))
        mae = {0.0: 0.2, 1.0: 0.1, 3.0: 0.15}[scale] + seed / 1000
        return {"guidance_scale": scale, "seed": seed, "entry": "e", "judge_role": judge_role, "goal": -154.5,
                "judge": "j", "judge_validation_mae": 0.06, "mae_ratio_unguided_over_guided": 0.25 / mae,
                "validity_change_points": 0.0,
                "guided": {"mae_to_goal": mae, "structural_validity": 1.0, "density_mean": 2.9,
                           "chgnet_energy_median": -6.0, "seconds": 1.0},
                "unguided": {"mae_to_goal": 0.25, "structural_validity": 1.0, "density_mean": 3.3,
                             "chgnet_energy_median": -6.4, "seconds": 1.0}}

    monkeypatch.setattr(bench, "run", fake_run)
    monkeypatch.setattr(bench, "record", lambda path, key, result, run_: recorded.append((key, result)))
    report = bench.select_report(spec, "cfg", (0, 1, 3), oversample=4.0)
    assert calls == [(0.0, 100, 4.0, "vjudge"), (1.0, 100, 4.0, "vjudge"), (3.0, 100, 4.0, "vjudge"),
                     (1.0, 0, 4.0, "judge"), (1.0, 1, 4.0, "judge"), (1.0, 2, 4.0, "judge")]
    (skey, selection), (rkey, _) = recorded
    assert (skey["action"], skey["oversample"], selection["chosen_scale"]) == ("select", 4.0, 1.0)
    assert (rkey["action"], rkey["oversample"], report["oversample"]) == ("report", 4.0, 4.0)
    assert report["per_seed"][0]["guided_density_mean"] == 2.9
    assert report["guided_mae"]["values"] == pytest.approx([0.1, 0.101, 0.102])
    assert report["command"].endswith("--guide cfg --oversample 4 --scales 0 --scales 1 --scales 3")

"""Generation toward a property value, judged by a predictor the generator never saw.

Carbon-24 energy (the default, ``--dataset carbon_24``):

    python benchmarks/targets/targets_guidance.py predictors
    python benchmarks/targets/targets_guidance.py run --num 64 --steps 200 --quantile 0.1

``predictors`` trains two GNN ensembles of Carbon-24's ``energy_per_atom`` (eV/atom) with
``graphdiff.predictors.train_predictor`` (what ``graphdiff predictor train`` runs): the *guide*
on the training split of ``benchmarks/crystals/crystals_csp.py`` (``runs/carbon_24/train.csv``, the split
``carbon24-dng`` was trained on), and the *judge* on the held-out split
(``runs/carbon_24/test.csv``), which neither the generator nor the guide saw.

``run`` asks ``carbon24-dng`` for ``--num`` structures de novo twice, with the same seed and
steps: unguided, and with ``--target carbon24guide-energy_per_atom=V`` (gradient guidance by the
guide), where V is the ``--quantile`` of the training split's values (a low, stable energy).
Both sets are scored by the judge (``--judge``); the result is the mean |judged − V| of each
set, their ratio (the target: unguided at least 3 times guided), and the CDVAE structural
validity of each (the target: guided within 2 points of unguided). Results:
``benchmarks/targets/results/carbon24-energy-guidance.json`` (one entry per ``--scale``) and
``carbon24-energy-guidance-scale<S>.png``.

The sets are drawn in this process through the Python API (``graphdiff.load(generator)
.sample_iter(...)``, written to CSV as ``graphdiff sample --out`` writes them); the
``graphdiff sample`` flags named here (``--target``, ``--judge``, ``--guidance-scale``...) are
the same options (:func:`guided_args` spells a guided set's request as flags).

Time-aware guidance:

    python benchmarks/targets/targets_guidance.py predictors --role tguide
    python benchmarks/targets/targets_guidance.py run --guide noisy --scale S

``--role tguide`` trains a third ensemble on the guide's split with ``noisy = true`` and
``processes_from = "carbon24-dng"``: it reads the generator's noisy states at their ``t``, and
``run --guide noisy`` steers with it (``--guidance-mode noisy``: the gradient in the noisy
states, as classifier guidance, instead of the clean guide's gradient in the denoiser's clean
estimate). Entries ``noisy,scale=<S>``; the unguided set of the same ``--num/--steps/--seed``
is sampled once and reused.

Physical guidance (``run --guide chgnet --scale S``): no learned guide; the guided set asks
``crystals-chgnet_energy<=E`` (gradient guidance by CHGNet's differentiable energy of the clean
estimate), where E is the median CHGNet energy of the training structures within 0.01 of the
goal (what reaching the goal looks like physically). Entries ``chgnet,scale=<S>``.

Perov-5 heat of formation (``--dataset perov_5``):

    python benchmarks/targets/targets_guidance.py predictors --dataset perov_5
    python benchmarks/targets/targets_guidance.py run --dataset perov_5 --guide cfg --scale W
    python benchmarks/targets/targets_guidance.py run --dataset perov_5 --scale S

The generator is the bundled ``perov5-dng`` (de novo, trained on ``runs/perov_5/train.csv`` and
conditioned on ``heat_ref`` with classifier-free condition dropout). ``predictors`` trains only
the judge (``runs/perov5-judge``, name ``perov5judge``, on ``runs/perov_5/test.csv``): the guide
is the bundled predictor ``perov5-heat`` (target ``perov5-heat_ref``), trained on the
generator's split. Two kinds of guidance toward V (eV/atom) are compared with the unguided set:
``--guide cfg`` asks the model's own condition (``--target heat_ref=V --guidance-scale W``,
classifier-free guidance of weight W; entries ``cfg,scale=<W>``), and ``--guide clean`` steers
by the bundled predictor's gradient (``--target perov5-heat_ref=V --gradient-scale S``; entries
``scale=<S>``). Results: ``benchmarks/targets/results/perov5-heat-guidance.json`` and
``perov5-heat-guidance-[cfg-]scale<S>.png``; every guided set is kept as
``runs/perov5-heat-guidance-<guide>-scale<S>-n<N>-s<steps>-seed<seed>.csv``.

The weight W is chosen on validation draws and reported on held-out ones (``select-report``):

    python benchmarks/targets/targets_guidance.py predictors --dataset perov_5 --role judge --role vjudge
    python benchmarks/targets/targets_guidance.py select-report --num 64 --steps 200 --quantile 0.1 \\
        --dataset perov_5 --guide cfg

``--role vjudge`` trains a second judge with the judge's config on ``runs/perov_5/val.csv`` (the
rows of the generator's split that its training held out for validation, ``crystals_csp.py
val_split``; no material of ``test.csv``), name ``perov5vjudge``. ``select-report`` first draws,
with the selection seed 100 (``--selection-seed``; no reported figure uses it), the guided set of
every W of ``--scales`` (default 0, 1, 3, 6) and the unguided set once, scores them by the
validation judge (entries ``cfg,scale=<W>,seed=100,judge=vjudge``; key ``judge = "vjudge"``) and
picks W by :data:`SELECTION_RULE`: among the weights whose validity stays within 2 points of the
unguided set's, the lowest guided mean |judged − goal|. The guided distance rather than the
unguided/guided ratio, since all candidates share the one unguided set (the ratio orders them
alike) and the distance is what is asked for, free of that set's noise. The choice is recorded
(key ``action = "select"``). Then, at the chosen W, a guided and an unguided set for each of the
seeds 0, 1, 2 (``--seeds``), scored by the held-out judge (entries ``cfg,scale=<W>[,seed=<S>]``,
key ``judge = "judge"``), and their mean and sample sd of the ratio, the guided and unguided
distances and the validity change (key ``action = "report"``, which README quotes).
``--phase select`` only chooses; ``--phase report`` reports at the latest recorded choice.

The same for Carbon-24 energy with the energy-conditioned generator ``carbon24-dng-energy``, every
guided set drawn 4 times over and the best 64 of 256 kept by the guide (``--oversample 4``):

    python benchmarks/targets/targets_guidance.py predictors --role guide --role judge --role vjudge
    python benchmarks/targets/targets_guidance.py select-report --num 64 --steps 200 --quantile 0.1 \\
        --generator carbon24-dng-energy --guide cfg --oversample 4 --scales 0 --scales 1 --scales 3

(validation judge ``carbon24vjudge`` on ``runs/carbon_24/val.csv``; the keys of the choice and of
the report carry ``oversample``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, NamedTuple

sys.path[:0] = [str(Path(__file__).resolve().parent),  # this folder's scripts
                str(Path(__file__).resolve().parents[1]),  # the benchmarks' shared helpers
                str(Path(__file__).resolve().parents[1] / "crystals")]  # crystals_csp
from _provenance import Run, bundled, entries, label, latest, record  # noqa: E402
from _figures import dig  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "runs"
RESULTS = Path(__file__).resolve().parent / "results"

csv.field_size_limit(sys.maxsize)

CONFIG = """# written by benchmarks/targets/targets_guidance.py
[data]
domain = "crystals"
source = "{source}"
val_fraction = 0.1
batch_size = 32

[model]
hidden = 96
layers = 3

[training]
max_steps = {steps}
lr = 1e-3
warmup_steps = 100
val_every = 250
log_every = 100
out_dir = "{out}"

[predictor]
properties = ["{column}"]
ensemble = 3
name = "{name}"
"""

DEFAULT_PREDICTOR_STEPS = 3000
DEFAULT_QUANTILE = 0.1                 # the goal: this quantile of the training split's values


class Spec(NamedTuple):
    """What one dataset's benchmark uses: its generator, property and predictors."""

    dataset: str                   # runs/<dataset>/{train,test}.csv (benchmarks/crystals/crystals_csp.py split)
    tag: str                       # predictors: runs/<tag>-<role>, named <tag><role>
    generator: str                 # bundled checkpoint
    column: str                    # the property (a CSV column)
    unit: str
    name: str                      # results: benchmarks/targets/results/<name>.json, runs/<name>-*.csv
    bundled_guide: str | None = None   # a registered target that guides --guide clean (else the trained guide)
    bundled_guide_about: str = ""
    default_roles: tuple[str, ...] = ("guide", "judge")
    keep_guided: bool = False      # one guided file per guide and scale (else one per guide, overwritten)
    conditioned: bool = False      # the generator is conditioned on ``column`` (--guide cfg)
    other_generator: bool = False  # --generator: not the dataset's default generator

    def with_generator(self, generator: str) -> "Spec":
        """The spec for another generator of the same dataset, conditioned on ``column`` (its
        own results file, ``<name>-<generator>.json``, and its own unguided set)."""
        return self._replace(generator=generator, conditioned=True, name=f"{self.name}-{generator}",
                             keep_guided=True, other_generator=True)

    def predictor_name(self, role: str) -> str:
        return f"{self.tag}{role}"

    def role_dir(self, role: str) -> Path:
        return RUNS / f"{self.tag}-{role}"

    def predictor_file(self, role: str) -> Path:
        return self.role_dir(role) / "predictor.pt"

    def target(self, role: str) -> str:
        """The target name under which the predictor of ``role`` scores ``column``."""
        return f"{self.predictor_name(role)}-{self.column}"

    @property
    def judge_column(self) -> str:
        return self.judged_column("judge")

    def judged_column(self, role: str) -> str:
        """The CSV column in which the predictor of ``role`` (a judge) scores a generated set."""
        return f"judged_{self.target(role)}"

    @property
    def cli_flag(self) -> str:
        return (("" if self.dataset == "carbon_24" else f" --dataset {self.dataset}")
                + (f" --generator {self.generator}" if self.other_generator else ""))


SPECS = {
    "carbon_24": Spec("carbon_24", "carbon24", "carbon24-dng", "energy_per_atom", "eV/atom",
                      "carbon24-energy-guidance"),
    "perov_5": Spec("perov_5", "perov5", "perov5-dng", "heat_ref", "eV/atom", "perov5-heat-guidance",
                    bundled_guide="perov5-heat_ref",
                    bundled_guide_about="the bundled predictor perov5-heat (16-member cross-validated GNN "
                                        "ensemble on the residual of a CHGNet baseline, trained on "
                                        "runs/perov_5/train.csv, the generator's split; the entries "
                                        "measured before it name the 3-member one it replaced)",
                    default_roles=("judge",), keep_guided=True, conditioned=True),
}

#: --guide -> the kind of guidance
GUIDES = ("clean", "noisy", "cfg", "chgnet")
#: the physical guide of --guide chgnet
CHGNET_TARGET = "crystals-chgnet_energy"


@contextlib.contextmanager
def threads(n: int = 1) -> Iterator[None]:
    """Torch on ``n`` CPU threads inside the block (the benchmarks' timings were taken with
    ``OMP_NUM_THREADS=1``)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_predictor_file(config: Path) -> Path:
    """Train the predictor ``config`` describes, as ``graphdiff predictor train CONFIG -q`` does
    (:func:`graphdiff.predictors.train_predictor`); prints the calibration, returns the file."""
    from graphdiff.config import check_registered_names
    from graphdiff.predictors import load_predictor_config, train_predictor

    cfg = load_predictor_config(config)
    check_registered_names(cfg, config)
    with threads(1):
        path, report = train_predictor(cfg, progress=False, log=lambda s: print(s, file=sys.stderr))
    print(f"predictor: {path}; trained {report['ensemble']} member(s) on {report['num_train']} item(s)"
          + (f", skipped {report['num_skipped']}" if report["num_skipped"] else ""))
    for prop, r in report["properties"].items():
        if r.get("n"):
            print(f"  {prop}: n={r['n']}  MAE {r['mae']:.4g}  R2 {r['r2']:.3f}")
    return path


def write_samples(chunks: Iterable[Any], domain: Any, path: Path, *, de_novo: bool,
                  notes: list[str] | None = None) -> tuple[list[dict], Any]:
    """Write the :class:`graphdiff.Samples` chunks of ``sample_iter``/``complete_iter`` to ``path``
    as ``graphdiff sample --out`` does (:class:`graphdiff.graphio.GraphSink` with the domain's
    per-item description; de novo items numbered in order). Returns every item's info and the
    closed sink; ``notes`` receives a line per ``oversample`` selection."""
    from graphdiff.graphio import GraphSink

    sink = GraphSink(path, domain, describe=True)
    infos: list[dict] = []
    for chunk in chunks:
        graphs, ids, extra, objs = chunk.in_order()
        if de_novo:
            ids = [str(sink.next_index + j) for j in range(len(graphs))]
        sink.write(graphs, ids=ids, extra=extra if any(extra) else None, objs=objs)
        infos += chunk.info
        sel = getattr(chunk, "selection", None)
        if sel and notes is not None:
            notes.append(f"kept {sel['kept']} of {sel['drawn']} samples that best meet the requests "
                         f"(largest kept shortfall {sel['largest_shortfall']:.4g})")
    sink.close()
    if sink.skip_summary():
        print(sink.skip_summary(), file=sys.stderr)
    return infos, sink


def sample_file(generator: str, path: Path, num: int, *, predictors: Iterable[Path] = (),
                **options: Any) -> tuple[list[dict], list[str]]:
    """``num`` items de novo from ``generator`` (``graphdiff.load(generator).sample_iter``, on one
    CPU thread, no progress bar) written to ``path``; ``predictors``: predictor files whose
    properties become targets (``graphdiff sample --predictor``). Returns every item's info and
    the lines that say how far the items are from each request and what each judge found."""
    import graphdiff
    from graphdiff.api import request_report
    from graphdiff.predictors import register_predictor

    model = graphdiff.load(generator)
    for p in predictors:
        register_predictor(p)
    t0 = time.perf_counter()
    lines: list[str] = []
    with threads(1):
        infos, sink = write_samples(model.sample_iter(num, progress=False, **options), model.domain, path,
                                    de_novo=True, notes=lines)
    dt = time.perf_counter() - t0
    lines += [f"wrote {sink.written} graphs to {path} in {dt:.1f} s ({sink.count / max(dt, 1e-9):.2f} graphs/s)"]
    return infos, lines + request_report(model, infos, options.get("targets") or [], options.get("judges") or [])


#: role -> (split it is trained on, extra [predictor] lines; {generator} is the spec's generator).
#: ``judge`` scores the reported figures; ``vjudge``, the same config on the validation rows
#: (``val.csv``: rows of the training split that training held out, disjoint from ``test.csv``),
#: scores the draws a setting is chosen on (``select-report``), so the choice never sees a test row.
ROLES = {"guide": ("train", ""), "judge": ("test", ""), "vjudge": ("val", ""),
         "tguide": ("train", 'noisy = true\nprocesses_from = "{generator}"\n')}
#: the judges (the predictors that score a generated set) and what each split is to the generator
JUDGES = {"judge": "held out from the generator and the guide",
          "vjudge": "the validation rows of the generator's split (crystals_csp.py val_split), never a test "
                    "row; it scores the draws a guidance weight is chosen on"}


def predictor_config(spec: Spec, role: str, steps: int) -> str:
    """The ``graphdiff predictor train`` config of ``role`` for ``spec``."""
    split, extra = ROLES[role]
    out = spec.role_dir(role)
    return CONFIG.format(source=RUNS / spec.dataset / f"{split}.csv", steps=steps, out=out,
                         column=spec.column, name=spec.predictor_name(role)) + extra.format(generator=spec.generator)


def predictors(steps: int, roles: list[str], spec: Spec = SPECS["carbon_24"]) -> None:
    if not (RUNS / spec.dataset / "train.csv").exists():
        from crystals_csp import split

        split(spec.dataset)
    for role in roles:
        out = spec.role_dir(role)
        out.mkdir(parents=True, exist_ok=True)
        cfg = out / "predictor.toml"
        cfg.write_text(predictor_config(spec, role, steps))
        t0 = time.perf_counter()
        train_predictor_file(cfg)
        print(f"{spec.predictor_name(role)}: trained in {time.perf_counter() - t0:.0f} s")


def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _floats(rows: list[dict], column: str) -> list[float]:
    """The numbers of ``column`` (rows without one are left out)."""
    return [float(r[column]) for r in rows if r.get(column) not in (None, "", "nan")]


def _values(path: Path, column: str) -> list[float]:
    return _floats(_rows(path), column)


def _mean(values: list[float]) -> float:
    """The mean, NaN for none (no generated item the judge could score)."""
    return statistics.fmean(values) if values else float("nan")


def goal_value(values: list[float], quantile: float) -> float:
    """The ``quantile`` of ``values`` (the lower of the two neighbours, no interpolation)."""
    vals = sorted(values)
    return vals[int(quantile * (len(vals) - 1))]


def variant(oversample: float = 1.0, corrector: int = 0, also: tuple[str, ...] = (),
            fields: tuple[str, ...] = (), quantile: float = DEFAULT_QUANTILE) -> str:
    """The suffix of a run's entry for its sampling options and its goal (empty for the defaults)."""
    return ((f",oversample={oversample:g}" if oversample != 1.0 else "")
            + (f",corrector={corrector}" if corrector else "")
            + "".join(f",also={a}" for a in also)
            + (f",fields={'+'.join(fields)}" if fields else "")
            + (f",quantile={quantile:g}" if quantile != DEFAULT_QUANTILE else ""))


def _file_suffix(oversample: float, corrector: int, also: tuple[str, ...], fields: tuple[str, ...] = (),
                 quantile: float = DEFAULT_QUANTILE) -> str:
    """``variant`` for file names: ``-oversample4-corrector1-also1`` (requests are numbered
    by a short digest, since they hold ``<``, ``=`` and ``@``)."""
    import hashlib

    out = (variant(oversample, corrector, fields=fields, quantile=quantile)
           .replace(",", "-").replace("=", "").replace("+", "-"))
    if also:
        out += "-also" + hashlib.sha1("|".join(also).encode()).hexdigest()[:6]
    return out


def entry_key(reading: str, scale: float, oversample: float = 1.0, corrector: int = 0,
              also: tuple[str, ...] = (), fields: tuple[str, ...] = (), seed: int = 0,
              quantile: float = DEFAULT_QUANTILE, judge: str = "judge") -> str:
    """The results entry of a run: ``scale=S`` (clean), ``noisy,scale=S``, ``cfg,scale=W``, then
    ``,oversample=F``, ``,corrector=C``, ``,also=REQUEST``, ``,quantile=Q`` (a goal other than the
    default quantile), ``,seed=N`` (seed other than 0) and ``,judge=ROLE`` (a judge other than the
    held-out one) where those are set, so a repeat with another goal, seed or judge sits beside the
    first."""
    return (f"{'' if reading == 'clean' else reading + ','}scale={scale:g}"
            + variant(oversample, corrector, also, fields, quantile) + (f",seed={seed}" if seed else "")
            + (f",judge={judge}" if judge != "judge" else ""))


def results_key(spec: Spec, reading: str, scale: float, num: int, steps: int, seed: int,
                oversample: float = 1.0, corrector: int = 0, also: tuple[str, ...] = (),
                fields: tuple[str, ...] = (), quantile: float = DEFAULT_QUANTILE, judge: str = "judge") -> dict:
    """The key of a run's entry in the results file: every setting that changes its figures,
    the judge's role and the seed included (a selection draw never shares an entry with a
    reported one)."""
    return {"dataset": spec.dataset, "generator": spec.generator, "guide": reading, "scale": scale,
            "oversample": oversample, "corrector_steps": corrector, "also": list(also), "guide_fields": list(fields),
            "quantile": quantile, "num": num, "steps": steps, "seed": seed, "judge": judge}


def unguided_csv(spec: Spec, num: int, steps: int, seed: int) -> Path:
    return RUNS / f"{spec.name}-unguided-n{num}-s{steps}-seed{seed}.csv"


def guided_csv(spec: Spec, reading: str, scale: float, num: int, steps: int, seed: int,
               oversample: float = 1.0, corrector: int = 0, also: tuple[str, ...] = (),
               fields: tuple[str, ...] = (), quantile: float = DEFAULT_QUANTILE) -> Path:
    extra = _file_suffix(oversample, corrector, also, fields, quantile)
    if not spec.keep_guided and not extra:
        return RUNS / f"{spec.name}-{'' if reading == 'clean' else reading + '-'}guided.csv"
    return RUNS / f"{spec.name}-{reading}-scale{scale:g}{extra}-n{num}-s{steps}-seed{seed}.csv"


def plot_path(spec: Spec, reading: str, scale: float, oversample: float = 1.0, corrector: int = 0,
              also: tuple[str, ...] = (), fields: tuple[str, ...] = (), seed: int = 0,
              quantile: float = DEFAULT_QUANTILE, judge: str = "judge") -> Path:
    extra = (_file_suffix(oversample, corrector, also, fields, quantile) + (f"-seed{seed}" if seed else "")
             + (f"-{judge}" if judge != "judge" else ""))
    return RESULTS / f"{spec.name}-{'' if reading == 'clean' else reading + '-'}scale{scale:g}{extra}.png"


def guide_role(spec: Spec, reading: str) -> str | None:
    """The trained predictor that guides (``None``: the model's condition or a registered target)."""
    if reading in ("cfg", "chgnet") or (reading == "clean" and spec.bundled_guide):
        return None
    return "guide" if reading == "clean" else "tguide"


def guide_target(spec: Spec, reading: str) -> str:
    """The name ``--target NAME=V`` asks for."""
    if reading == "cfg":
        return spec.column
    if reading == "chgnet":
        return CHGNET_TARGET
    role = guide_role(spec, reading)
    return spec.bundled_guide if role is None else spec.target(role)


def guided_request(spec: Spec, reading: str, goal: float, scale: float, oversample: float = 1.0,
                   corrector: int = 0, also: tuple[str, ...] = (), fields: tuple[str, ...] = ()
                   ) -> list[tuple[str, Any]]:
    """The request of the guided set as ``(option, value)`` pairs, in the order of the
    ``graphdiff sample`` flags that say the same (:func:`guided_args`): ``predictor`` (a file
    whose properties become targets), ``target`` (repeated), ``guidance_scale``,
    ``gradient_scale``, ``guidance_mode``, ``oversample``, ``corrector_steps``, ``guide_fields``
    (repeated); :func:`sample_options` makes them ``Model.sample`` arguments. ``--guide chgnet``:
    ``goal`` is the CHGNet energy to stay under."""
    op = "<=" if reading == "chgnet" else "="
    target = [("target", f"{guide_target(spec, reading)}{op}{goal}")] + [("target", a) for a in also]
    extra = (([("oversample", oversample)] if oversample != 1.0 else [])
             + ([("corrector_steps", corrector)] if corrector else [])
             + [("guide_fields", f) for f in fields])
    if reading == "cfg":
        return target + [("guidance_scale", scale)] + selection_request(spec, goal, oversample) + extra
    return predictor_request(spec, guide_role(spec, reading)) + target + [
        ("gradient_scale", scale), ("guidance_mode", "clean" if reading == "chgnet" else reading)] + extra


def guided_args(spec: Spec, reading: str, goal: float, scale: float, oversample: float = 1.0,
                corrector: int = 0, also: tuple[str, ...] = (), fields: tuple[str, ...] = ()) -> list[str]:
    """The guided set's request (:func:`guided_request`) as ``graphdiff sample`` flags: how to
    draw the same set from the command line."""
    out: list[str] = []
    for name, value in guided_request(spec, reading, goal, scale, oversample, corrector, also, fields):
        out += [f"--{name.replace('_', '-')}", f"{value:g}" if name == "oversample" else str(value)]
    return out


def sample_options(request: list[tuple[str, Any]]) -> tuple[dict[str, Any], list[Path]]:
    """``(Model.sample keyword arguments, predictor files to register)`` of a :func:`guided_request`."""
    opts: dict[str, Any] = {}
    files: list[Path] = []
    for name, value in request:
        if name == "predictor":
            files.append(Path(value))
        elif name in ("target", "guide_fields"):
            opts.setdefault("targets" if name == "target" else name, []).append(value)
        else:
            opts[name] = float(value) if name in ("guidance_scale", "gradient_scale", "oversample") else value
    return opts, files


def predictor_request(spec: Spec, role: str | None) -> list[tuple[str, Any]]:
    """The trained predictor file of ``role`` (none for a registered target)."""
    return [] if role is None else [("predictor", spec.predictor_file(role))]


def selection_request(spec: Spec, goal: float, oversample: float) -> list[tuple[str, Any]]:
    """``--guide cfg --oversample F``: the model's condition steers every draw, and the guide of
    ``--guide clean`` (no gradient: gradient scale 0) keeps the ``--num`` it puts nearest the
    goal."""
    if oversample == 1.0:
        return []
    return (predictor_request(spec, guide_role(spec, "clean"))
            + [("target", f"{guide_target(spec, 'clean')}={goal}"), ("gradient_scale", 0)])


def keeping_files(spec: Spec, reading: str, oversample: float) -> list[Path]:
    """The predictor file that keeps the best of an oversampled ``--guide cfg`` set (none else)."""
    return [Path(v) for n, v in (selection_request(spec, 0.0, oversample) if reading == "cfg" else [])
            if n == "predictor"]


def run_command(spec: Spec, num: int, steps: int, quantile: float, scale: float, seed: int, reading: str,
                oversample: float = 1.0, corrector: int = 0, also: tuple[str, ...] = (),
                fields: tuple[str, ...] = (), judge: str = "judge") -> str:
    return (f"python benchmarks/targets/targets_guidance.py run --num {num} --steps {steps} --quantile {quantile} "
            f"--scale {scale} --seed {seed}" + spec.cli_flag + ("" if reading == "clean" else f" --guide {reading}")
            + (f" --oversample {oversample:g}" if oversample != 1.0 else "")
            + (f" --corrector-steps {corrector}" if corrector else "")
            + "".join(f" --also '{a}'" for a in also)
            + "".join(f" --guide-fields {f}" for f in fields)
            + (f" --judge-role {judge}" if judge != "judge" else ""))


def predictors_command(spec: Spec, reading: str, steps: int = DEFAULT_PREDICTOR_STEPS, judge: str = "judge") -> str:
    return ("python benchmarks/targets/targets_guidance.py predictors" + spec.cli_flag
            + ("" if steps == DEFAULT_PREDICTOR_STEPS else f" --predictor-steps {steps}")
            + (" --role tguide" if reading == "noisy" else "")
            + (f" --role {judge}" if judge != "judge" else ""))


def guide_description(spec: Spec, reading: str, oversample: float = 1.0) -> str:
    split = f"runs/{spec.dataset}/train.csv"
    if reading == "cfg":
        return (f"classifier-free guidance by {spec.generator}'s own {spec.column} condition "
                "(--guidance-scale = the weight w)"
                + ("" if oversample == 1.0 else
                   f"; of {oversample:g}x --num guided draws, the --num that {guide_target(spec, 'clean')} "
                   "(no gradient) puts nearest the goal are kept"))
    if reading == "chgnet":
        return (f"CHGNet's energy of the clean estimate ({CHGNET_TARGET}, differentiable), asked to be at "
                "most the median CHGNet energy of the training structures within 0.01 of the goal "
                "(no learned predictor of the property)")
    if reading == "clean" and spec.bundled_guide:
        return spec.bundled_guide_about
    if reading == "clean":
        return f"GNN ensemble trained on {split} (the generator's split)"
    return (f"time-aware GNN ensemble (noisy = true, processes_from = {spec.generator}) trained on "
            f"{split} (the generator's split), reading the noisy states")


def _trained_steps(spec: Spec, role: str) -> int:
    import tomllib

    cfg = spec.role_dir(role) / "predictor.toml"
    try:
        return int(tomllib.loads(cfg.read_text())["training"]["max_steps"])
    except (OSError, KeyError, ValueError):
        return DEFAULT_PREDICTOR_STEPS


def run(num: int, steps: int, quantile: float, scale: float, seed: int, reading: str = "clean",
        spec: Spec = SPECS["carbon_24"], oversample: float = 1.0, corrector: int = 0,
        also: tuple[str, ...] = (), fields: tuple[str, ...] = (), judge_role: str = "judge") -> dict:
    """One guided set and the unguided set of the same seed, scored by the judge ``judge_role``
    (``judge``: the held-out one; ``vjudge``: the validation one, for choosing a setting)."""
    if reading not in GUIDES or (reading == "cfg" and not spec.conditioned):
        raise ValueError(f"--guide {reading!r}: one of {GUIDES} (cfg for a conditioned generator)")
    if judge_role not in JUDGES:
        raise ValueError(f"judge {judge_role!r}: one of {sorted(JUDGES)}")
    role = guide_role(spec, reading)
    judge = spec.predictor_file(judge_role)
    judge_split = RUNS / spec.dataset / f"{ROLES[judge_role][0]}.csv"
    judge_column = spec.judged_column(judge_role)
    run_ = Run(seeds={"seed": seed}, data=[RUNS / spec.dataset / "train.csv", judge_split, judge,
                                           bundled(spec.generator),
                                           spec.predictor_file(role) if role else None,
                                           *keeping_files(spec, reading, oversample),
                                           (bundled(spec.bundled_guide.rsplit("-", 1)[0])
                                            if spec.bundled_guide else None)])
    train_vals = _values(RUNS / spec.dataset / "train.csv", spec.column)
    goal = goal_value(train_vals, quantile)
    gtarget = guide_target(spec, reading)
    at_goal = _at_goal(spec, goal) if spec.dataset == "carbon_24" or reading == "chgnet" else None
    request = at_goal["chgnet_energy_median"] if reading == "chgnet" else goal
    out = {}
    for mode in ("unguided", "guided"):
        # the unguided set of these settings is sampled once, whatever the guide
        gen = (guided_csv(spec, reading, scale, num, steps, seed, oversample, corrector, also, fields, quantile)
               if mode == "guided"
               else unguided_csv(spec, num, steps, seed))
        opts, files = (sample_options(guided_request(spec, reading, request, scale, oversample, corrector, also,
                                                     fields)) if mode == "guided" else ({}, []))
        t0 = time.perf_counter()
        # (reused only when its rows carry this judge's column: the judge scores a set as it is drawn)
        reused = mode == "unguided" and gen.exists() and _has_column(gen, judge_column)
        lines = None if reused else sample_file(spec.generator, gen, num, steps=steps, seed=seed,
                                                judges=[str(judge)], predictors=files, **opts)[1]
        seconds = time.perf_counter() - t0
        run_.add_data(gen)
        rows = _rows(gen)
        judged = _floats(rows, judge_column)
        valid, density, chgnet = _validity(gen, len(rows), chgnet=True)
        out[mode] = {
            "num": len(rows), "judged_n": len(judged), "file": str(gen.relative_to(ROOT)),
            "mae_to_goal": _mean([abs(v - goal) for v in judged]),
            "judged_mean": _mean(judged), "judged_median": statistics.median(judged) if judged else float("nan"),
            "structural_validity": valid, "density_mean": density, "chgnet_energy_median": chgnet,
            "seconds": None if reused else round(seconds, 1),
            "guide_values_mean": (_mean(_floats(rows, gtarget if reading != "cfg" else guide_target(spec, "clean")))
                                  if mode == "guided" and (reading != "cfg" or oversample != 1.0) else None),
            "cli_output": lines[-3:] if lines is not None else "reused",
        }
    judge_meta = json.loads((spec.role_dir(judge_role) / "calibration.json").read_text())
    result = {
        "dataset": spec.dataset, "generator": spec.generator, "property": f"{spec.column} ({spec.unit})",
        "goal": goal, "goal_quantile_of_train": quantile, "num": num, "steps": steps, "seed": seed,
        "gradient_scale": None if reading == "cfg" else scale,
        **({"guidance_scale": scale} if reading == "cfg" else {}),
        "guidance_reading": reading,
        "oversample": oversample, "corrector_steps": corrector, "also": list(also),
        "guide_fields": list(fields),
        "guide": guide_description(spec, reading, oversample),
        "judge": f"GNN ensemble trained on runs/{spec.dataset}/{ROLES[judge_role][0]}.csv ({JUDGES[judge_role]})",
        "judge_role": judge_role,
        "judge_validation_mae": judge_meta["properties"][spec.column].get("mae"),
        "train_std": statistics.pstdev(train_vals),
        "train_density_mean": _validity(RUNS / spec.dataset / "train.csv", 1)[1],
        **({"goal_structures": at_goal} if at_goal is not None else {}),
        **({"guide_request": f"{gtarget}<={request}"} if reading == "chgnet" else {}),
        **out,
        "mae_ratio_unguided_over_guided": out["unguided"]["mae_to_goal"] / max(out["guided"]["mae_to_goal"], 1e-12),
        "validity_change_points": 100 * (out["guided"]["structural_validity"] - out["unguided"]["structural_validity"]),
        "command": run_command(spec, num, steps, quantile, scale, seed, reading, oversample, corrector, also,
                               fields, judge_role),
        "predictors_command": predictors_command(spec, reading, _trained_steps(spec, judge_role), judge_role),
    }
    result["entry"] = entry_key(reading, scale, oversample, corrector, also, fields, seed, quantile, judge_role)
    key = results_key(spec, reading, scale, num, steps, seed, oversample, corrector, also, fields, quantile,
                      judge_role)
    record(RESULTS / f"{spec.name}.json", key, result, run_)
    _plot(result, goal, spec)
    print(json.dumps({k: v for k, v in result.items() if k not in ("unguided", "guided")}, indent=2))
    return result


#: ``select-report``: the weights of classifier-free guidance chosen among, the seed of the draws
#: the choice is made on (no reported figure uses it) and the seeds of the reported figures
SELECT_SCALES = (0.0, 1.0, 3.0, 6.0)
SELECTION_SEED = 100
REPORT_SEEDS = (0, 1, 2)
#: the most a chosen weight may lower structural validity, in points (README's target)
MAX_VALIDITY_DROP = 2.0
SELECTION_RULE = (f"among the weights whose guided structural validity is at most {MAX_VALIDITY_DROP:g} points below "
                  "the unguided set's (all of them when none is), the lowest guided mean |judged - goal| by the "
                  "validation judge; a tie goes to the smaller weight")


def choose_scale(candidates: dict[float, dict]) -> float:
    """The weight :data:`SELECTION_RULE` picks from ``{weight: run result}`` (``mae_to_goal`` of
    the guided set, ``validity_change_points``). The guided distance, not the unguided/guided ratio:
    every candidate shares the unguided set of the selection seed, so the two order the weights
    alike, and the distance does not carry the noise of one unguided draw."""
    if not candidates:
        raise ValueError("no candidate weight")

    def mae(w: float) -> float:
        v = candidates[w]["guided"]["mae_to_goal"]
        return float("inf") if v != v else v  # no judged item: never chosen over a judged set

    ok = [w for w, r in candidates.items() if r["validity_change_points"] >= -MAX_VALIDITY_DROP] or list(candidates)
    return min(ok, key=lambda w: (mae(w), w))


def _oversample_key(oversample: float) -> dict:
    """``oversample`` in a choice's or a report's key where it is set (the keys of sets drawn
    without it stay as they were recorded)."""
    return {} if oversample == 1.0 else {"oversample": float(oversample)}


def selection_key(spec: Spec, reading: str, scales: Iterable[float], num: int, steps: int, seed: int,
                  quantile: float = DEFAULT_QUANTILE, oversample: float = 1.0) -> dict:
    """The entry of a choice among ``scales``: drawn with ``seed``, scored by the validation judge."""
    return {"dataset": spec.dataset, "generator": spec.generator, "guide": reading, "action": "select",
            "scales": [float(w) for w in scales], "quantile": quantile, "num": num, "steps": steps, "seed": seed,
            "judge": "vjudge", **_oversample_key(oversample)}


def report_key(spec: Spec, reading: str, scales: Iterable[float], num: int, steps: int, seeds: Iterable[int],
               selection_seed: int, quantile: float = DEFAULT_QUANTILE, oversample: float = 1.0) -> dict:
    """The entry of the figures reported at the chosen weight: the held-out judge over ``seeds``
    (the weight itself is a result, so it is not part of the key)."""
    return {"dataset": spec.dataset, "generator": spec.generator, "guide": reading, "action": "report",
            "scales": [float(w) for w in scales], "quantile": quantile, "num": num, "steps": steps,
            "seeds": [int(s) for s in seeds], "selection_seed": selection_seed, "judge": "judge",
            **_oversample_key(oversample)}


#: the figures of a run that ``over_seeds`` summarises, by name: their path in the run's result
SEED_FIGURES = {"ratio": "mae_ratio_unguided_over_guided", "guided_mae": "guided/mae_to_goal",
                "unguided_mae": "unguided/mae_to_goal", "validity_change_points": "validity_change_points",
                "guided_validity": "guided/structural_validity", "unguided_validity": "unguided/structural_validity"}


def over_seeds(results: list[dict]) -> dict:
    """Mean and sample sd (n - 1) of each :data:`SEED_FIGURES` over the runs of several seeds."""
    out = {}
    for name, path in SEED_FIGURES.items():
        vals = [float(dig(r, path, f"seed {r.get('seed')}")) for r in results]
        out[name] = {"mean": statistics.fmean(vals), "sd": statistics.stdev(vals) if len(vals) > 1 else None,
                     "values": vals}
    return out


def _brief(result: dict) -> dict:
    """A run's figures as a selection or report entry repeats them."""
    return {"scale": result.get("guidance_scale", result.get("gradient_scale")), "seed": result["seed"],
            "entry": result["entry"], "judge_role": result["judge_role"],
            **{name: dig(result, path, result["entry"]) for name, path in SEED_FIGURES.items()},
            **{f"{mode}_{name}": result[mode].get(name) for mode in ("guided", "unguided")
               for name in ("density_mean", "chgnet_energy_median")},
            "guided_seconds": result["guided"]["seconds"], "unguided_seconds": result["unguided"]["seconds"]}


def select_report_command(spec: Spec, reading: str, scales: Iterable[float], num: int, steps: int,
                          quantile: float, selection_seed: int, seeds: Iterable[int], phase: str = "both",
                          oversample: float = 1.0) -> str:
    return (f"python benchmarks/targets/targets_guidance.py select-report --num {num} --steps {steps} "
            f"--quantile {quantile}" + spec.cli_flag + f" --guide {reading}"
            + (f" --oversample {oversample:g}" if oversample != 1.0 else "")
            + ("" if tuple(scales) == SELECT_SCALES else "".join(f" --scales {w:g}" for w in scales))
            + ("" if selection_seed == SELECTION_SEED else f" --selection-seed {selection_seed}")
            + ("" if tuple(seeds) == REPORT_SEEDS else "".join(f" --seeds {s}" for s in seeds))
            + ("" if phase == "both" else f" --phase {phase}"))


def select_report(spec: Spec, reading: str = "cfg", scales: Iterable[float] = SELECT_SCALES,
                  selection_seed: int = SELECTION_SEED, seeds: Iterable[int] = REPORT_SEEDS, num: int = 64,
                  steps: int = 200, quantile: float = DEFAULT_QUANTILE, phase: str = "both",
                  oversample: float = 1.0) -> dict:
    """Choose the weight on validation draws, report it on held-out ones (every set drawn with
    ``oversample``, as ``run --oversample``).

    ``select``: each weight of ``scales`` draws its guided set (and the unguided set once) with
    ``selection_seed``, scored by the validation judge (``vjudge``); :func:`choose_scale` picks one;
    the choice is recorded under :func:`selection_key`. ``report``: at that weight (the latest
    recorded choice when the phase runs alone), a guided and an unguided set per seed of ``seeds``,
    scored by the held-out judge; their mean and sd are recorded under :func:`report_key`."""
    scales, seeds = [float(w) for w in scales], [int(s) for s in seeds]
    if selection_seed in seeds:
        raise ValueError(f"the selection seed {selection_seed} is one of the reported seeds {seeds}")
    if phase not in ("both", "select", "report"):
        raise ValueError(f"phase {phase!r}: both, select or report")
    path = RESULTS / f"{spec.name}.json"
    skey = selection_key(spec, reading, scales, num, steps, selection_seed, quantile, oversample)
    command = select_report_command(spec, reading, scales, num, steps, quantile, selection_seed, seeds,
                                    oversample=oversample)
    if phase in ("both", "select"):
        run_ = Run(seeds={"selection_seed": selection_seed},
                   data=[RUNS / spec.dataset / "val.csv", spec.predictor_file("vjudge"), bundled(spec.generator),
                         *keeping_files(spec, reading, oversample)])
        cands = {w: run(num, steps, quantile, w, selection_seed, reading, spec, oversample, judge_role="vjudge")
                 for w in scales}
        chosen = choose_scale(cands)
        first = cands[scales[0]]
        selection = {"dataset": spec.dataset, "generator": spec.generator, "goal": first["goal"],
                     "goal_quantile_of_train": quantile,
                     "num": num, "steps": steps, "oversample": oversample, "seed": selection_seed, "scales": scales,
                     "rule": SELECTION_RULE,
                     "judge": first["judge"], "judge_role": "vjudge",
                     "judge_validation_mae": first["judge_validation_mae"],
                     "chosen_scale": chosen, "chosen": _brief(cands[chosen]),
                     "candidates": [_brief(cands[w]) for w in scales], "command": command}
        record(path, skey, selection, run_)
        print(f"chose {reading} scale {chosen:g} on seed {selection_seed} by the validation judge", file=sys.stderr)
        if phase == "select":
            return selection
    else:
        found = [e for e in entries(path, **skey) if e["key"].get("oversample", 1.0) == oversample]
        if not found:
            raise SystemExit(f"no recorded choice {skey}: run --phase select first")
        selection = latest(found[0])
        chosen = float(selection["chosen_scale"])
    run_ = Run(seeds={"seeds": seeds}, data=[RUNS / spec.dataset / "test.csv", spec.predictor_file("judge"),
                                             bundled(spec.generator), *keeping_files(spec, reading, oversample)])
    reported = [run(num, steps, quantile, chosen, s, reading, spec, oversample, judge_role="judge") for s in seeds]
    report = {"dataset": spec.dataset, "generator": spec.generator, "goal": reported[0]["goal"],
              "goal_quantile_of_train": quantile, "num": num,
              "steps": steps, "oversample": oversample, "seeds": seeds, "chosen_scale": chosen,
              "chosen_on": {"seed": selection_seed, "judge_role": "vjudge", "rule": SELECTION_RULE,
                            "candidates": selection["candidates"]},
              "judge": reported[0]["judge"], "judge_role": "judge",
              "judge_validation_mae": reported[0]["judge_validation_mae"],
              "per_seed": [_brief(r) for r in reported], **over_seeds(reported), "command": command}
    record(path, report_key(spec, reading, scales, num, steps, seeds, selection_seed, quantile, oversample),
           report, run_)
    print(json.dumps({k: report[k] for k in ("chosen_scale", *SEED_FIGURES)}, indent=2))
    return report


def _has_column(path: Path, column: str) -> bool:
    with path.open(newline="") as fh:
        return column in (next(csv.reader(fh), None) or [])


def _at_goal(spec: Spec, goal: float, width: float = 0.01) -> dict:
    """The training structures whose ``column`` lies within ``width`` of ``goal``: how many, their
    mean density and median CHGNet energy (what reaching the goal looks like)."""
    import warnings

    from graphdiff_crystals.io import read_records
    from graphdiff_crystals.targets import chgnet_energy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recs = [r["obj"] for r in read_records(RUNS / spec.dataset / "train.csv", skipped=[])
                if abs(float(r["props"][spec.column]) - goal) <= width]
        return {"width": width, "n": len(recs),
                "density_mean": statistics.fmean(float(s.density) for s in recs) if recs else None,
                "chgnet_energy_median": statistics.median(chgnet_energy(s) for s in recs) if recs else None}


def _validity(gen: Path, total: int, chgnet: bool = False) -> tuple[float, float, float | None]:
    """Structurally valid share of the ``total`` rows of ``gen`` (unreadable rows count as
    invalid), the mean mass density (g/cm³) of the rows read, and (``chgnet``) the median
    CHGNet energy of the unrelaxed structures (eV/atom; a structure too dense for CHGNet counts as
    ``inf``; a physical check the learned guide and
    judge cannot be fooled into: CDVAE's validity only asks that no two atoms be closer than
    0.5 Å, which a cell squeezed to three times a real density still passes)."""
    import warnings

    from graphdiff_crystals.io import read_records
    from graphdiff_crystals.metrics import structure_valid

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recs = list(read_records(gen, skipped=[]))
    dens = [float(r["obj"].density) for r in recs]
    energy = None
    if chgnet and recs:
        from graphdiff.errors import DataError
        from graphdiff_crystals.targets import chgnet_energy

        def score(structure) -> float:
            try:
                return chgnet_energy(structure)
            except DataError:  # squeezed beyond any solid: counted as the worst
                return float("inf")

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            energy = statistics.median(score(r["obj"]) for r in recs)
    return (sum(bool(structure_valid(r["obj"])) for r in recs) / max(total, 1),
            statistics.fmean(dens) if dens else float("nan"), energy)


def _plot(result: dict, goal: float, spec: Spec = SPECS["carbon_24"]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    for mode, color in (("unguided", "#999"), ("guided", "#2a7")):
        vals = _values(ROOT / result[mode]["file"], spec.judged_column(result.get("judge_role", "judge")))
        ax.hist(vals, bins=25, alpha=0.6, color=color,
                label=f"{mode}: mean |judged − goal| = {result[mode]['mae_to_goal']:.3f}")
    ax.axvline(goal, color="k", ls="--", lw=1, label=f"requested {goal:.3f}")
    which = "validation" if result.get("judge_role") == "vjudge" else "held-out"
    ax.set_xlabel(f"{spec.column} judged by the {which} predictor ({spec.unit})")
    ax.set_ylabel("structures")
    ax.legend(fontsize=7)
    reading = result["guidance_reading"]
    scale = result["guidance_scale"] if reading == "cfg" else result["gradient_scale"]
    kind = {"clean": "clean-estimate guidance", "noisy": "time-aware guidance",
            "cfg": "classifier-free guidance", "chgnet": "CHGNet-energy guidance"}[reading]
    extra = ((f", best {result['num']} of {result['oversample']:g}x drawn by the guide"
              if result.get("oversample", 1.0) != 1.0 else "")
             + (f", {result['corrector_steps']} corrector step(s)" if result.get("corrector_steps") else ""))
    ax.set_title(f"{kind}, scale {scale:g}{extra}", fontsize=9)
    fig.tight_layout()
    fig.savefig(plot_path(spec, reading, scale, result.get("oversample", 1.0), result.get("corrector_steps", 0),
                          tuple(result.get("also", ())), tuple(result.get("guide_fields", ())),
                          result.get("seed", 0), result.get("goal_quantile_of_train", DEFAULT_QUANTILE),
                          result.get("judge_role", "judge")), dpi=120)
    plt.close(fig)


def summary_plot(spec: Spec = SPECS["carbon_24"]) -> Path:
    """Every run of ``spec`` with densities: the mean |judged - goal| against the mean density of
    the guided set, coloured by its median CHGNet energy (what squeezed cells look like)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {e["key"].get("recorded_as") or latest(e).get("entry") or label(e["key"]): latest(e)
            for e in entries(RESULTS / f"{spec.name}.json")}
    pts = [(k, r["guided"]) for k, r in runs.items() if r["guided"].get("density_mean") is not None]
    if not pts:
        raise SystemExit(f"no run of {spec.name} records densities yet")
    unguided = next(r["unguided"] for _, r in runs.items() if r["unguided"].get("density_mean") is not None)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    energies = [g.get("chgnet_energy_median") for _, g in pts]
    finite = [e for e in energies if e is not None and e == e and abs(e) != float("inf")]
    sc = ax.scatter([g["density_mean"] for _, g in pts], [g["mae_to_goal"] for _, g in pts],
                    c=[e if e is not None and e in finite else max(finite, default=0.0) for e in energies],
                    cmap="viridis_r", s=40, edgecolor="k", lw=0.4)
    for k, g in pts:
        ax.annotate(k.replace("also=crystals-", "").replace(",", "\n", 1), (g["density_mean"], g["mae_to_goal"]),
                    fontsize=5, xytext=(3, 2), textcoords="offset points")
    ax.scatter([unguided["density_mean"]], [unguided["mae_to_goal"]], marker="*", s=160, color="#c33",
               label="unguided", zorder=3)
    goal = runs[pts[0][0]].get("goal_structures")
    if goal:
        ax.axvline(goal["density_mean"], color="#999", ls=":", lw=1,
                   label=f"training structures at the goal ({goal['density_mean']:.2f} g/cm³)")
    ax.axhline(unguided["mae_to_goal"] / 3, color="k", ls="--", lw=0.8, label="3x closer than unguided")
    fig.colorbar(sc, ax=ax, label="median CHGNet energy, unrelaxed (eV/atom)")
    ax.set_xlabel("mean density of the guided set (g/cm³)")
    ax.set_ylabel("mean |judged - goal| (eV/atom)")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    out = RESULTS / f"{spec.name}-summary.png"
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["predictors", "run", "select-report", "summary"])
    ap.add_argument("--dataset", choices=sorted(SPECS), default="carbon_24")
    ap.add_argument("--predictor-steps", type=int, default=DEFAULT_PREDICTOR_STEPS)
    ap.add_argument("--num", type=int, default=64)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--quantile", type=float, default=DEFAULT_QUANTILE)
    ap.add_argument("--scale", type=float, default=1.0,
                    help="run: the gradient scale (--guide clean/noisy) or the CFG weight w (--guide cfg)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--judge-role", choices=sorted(JUDGES), default="judge",
                    help="run: the judge that scores the sets (judge: trained on test.csv; vjudge: on val.csv)")
    ap.add_argument("--scales", type=float, action="append",
                    help=f"select-report: a weight to choose among (repeatable; default {SELECT_SCALES})")
    ap.add_argument("--selection-seed", type=int, default=SELECTION_SEED,
                    help="select-report: the seed of the draws the weight is chosen on")
    ap.add_argument("--seeds", type=int, action="append",
                    help=f"select-report: a seed of the reported figures (repeatable; default {REPORT_SEEDS})")
    ap.add_argument("--phase", choices=["both", "select", "report"], default="both",
                    help="select-report: only choose, or only report at the latest recorded choice")
    ap.add_argument("--generator", default=None,
                    help="run: another generator of the dataset (a checkpoint path or bundled name), "
                         "conditioned on the property (--guide cfg); its results go to "
                         "<name>-<generator>.json, beside its own unguided set")
    ap.add_argument("--oversample", type=float, default=1.0,
                    help="run, select-report: draw F x --num guided samples and keep the --num the guide puts nearest "
                         "the goal (graphdiff sample --oversample)")
    ap.add_argument("--corrector-steps", type=int, default=0,
                    help="run: Langevin corrector steps per reverse step in the guided set")
    ap.add_argument("--also", action="append", default=[],
                    help="run: a further --target request of the guided set (repeatable), e.g. "
                         "'crystals-density<=3.6' to keep the cells physical")
    ap.add_argument("--guide-fields", action="append", default=[],
                    help="run: gradient guidance moves only this field (repeatable; graphdiff sample --guide-fields)")
    ap.add_argument("--role", action="append", choices=sorted(ROLES),
                    help="predictors: which to train (repeatable; default guide and judge, "
                         "perov_5: judge only, its guide is bundled)")
    ap.add_argument("--guide", choices=list(GUIDES), default="clean",
                    help="run: the clean-estimate guide, the time-aware one (--role tguide), "
                         "classifier-free guidance by the model's own condition (cfg), or CHGNet's "
                         "energy (chgnet: at most the CHGNet median of the training structures at the goal)")
    a = ap.parse_args()
    spec = SPECS[a.dataset]
    if a.generator:
        spec = spec.with_generator(a.generator)
    if a.action == "predictors":
        predictors(a.predictor_steps, a.role or list(spec.default_roles), spec)
    elif a.action == "summary":
        print(summary_plot(spec))
    elif a.action == "select-report":
        if a.guide == "cfg" and not spec.conditioned:
            ap.error(f"--guide cfg: {spec.generator} is not conditioned on {spec.column}")
        select_report(spec, a.guide, a.scales or SELECT_SCALES, a.selection_seed, a.seeds or REPORT_SEEDS, a.num,
                      a.steps, a.quantile, a.phase, a.oversample)
    else:
        if a.guide == "cfg" and not spec.conditioned:
            ap.error(f"--guide cfg: {spec.generator} is not conditioned on {spec.column}")
        run(a.num, a.steps, a.quantile, a.scale, a.seed, a.guide, spec, a.oversample, a.corrector_steps,
            tuple(a.also), tuple(a.guide_fields), a.judge_role)


if __name__ == "__main__":
    main()

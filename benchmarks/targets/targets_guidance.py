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
                str(Path(__file__).resolve().parents[1])]  # the benchmarks' shared helpers
from _provenance import Run, bundled, entries, label, latest, record  # noqa: E402

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
        return f"judged_{self.target('judge')}"

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


#: role -> (split it is trained on, extra [predictor] lines; {generator} is the spec's generator)
ROLES = {"guide": ("train", ""), "judge": ("test", ""),
         "tguide": ("train", 'noisy = true\nprocesses_from = "{generator}"\n')}


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
              quantile: float = DEFAULT_QUANTILE) -> str:
    """The results entry of a run: ``scale=S`` (clean), ``noisy,scale=S``, ``cfg,scale=W``, then
    ``,oversample=F``, ``,corrector=C``, ``,also=REQUEST``, ``,quantile=Q`` (a goal other than the
    default quantile) and ``,seed=N`` (seed other than 0) where those are set, so a repeat with
    another goal or seed sits beside the first."""
    return (f"{'' if reading == 'clean' else reading + ','}scale={scale:g}"
            + variant(oversample, corrector, also, fields, quantile) + (f",seed={seed}" if seed else ""))


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
              quantile: float = DEFAULT_QUANTILE) -> Path:
    extra = _file_suffix(oversample, corrector, also, fields, quantile) + (f"-seed{seed}" if seed else "")
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


def run_command(spec: Spec, num: int, steps: int, quantile: float, scale: float, seed: int, reading: str,
                oversample: float = 1.0, corrector: int = 0, also: tuple[str, ...] = (),
                fields: tuple[str, ...] = ()) -> str:
    return (f"python benchmarks/targets/targets_guidance.py run --num {num} --steps {steps} --quantile {quantile} "
            f"--scale {scale} --seed {seed}" + spec.cli_flag + ("" if reading == "clean" else f" --guide {reading}")
            + (f" --oversample {oversample:g}" if oversample != 1.0 else "")
            + (f" --corrector-steps {corrector}" if corrector else "")
            + "".join(f" --also '{a}'" for a in also)
            + "".join(f" --guide-fields {f}" for f in fields))


def predictors_command(spec: Spec, reading: str, steps: int = DEFAULT_PREDICTOR_STEPS) -> str:
    return ("python benchmarks/targets/targets_guidance.py predictors" + spec.cli_flag
            + ("" if steps == DEFAULT_PREDICTOR_STEPS else f" --predictor-steps {steps}")
            + (" --role tguide" if reading == "noisy" else ""))


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
        also: tuple[str, ...] = (), fields: tuple[str, ...] = ()) -> dict:
    if reading not in GUIDES or (reading == "cfg" and not spec.conditioned):
        raise ValueError(f"--guide {reading!r}: one of {GUIDES} (cfg for a conditioned generator)")
    role = guide_role(spec, reading)
    judge = spec.predictor_file("judge")
    run_ = Run(seeds={"seed": seed}, data=[RUNS / spec.dataset / "train.csv", judge, bundled(spec.generator),
                                           spec.predictor_file(role) if role else None,
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
        reused = mode == "unguided" and gen.exists()
        lines = None if reused else sample_file(spec.generator, gen, num, steps=steps, seed=seed,
                                                judges=[str(judge)], predictors=files, **opts)[1]
        seconds = time.perf_counter() - t0
        run_.add_data(gen)
        rows = _rows(gen)
        judged = _floats(rows, spec.judge_column)
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
    judge_meta = json.loads((spec.role_dir("judge") / "calibration.json").read_text())
    result = {
        "dataset": spec.dataset, "generator": spec.generator, "property": f"{spec.column} ({spec.unit})",
        "goal": goal, "goal_quantile_of_train": quantile, "num": num, "steps": steps, "seed": seed,
        "gradient_scale": None if reading == "cfg" else scale,
        **({"guidance_scale": scale} if reading == "cfg" else {}),
        "guidance_reading": reading,
        "oversample": oversample, "corrector_steps": corrector, "also": list(also),
        "guide_fields": list(fields),
        "guide": guide_description(spec, reading, oversample),
        "judge": (f"GNN ensemble trained on runs/{spec.dataset}/test.csv "
                  "(held out from the generator and the guide)"),
        "judge_validation_mae": judge_meta["properties"][spec.column].get("mae"),
        "train_std": statistics.pstdev(train_vals),
        "train_density_mean": _validity(RUNS / spec.dataset / "train.csv", 1)[1],
        **({"goal_structures": at_goal} if at_goal is not None else {}),
        **({"guide_request": f"{gtarget}<={request}"} if reading == "chgnet" else {}),
        **out,
        "mae_ratio_unguided_over_guided": out["unguided"]["mae_to_goal"] / max(out["guided"]["mae_to_goal"], 1e-12),
        "validity_change_points": 100 * (out["guided"]["structural_validity"] - out["unguided"]["structural_validity"]),
        "command": run_command(spec, num, steps, quantile, scale, seed, reading, oversample, corrector, also,
                               fields),
        "predictors_command": predictors_command(spec, reading, _trained_steps(spec, "judge")),
    }
    result["entry"] = entry_key(reading, scale, oversample, corrector, also, fields, seed, quantile)
    key = {"dataset": spec.dataset, "generator": spec.generator, "guide": reading, "scale": scale,
           "oversample": oversample, "corrector_steps": corrector, "also": list(also), "guide_fields": list(fields),
           "quantile": quantile, "num": num, "steps": steps, "seed": seed}
    record(RESULTS / f"{spec.name}.json", key, result, run_)
    _plot(result, goal, spec)
    print(json.dumps({k: v for k, v in result.items() if k not in ("unguided", "guided")}, indent=2))
    return result


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
        vals = _values(ROOT / result[mode]["file"], spec.judge_column)
        ax.hist(vals, bins=25, alpha=0.6, color=color,
                label=f"{mode}: mean |judged − goal| = {result[mode]['mae_to_goal']:.3f}")
    ax.axvline(goal, color="k", ls="--", lw=1, label=f"requested {goal:.3f}")
    ax.set_xlabel(f"{spec.column} judged by the held-out predictor ({spec.unit})")
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
                          result.get("seed", 0), result.get("goal_quantile_of_train", DEFAULT_QUANTILE)), dpi=120)
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
    ap.add_argument("action", choices=["predictors", "run", "summary"])
    ap.add_argument("--dataset", choices=sorted(SPECS), default="carbon_24")
    ap.add_argument("--predictor-steps", type=int, default=DEFAULT_PREDICTOR_STEPS)
    ap.add_argument("--num", type=int, default=64)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--quantile", type=float, default=DEFAULT_QUANTILE)
    ap.add_argument("--scale", type=float, default=1.0,
                    help="run: the gradient scale (--guide clean/noisy) or the CFG weight w (--guide cfg)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--generator", default=None,
                    help="run: another generator of the dataset (a checkpoint path or bundled name), "
                         "conditioned on the property (--guide cfg); its results go to "
                         "<name>-<generator>.json, beside its own unguided set")
    ap.add_argument("--oversample", type=float, default=1.0,
                    help="run: draw F x --num guided samples and keep the --num the guide puts nearest "
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
    else:
        if a.guide == "cfg" and not spec.conditioned:
            ap.error(f"--guide cfg: {spec.generator} is not conditioned on {spec.column}")
        run(a.num, a.steps, a.quantile, a.scale, a.seed, a.guide, spec, a.oversample, a.corrector_steps,
            tuple(a.also), tuple(a.guide_fields))


if __name__ == "__main__":
    main()

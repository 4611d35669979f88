"""The conditional tasks of a model: :class:`CompletingMixin`, the part of
:class:`~graphdiff.api.model.Model` that turns inputs (crystals: formulas, compositions,
structures) into templates and completes them (crystal structure prediction, inpainting)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from graphdiff.api.checks import positive
from graphdiff.api.requests import TargetRanking, requested as _requested
from graphdiff.api.samples import Samples
from graphdiff.errors import ConfigError, DataError, GraphValidationError


class CompletingMixin:
    """Completing given fields of inputs; a part of :class:`~graphdiff.api.model.Model`."""

    def read_inputs(self, path: str | Path, *, strict: bool = False, **options: Any) -> list[dict]:
        """The records of an input file (``Domain.read_inputs``: crystals read structures, a
        ``.txt`` file of formulas or a CSV with a ``formula`` column). Rows that cannot be read
        are skipped with a warning that names them (``strict=True``: an error)."""
        skipped: list[dict[str, str]] = []
        records = list(self.domain.read_inputs(Path(path), strict=strict, skipped=skipped, **options))
        if skipped:
            first = "; ".join(f"{s['where']}: {s['reason']}" for s in skipped[:3])
            warnings.warn(f"{path}: skipped {len(skipped)} input row(s) that cannot be read: {first}"
                          + (" ..." if len(skipped) > 3 else ""), RuntimeWarning, stacklevel=2)
        if not records:
            raise DataError(f"{path}: no usable inputs" + (f" ({len(skipped)} skipped; first: "
                                                           f"{skipped[0]['where']}: {skipped[0]['reason']})"
                                                           if skipped else ""))
        return records

    def templates(self, inputs: Any, *, task: str | None = None,
                  **input_options: Any) -> tuple[list[Any], list[str], list[dict]]:
        """``(graphs, ids, records)`` of the inputs of a conditional task: each input (a path
        of an input file, or a list of what ``Domain.input_graph`` takes: crystals take
        formulas, ``Composition`` and ``Structure`` objects) as a template graph, checked for
        the task's given fields."""
        if isinstance(inputs, Path):
            items: list[Any] = self.read_inputs(inputs, **input_options)
            input_options = {k: v for k, v in input_options.items() if k not in ("strict",)}
            input_options.pop("formula_units", None)  # applied while reading
        elif isinstance(inputs, (list, tuple)):
            items = list(inputs)
        else:
            items = [inputs]
        if not items:
            raise ConfigError("no inputs: give at least one item to complete")
        fields = self.task_fields(task) + self.given
        graphs, ids, records = [], [], []
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            rid = _input_id(item, i)
            seen[rid] = seen.get(rid, 0) + 1
            rid = rid if seen[rid] == 1 else f"{rid}_{seen[rid]}"
            where = f"input {i} ({rid})" if rid != str(i) else f"input {i}"
            try:
                g = self.domain.input_graph(item, task, **input_options)
            except (DataError, GraphValidationError) as exc:
                raise DataError(f"{where}: {exc}") from None
            except Exception as exc:  # noqa: BLE001 - pymatgen/torch errors get the item named
                raise DataError(f"{where}: {self.domain.name} cannot use a {type(item).__name__} as "
                                f"an input ({type(exc).__name__}: {exc})") from None
            self.diffusion.spec.validate(g, where=where, fields=fields)
            graphs.append(g)
            ids.append(rid)
            records.append(item if isinstance(item, dict) else {"id": rid, "obj": item})
        return graphs, ids, records

    def check_unseen(self, graphs: Sequence[Any], ids: Sequence[str], fields: Sequence[str],
                     allow: bool) -> list[str]:
        """Per input, the classes the model never saw in training, joined (``""``: none). Unless
        ``allow``, any such input raises :class:`DataError` naming every one of them (up to 10)."""
        found = [", ".join(self.unseen_classes(g, fields)) for g in graphs]
        bad = [(i, ids[i], u) for i, u in enumerate(found) if u]
        if bad and not allow:
            listed = "; ".join(f"input {i} ({rid}): {u}" for i, rid, u in bad[:10])
            raise DataError(f"{len(bad)} input(s) hold classes absent from the model's training data, where its "
                            f"answers are guesses: {listed}{' ...' if len(bad) > 10 else ''} (allow_unseen=True, "
                            "or --allow-unseen, to try anyway; the candidates then carry them in 'unseen')")
        if bad:
            warnings.warn(f"{len(bad)} input(s) hold classes absent from the model's training data (first: input "
                          f"{bad[0][0]} ({bad[0][1]}): {bad[0][2]}); their candidates carry them in 'unseen'",
                          RuntimeWarning, stacklevel=3)
        return found

    def unseen_classes(self, graph: Any, fields: Sequence[str] | None = None) -> list[str]:
        """Labels of the categorical classes in ``graph`` (given or held fields) that the
        model's training data never held (crystals: elements), from the class frequencies the
        model stores (a marginal prior); empty where the model keeps no frequencies."""
        out: list[str] = []
        for name in fields if fields is not None else self.given:
            proc = self.diffusion.processes[name] if name in self.diffusion.processes else None
            if proc is None or getattr(proc, "prior_kind", None) != "marginal":
                continue
            c = proc.field.num_classes
            floor = 1e-4 / (1 + 1e-4 * c)  # what fit() gives a class absent from the data
            m = proc.m.detach().cpu()
            x = getattr(graph, name).long().view(-1).cpu()
            labels = proc.field.labels
            for k in sorted(set(x.tolist())):
                if 0 <= k < c and float(m[k]) < 1.5 * floor:
                    out.append(labels[k] if labels and k < len(labels) else f"{name} class {k}")
        return out

    def task_fields(self, task: str | None) -> list[str]:
        """The generated fields ``task`` holds to the inputs' values (a de novo model completing
        given fields, e.g. CSP by inpainting); ``[]`` when the model is trained for the task."""
        if task is None:
            return []
        if task not in self.domain.tasks:
            raise ConfigError(f"unknown task {task!r} for domain {self.domain.name!r}; it has "
                              f"{', '.join(sorted(self.domain.tasks))}")
        fields = list(self.domain.tasks[task])
        if not fields:
            raise ConfigError(f"task {task!r} is de novo: use Model.sample(n) (--num), not inputs")
        extra = [f for f in self.given if f not in fields]
        if extra:
            raise ConfigError(f"this model needs the given fields {self.given}, task {task!r} gives "
                              f"{fields}: use a model trained for {task!r}")
        return [f for f in fields if f not in self.given]

    def complete(self, inputs: Any, **options: Any) -> list[Samples]:
        """Complete each input's given fields: crystal structure prediction from compositions,
        inpainting. Returns one :class:`Samples` per input holding its ``k`` candidates, best
        first (see :meth:`complete_iter` for the options).

        Examples
        --------
        >>> model = graphdiff.load("perov5-csp")                                   # doctest: +SKIP
        >>> [[s.lattice.a for s in c] for c in model.complete(["SrTiO3"], k=2)]     # doctest: +SKIP
        """
        return [cands for _, cands in self.complete_iter(inputs, **options)]

    def complete_iter(self, inputs: Any, *, k: int = 1, seed: int = 0, task: str | None = None,
                      draws: int | None = None, max_draws: int | None = None, distinct: bool = True,
                      rank_by: str | None = None, references: Any = None, targets: Any = None,
                      guidance_scale: float | None = None, gradient_scale: float = 1.0,
                      guidance_mode: str = "auto", guide_fields: Sequence[str] | None = None,
                      judges: Sequence[str] = (), steps: int | None = None, sampler: str | None = None,
                      corrector_steps: int | None = None, constraint: Any = "model",
                      batch_size: int | None = None, allow_larger: bool = False, allow_unseen: bool = False,
                      relax: Any = False, progress: bool = True,
                      **input_options: Any) -> Iterator[tuple[int, Samples]]:
        """:meth:`complete`, one input at a time: ``(input index, its candidates)`` in order.

        Parameters
        ----------
        inputs:
            A list of inputs (crystals: ``"SrTiO3"``, a ``Composition``, a ``Structure``; any
            domain: its objects or records) or a ``pathlib.Path`` of an input file.
        k:
            Candidates per input. With ``distinct`` (the default) they are distinct answers:
            ``draws`` samples per input (default ``2k`` when ``k > 1``) are grouped by the
            domain's equivalence (crystals: ``StructureMatcher``), drawing more up to
            ``max_draws`` (default ``max(draws, 4k)``) while fewer than ``k`` were found, and
            ranked by validity, then by ``rank_by`` or the reference similarity when given, then
            by their share of the draws. ``info`` holds ``rank``, ``share``, ``distinct``.
            ``distinct=False``: ``k`` independent samples.
        task:
            A task of the domain that a de novo model does by inpainting (crystals: ``"csp"``).
        rank_by:
            ``"NAME"`` or ``"NAME:max"``: rank candidates by a registered target, lowest first
            (``:min``, as for an energy) or highest first.
        references:
            ``{"xrd": path}`` (one file for every input) or ``{"xrd": [path, ...]}`` (one per
            input): rank by similarity to an observation (crystals: a powder pattern), and
            condition a model trained on its encoding.
        targets, guidance_scale, gradient_scale, guidance_mode, guide_fields, judges, steps,
        sampler, corrector_steps, constraint, batch_size, relax:
            As for :meth:`sample_iter`; ``relax`` relaxes the ``k`` chosen candidates of each input
            (after they were chosen), the candidates of all the inputs completed together (a round
            of distinct candidates, a sampling batch without ``distinct``) in one call of the
            domain's relaxation, which evaluates the relax ``batch_size`` at a time. With
            ``rank_by`` or ``references`` the relaxed candidates are ranked again by their relaxed
            scores (distinct answers first, then valid ones, then the score; an energy ranks by
            the relaxed energy), and the ranking column holds the relaxed value.
        allow_larger:
            Accept inputs larger than any training graph.
        allow_unseen:
            Accept inputs with classes the model never saw in training (crystals: elements).
        input_options:
            The domain's options for its inputs (crystals: ``formula_units=Z``).
        """
        from graphdiff.progress import StepProgress
        from graphdiff.runner import sample_graphs, set_template_condition

        k = positive("k", k)
        graphs, ids, records = self.templates(inputs if not isinstance(inputs, str) else [inputs], task=task,
                                              **input_options)
        inpaint = self.task_fields(task)
        if not allow_larger:
            self.diffusion.check_sizes(graphs, "input")
        unseen = self.check_unseen(graphs, ids, inpaint + self.given, allow_unseen)
        refs = self._references(references, records)
        if refs is not None:
            row_cond = refs.conditions(self.conditions)
            if row_cond is not None:
                graphs = [set_template_condition(self.diffusion, g, c) for g, c in zip(graphs, row_cond)]
        cond, guided, guidance = self._requests(targets, gradient_scale=gradient_scale,
                                                guidance_mode=guidance_mode, guide_fields=guide_fields)
        judging = self._judges(judges, cond, guided)
        relaxing = self._relax_options(relax)
        ranking: Any = refs
        if rank_by is not None:
            if not distinct:
                raise ConfigError("rank_by ranks distinct candidates: it needs distinct=True")
            if refs is not None:
                raise ConfigError("rank_by and references: candidates are ranked one way; give one of them")
            ranking = TargetRanking.parse(rank_by, self.domain)
        opts = self._options(steps=steps, sampler=sampler, guidance_scale=guidance_scale,
                             corrector_steps=corrector_steps, batch_size=batch_size, constraint=constraint)
        opts.update(cond=cond or None, inpaint=inpaint, allow_larger=allow_larger)
        if guidance is not None:
            opts["gradient_guidance"] = guidance
        requested = _requested(cond, guided)
        per_step = opts["steps"]
        distinct = distinct and (k > 1 or (draws or 1) > 1 or ranking is not None)
        if not distinct:
            templates = [g for g in graphs for _ in range(k)]
            bar = StepProgress(math.ceil(len(templates) / opts["batch_size"]) * per_step, enabled=progress)
            done: list[Any] = []
            i = 0
            try:
                for chunk in sample_graphs(self.diffusion, templates=templates, seed=seed, step_progress=bar,
                                           **opts):
                    done += chunk
                    ready = []  # the inputs this chunk completes: relaxed together
                    while len(done) >= k:
                        part, done = done[:k], done[k:]
                        ready.append((i, self._convert(part, [ids[i]] * k,
                                                       [{"rank": r, **requested, **_flag(unseen[i])}
                                                        for r in range(k)])))
                        i += 1
                    finished = self._finish_all([c for _, c in ready], relaxing, guided, judging, progress)
                    yield from zip([j for j, _ in ready], finished)
            finally:
                bar.close()
            return
        draws = draws or (max(4, 2 * k) if ranking is not None else 2 * k if k > 1 else 1)
        max_draws = max_draws or max(draws, 4 * k)
        if draws < 1 or max_draws < draws:
            raise ConfigError(f"need draws >= 1 and max_draws >= draws (got {draws}, {max_draws})")
        for i, cands in self._distinct(graphs, ids, k, draws, max_draws, opts, seed, progress, ranking, requested,
                                       guided, judging, relaxing):
            for info in cands.info:
                info.update(_flag(unseen[i]))
            yield i, cands

    def _distinct(self, graphs: list[Any], ids: list[str], k: int, draws: int, max_draws: int, opts: dict,
                  seed: int, progress: bool, ranking: Any, requested: dict, guided: list,
                  judging: list, relaxing: dict[str, Any] | None) -> Iterator[tuple[int, Samples]]:
        from graphdiff.candidates import distinct_candidates
        from graphdiff.progress import StepProgress
        from graphdiff.runner import template_sampler

        per_step = opts["steps"]
        per_round = max(1, opts["batch_size"] // draws)
        rounds = math.ceil(len(graphs) / per_round)
        bar = StepProgress(rounds * math.ceil(per_round * draws / opts["batch_size"]) * per_step,
                           enabled=progress)
        base = template_sampler(self.diffusion, seed=seed, step_progress=bar, **opts)

        def sample(templates: list[Any]) -> list[Any]:
            cost = math.ceil(len(templates) / opts["batch_size"]) * per_step
            if bar.done + cost > bar.total:  # drawing again for inputs with too few answers
                bar.add(bar.done + cost - bar.total)
            return base(templates)

        score = ranking.score if ranking is not None else None
        self.fewer_than_k = 0
        ready: list[tuple[int, Samples]] = []  # the inputs of one round: relaxed together
        try:
            for i, cands in distinct_candidates(sample, graphs, k, self.domain, draws=draws, max_draws=max_draws,
                                                rows_per_round=per_round, progress=False, score=score):
                self.fewer_than_k += sum(not c.distinct for c in cands) > 0
                info = [{"rank": c.rank, "share": round(c.share, 4), "distinct": int(c.distinct), **requested,
                         **({ranking.column: round(ranking.value(c.score), 6)} if ranking is not None else {})}
                        for c in cands]
                ready.append((i, self._convert([c.graph for c in cands], [ids[i]] * len(cands), info)))
                if (i + 1) % per_round and i + 1 < len(graphs):
                    continue  # distinct_candidates yields a round's rows together, rows_per_round at a time
                finished = self._finish_all([c for _, c in ready], relaxing, guided, judging, progress)
                rows, ready = [j for j, _ in ready], []
                for j, part in zip(rows, finished):
                    if relaxing is not None and ranking is not None:
                        self._rerank(part, j, ranking)
                    yield j, part
        finally:
            bar.close()
        self.ranking_report = getattr(ranking, "report", lambda: None)()

    def _references(self, references: Any, records: list[dict]) -> Any:
        """``references=`` as :class:`~graphdiff.references.RowReferences` (or ``None``)."""
        if references is None:
            return None
        from graphdiff.plugins import get_manager
        from graphdiff.references import RowReferences, load_row_references

        if isinstance(references, RowReferences):
            return references
        if not isinstance(references, Mapping) or len(references) != 1:
            raise ConfigError("references: one {kind: file or [file per input]} (e.g. {'xrd': 'pattern.xy'})")
        (kind, given), = references.items()
        registry = get_manager().registry("references")
        if kind not in registry:
            raise ConfigError(f"references: no reference kind {kind!r} (registered: {', '.join(registry.names())})")
        ref = registry.get(kind)
        if ref.domain != self.domain.name:
            raise ConfigError(f"references: {kind!r} is a {ref.domain} reference; this model generates "
                              f"{self.domain.name}")
        if isinstance(given, (list, tuple)):
            if len(given) != len(records):
                raise ConfigError(f"references: {len(given)} {kind} files for {len(records)} inputs")
            rows = [{**r, "text": {**(r.get("text") or {}), kind: str(p)}} for r, p in zip(records, given)]
            return load_row_references(ref, rows, given=None, input_path=None)
        return load_row_references(ref, records, given=given, input_path=None)


def _flag(unseen: str) -> dict[str, str]:
    return {"unseen": unseen} if unseen else {}


def _input_id(item: Any, i: int) -> str:
    """An input's id: a record's id, a formula as written, else its position."""
    if isinstance(item, Mapping) and item.get("id") is not None:
        return str(item["id"])
    if isinstance(item, str):
        return item.strip()
    return str(i)

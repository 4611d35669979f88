"""The relaxation step of generation (``relax=``): :class:`RelaxingMixin`, the part of
:class:`~graphdiff.api.model.Model` that relaxes generated objects with the domain's relaxation
and ranks relaxed candidates again."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from graphdiff.api.checks import positive
from graphdiff.api.samples import Samples
from graphdiff.errors import ConfigError, DataError


class RelaxingMixin:
    """Relaxing generated objects (``relax=``) and scoring the final ones; a part of
    :class:`~graphdiff.api.model.Model`."""

    @staticmethod
    def _score(samples: Samples, scored: Sequence[tuple[Any, str, Any]], prefix: str = "") -> None:
        """Each target's value on each object into ``info[prefix + name]`` (NaN where it cannot score)."""
        for target, _, _ in scored:
            for obj, info in zip(samples, samples.info):
                try:
                    value = float(target(obj))
                except Exception:  # noqa: BLE001 - an item the target cannot score gets NaN
                    value = float("nan")
                info[prefix + target.name] = value

    def _relax_options(self, relax: Any) -> dict[str, Any] | None:
        """``relax=`` as keyword arguments of :meth:`Domain.relax` plus ``keep_unrelaxed``;
        ``None`` when not relaxing. Checked before any sampling."""
        if relax is None or relax is False:
            return None
        opts: dict[str, Any] = {} if relax is True else dict(relax) if isinstance(relax, Mapping) else None
        if opts is None:
            raise ConfigError(f"relax must be True, False or a dict of options (got {relax!r})")
        if not getattr(self.domain, "relaxes", False):
            raise ConfigError(f"domain {self.domain.name!r} cannot relax its objects; relax is for domains "
                              "that can (crystals: CHGNet)")
        unknown = sorted(set(opts) - {"fmax", "steps", "batch_size", "keep_unrelaxed"})
        if unknown:
            raise ConfigError(f"unknown relax option(s) {unknown}; known: fmax, steps, batch_size, keep_unrelaxed")
        if "fmax" in opts and not float(opts["fmax"]) > 0:
            raise ConfigError(f"relax fmax must be positive (got {opts['fmax']})")
        for name in ("steps", "batch_size"):
            if name in opts:
                opts[name] = positive(f"relax {name}", opts[name])
        return opts

    def _finish(self, part: Samples, relaxing: dict[str, Any] | None, guided: list, judging: list,
                progress: bool, *, guided_scored: bool = False) -> Samples:
        """Relax ``part`` when asked, then score the final objects: each requested target's
        achieved value (unless ``guided_scored`` and nothing was relaxed) and each judge."""
        return self._finish_all([part], relaxing, guided, judging, progress, guided_scored=guided_scored)[0]

    def _finish_all(self, parts: Sequence[Samples], relaxing: dict[str, Any] | None, guided: list,
                    judging: list, progress: bool, *, guided_scored: bool = False) -> list[Samples]:
        """:meth:`_finish` for several parts (the inputs of a chunk): their objects are relaxed
        together, in one call of the domain's ``relax``, then each part is scored."""
        parts = list(parts)
        if relaxing is not None:
            self._relax(parts, relaxing, progress)
        for part in parts:
            if relaxing is not None or not guided_scored:
                self._score(part, guided)
            self._score(part, judging, prefix="judged_")
        return parts

    def _relax(self, parts: Sequence[Samples], opts: dict[str, Any], progress: bool) -> None:
        """Relax the objects of all ``parts`` in place (objects, graphs and info) with one call of
        the domain's ``relax`` (which evaluates ``batch_size`` objects at a time); each result
        goes back to the object it came from. An object that fails keeps its unrelaxed form and
        says why in ``info["relax_error"]``."""
        opts = dict(opts)
        keep = bool(opts.pop("keep_unrelaxed", False))
        if keep:
            for part in parts:
                part.unrelaxed, part.unrelaxed_graphs = list(part), list(part.graphs)
        objs = [obj for part in parts for obj in part]
        if not objs:
            return
        results = list(self.domain.relax(objs, progress=progress, **opts))
        if len(results) != len(objs):
            raise DataError(f"domain {self.domain.name!r}: relax() gave {len(results)} results for "
                            f"{len(objs)} objects")
        at = 0
        for part in parts:
            for j, res in enumerate(results[at:at + len(part)]):
                self._take_relaxed(part, j, res)
            at += len(part)

    def _take_relaxed(self, part: Samples, j: int, res: dict[str, Any]) -> None:
        """Item ``j`` of ``part`` becomes its relaxation result ``res`` (one of ``Domain.relax``'s)."""
        info = part.info[j]
        info.update({"relaxed": res.get("obj") is not None, "relax_converged": bool(res.get("converged")),
                     "relax_steps": int(res.get("steps") or 0), "energy_per_atom": res.get("energy_per_atom"),
                     "relax_displacement_rms": res.get("displacement_rms"),
                     "relax_displacement_max": res.get("displacement_max")})
        if res.get("obj") is None:
            info["relax_error"] = str(res.get("error") or "relaxation failed")
            return
        try:
            graph = self.domain.to_graph(res["obj"])
        except Exception as exc:  # noqa: BLE001 - keep the unrelaxed item, say why
            info.update(relaxed=False, relax_error=f"the relaxed object does not convert: {exc}")
            return
        part[j] = res["obj"]
        if part.graphs:
            part.graphs[j] = graph

    def _rerank(self, part: Samples, row: int, ranking: Any) -> None:
        """Rank an input's relaxed candidates again by ``ranking`` (``rank_by`` or a reference),
        scored on the relaxed objects: the distinct answers first, then valid before invalid, then
        the better score (NaN last), then the old rank. The reordered items take the ranks (and
        output positions) the list held; the ranking column holds the relaxed value."""
        if len(part) < 1:
            return
        keys = []
        for j, obj in enumerate(part):
            try:
                ok = bool(self.domain.valid(obj))
            except Exception:  # noqa: BLE001 - an object the domain cannot judge is invalid
                ok = False
            score = ranking.score(row, obj) if ok else float("nan")
            part.info[j][ranking.column] = round(ranking.value(score), 6)
            keys.append((not part.info[j].get("distinct", 1), not ok, -score if score == score else math.inf,
                         part.info[j].get("rank", j), j))
        order = [key[-1] for key in sorted(keys)]
        slots = sorted(part.info[j].get("rank", j) for j in range(len(part)))
        positions = getattr(part, "positions", None)
        slots_pos = sorted(positions) if positions else None
        part[:] = [part[j] for j in order]
        part.info = [part.info[j] for j in order]
        part.ids = [part.ids[j] for j in order]
        if part.graphs:
            part.graphs = [part.graphs[j] for j in order]
        if part.unrelaxed is not None:
            part.unrelaxed = [part.unrelaxed[j] for j in order]
            part.unrelaxed_graphs = [part.unrelaxed_graphs[j] for j in order] if part.unrelaxed_graphs else []
        for info, rank in zip(part.info, slots):
            info["rank"] = rank
        if slots_pos is not None:
            part.positions = slots_pos

"""Requests on targets and judges: ``targets=`` as request strings, a registered target as a
ranking of candidates (:class:`TargetRanking`), judges and what ``graphdiff sample`` reports
about both (:func:`request_report`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from graphdiff.errors import ConfigError

__all__ = ["TargetRanking", "as_requests", "domain_target", "judge_targets", "request_report", "requested"]


def as_requests(targets: Any) -> list[str]:
    """``targets=`` as request strings: ``"NAME<=V"``, a list of them, or ``{NAME: V}`` (=)."""
    if targets is None:
        return []
    if isinstance(targets, str):
        return [targets]
    if isinstance(targets, Mapping):
        return [f"{k}={float(v)!r}" for k, v in targets.items()]
    out = list(targets)
    bad = [t for t in out if not isinstance(t, str)]
    if bad:
        raise ConfigError(f"targets: expected 'NAME=V', 'NAME<=V' or 'NAME>=V' strings or a "
                          f"{{name: value}} dict, got {bad[0]!r}")
    return out


class TargetRanking:
    """A registered target as the ranking score of an input's distinct candidates
    (``rank_by="NAME"`` or ``"NAME:max"``; :func:`graphdiff.candidates.distinct_candidates`
    ranks larger scores first, so ``min`` scores ``-value``). A candidate the target cannot
    score (it raises, or gives a non-finite value) scores NaN and ranks after the scored ones;
    it is never dropped, and :meth:`report` says how many there were and why the first failed."""

    def __init__(self, target: Any, lowest_first: bool = True) -> None:
        self.target, self.sign = target, -1.0 if lowest_first else 1.0
        self.column = target.name
        self.failures, self.first_failure = 0, ""

    @classmethod
    def parse(cls, text: str, domain: Any) -> "TargetRanking":
        name, _, way = text.partition(":")
        if way not in ("", "min", "max"):
            raise ConfigError(f"rank_by {text!r}: NAME, NAME:min (lowest first) or NAME:max (highest first)")
        return cls(domain_target("rank_by", name, domain), lowest_first=way != "max")

    def score(self, item: int, obj: Any) -> float:
        try:
            v = float(self.target(obj))
        except Exception as exc:  # noqa: BLE001 - counted and reported; the candidate ranks last
            v, why = float("nan"), f"{type(exc).__name__}: {exc}"
        else:
            why = "" if math.isfinite(v) else f"value {v}"
        if why:
            self.failures += 1
            self.first_failure = self.first_failure or why
            return float("nan")
        return self.sign * v

    def value(self, score: float) -> float:
        """The target's value from a ranking score."""
        return self.sign * score

    def report(self) -> str | None:
        """How many candidates the target could not score (``None``: none)."""
        if not self.failures:
            return None
        return (f"rank_by (--rank-by) {self.column}: {self.failures} candidate draw(s) could not be scored and "
                f"rank after the scored answers (column {self.column} = nan); first: {self.first_failure}")


def domain_target(option: str, name: str, domain: Any, what: str = "registered target") -> Any:
    """The registered target ``name`` for ``option``, a target of ``domain``: an unknown name is
    refused with the domain's targets listed, another domain's target is refused."""
    from graphdiff.plugins import get_manager

    reg = get_manager().registry("targets")
    if name not in reg:
        known = sorted(e.name for e in reg.entries() if getattr(e.obj, "domain", None) == domain.name)
        raise ConfigError(f"{option} {name!r}: no such {what}; {domain.name} targets: {', '.join(known) or 'none'}")
    target = reg.get(name)
    if target.domain != domain.name:
        raise ConfigError(f"{option} {name!r} scores {target.domain} items; this model generates {domain.name}")
    return target


def judge_targets(names: Sequence[str], domain: Any, requests: Sequence[tuple[str, str, float]]) -> list:
    """``[(target, op, value)]`` for ``judges=``: each judge (a predictor file's properties, a
    bundled predictor's name, or a registered target of ``domain``) with the request on the same
    property (``op``/``value`` ``None`` when nothing asks for it). A request and a judge concern
    the same property when their names' last ``-``-separated parts agree (``heat_ref`` and
    ``perov5-heat_ref``)."""
    from graphdiff.plugins import get_manager
    from graphdiff.predictors import predictor_targets

    reg = get_manager().registry("targets")
    out = []
    for name in names:
        name = str(name)
        if Path(name).is_file():
            targets = predictor_targets(name)
        elif name in reg:
            targets = [domain_target("judge", name, domain)]
        else:
            from graphdiff.predictors import bundled_predictors

            bundled = bundled_predictors()
            if name not in bundled:
                domain_target("judge", name, domain, "predictor file, bundled predictor or registered target")
            targets = predictor_targets(bundled[name])
        for t in targets:  # a predictor file's targets may be of another domain
            if t.domain != domain.name:
                raise ConfigError(f"judge {name!r} scores {t.domain} items; this model generates {domain.name}")
            match = [(op, v) for n, op, v in requests if n.split("-")[-1] == t.name.split("-")[-1]]
            op, v = match[0] if match else (None, None)
            out.append((t, op, v))
    return out


def request_report(model: Any, infos: Sequence[dict], targets: Sequence[str] = (),
                   judges: Sequence[str] = ()) -> list[str]:
    """What ``graphdiff sample`` prints after writing: for each request on a registered target
    (``targets``, as ``sample(targets=...)`` takes them; not the model's own conditions) how far
    the items are from it, by the target itself, and for each of ``judges`` the mean it found and
    how far that is from the request on the same property. ``infos``: the items' ``info`` dicts
    (``Samples.info``), which hold the scores."""
    import statistics

    from graphdiff.runner import parse_target_requests

    def within(x: float, op: str, v: float) -> bool:
        return x <= v if op == "<=" else x >= v if op == ">=" else True

    requests = parse_target_requests(list(targets))
    lines = []
    for name, op, v in requests:
        vals = [s[name] for s in infos if name in s and s[name] == s[name]]
        if not vals or name in model.conditions:
            continue
        met = sum(within(x, op, v) for x in vals)
        lines.append(f"{name} {op} {v}: mean {statistics.fmean(vals):.4g}, mean |value - {v}| = "
                     f"{statistics.fmean(abs(x - v) for x in vals):.4g}"
                     + (f", {met}/{len(vals)} meet it" if op != "=" else "") + f" (scored by {name} itself)")
    for t, op, v in judge_targets(list(judges), model.domain, requests) if judges else []:
        col = f"judged_{t.name}"
        vals = [s[col] for s in infos if col in s and s[col] == s[col]]
        if not vals:
            lines.append(f"judge {t.name}: no generated item could be scored")
            continue
        line = f"judge {t.name}: mean {statistics.fmean(vals):.4g} over {len(vals)} items"
        if op is not None:
            line += f"; request {op}{v}: mean |value - {v}| = {statistics.fmean(abs(x - v) for x in vals):.4g}"
            if op != "=":
                line += f", {sum(within(x, op, v) for x in vals)}/{len(vals)} meet it"
        lines.append(line + f" ({t.description})" if t.description else line)
    return lines


def requested(cond: Mapping[str, float], guided: Sequence[tuple[Any, str, float]]) -> dict[str, Any]:
    """The ``requested_<name>`` values stored beside each item: a condition's value, a gradient
    request as ``"<op><value>"``."""
    out: dict[str, Any] = {f"requested_{n}": v for n, v in cond.items()}
    out.update({f"requested_{t.name}": f"{op}{v}" for t, op, v in guided})
    return out

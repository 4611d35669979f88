"""Distinct ranked candidates per input item (graphdiff.candidates)."""

from __future__ import annotations

import random

import pytest
import torch
from torch_geometric.data import Data

from graphdiff.candidates import distinct_candidates, group_equivalent, rank_candidates


class ModDomain:
    """Objects are integers; equivalent modulo 10; negative ones are invalid."""

    def from_graph(self, g):
        if int(g.value) == 999:
            raise ValueError("unconvertible")
        return int(g.value)

    def equivalent(self, a, b):
        return a % 10 == b % 10

    def valid(self, obj):
        return obj >= 0


def graph(v: int) -> Data:
    return Data(value=torch.tensor(v), num_nodes=1)


def test_grouping_keeps_invalid_apart_and_ranks_by_share():
    objs = [1, 11, 2, -1, 21, 2]
    classes = group_equivalent(objs, ModDomain().equivalent, [o >= 0 for o in objs])
    assert [c.members for c in classes] == [[0, 1, 4], [2, 5], [3]]
    cands = rank_candidates([graph(o) for o in objs], classes, 4)
    assert [int(c.graph.value) for c in cands] == [1, 2, -1, 11]
    assert [c.distinct for c in cands] == [True, True, True, False]
    assert cands[0].share == pytest.approx(0.5) and cands[2].valid is False


def test_draws_more_until_k_distinct_and_flags_repeats():
    rng = random.Random(0)
    calls = []

    def sample(templates):
        calls.append(len(templates))
        # item 0 always gives the same answer; item 1 gives 3 answers; 999 cannot be converted
        return [graph(10 * rng.randrange(5) if int(t.value) == 0 else rng.choice([1, 2, 3, 999]))
                for t in templates]

    out = dict(distinct_candidates(sample, [graph(0), graph(1)], 3, ModDomain(), draws=2, max_draws=6))
    assert calls[0] == 4 and sum(calls) <= 12
    same = out[0]
    assert [c.distinct for c in same] == [True, False, False] and same[0].draws == 6
    assert len({int(c.graph.value) % 10 for c in out[1] if c.distinct}) == sum(c.distinct for c in out[1])
    # an unconvertible draw is ranked after every valid answer
    vals = [int(c.graph.value) for c in out[1]]
    if 999 in vals:
        assert vals.index(999) == len([c for c in out[1] if c.valid])


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_draws"):
        list(distinct_candidates(lambda t: t, [graph(0)], 2, ModDomain(), draws=4, max_draws=2))


class LineDomain(ModDomain):
    """ModDomain with a distance: |a - b| between equivalent integers."""

    def distance(self, a, b):
        return abs(a - b) if a % 10 == b % 10 else None


def test_a_class_is_represented_by_its_medoid_when_the_domain_has_a_distance():
    from graphdiff.candidates import medoid

    objs = [1, 51, 21, 31, 2, 12]
    assert medoid([0, 1, 2, 3], objs, LineDomain().distance) == 2    # 21: summed distance 60 (31 also; earlier wins)
    assert medoid([4, 5], objs, LineDomain().distance) == 4          # two members: the first
    # an uncomparable pair counts as the largest distance seen (as 0 it would make 51 the medoid)
    assert medoid([0, 1, 2, 3], objs, lambda a, b: None if 51 in (a, b) else abs(a - b)) == 2
    classes = group_equivalent(objs, ModDomain().equivalent, [True] * len(objs))
    cands = rank_candidates([graph(o) for o in objs], classes, 3, objs=objs, distance=LineDomain().distance)
    assert [int(c.graph.value) for c in cands] == [21, 2, 1]          # repeat: the next member, not the medoid again
    assert [c.distinct for c in cands] == [True, True, False]
    # without a distance (or with scores) the first member represents the class, as before
    assert int(rank_candidates([graph(o) for o in objs], classes, 1)[0].graph.value) == 1


def test_distinct_candidates_uses_the_domains_distance_only_when_it_defines_one():
    def run(domain):
        values = iter([5, 45, 15, 25])
        out = dict(distinct_candidates(lambda ts: [graph(next(values)) for _ in ts], [graph(0)], 1, domain,
                                       draws=4, max_draws=4))
        return int(out[0][0].graph.value)

    assert run(LineDomain()) == 15   # summed distances 70, 90, 50, 50: the earlier of the two centres
    assert run(ModDomain()) == 5     # no distance: the first draw


def test_target_ranking_scores_lowest_first_and_never_drops_a_failure():
    """``graphdiff sample --rank-by``: ``min`` scores ``-value`` (the candidates module ranks
    larger scores first), ``max`` the value; a target error or a non-finite value scores NaN
    (ranked after the scored answers, never dropped) and is counted in the report, and the
    column gets the value back."""
    import math

    from graphdiff.api import TargetRanking
    from graphdiff.errors import DataError
    from graphdiff.targets import Target

    def fn(x):
        if x == "bad":
            raise DataError("cannot score")
        return float(x)

    t = Target("toy-value", "toy", fn)
    low, high = TargetRanking(t), TargetRanking(t, lowest_first=False)
    assert low.column == "toy-value"
    assert low.score(0, "2.5") == -2.5 and high.score(0, "2.5") == 2.5
    assert low.value(low.score(0, "2.5")) == 2.5 and high.value(high.score(0, "2.5")) == 2.5
    assert low.report() is None
    assert math.isnan(low.score(0, "bad")) and math.isnan(low.score(0, "inf"))
    assert low.report() == ("rank_by (--rank-by) toy-value: 2 candidate draw(s) could not be scored and rank after "
                            "the scored answers (column toy-value = nan); first: DataError: cannot score")

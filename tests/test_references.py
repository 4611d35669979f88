"""References (graphdiff.references), score-ranked candidates, and per-template conditions."""

from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Data

from graphdiff.candidates import group_equivalent, rank_candidates
from graphdiff.config import FieldProcessConfig
from graphdiff.diffusion import GraphDiffusion
from graphdiff.errors import ConfigError, DataError, GraphValidationError
from graphdiff.graph import FieldSpec, GraphSpec
from graphdiff.nn import BUILTIN_DENOISERS
from graphdiff.processes import build_process
from graphdiff.references import Reference, load_row_references
from graphdiff.runner import TEMPLATE_CONDITION, sample_graphs, set_template_condition


def loader(path, scale=1.0):
    text = path.read_text().strip()
    if not text.lstrip("-").replace(".", "").isdigit():
        raise DataError(f"{path}: not a number: {text!r}")
    return float(text) * scale


REF = Reference("num", "ints", loader, similarity=lambda obj, ref: -abs(obj - ref),
                encode=lambda ref: {"c0": ref, "c1": 2 * ref}, columns=("c0", "c1"),
                options={"scale": (float, 1.0, "x")})


def test_row_references_prefer_the_row_column_and_resolve_relative_paths(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("3")
    (tmp_path / "all.txt").write_text("7")
    recs = [{"id": "x", "text": {"num": "sub/a.txt"}}, {"id": "y"}, {"id": "z", "text": {"num": ""}}]
    rr = load_row_references(REF, recs, given=tmp_path / "all.txt", input_path=tmp_path / "in.csv",
                             options={"scale": 2.0})
    assert rr.loaded == [6.0, 14.0, 14.0]
    assert rr.score(0, 6.0) == 0 and rr.score(1, 10.0) == -4
    assert rr.column == "num_similarity"
    assert rr.conditions(["c1", "other"]) == [{"c1": 12.0}, {"c1": 28.0}, {"c1": 28.0}]
    assert rr.conditions(["other"]) is None
    # rows without a reference: NaN score, no condition
    rr = load_row_references(REF, recs[:2], given=None, input_path=tmp_path / "in.csv")
    assert rr.loaded == [3.0, None] and math.isnan(rr.score(1, 1)) and rr.conditions(["c0"])[1] == {}


def test_row_reference_errors_name_the_item_and_file(tmp_path):
    recs = [{"id": "a"}, {"id": "b", "text": {"num": "missing.txt"}}]
    with pytest.raises(DataError, match=r"input item 1 \(id b\): num file .*missing.txt does not exist"):
        load_row_references(REF, recs, given=None, input_path=tmp_path / "in.csv")
    (tmp_path / "bad.txt").write_text("abc")
    with pytest.raises(DataError, match=r"--num: .*bad.txt: not a number"):
        load_row_references(REF, recs[:1], given=tmp_path / "bad.txt", input_path=None)
    with pytest.raises(ConfigError, match="no num reference"):
        load_row_references(REF, [{"id": "a"}], given=None, input_path=None)


def g(v: int) -> Data:
    return Data(value=torch.tensor(v), num_nodes=1)


def test_scores_rank_classes_before_their_share():
    objs = [1, 11, 21, 2, 5, -3]          # classes mod 10: {1, 11, 21}, {2}, {5}, {-3 invalid}
    classes = group_equivalent(objs, lambda a, b: a % 10 == b % 10, [o >= 0 for o in objs])
    scores = [0.2, 0.5, float("nan"), 0.9, float("nan"), 1.0]
    cands = rank_candidates([g(o) for o in objs], classes, 4, scores)
    # valid first; by score (NaN last) before share; a class is shown by its best-scoring member
    assert [int(c.graph.value) for c in cands] == [2, 11, 5, -3]
    assert cands[0].score == 0.9 and cands[1].score == 0.5 and math.isnan(cands[2].score)
    assert cands[1].share == pytest.approx(0.5)
    # without scores: share decides, as before
    assert [int(c.graph.value) for c in rank_candidates([g(o) for o in objs], classes, 2)] == [1, 2]


SPEC = GraphSpec("tiny", (FieldSpec("x", "continuous", "node", dim=2),), properties=("p", "q"))


def cond_model() -> GraphDiffusion:
    procs = {"x": build_process(SPEC["x"], FieldProcessConfig())}
    net = BUILTIN_DENOISERS["graph_transformer"](SPEC, {"x": 2}, cond_dim=2, hidden=16, layers=1, heads=2)
    m = GraphDiffusion(SPEC, net, procs, generate=["x"], condition=["p", "q"])
    m.fit_statistics([Data(num_nodes=3, x=torch.randn(3, 2), p=torch.tensor([float(i)]),
                           q=torch.tensor([1.0])) for i in range(6)])
    return m.eval()


def test_template_conditions_reach_the_sampler_and_fill_from_cond(monkeypatch):
    m = cond_model()
    tpl = [Data(num_nodes=2, x=torch.zeros(2, 2)), Data(num_nodes=3, x=torch.zeros(3, 2))]
    with_cond = [set_template_condition(m, tpl[0], {"p": 2.0}), tpl[1]]
    assert not hasattr(tpl[0], TEMPLATE_CONDITION)  # a copy, the input is untouched
    seen = []
    real = m.sample

    def spy(*args, **kw):
        seen.append(kw["cond"])
        return real(*args, **kw)

    monkeypatch.setattr(m, "sample", spy)
    out = [x for c in sample_graphs(m, templates=with_cond, cond={"q": 5.0}, steps=3, batch_size=8) for x in c]
    assert len(out) == 2 and out[1].num_nodes == 3
    assert seen[0][0].tolist() == [2.0, 5.0] and math.isnan(seen[0][1, 0]) and seen[0][1, 1] == 5.0
    # templates without their own conditions: the global cond dict, as before
    seen.clear()
    list(sample_graphs(m, templates=tpl, cond={"q": 5.0}, steps=2))
    assert seen[0] == {"q": 5.0}
    with pytest.raises(GraphValidationError, match="unknown condition"):
        set_template_condition(m, tpl[0], {"zz": 1.0})


def test_template_conditions_change_the_samples_like_a_global_condition():
    m = cond_model()
    tpl = Data(num_nodes=3, x=torch.zeros(3, 2))
    a = next(sample_graphs(m, templates=[set_template_condition(m, tpl, {"p": 3.0, "q": 1.0})], steps=4, seed=1))
    b = next(sample_graphs(m, templates=[tpl], cond={"p": 3.0, "q": 1.0}, steps=4, seed=1))
    c = next(sample_graphs(m, templates=[tpl], cond={"p": -9.0, "q": 1.0}, steps=4, seed=1))
    assert torch.allclose(a[0].x, b[0].x, atol=1e-6)
    assert not torch.allclose(a[0].x, c[0].x, atol=1e-4)


def test_requests_outside_the_training_range_warn(monkeypatch):
    from graphdiff.runner import TargetRangeWarning, split_target_requests
    from graphdiff.targets import Target

    m = cond_model()  # p in 0..5 (mean 2.5, std 1.7), q = 1 always (std 0 -> 1)
    with pytest.warns(TargetRangeWarning, match=r"--target p=40 is .* standard deviations from the training mean"):
        split_target_requests(["p=40"], m, type("D", (), {"name": "tiny"})())
    import warnings as w

    with w.catch_warnings():
        w.simplefilter("error")
        split_target_requests(["p=3"], m, type("D", (), {"name": "tiny"})())

    t = Target("tiny-y", "tiny", lambda o: 0.0, graph_fn=lambda f, b: f["x"].sum(), value_range=(0.0, 1.0))

    class Reg(dict):
        def get(self, name):
            return self[name]

    class Manager:
        def registry(self, kind):
            return Reg({"tiny-y": t})

    monkeypatch.setattr("graphdiff.plugins.get_manager", lambda: Manager())
    with pytest.warns(TargetRangeWarning, match=r"tiny-y<=7 lies outside the range .*\[0, 1\]"):
        split_target_requests(["tiny-y<=7"], m, type("D", (), {"name": "tiny"})())


def test_request_weights_scale_their_guidance_and_conditions_refuse_them(monkeypatch):
    from graphdiff.errors import ConfigError
    from graphdiff.nn.base import NoisyGraphs
    from graphdiff.runner import parse_target_requests, requests_guidance, split_target_requests
    from graphdiff.targets import Target

    m = cond_model()
    t = Target("tiny-s", "tiny", lambda o: 0.0, graph_fn=lambda f, b: f["x"].sum().view(1))

    class Reg(dict):
        def get(self, name):
            return self[name]

    class Manager:
        def registry(self, kind):
            return Reg({"tiny-s": t})

    monkeypatch.setattr("graphdiff.plugins.get_manager", lambda: Manager())
    dom = type("D", (), {"name": "tiny"})()
    assert parse_target_requests(["tiny-s<=3@2.5"]) == [("tiny-s", "<=", 3.0)]
    _, g1 = split_target_requests(["tiny-s=0.5"], m, dom)
    _, g2 = split_target_requests(["tiny-s=0.5@3"], m, dom)
    assert g1[0][0].weight == 1.0 and g2[0][0].weight == 3.0 and g2[0][0].name == "tiny-s"
    x0 = {"x": torch.full((2, 2), 0.1)}
    graphs = NoisyGraphs(inputs={"x": torch.zeros(2, 2)}, t=torch.zeros(1), batch=torch.zeros(2, dtype=torch.long),
                         ptr=torch.tensor([0, 2]))
    f1 = requests_guidance(m, g1).fn(x0, graphs)
    f3 = requests_guidance(m, g2).fn(x0, graphs)
    assert float(f1) < 0 and float(f3) == pytest.approx(3 * float(f1))
    with pytest.raises(ConfigError, match="a weight applies to gradient requests"):
        split_target_requests(["p=1@2"], m, dom)
    with pytest.raises(ConfigError, match="the weight must be positive"):
        split_target_requests(["tiny-s=1@0"], m, dom)


class _T:
    def __init__(self, name: str, weight: float = 1.0):
        self.name, self.weight = name, weight


def test_request_shortfall_by_hand():
    from graphdiff.runner import request_shortfall

    a, b = _T("a"), _T("b", weight=2.0)
    assert request_shortfall({"a": 1.5}, [(a, "=", 1.0)]) == pytest.approx(0.5)
    assert request_shortfall({"a": 0.5}, [(a, "<=", 1.0)]) == 0.0
    assert request_shortfall({"a": 1.25}, [(a, "<=", 1.0)]) == pytest.approx(0.25)
    assert request_shortfall({"a": 0.5}, [(a, ">=", 1.0)]) == pytest.approx(0.5)
    # weighted sum over requests; a missing or NaN value can never be chosen over a scored one
    assert request_shortfall({"a": 2.0, "b": 0.0}, [(a, "=", 1.0), (b, ">=", 1.0)]) == pytest.approx(3.0)
    assert request_shortfall({"a": float("nan")}, [(a, "=", 1.0)]) == math.inf
    assert request_shortfall({}, [(a, "=", 1.0)]) == math.inf


def test_request_gap_is_the_same_for_floats_and_tensors():
    from graphdiff.runner import request_gap

    v = torch.tensor([-1.5, 0.0, 0.25, 2.0])
    for op, expected in (("=", (v - 0.5).abs()), ("<=", torch.relu(v - 0.5)), (">=", torch.relu(0.5 - v))):
        assert torch.equal(request_gap(v, op, 0.5), expected)
        assert [request_gap(float(x), op, 0.5) for x in v] == expected.tolist()


def test_select_closest_keeps_the_best_in_drawn_order():
    from graphdiff.runner import select_closest

    a = _T("a")
    scores = [{"a": v} for v in (0.9, 0.1, float("nan"), 0.45, 0.5, 0.0)]
    assert select_closest(scores, [(a, "=", 0.5)], 2) == [3, 4]
    # shortfalls 0.7, 0, inf, 0.25, 0.3, 0: the two met requests and the nearer miss
    assert select_closest(scores, [(a, "<=", 0.2)], 3) == [1, 3, 5]
    assert select_closest(scores, [(a, "=", 0.5)], 6) == [0, 1, 2, 3, 4, 5]
    assert select_closest(scores, [(a, "=", 0.5)], 5) == [0, 1, 3, 4, 5]  # the unscored one goes
    assert select_closest(scores, [(a, "=", 0.5)], 0) == []
    with pytest.raises(ValueError, match="keep"):
        select_closest(scores, [(a, "=", 0.5)], -1)

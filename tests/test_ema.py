"""The EMA of the weights: warm-up, the unsettled-average warning, resume, and a short run whose
averaged weights sample as well as its raw ones."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from torch_geometric.data import Data

from graphdiff.config import FieldProcessConfig, RunConfig
from graphdiff.diffusion import GraphDiffusion
from graphdiff.graph import FieldSpec, GraphSpec
from graphdiff.model import read_checkpoint, save_checkpoint
from graphdiff.nn import BUILTIN_DENOISERS
from graphdiff.processes import build_process
from graphdiff.training import EMA, EMAWarning, Trainer

SPEC = GraphSpec("ema-nodes", (
    FieldSpec("kind", "categorical", "node", num_classes=3),
    FieldSpec("x", "continuous", "node", dim=1),
))


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models train as fast on one thread, and far faster when other work shares the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def node_graphs(num: int, seed: int = 0) -> list[Data]:
    """3 to 5 nodes; kinds 0/1/2 with probabilities 0.6/0.3/0.1; x = 2 kind - 1 + N(0, 0.2²)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(num):
        n = int(torch.randint(3, 6, (1,), generator=gen))
        kind = torch.multinomial(torch.tensor([0.6, 0.3, 0.1]), n, replacement=True, generator=gen)
        x = (2.0 * kind.float() - 1.0 + 0.2 * torch.randn(n, generator=gen)).view(n, 1)
        out.append(Data(num_nodes=n, kind=kind, x=x))
    return out


def make_model(data: list[Data], hidden: int = 32, layers: int = 2) -> GraphDiffusion:
    fields = {"kind": FieldProcessConfig(), "x": FieldProcessConfig(prediction="v")}
    procs = {n: build_process(SPEC[n], fields[n]) for n in SPEC.names}
    net = BUILTIN_DENOISERS["graph_transformer"](SPEC, {n: SPEC[n].width for n in SPEC.names}, cond_dim=0,
                                                 hidden=hidden, layers=layers, heads=2)
    model = GraphDiffusion(SPEC, net, procs, generate=SPEC.names)
    model.fit_statistics(data)
    return model


def config(out_dir, **training) -> RunConfig:
    return RunConfig.model_validate({
        "data": {"domain": "ema-nodes", "batch_size": 32},
        "training": {"lr": 2e-3, "warmup_steps": 20, "log_every": 50, "val_every": 10**6,
                     "checkpoint_every": 10**6, "out_dir": str(out_dir), **training},
    })


def fit(trainer: Trainer, **kw) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(**kw)
    return [w for w in caught if issubclass(w.category, EMAWarning)]


# --------------------------------------------------------------------------- the schedule
def test_warmup_decay_grows_with_the_updates_up_to_the_configured_decay():
    net = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(net.weight)
    ema = EMA(net, decay=0.9, warmup=True)
    expect, share = torch.zeros(()), 1.0
    for n in range(120):
        d = min(0.9, (1 + n) / (10 + n))
        assert ema.current_decay() == pytest.approx(d)
        net.weight.data.fill_(float(n + 1))  # the weights after update n
        ema.update(net)
        expect = d * expect + (1 - d) * (n + 1)
        share *= d
        assert float(ema.shadow["weight"]) == pytest.approx(float(expect), rel=1e-5)
    assert ema.updates == 120 and ema.start_share == pytest.approx(share)
    assert ema.current_decay() == 0.9  # capped from n = (10 * 0.9 - 1) / 0.1 = 80 on
    assert ema.unsettled() is None

    fixed = EMA(net, decay=0.999, warmup=False)
    for _ in range(400):
        assert fixed.current_decay() == 0.999
        fixed.update(net)
    assert fixed.start_share == pytest.approx(0.999 ** 400)
    why = fixed.unsettled()
    assert why is not None and "after 400 steps" in why and "67 %" in why and "ema_warmup" in why


# --------------------------------------------------------------------------- a short run
def test_a_300_step_run_samples_as_well_from_its_ema_as_from_its_raw_weights(tmp_path):
    """With warm-up the averaged weights are as close to the data as the raw ones; the same run
    with the old fixed decay of 0.999 (its average still about three quarters the untrained
    weights) fails the same check, and warns."""
    torch.manual_seed(0)
    data = node_graphs(300)
    sizes = [g.num_nodes for g in data[:200]]
    ref_kind = torch.cat([g.kind for g in data[:200]])
    ref_x = torch.cat([g.x.view(-1) for g in data[:200]])

    def distance(model: GraphDiffusion) -> tuple[float, float]:
        """(total variation of the node kinds, Wasserstein-1 of x) between samples and data."""
        out = model.sample(sizes, steps=40, generator=torch.Generator().manual_seed(1))
        kind = torch.cat([g.kind for g in out])
        x = torch.cat([g.x.view(-1) for g in out])
        pa = torch.bincount(kind, minlength=3).float()
        pb = torch.bincount(ref_kind, minlength=3).float()
        tv = 0.5 * float((pa / pa.sum() - pb / pb.sum()).abs().sum())
        n = min(x.numel(), ref_x.numel())
        w1 = float((x[:n].sort().values - ref_x[:n].sort().values).abs().mean())
        return tv, w1

    def as_good(ema: tuple[float, float], raw: tuple[float, float]) -> bool:
        return ema[0] <= raw[0] + 0.04 and ema[1] <= raw[1] + 0.05

    runs = {}
    for warmup in (True, False):
        torch.manual_seed(0)
        trainer = Trainer(make_model(data), config(tmp_path / str(warmup), max_steps=300, ema_warmup=warmup),
                          data, progress=False)
        runs[warmup] = (trainer, fit(trainer))
    warm, cold = runs[True][0], runs[False][0]
    for k, v in warm.model.state_dict().items():  # the EMA does not change the training itself
        assert torch.equal(v, cold.model.state_dict()[k]), k

    raw = distance(warm.model.eval())
    with_warmup = distance(warm.ema_model())
    fixed = distance(cold.ema_model())
    assert raw[0] < 0.08 and raw[1] < 0.25, raw  # the run learned the data
    assert as_good(with_warmup, raw), (with_warmup, raw)
    assert not as_good(fixed, raw), (fixed, raw)

    assert runs[True][1] == []
    [warning] = runs[False][1]
    assert "after 300 steps the EMA weights are still 74 %" in str(warning.message)
    log = [json.loads(line) for line in (tmp_path / "False" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 300 and "ema_warmup" in log[-1]["warning"]


# --------------------------------------------------------------------------- resume
def test_resume_restores_the_ema_state_and_reads_checkpoints_written_before_it(tmp_path):
    data = node_graphs(40)

    def trainer(out, **training):
        torch.manual_seed(0)
        return Trainer(make_model(data, hidden=16, layers=1),
                       config(out, max_steps=12, checkpoint_every=4, **training), data, progress=False)

    straight = trainer(tmp_path / "a")
    fit(straight)
    first = trainer(tmp_path / "b")
    fit(first, max_steps=4)
    ckpt = read_checkpoint(tmp_path / "b" / "last.ckpt")
    assert ckpt["ema_state"] == first.ema.state_dict() and ckpt["ema_state"]["updates"] == 4
    assert json.loads(ckpt["meta"])["ema_state"]["updates"] == 4
    second = trainer(tmp_path / "b")
    second.resume(tmp_path / "b" / "last.ckpt")
    assert second.ema.state_dict() == first.ema.state_dict()
    fit(second)
    assert second.ema.updates == straight.ema.updates == 12
    assert second.ema.start_share == pytest.approx(straight.ema.start_share)
    for k, v in straight.ema.shadow.items():
        assert torch.allclose(v, second.ema.shadow[k], atol=1e-6), k

    # a checkpoint without ema_state: its EMA was updated at every step with a fixed decay
    del ckpt["ema_state"]
    save_checkpoint(tmp_path / "old.ckpt", ckpt)
    old = trainer(tmp_path / "c", ema_decay=0.99)
    old.resume(tmp_path / "old.ckpt")
    assert old.ema.updates == 4
    assert old.ema.start_share == pytest.approx(0.999 ** 4)  # the decay the checkpoint was trained with
    assert old.ema.current_decay() == pytest.approx(5 / 14)


# --------------------------------------------------------------------------- the command line
def test_graphdiff_train_warns_when_the_ema_has_not_settled(tmp_path):
    nx = pytest.importorskip("networkx")
    pytest.importorskip("graphdiff_social")
    from click.testing import CliRunner
    from graphdiff_social import SocialDomain

    from graphdiff.cli import cli

    source = tmp_path / "graphs.jsonl"
    SocialDomain().write([nx.cycle_graph(n) for n in range(4, 9)], source)

    def train(name: str, extra: str) -> list[str]:
        cfg = tmp_path / f"{name}.toml"
        cfg.write_text(f'[data]\ndomain = "social"\nsource = "{source}"\nval_fraction = 0.0\nbatch_size = 4\n'
                       f'[model]\nhidden = 16\nlayers = 1\n'
                       f'[training]\nmax_steps = 6\nout_dir = "{tmp_path / name}"\n{extra}')
        res = CliRunner().invoke(cli, ["train", "-q", str(cfg)])
        assert res.exit_code == 0, res.output
        return [line for line in res.output.splitlines() if line.startswith("warning:")]

    assert train("warm", "") == []
    [warning] = train("cold", "ema_warmup = false\n")  # one line on stderr, no source listing
    assert "after 6 steps the EMA weights are still 99 %" in warning
    assert "--no-ema" in warning

"""The ``baselines`` extension kind and ``graphdiff evaluate --baseline``, on a toy domain.

The domain ``words`` reads ``id,word`` lines; its baseline ``words-same-length`` proposes
training words of the reference's length, and its metric ``words-exact`` counts references
whose candidates contain the reference's word.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from torch_geometric.data import Data

import graphdiff
from graphdiff.cli import cli
from graphdiff.domain import Domain, Record
from graphdiff.graph import FieldSpec, GraphSpec
from graphdiff.plugins import get_manager, hookspecs
from graphdiff.registry import KINDS


class WordDomain(Domain):
    """Words as path graphs of letters (test domain)."""

    name = "words"
    read_suffixes = (".txt",)
    write_suffixes = (".txt",)

    @property
    def spec(self) -> GraphSpec:
        return GraphSpec("words", (FieldSpec("letter", "categorical", "node", num_classes=26),))

    def to_graph(self, obj: str) -> Data:
        return Data(num_nodes=len(obj), letter=torch.tensor([ord(c) - 97 for c in obj]))

    def from_graph(self, data: Data) -> str:
        return "".join(chr(97 + int(c)) for c in data.letter)

    def read(self, path, **options):
        for line in Path(path).read_text().splitlines():
            rid, word = line.split(",")
            yield Record(id=rid, obj=word, props={})

    def write(self, objs, path, *, append=False, ids=None, extra=None, **options):
        ids = ids or [str(i) for i in range(len(objs))]
        extra = extra or [{} for _ in objs]
        Path(path).write_text("".join(f"{i},{o},{json.dumps(e, sort_keys=True)}\n"
                                      for i, o, e in zip(ids, objs, extra)))


CALLS: list[dict[str, Any]] = []


def same_length(references, train, k, seed=0):
    """Up to k training words of the reference's length, in training order."""
    out = []
    for ref in references:
        pool = [t["obj"] for t in train if len(t["obj"]) == len(ref["obj"])]
        out += [{"id": ref["id"], "obj": w, "sample": r} for r, w in enumerate(pool[:k])]
    return out


def exact(generated, references, train=None, k=None, **kw):
    """Fraction of references whose first kk candidates contain the reference itself."""
    CALLS.append({"k": k, "kw": kw, "num_generated": len(generated), "train": train is not None})
    by_id: dict[str, list[str]] = {}
    for rec in generated:
        by_id.setdefault(str(rec["id"]), []).append(rec["obj"])
    return {"metrics": {f"k={kk}": sum(r["obj"] in by_id.get(r["id"], [])[:kk] for r in references)
                        / len(references) for kk in (k or [1])},
            "per_item": [{"id": r["id"]} for r in references]}


class WordPlugin:
    @graphdiff.hookimpl
    def register_domains(self, register):
        register("words", WordDomain())

    @graphdiff.hookimpl
    def register_metrics(self, register):
        register("words-exact", exact)

    @graphdiff.hookimpl
    def register_baselines(self, register):
        register("words-same-length", same_length, description="training words of the same length")


@pytest.fixture
def words(graphdiff_plugins, tmp_path: Path) -> dict[str, Path]:
    graphdiff_plugins(WordPlugin())
    CALLS.clear()
    files = {"train": "t1,cat\nt2,dog\nt3,horse\nt4,ox\n", "ref": "r1,dog\nr2,mouse\nr3,eagle\nr4,bird\n",
             "gen": "r1,dog\nr2,house\n"}
    out = {}
    for name, text in files.items():
        out[name] = tmp_path / f"{name}.txt"
        out[name].write_text(text)
    return out


def invoke(args: list[str]):
    return CliRunner().invoke(cli, ["evaluate", "--domain", "words", "--task", "exact", *args])


# ---------------------------------------------------------------------------- the kind
def test_baselines_is_a_kind_with_a_documented_hook() -> None:
    assert "baselines" in KINDS
    doc = hookspecs.register_baselines.__doc__
    assert "baseline(references: list[Record], train: list[Record], k: int, seed: int = 0)" in doc
    assert '"id"' in doc and "rank order" in doc


def test_baseline_registered_by_a_plugin_is_found(words) -> None:
    manager = get_manager()
    assert manager.get("baselines", "words-same-length") is same_length
    entry = manager.registry("baselines").entry("words-same-length")
    assert entry.origin.startswith("plugin 'WordPlugin'") and entry.description
    assert manager.plugins["WordPlugin"].registered["baselines"] == ["words-same-length"]


def test_a_baseline_must_be_callable(graphdiff_plugins) -> None:
    pm = graphdiff_plugins()
    with pytest.raises(TypeError, match="'thing' must be callable, got int"):
        pm.registry("baselines").register("thing", 3, origin="test")


# ---------------------------------------------------------------------------- the command
def test_evaluate_a_baseline(words, tmp_path: Path) -> None:
    out, saved = tmp_path / "m.json", tmp_path / "cands.txt"
    res = invoke(["--baseline", "same-length", "--reference", str(words["ref"]), "--train", str(words["train"]),
                  "--k", "1", "--k", "2", "--seed", "7", "--dataset", "toy", "--save-generated", str(saved),
                  "--out", str(out)])
    assert res.exit_code == 0, res.output
    result = json.loads(out.read_text())
    assert result["metrics"] == {"k=1": 0.0, "k=2": 0.25}  # dog is the 2nd three-letter word
    assert result["baseline"] == "same-length" and result["seed"] == 7
    assert result["baseline_candidates"] == 4 and result["baseline_references_without_candidates"] == 1
    assert CALLS == [{"k": [1, 2], "kw": {"dataset": "toy"}, "num_generated": 4, "train": True}]
    assert saved.read_text().splitlines() == [
        'r1,cat,{"sample": 0}', 'r1,dog,{"sample": 1}', 'r2,horse,{"sample": 0}', 'r3,horse,{"sample": 0}']
    assert "wrote 4 baseline candidates" in res.output


def test_baseline_default_k_and_no_dataset(words) -> None:
    res = invoke(["--baseline", "same-length", "--reference", str(words["ref"]), "--train", str(words["train"])])
    assert res.exit_code == 0, res.output
    assert CALLS[0]["k"] == [1, 2] and CALLS[0]["kw"] == {}
    assert json.loads(res.output)["baseline"] == "same-length"


def test_generated_file_still_works(words) -> None:
    res = invoke(["--generated", str(words["gen"]), "--reference", str(words["ref"]), "--k", "1"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["metrics"] == {"k=1": 0.25}
    assert "baseline" not in json.loads(res.output) and CALLS[0]["kw"] == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give exactly one of --generated FILE"),
        (["--generated", "{gen}", "--baseline", "same-length", "--train", "{train}"], "both were given"),
        (["--baseline", "same-length"], "needs --train FILE"),
        (["--baseline", "same-lenght", "--train", "{train}"],
         "unknown baseline 'same-lenght' for domain 'words' (no baseline registered as 'words-same-lenght'). "
         "Valid names: same-length"),
        (["--generated", "{gen}", "--save-generated", "x.txt"], "only a --baseline's candidates can be saved"),
        (["--baseline", "same-length", "--train", "{train}", "--k", "0"], "must be at least 1"),
    ],
)
def test_evaluate_errors(words, args: list[str], message: str) -> None:
    args = [a.format(gen=words["gen"], train=words["train"]) for a in args]
    res = invoke(["--reference", str(words["ref"]), *args])
    assert res.exit_code == 2, res.output
    assert "error: " in res.output and message in res.output
    assert CALLS == []


def test_a_baseline_breaking_the_contract_is_reported(graphdiff_plugins, words) -> None:
    class Bad:
        @graphdiff.hookimpl
        def register_baselines(self, register):
            register("words-bad", lambda references, train, k, seed=0: [{"obj": "x"}])

    get_manager().add_plugin(Bad(), "Bad")
    res = invoke(["--baseline", "bad", "--reference", str(words["ref"]), "--train", str(words["train"])])
    assert res.exit_code == 2 and "baseline 'bad': candidate 0 is not a record with 'id' and 'obj'" in res.output

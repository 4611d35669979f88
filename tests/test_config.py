"""Run configs: TOML/YAML/JSON files, errors that name the file and field, paths, round trips."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from graphdiff.config import RunConfig, dump_config, load_config, parse_config, read_mapping
from graphdiff.errors import ConfigError

PARSERS: dict[str, Callable[[str], Any]] = {"toml": tomllib.loads, "yaml": yaml.safe_load,
                                            "json": json.loads}

TOML = """
[data]
domain = "crystals"
source = "data/train.csv"
batch_size = 32

[model]
hidden = 64

[diffusion]
given = ["atom_types"]

[diffusion.fields.frac_coords]
schedule = "linear"
sigma_max = 0.8

[training]
lr = 0.0005
max_steps = 10
out_dir = "runs/csp"
"""

RAW: dict[str, Any] = tomllib.loads(TOML)


def write(path: Path, raw: dict[str, Any]) -> Path:
    """Write ``raw`` in the format ``path``'s suffix names (TOML: the literal text above)."""
    if path.suffix == ".toml":
        assert raw is RAW, "TOML files are written literally in each test"
        text = TOML
    elif path.suffix in (".yaml", ".yml"):
        text = yaml.safe_dump(raw)
    else:
        text = json.dumps(raw)
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------- reading files
@pytest.mark.parametrize("suffix", [".toml", ".yaml", ".yml", ".json"])
def test_each_format_loads_the_same_config(tmp_path: Path, suffix: str) -> None:
    cfg = load_config(write(tmp_path / f"run{suffix}", RAW))
    assert isinstance(cfg, RunConfig)
    assert cfg.data.domain == "crystals" and cfg.data.batch_size == 32
    assert cfg.model.hidden == 64 and cfg.model.layers == 4  # default filled in
    assert cfg.diffusion.given == ["atom_types"]
    assert cfg.diffusion.fields["frac_coords"].schedule == "linear"
    assert cfg.diffusion.fields["frac_coords"].sigma_max == 0.8
    assert cfg.diffusion.fields["frac_coords"].prediction == "eps"
    assert cfg.training.lr == 0.0005 and cfg.sampling.steps == 200


def test_formats_agree(tmp_path: Path) -> None:
    configs = [load_config(write(tmp_path / f"run{s}", RAW)) for s in (".toml", ".yaml", ".json")]
    assert configs[0] == configs[1] == configs[2]


def test_minimal_config_needs_only_the_domain() -> None:
    cfg = parse_config({"data": {"domain": "social"}})
    assert cfg == RunConfig.model_validate({"data": {"domain": "social"}})
    assert cfg.data.source is None and cfg.training.seed == 0


def test_empty_yaml_says_what_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    with pytest.raises(ConfigError, match=r"empty\.yaml: data: Field required"):
        load_config(path)


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize("suffix", [".toml", ".yaml", ".json"])
def test_errors_name_file_and_dotted_field(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"bad{suffix}"
    path.write_text({
        ".toml": '[data]\ndomain = "crystals"\nbatch_size = -4\n[training]\nlr = 0\n',
        ".yaml": "data:\n  domain: crystals\n  batch_size: -4\ntraining:\n  lr: 0\n",
        ".json": '{"data": {"domain": "crystals", "batch_size": -4}, "training": {"lr": 0}}',
    }[suffix])
    with pytest.raises(ConfigError) as info:
        load_config(path)
    lines = str(info.value).splitlines()
    assert f"{path}: data.batch_size: Input should be greater than 0 (got -4)" in lines
    assert any(line.startswith(f"{path}: training.lr: Input should be greater than 0") for line in lines)
    assert len(lines) == 2  # one line per error, nothing else


def test_missing_domain_named(tmp_path: Path) -> None:
    path = write(tmp_path / "run.json", {"data": {"batch_size": 3}})
    with pytest.raises(ConfigError, match=r"run\.json: data\.domain: Field required"):
        load_config(path)


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ({"data": {"domain": "x", "batchsize": 3}}, "data.batchsize"),
        ({"data": {"domain": "x"}, "trainig": {}}, "trainig"),
        ({"data": {"domain": "x"}, "diffusion": {"fields": {"frac": {"schedul": "linear"}}}},
         "diffusion.fields.frac.schedul"),
        ({"data": {"domain": "x"}, "sampling": {"use_ema": True, "steps": 5, "temperature": 1}},
         "sampling.temperature"),
    ],
)
def test_unknown_keys_rejected_with_their_path(raw: dict[str, Any], where: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, where="run.yaml")
    assert f"run.yaml: {where}: unknown key (check the spelling)" in str(info.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"data": {"domain": "x", "val_fraction": 1.0}}, "data.val_fraction: Input should be less than 1"),
        ({"data": {"domain": "x"}, "diffusion": {"fields": {"f": {"prediction": "score"}}}},
         "diffusion.fields.f.prediction: Input should be 'eps', 'x0' or 'v' (got 'score')"),
        ({"data": {"domain": "x"}, "diffusion": {"given": ["a", "a"]}}, "diffusion.given: Value error, names repeat"),
        ({"data": {"domain": "x"}, "training": {"ema_decay": 1.0}}, "training.ema_decay"),
        ({"data": {"domain": "x"}, "sampling": {"sampler": "euler"}}, "sampling.sampler"),
        ({"data": {"domain": "x"}, "model": {"layers": "four"}}, "model.layers: Input should be a valid integer"),
        ({"data": "crystals"}, "data: Input should be a valid dictionary"),
    ],
)
def test_bad_values_name_the_field(raw: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, where="cfg.toml")
    assert f"cfg.toml: {expected}" in str(info.value)


@given(st.integers(max_value=0))
def test_any_non_positive_batch_size_is_named(batch_size: int) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"data": {"domain": "x", "batch_size": batch_size}}, where="a.yaml")
    assert str(info.value) == f"a.yaml: data.batch_size: Input should be greater than 0 (got {batch_size})"


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_config({"data": {}})


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("broken.toml", "[data\ndomain = 1", "broken.toml: not valid TOML"),
        ("broken.yaml", "data: [1, 2", "broken.yaml: not valid YAML"),
        ("broken.json", '{"data": ', "broken.json: not valid JSON"),
        ("run.ini", "[data]", "run.ini: unknown config format '.ini'"),
        ("list.yaml", "- 1\n- 2\n", "list.yaml: the top level must be a table/mapping, got list"),
    ],
)
def test_unreadable_files_named(tmp_path: Path, name: str, text: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(str(tmp_path / expected.split(":")[0]))
    assert expected.split(": ", 1)[1] in str(info.value)


def test_missing_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: no such file"):
        load_config(tmp_path / "nope.toml")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("data:\n  domain: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin\.yaml: not UTF-8 text"):
        read_mapping(latin)


# ---------------------------------------------------------------------------- paths
def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "configs" / "csp"
    folder.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    raw = {"data": {"domain": "crystals", "source": "../data/train.csv",
                    "val_source": str(tmp_path / "abs" / "val.csv")}}
    cfg = load_config(write(folder / "run.yaml", raw))
    assert cfg.data.source == str((tmp_path / "configs" / "data" / "train.csv").resolve())
    assert cfg.data.val_source == str(tmp_path / "abs" / "val.csv")  # absolute: unchanged
    assert cfg.data.train_source is None
    assert cfg.training.out_dir == str((folder / "runs" / "default").resolve())
    # parse_config without a base folder leaves paths alone
    assert parse_config(raw).data.source == "../data/train.csv"


def test_relative_path_same_from_any_working_directory(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "run.toml", RAW)
    results = set()
    for cwd in (tmp_path, tmp_path.parent, Path("/")):
        monkeypatch.chdir(cwd)
        results.add(load_config(path.relative_to(cwd) if cwd != Path("/") else path).data.source)
    assert results == {str(tmp_path / "data" / "train.csv")}


# ---------------------------------------------------------------------------- dumping
@pytest.mark.parametrize("fmt", ["toml", "yaml", "json"])
def test_dump_reparses_to_an_equal_config(fmt: str) -> None:
    cfg = parse_config({
        "data": {"domain": "crystals", "source": "/data/x.csv", "max_items": 7,
                 "options": {"columns": ["cif", "gap"], "with space": {"deep": 1.5}, "flag": True}},
        "diffusion": {"given": ["atom_types"], "condition": ["gap"],
                      "fields": {"lattice": {"schedule": "cosine", "schedule_options": {"s": 0.01}},
                                 "frac_coords": {"prior": "uniform", "sigma_min": 0.01}}},
        "model": {"denoiser": "cspnet", "options": {"layer norm": {"eps": 1e-5}, "a.b": {"c d": {"e": [1, 2]}}}},
        "sampling": {"guidance_scale": -1.5},
    })
    text = dump_config(cfg, fmt)  # type: ignore[arg-type]
    assert parse_config(PARSERS[fmt](text)) == cfg


@pytest.mark.parametrize("fmt", ["toml", "yaml", "json"])
def test_dump_fills_every_default(fmt: str) -> None:
    raw = PARSERS[fmt](dump_config(parse_config({"data": {"domain": "social"}}), fmt))  # type: ignore[arg-type]
    assert set(raw) == {"data", "model", "diffusion", "training", "sampling"}
    assert raw["training"]["lr"] == 1e-3 and raw["sampling"]["steps"] == 200
    assert raw["data"]["batch_size"] == 64 and raw["model"]["denoiser"] == "auto"


def test_dump_toml_refuses_to_lose_a_null() -> None:
    cfg = parse_config({"data": {"domain": "x", "options": {"k": None}}, "training": {"grad_clip": None}})
    for fmt in ("yaml", "json"):
        assert parse_config(PARSERS[fmt](dump_config(cfg, fmt))) == cfg  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as info:
        dump_config(cfg, "toml")
    assert "data.options.k" in str(info.value) and "training.grad_clip" in str(info.value)
    # a None that reads back as the default None is fine
    assert "max_items" not in dump_config(parse_config({"data": {"domain": "x"}}), "toml")


SAFE_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
FINITE = st.floats(allow_nan=False, allow_infinity=False)


@given(
    fmt=st.sampled_from(["toml", "yaml", "json"]),
    domain=SAFE_TEXT,
    batch_size=st.integers(1, 10**9),
    val_fraction=st.floats(0.0, 1.0, exclude_max=True),
    lr=st.floats(min_value=1e-12, max_value=1e6, exclude_min=False),
    hidden=st.integers(1, 4096),
    guidance=FINITE,
    cond_drop=st.floats(0.0, 1.0),
    sigma_max=st.floats(min_value=1e-9, max_value=1e9),
    options=st.dictionaries(SAFE_TEXT, st.one_of(st.integers(-10**6, 10**6), FINITE, SAFE_TEXT,
                                                 st.booleans(), st.lists(st.integers(), max_size=3)),
                            max_size=4),
)
def test_dump_roundtrip_property(fmt: str, domain: str, batch_size: int, val_fraction: float,
                                 lr: float, hidden: int, guidance: float, cond_drop: float,
                                 sigma_max: float, options: dict[str, Any]) -> None:
    cfg = parse_config({
        "data": {"domain": domain, "batch_size": batch_size, "val_fraction": val_fraction,
                 "options": options},
        "model": {"hidden": hidden},
        "diffusion": {"cond_drop": cond_drop, "fields": {"x": {"sigma_max": sigma_max}}},
        "training": {"lr": lr},
        "sampling": {"guidance_scale": guidance},
    })
    text = dump_config(cfg, fmt)  # type: ignore[arg-type]
    assert parse_config(PARSERS[fmt](text)) == cfg

"""The checkpoints and predictors the plugins ship stay light: at most 80 MB together, every
weights file in a plugin's ``checkpoints/`` or ``predictors/`` folder (so none escapes the count),
each with its manifest, and a retrained model replaces its file instead of adding a version."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))
#: the most the bundled checkpoints and predictors of all plugins may weigh together (bytes)
LIMIT = 80 * 1000 ** 2
BUNDLE_FOLDERS = ("checkpoints", "predictors")
WEIGHTS = {".ckpt", ".pt", ".pth", ".safetensors", ".bin", ".npz", ".pkl", ".onnx", ".h5"}
#: names that mark a second version of a model beside the first
VERSIONED = re.compile(r"[-_.](?:v\d+|old|new|bak|backup|orig|copy|prev|previous|final|retrained|\d{6,8})$",
                       re.IGNORECASE)


def package_data(plugin: Path) -> dict[Path, list[str]]:
    """Each package folder of a plugin and the ``package-data`` patterns it ships."""
    config = tomllib.loads((plugin / "pyproject.toml").read_text())
    data = config.get("tool", {}).get("setuptools", {}).get("package-data", {})
    return {plugin / name.replace(".", "/"): list(patterns) for name, patterns in data.items()}


def bundled_files() -> list[Path]:
    """The files the plugins ship in their checkpoints/ and predictors/ folders."""
    found: set[Path] = set()
    for plugin in PLUGINS:
        for package, patterns in package_data(plugin).items():
            for pattern in patterns:
                if pattern.split("/")[0] in BUNDLE_FOLDERS:
                    found.update(p for p in package.glob(pattern) if p.is_file())
    return sorted(found)


def weights_in_packages() -> list[Path]:
    """Every weights-like file in the plugins' package folders."""
    return sorted(p for plugin in PLUGINS for package in package_data(plugin)
                  for p in package.rglob("*") if p.is_file() and p.suffix in WEIGHTS)


def test_the_plugins_bundle_checkpoints() -> None:
    # the test below would pass on nothing: make sure it weighs what is shipped
    assert any(p.suffix == ".ckpt" for p in bundled_files())
    assert any(p.suffix == ".pt" and p.parent.name == "predictors" for p in bundled_files())


def test_bundled_checkpoints_and_predictors_weigh_at_most_80_mb() -> None:
    files = bundled_files()
    total = sum(p.stat().st_size for p in files)
    largest = sorted(files, key=lambda p: -p.stat().st_size)[:5]
    assert total <= LIMIT, (
        f"the plugins bundle {total / 1e6:.1f} MB of checkpoints and predictors (limit {LIMIT / 1e6:.0f} MB); "
        "largest: " + ", ".join(f"{p.relative_to(ROOT)} {p.stat().st_size / 1e6:.1f} MB" for p in largest)
        + ". Ship a smaller model (fewer members, float16 weights) and leave larger ones to be trained "
          "or loaded from a path")


def test_every_weights_file_is_in_a_bundle_folder_that_is_shipped_and_counted() -> None:
    shipped = set(bundled_files())
    stray = [p.relative_to(ROOT).as_posix() for p in weights_in_packages() if p not in shipped]
    assert stray == [], f"weights outside the counted checkpoints/ and predictors/ package data: {stray}"


@pytest.mark.parametrize("plugin", PLUGINS, ids=lambda p: p.name)
def test_each_bundled_model_is_one_file_with_its_manifest(plugin: Path) -> None:
    files = [p for p in bundled_files() if p.is_relative_to(plugin)]
    weights = [p for p in files if p.suffix in WEIGHTS]
    manifests = {p.with_suffix("") for p in files if p.suffix == ".json"}
    assert [p.name for p in weights if p.with_suffix("") not in manifests] == [], "weights without a NAME.json manifest"
    assert [p.name for p in manifests if not any(w.with_suffix("") == p for w in weights)] == [], \
        "manifests without weights"
    versioned = [p.name for p in weights if VERSIONED.search(p.stem)]
    assert versioned == [], (f"{versioned}: a retrained model replaces its file (same name) rather than "
                             "adding a version beside it")
    stems = [VERSIONED.sub("", p.stem) for p in weights]
    assert len(stems) == len(set(stems))


def test_the_version_pattern_tells_versions_from_model_names() -> None:
    assert all(VERSIONED.search(n) for n in ("perov5-csp-v2", "qm9-dng.old", "planar_20261201", "sbm-dng-new"))
    assert not any(VERSIONED.search(n) for n in ("perov5-csp", "carbon24-dng-energy", "qm9-gap", "perov5-heat",
                                                 "community-small-dng", "roads-dng"))

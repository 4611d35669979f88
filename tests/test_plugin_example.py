"""The worked example of docs/writing-a-plugin.md, tested literally.

The code blocks marked ```` ```lang file=PATH ```` are written into a fresh folder exactly as the
page shows them, installed with pip (``--target``, non-editable, no build isolation: the venv's
setuptools builds it offline), and then:

* ``graphdiff plugins --json`` run as a subprocess with ``PYTHONPATH`` at the install folder shows
  the plugin, its distribution, version and registrations;
* the page's own test file passes under pytest (a subprocess, with graphdiff's pytest plugin);
* the blocks marked ```` ```text output=NAME ```` match what the commands really print;
* the registered domain round-trips through :func:`graphdiff.testing.assert_roundtrip` and the
  schedule, target and metric compute what they claim;
* the commands of the block marked ```` ```console commands=walkthrough ```` run as the page
  shows them (on a smaller model: the configs' sizes are cut down here), training a model
  conditioned on the page's target, sampling with classifier-free and gradient guidance by it,
  and scoring the samples with the page's metric through ``graphdiff evaluate``; then
  ``guide.py`` runs.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import runpy
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import torch
from click.testing import CliRunner

from graphdiff.cli import cli
from graphdiff.plugins import PluginManager, manager as manager_module, reset_manager
from graphdiff.schedules import NoiseSchedule
from graphdiff.testing import assert_roundtrip

DOC = Path(__file__).resolve().parents[1] / "docs" / "writing-a-plugin.md"
ENV_VARS = ("GRAPHDIFF_DISABLE_PLUGIN_AUTOLOAD", "GRAPHDIFF_PLUGINS", "GRAPHDIFF_STRICT_PLUGINS")
EXPECTED_FILES = {
    "pyproject.toml",
    "graphdiff_paths/__init__.py",
    "graphdiff_paths/domain.py",
    "graphdiff_paths/schedules.py",
    "graphdiff_paths/plugin.py",
    "graphdiff_paths/targets.py",
    "graphdiff_paths/metrics.py",
    "tests/test_paths.py",
    "try_it.py",
    "make_data.py",
    "plain.toml",
    "conditioned.toml",
    "guide.py",
}
REGISTERED = {"domains": ["paths"], "metrics": ["paths-dng"], "schedules": ["paths-linear"],
              "targets": ["paths-mean-signal"]}
#: what the walkthrough's configs become here, so that it runs in seconds
SMALLER = {"hidden = 32": "hidden = 16", "layers = 2": "layers = 1", "max_steps = 2000": "max_steps = 12",
           "\nsteps = 100": "\nsteps = 6"}

FENCE = re.compile(r"^```(?P<lang>[\w-]*)(?P<attrs>[^\n]*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)


def doc_blocks() -> tuple[dict[str, str], dict[str, str]]:
    """``(files, outputs)``: the blocks with ``file=PATH`` and with ``output=NAME``."""
    files: dict[str, str] = {}
    outputs: dict[str, str] = {}
    for m in FENCE.finditer(DOC.read_text(encoding="utf-8")):
        attrs = dict(a.split("=", 1) for a in m["attrs"].split() if "=" in a)
        if "file" in attrs:
            assert attrs["file"] not in files, f"{attrs['file']} appears twice in {DOC.name}"
            files[attrs["file"]] = m["body"]
        if "output" in attrs:
            outputs[attrs["output"]] = m["body"]
    return files, outputs


def doc_commands(name: str) -> list[list[str]]:
    """The commands (``$ ...`` lines, split as a shell would) of the block ``commands=NAME``."""
    for m in FENCE.finditer(DOC.read_text(encoding="utf-8")):
        attrs = dict(a.split("=", 1) for a in m["attrs"].split() if "=" in a)
        if attrs.get("commands") == name:
            return [shlex.split(line[2:]) for line in m["body"].splitlines() if line.startswith("$ ")]
    raise AssertionError(f"{DOC.name} has no block marked commands={name}")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS and k != "PYTHONPATH"}
    return {**env, **extra}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Write the page's files, pip-install them into a folder, and run the subprocess checks
    (started together: each pays for importing torch)."""
    files, outputs = doc_blocks()
    root = tmp_path_factory.mktemp("example")
    src, site = root / "graphdiff-paths", root / "site"
    for rel, body in files.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--disable-pip-version-check", "--target", str(site), str(src)],
        capture_output=True, text=True, timeout=300, env=clean_env(),
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    env = clean_env(PYTHONPATH=str(site), GRAPHDIFF_PLUGINS="paths")
    procs = {
        "plugins": subprocess.Popen([str(Path(sys.executable).with_name("graphdiff")), "plugins", "--json"],
                                    env=env, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True),
        # the page's tests, against the installed plugin (run from the test folder, not src)
        "pytest": subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                    "--rootdir", str(src / "tests"), str(src / "tests" / "test_paths.py")],
                                   env=env, cwd=src / "tests", stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True),
    }
    results: dict[str, Any] = {"files": files, "outputs": outputs, "src": src, "site": site}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        results[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return results


@pytest.fixture
def on_path(installed: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The install folder on ``sys.path``, only the ``paths`` plugin allowed, and a fresh
    process-wide manager; the plugin's modules are forgotten afterwards."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GRAPHDIFF_PLUGINS", "paths")
    monkeypatch.syspath_prepend(str(installed["site"]))
    previous = manager_module._MANAGER
    reset_manager(None)
    yield installed["site"]
    reset_manager(previous)
    for name in [m for m in sys.modules if m == "graphdiff_paths" or m.startswith("graphdiff_paths.")]:
        del sys.modules[name]
    importlib.invalidate_caches()


def test_doc_has_every_file_of_the_example() -> None:
    files, outputs = doc_blocks()
    assert set(files) == EXPECTED_FILES
    assert {"plugins", "try_it"} <= set(outputs)
    assert '[project.entry-points.graphdiff]\npaths = "graphdiff_paths.plugin"' in files["pyproject.toml"]
    for hook in ("register_domains", "register_schedules", "register_targets", "register_metrics"):
        assert f"@graphdiff.hookimpl\ndef {hook}(register):" in files["graphdiff_paths/plugin.py"]
    assert "assert_roundtrip" in files["tests/test_paths.py"]
    assert "def test_registrations(graphdiff_plugins):" in files["tests/test_paths.py"]


def test_pip_installed_the_distribution(installed: dict[str, Any]) -> None:
    site: Path = installed["site"]
    (info,) = site.glob("graphdiff_paths-0.1.0.dist-info")
    assert 'paths = graphdiff_paths.plugin' in (info / "entry_points.txt").read_text()
    assert (site / "graphdiff_paths" / "plugin.py").read_text() == installed["files"]["graphdiff_paths/plugin.py"]


def test_graphdiff_plugins_json_shows_the_plugin(installed: dict[str, Any]) -> None:
    proc = installed["plugins"]
    assert proc.returncode == 0, proc.stderr
    plugins = {p["name"]: p for p in json.loads(proc.stdout)["plugins"]}
    assert set(plugins) == {"graphdiff", "paths"}
    paths = plugins["paths"]
    assert paths["distribution"] == "graphdiff-paths" and paths["version"] == "0.1.0"
    assert paths["module"] == "graphdiff_paths.plugin"
    assert paths["registered"] == REGISTERED
    assert paths["errors"] == []


def test_the_pages_own_tests_pass(installed: dict[str, Any]) -> None:
    proc = installed["pytest"]
    assert proc.returncode == 0, proc.stdout
    assert re.search(r"\b7 passed\b", proc.stdout), proc.stdout


def test_plugins_listing_matches_the_page(installed: dict[str, Any], on_path: Path) -> None:
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    shown = installed["outputs"]["plugins"].splitlines()
    lines = result.stdout.splitlines()
    start = lines.index(shown[0])
    assert lines[start:start + len(shown)] == shown


def test_try_it_prints_what_the_page_says(installed: dict[str, Any], on_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(installed["src"] / "try_it.py"), run_name="__main__")
    assert capsys.readouterr().out == installed["outputs"]["try_it"]


def test_registered_objects_work(on_path: Path) -> None:
    pm = PluginManager().load()
    assert set(pm.plugins) == {"graphdiff", "paths"} and pm.plugins["paths"].ok, pm.errors
    from graphdiff_paths.domain import SignalPath

    domain = pm.get("domains", "paths")
    for values in [(0.0,), (1.5, -2.0), (3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0)]:
        data = assert_roundtrip(domain, SignalPath(values))
        assert data.num_nodes == len(values)
    with pytest.raises(AssertionError, match="round trip through domain 'paths' changed the object"):
        assert_roundtrip(domain, SignalPath((1.0, 2.0)), equal=lambda a, b: False)

    schedule_cls = pm.get("schedules", "paths-linear")
    assert issubclass(schedule_cls, NoiseSchedule)
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    assert torch.allclose(schedule_cls().alpha_bar(t), (1 - t).clamp_min(1e-5))

    target = pm.get("targets", "paths-mean-signal")
    assert target.domain == "paths" and target(SignalPath((2.0, 4.0))) == 3.0
    assert target.differentiable

    metric = pm.get("metrics", "paths-dng")
    records = [{"id": "a", "obj": SignalPath((1.0, 3.0))}, {"id": "b", "obj": SignalPath((float("nan"),))}]
    result = metric(records, records[:1], train=None, k=None)
    assert (result["validity"], result["mean_signal"], result["novelty"]) == (0.5, 2.0, None)
    assert [row["valid"] for row in result["per_item"]] == [True, False]


def test_the_walkthrough_conditions_guides_and_evaluates(installed: dict[str, Any], on_path: Path,
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    files = installed["files"]
    for name in ("make_data.py", "plain.toml", "conditioned.toml", "guide.py"):
        text = files[name]
        if name.endswith(".toml"):
            for old, new in SMALLER.items():
                assert old in text, f"{name} no longer says {old!r}: update SMALLER"
                text = text.replace(old, new)
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    commands = doc_commands("walkthrough")
    assert [c[:2] for c in commands] == [["python", "make_data.py"], ["graphdiff", "config"],
                                         ["graphdiff", "train"], ["graphdiff", "train"], ["graphdiff", "sample"],
                                         ["graphdiff", "sample"], ["graphdiff", "evaluate"]]
    outputs = []
    for command in commands:
        if command[0] == "python":
            runpy.run_path(command[1], run_name="__main__")
            continue
        quiet = ["--quiet"] if command[1] in ("train", "sample", "evaluate") else []
        result = CliRunner().invoke(cli, command[1:] + quiet)
        assert result.exit_code == 0, f"{shlex.join(command)}\n{result.output}"
        outputs.append(result.stdout)

    from graphdiff.model import read_checkpoint

    conditioned = json.loads(read_checkpoint(tmp_path / "runs/conditioned/last.ckpt")["config"])
    assert conditioned["diffusion"]["condition"] == ["paths-mean-signal"]
    # the gradient-guided sample scores what it wrote with the target and records the request
    assert "paths-mean-signal >= 1.5" in outputs[4]
    written = (tmp_path / "guided.paths").read_text().splitlines()
    assert written and all("requested_paths-mean-signal=>=1.5" in line for line in written)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["task"] == "dng" and metrics["num_generated"] == len(written)
    assert len(metrics["per_item"]) == len(written) and metrics["novelty"] is not None

    capsys.readouterr()
    runpy.run_path(str(tmp_path / "guide.py"), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    free, guided = (float(v.split()[0]) for v in lines[-1].split(": ", 1)[1].split(", "))
    assert guided > free, lines  # the same seed: only the guidance differs

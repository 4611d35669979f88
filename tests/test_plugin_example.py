"""The worked example of docs/writing-a-plugin.md, tested literally.

The code blocks marked ```` ```lang file=PATH ```` are written into a fresh folder exactly as the
page shows them, installed with pip (``--target``, non-editable, no build isolation: the venv's
setuptools builds it offline), and then:

* ``graphdiff plugins --json`` run as a subprocess with ``PYTHONPATH`` at the install folder shows
  the plugin, its distribution, version and registrations;
* the page's own test file passes under pytest (a subprocess, with graphdiff's pytest plugin);
* the blocks marked ```` ```text output=NAME ```` match what the commands really print;
* the registered domain round-trips through :func:`graphdiff.testing.assert_roundtrip` and the
  schedule and target compute what they claim.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import runpy
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
    "tests/test_paths.py",
    "try_it.py",
}
REGISTERED = {"domains": ["paths"], "schedules": ["paths-linear"], "targets": ["paths-mean-signal"]}

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
    for hook in ("register_domains", "register_schedules", "register_targets"):
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
    assert re.search(r"\b5 passed\b", proc.stdout), proc.stdout


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

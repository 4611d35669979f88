"""Registration by location: a name, where the object lives and its metadata at start-up, the
import on first use; errors that name the plugin; both styles side by side."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner

from graphdiff import builtins
from graphdiff.cli import cli
from graphdiff.errors import CheckpointError, LazyLoadError, PluginError, UnknownNameError
from graphdiff.plugins import PluginManager, manager as manager_module, reset_manager
from graphdiff.registry import Lazy, Registry, factory, is_location

PREFIX = "gdlazy_"
ENV_VARS = ("GRAPHDIFF_DISABLE_PLUGIN_AUTOLOAD", "GRAPHDIFF_PLUGINS", "GRAPHDIFF_STRICT_PLUGINS",
            "GRAPHDIFF_PREDICTORS")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh ``sys.path`` folder; the modules imported from it are forgotten afterwards, and
    the process-wide plugin manager is restored."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    previous = manager_module._MANAGER
    yield root
    reset_manager(previous)
    for name in [m for m in sys.modules if m.startswith(PREFIX)]:
        del sys.modules[name]
    importlib.invalidate_caches()


def write_module(root: Path, name: str, source: str) -> None:
    path = root / (name.replace(".", "/") + ".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    for parent in path.relative_to(root).parents:
        if str(parent) != ".":
            (root / parent / "__init__.py").touch()
    path.write_text(textwrap.dedent(source))
    importlib.invalidate_caches()


def write_dist(root: Path, ep_name: str, module: str, dist: str, version: str = "1.0.0") -> None:
    """A distribution ``dist`` declaring ``[graphdiff] ep_name = module`` (as pip installs it)."""
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[graphdiff]\n{ep_name} = {module}\n")


SCHEDULES = '''
from graphdiff.schedules import NoiseSchedule

class Quarter(NoiseSchedule):
    """alpha_bar(t) = 1 - 3t/4."""

    def _alpha_bar(self, t):
        return 1 - 0.75 * t

NOT_A_SCHEDULE = 42

def make(k, *, offset=0):
    return ("built", k, offset)
'''


# ---------------------------------------------------------------------------- the registry alone
def test_location_strings_are_recognised() -> None:
    assert is_location("pkg.mod:attr") and is_location("pkg:Class.attr")
    for not_one in ("energy", "pkg.mod", "pkg:mod:attr", "a b:c", ":attr", "pkg:", 3, None):
        assert not is_location(not_one)
    with pytest.raises(ValueError, match="'package.module:attribute'"):
        Lazy("no colon here")


def test_located_object_is_imported_on_first_use(site: Path) -> None:
    write_module(site, PREFIX + "sched", SCHEDULES)
    reg: Registry = Registry("schedules")
    reg.register("quarter", f"{PREFIX}sched:Quarter", origin="plugin 'q'", description="test")
    entry = reg.entry("quarter")
    assert not entry.loaded and entry.location == f"{PREFIX}sched:Quarter"
    assert PREFIX + "sched" not in sys.modules  # registering imported nothing
    assert [e.name for e in reg.entries()] == ["quarter"] and "quarter" in reg
    cls = reg.get("quarter")
    assert cls.__name__ == "Quarter" and entry.loaded and entry.obj is cls and reg["quarter"] is cls
    assert PREFIX + "sched" in sys.modules


def test_factory_builds_once_with_its_arguments(site: Path) -> None:
    write_module(site, PREFIX + "sched", SCHEDULES)
    reg: Registry = Registry("objectives")
    reg.register("made", factory(f"{PREFIX}sched:make", 3, offset=2))
    first = reg.get("made")
    assert first == ("built", 3, 2) and reg.get("made") is first
    assert str(reg.entry("made").lazy) == f"{PREFIX}sched:make(3, offset=2)"


def test_the_check_runs_when_the_object_loads(site: Path) -> None:
    write_module(site, PREFIX + "sched", SCHEDULES)
    manager = PluginManager(autoload=False).load()
    reg = manager.registry("schedules")
    reg.register("number", f"{PREFIX}sched:NOT_A_SCHEDULE", origin="plugin 'q' (q-dist 1.0, entry point q = q.plugin)")
    with pytest.raises(LazyLoadError) as info:
        reg.get("number")
    msg = str(info.value)
    assert msg.startswith("plugin 'q' (q-dist 1.0, entry point q = q.plugin): ")
    assert f"schedule 'number' loaded from {PREFIX}sched:NOT_A_SCHEDULE is not usable" in msg
    assert "must be a subclass of graphdiff.schedules.NoiseSchedule" in msg
    assert isinstance(info.value, PluginError) and not reg.entry("number").loaded


def test_an_import_failure_names_the_entry_the_location_and_the_origin() -> None:
    reg: Registry = Registry("metrics")
    reg.register("gone", "gdlazy_nowhere.metrics:score", origin="plugin 'x' (x-dist 2.0, entry point x = x.plugin)")
    for _ in range(2):  # raised again on each use, not cached
        with pytest.raises(LazyLoadError) as info:
            reg.get("gone")
        assert str(info.value) == ("plugin 'x' (x-dist 2.0, entry point x = x.plugin): cannot load metric 'gone' "
                                   "from gdlazy_nowhere.metrics:score: ModuleNotFoundError: No module named "
                                   "'gdlazy_nowhere'")
    assert info.value.origin.startswith("plugin 'x'") and info.value.detail.startswith("cannot load metric")
    with pytest.raises(UnknownNameError, match="did you mean 'gone'"):
        reg.get("gon")


def test_a_missing_attribute_is_reported(site: Path) -> None:
    write_module(site, PREFIX + "sched", SCHEDULES)
    reg: Registry = Registry("schedules")
    reg.register("typo", f"{PREFIX}sched:Quartr", origin="test")
    with pytest.raises(LazyLoadError, match="AttributeError: .*Quartr"):
        reg.get("typo")


def test_metadata_is_read_before_the_object(site: Path) -> None:
    write_module(site, PREFIX + "facts", '''
        class Thing:
            domain = "from-object"
            units = "m"
        THING = Thing()
    ''')
    reg: Registry = Registry("targets")
    reg.register("t", f"{PREFIX}facts:THING", metadata={"domain": "paths"})
    entry = reg.entry("t")
    assert entry.meta("domain") == "paths" and not entry.loaded
    assert entry.meta("units", "none", load=False) == "none" and not entry.loaded
    assert entry.meta("units") == "m" and entry.loaded  # not given: read from the object
    assert entry.meta("domain") == "paths"  # the metadata stays what was registered
    with pytest.raises(TypeError):
        entry.metadata["domain"] = "changed"  # type: ignore[index]


def test_objects_registered_as_such_still_work() -> None:
    reg: Registry = Registry("metrics", check=lambda name, obj: None)
    fn = lambda generated, reference: {"n": 1.0}  # noqa: E731
    assert reg.register("n", fn, description="count") is fn
    entry = reg.entry("n")
    assert entry.loaded and entry.lazy is None and entry.location is None and entry.obj is fn
    assert entry.meta("__name__") == "<lambda>"


def test_an_object_that_asks_for_itself_while_loading_is_an_error(site: Path) -> None:
    write_module(site, PREFIX + "loop", '''
        import graphdiff
        graphdiff.registry("metrics").get("loop")
        def metric(generated, reference):
            return {}
    ''')
    manager = PluginManager(autoload=False).load()
    reset_manager(manager)
    manager.registry("metrics").register("loop", f"{PREFIX}loop:metric", origin="test")
    with pytest.raises(LazyLoadError, match="asks for itself while it is being loaded"):
        manager.get("metrics", "loop")


# ---------------------------------------------------------------------------- plugins through entry points
LAZY_PLUGIN = '''
import graphdiff
from graphdiff.registry import factory
from graphdiff.targets import Target

EAGER = Target("lazy-eager", "paths", len, description="registered as an object", units="items")

@graphdiff.hookimpl
def register_schedules(register):
    register("lazy-quarter", "{pkg}.sched:Quarter", description="a quarter")

@graphdiff.hookimpl
def register_targets(register):
    register("lazy-size", factory("{pkg}.targets:make", "lazy-size"), description="number of items",
             domain="paths", units="items", differentiable=False)
    register("lazy-broken", "{pkg}.missing:TARGET", description="never loads", domain="paths")
    register("lazy-eager", EAGER)
'''

TARGETS = '''
from graphdiff.targets import Target

def make(name):
    return Target(name, "paths", len, description="number of items", units="items")
'''


@pytest.fixture
def lazy_plugin(site: Path) -> str:
    pkg = PREFIX + "paths"
    write_module(site, f"{pkg}.plugin", LAZY_PLUGIN.format(pkg=pkg))
    write_module(site, f"{pkg}.sched", SCHEDULES)
    write_module(site, f"{pkg}.targets", TARGETS)
    write_dist(site, "lazypaths", f"{pkg}.plugin", "gdlazy-paths", "0.3.0")
    return pkg


def test_a_plugin_registers_lazily_through_its_entry_point(lazy_plugin: str) -> None:
    pm = PluginManager(allow=["lazypaths"]).load()
    info = pm.plugins["lazypaths"]
    assert info.ok and info.distribution == "gdlazy-paths"
    assert info.registered == {"schedules": ["lazy-quarter"], "targets": ["lazy-size", "lazy-broken", "lazy-eager"]}
    assert f"{lazy_plugin}.sched" not in sys.modules and f"{lazy_plugin}.targets" not in sys.modules
    size = pm.registry("targets").entry("lazy-size")
    assert (size.meta("domain"), size.meta("units"), size.meta("differentiable")) == ("paths", "items", False)
    assert not size.loaded
    target = pm.get("targets", "lazy-size")
    assert target.name == "lazy-size" and target([1, 2, 3]) == 3.0
    assert pm.get("schedules", "lazy-quarter").__name__ == "Quarter"
    assert pm.get("targets", "lazy-eager").units == "items"  # an object registered as such


def test_a_broken_location_names_the_distribution_and_entry_point(lazy_plugin: str) -> None:
    pm = PluginManager(allow=["lazypaths"]).load()
    assert pm.plugins["lazypaths"].ok  # nothing is imported at start-up, so nothing failed yet
    with pytest.raises(LazyLoadError) as info:
        pm.get("targets", "lazy-broken")
    msg = str(info.value)
    assert ("plugin 'lazypaths' (gdlazy-paths 0.3.0, entry point lazypaths = gdlazy_paths.plugin)" in msg)
    assert f"cannot load target 'lazy-broken' from {lazy_plugin}.missing:TARGET: ModuleNotFoundError" in msg
    assert pm.get("targets", "lazy-size")([1]) == 1.0  # the plugin's other entries still work

    failures = pm.check()  # what `graphdiff plugins --check` runs
    assert len(failures) == 1 and "lazy-broken" in failures[0]
    assert pm.plugins["lazypaths"].errors == [
        f"register_targets: cannot load target 'lazy-broken' from {lazy_plugin}.missing:TARGET: "
        f"ModuleNotFoundError: No module named '{lazy_plugin}.missing'"]
    assert pm.plugins["graphdiff"].ok


def test_strict_check_raises(lazy_plugin: str) -> None:
    pm = PluginManager(allow=["lazypaths"], strict=True).load()
    with pytest.raises(LazyLoadError, match="lazy-broken"):
        pm.check()


def test_the_cli_lists_a_broken_location_and_check_reports_it(lazy_plugin: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHDIFF_PLUGINS", "lazypaths")
    reset_manager(None)
    runner = CliRunner()
    listed = runner.invoke(cli, ["targets", "--domain", "paths", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {r["name"]: r for r in json.loads(listed.stdout)["targets"]}
    assert set(rows) == {"lazy-size", "lazy-broken", "lazy-eager"}
    assert rows["lazy-size"] == {"name": "lazy-size", "domain": "paths", "differentiable": False,
                                 "units": "items", "description": "number of items"}
    # listed with what its registration says; the failure is a warning naming the plugin
    assert rows["lazy-broken"] == {"name": "lazy-broken", "domain": "paths", "differentiable": False,
                                   "units": "", "description": "never loads"}
    assert "warning: plugin 'lazypaths' (gdlazy-paths 0.3.0" in listed.stderr
    assert f"{lazy_plugin}.targets" not in sys.modules

    reset_manager(None)
    checked = runner.invoke(cli, ["plugins", "--check"])
    assert checked.exit_code == 1
    assert "ERROR: register_targets: cannot load target 'lazy-broken'" in checked.stdout

    reset_manager(None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the sample command builds its options quietly
        sample_help = runner.invoke(cli, ["sample", "--help"])
    assert sample_help.exit_code == 0


def test_a_plugin_command_is_imported_only_when_it_runs(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = PREFIX + "cmd"
    write_module(site, f"{pkg}.plugin", f'''
        import graphdiff

        @graphdiff.hookimpl
        def register_commands(register):
            register("hello", "{pkg}.command:hello", description="Say hello to the graphs.")
            register("broken", "{pkg}.nowhere:command", description="A command that does not load.")
    ''')
    write_module(site, f"{pkg}.command", '''
        import click

        @click.command("hello")
        @click.option("--name", default="graphs")
        def hello(name):
            """Say hello."""
            click.echo(f"hello {name}")
    ''')
    write_dist(site, "cmd", f"{pkg}.plugin", "gdlazy-cmd")
    monkeypatch.setenv("GRAPHDIFF_PLUGINS", "cmd")
    reset_manager(None)
    runner = CliRunner()
    top = runner.invoke(cli, ["--help"])
    assert top.exit_code == 0, top.output
    assert "hello        Say hello to the graphs." in top.stdout and "broken" in top.stdout
    assert f"{pkg}.command" not in sys.modules
    said = runner.invoke(cli, ["hello", "--name", "you"])
    assert said.exit_code == 0 and said.stdout == "hello you\n"
    failed = runner.invoke(cli, ["broken"])
    assert failed.exit_code == 2
    assert "error: plugin 'cmd' (gdlazy-cmd 1.0.0, entry point cmd = gdlazy_cmd.plugin): cannot load " \
           "command 'broken'" in failed.stderr


# ---------------------------------------------------------------------------- the core's own registrations
def test_builtin_tables_name_the_builtin_objects() -> None:
    from graphdiff.constraints import BUILTIN_CONSTRAINTS
    from graphdiff.nn import BUILTIN_DENOISERS
    from graphdiff.processes import BUILTIN_PROCESSES
    from graphdiff.schedules import BUILTIN_SCHEDULES

    pm = PluginManager(autoload=False).load()
    for kind, table, objects in (("schedules", builtins.SCHEDULES, BUILTIN_SCHEDULES),
                                 ("processes", builtins.PROCESSES, BUILTIN_PROCESSES),
                                 ("denoisers", builtins.DENOISERS, BUILTIN_DENOISERS)):
        assert set(table) == set(objects), kind
        for name, cls in objects.items():
            assert pm.get(kind, name) is cls
    assert set(builtins.CONSTRAINTS) == set(BUILTIN_CONSTRAINTS)
    for name, constraint in BUILTIN_CONSTRAINTS.items():
        assert pm.get("constraints", name) is constraint


# ---------------------------------------------------------------------------- predictor headers without torch
def test_predictor_headers_read_without_torch_match_torch() -> None:
    from importlib import resources

    from graphdiff.predictor_files import _plain_dict, read_header
    from graphdiff.predictors import predictor_header

    files = [Path(str(resources.files(pkg) / "predictors" / name))
             for pkg, name in (("graphdiff_crystals", "perov5-heat.pt"), ("graphdiff_molecules", "qm9-gap.pt"))]
    for path in files:
        _plain_dict(path)  # the light reader understands the file (no fallback to torch)
        assert read_header(path) == predictor_header(path)


def test_predictor_header_refuses_what_is_not_a_predictor(tmp_path: Path) -> None:
    import torch

    from graphdiff.predictor_files import read_header

    ckpt = tmp_path / "model.pt"
    torch.save({"format": "graphdiff-checkpoint", "state": {"w": torch.zeros(2)}}, ckpt)
    with pytest.raises(CheckpointError, match="a diffusion model checkpoint, not a predictor"):
        read_header(ckpt)
    text = tmp_path / "notes.pt"
    text.write_text("not an archive")
    with pytest.raises(CheckpointError, match="not a readable predictor"):
        read_header(text)  # left to the torch reader, which says what is wrong
    with pytest.raises(CheckpointError, match="no such predictor file"):
        read_header(tmp_path / "absent.pt")

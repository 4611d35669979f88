"""The plugin manager with real entry points: discovery, isolation of broken plugins, env vars.

Each test writes tiny plugin packages plus hand-made ``*.dist-info`` folders (METADATA and
entry_points.txt) into ``tmp_path`` and puts it on ``sys.path``, so ``importlib.metadata``
finds them exactly as it finds a pip-installed plugin.
"""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
import threading
import warnings
from pathlib import Path
from typing import Iterator

import pytest

import graphdiff
from graphdiff.errors import PluginError
from graphdiff.plugins import PluginManager, get_manager, manager as manager_module, reset_manager
from graphdiff.schedules import CosineSchedule, NoiseSchedule
from graphdiff.testing import isolated_manager

PREFIX = "gdtest_"
ENV_VARS = ("GRAPHDIFF_DISABLE_PLUGIN_AUTOLOAD", "GRAPHDIFF_PLUGINS", "GRAPHDIFF_STRICT_PLUGINS")

GOOD = '''
import torch
import graphdiff
from graphdiff.schedules import NoiseSchedule


class QuarterSchedule(NoiseSchedule):
    """alpha_bar(t) = 1 - 3t/4."""

    name = "quarter"

    def _alpha_bar(self, t):
        return 1 - 0.75 * t


@graphdiff.hookimpl
def register_schedules(register):
    register("{schedule}", QuarterSchedule, description="test schedule")


@graphdiff.hookimpl
def register_metrics(register):
    register("{schedule}-count", lambda generated, reference: {{"count": float(len(generated))}})
'''

BROKEN = {
    "import": ("gdbadimport", 'raise RuntimeError("boom at import time")\n',
               "failed to import: RuntimeError: boom at import time"),
    "signature": ("gdbadsig", '''
import graphdiff

@graphdiff.hookimpl
def register_schedules(register, extra):
    raise AssertionError("never called")
''', "invalid hook"),
    "unknown-hook": ("gdbadunknown", '''
import graphdiff

@graphdiff.hookimpl
def register_widgets(register):
    raise AssertionError("never called")
''', "unknown hook 'register_widgets'"),
    "duplicate": ("gdbaddup", '''
import graphdiff
from graphdiff.schedules import NoiseSchedule

class Impostor(NoiseSchedule):
    def _alpha_bar(self, t):
        return 1 - t

@graphdiff.hookimpl
def register_schedules(register):
    register("cosine", Impostor)
''', "'cosine' registered twice: first by graphdiff (built-in), again by plugin 'gdbaddup'"),
    "raises": ("gdbadraise", '''
import graphdiff

@graphdiff.hookimpl
def register_domains(register):
    raise ValueError("hook exploded")
''', "hook register_domains raised ValueError: hook exploded"),
    "wrong-type": ("gdbadtype", '''
import graphdiff

@graphdiff.hookimpl
def register_schedules(register):
    register("not-a-schedule", object())
''', "must be a subclass of graphdiff.schedules.NoiseSchedule"),
}


class DistWriter:
    """Writes plugin packages and their ``*.dist-info`` folders into one ``sys.path`` folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, ep_name: str, source: str, *, dist: str | None = None,
                 version: str = "1.0.0", module: str | None = None) -> str:
        """Write package ``gdtest_<ep_name>`` with ``plugin.py`` = ``source`` and a distribution
        declaring ``[graphdiff] ep_name = <module>``; returns the distribution name."""
        dist = dist or f"gdtest-{ep_name}"
        package = PREFIX + ep_name
        pkg_dir = self.root / package
        pkg_dir.mkdir(parents=True, exist_ok=True)
        (pkg_dir / "__init__.py").write_text("")
        (pkg_dir / "plugin.py").write_text(textwrap.dedent(source))
        info = self.root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(
            f"[graphdiff]\n{ep_name} = {module or package + '.plugin'}\n"
        )
        return dist


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No graphdiff env variables, and the process-wide manager restored afterwards."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    previous = manager_module._MANAGER
    yield
    reset_manager(previous)


@pytest.fixture
def write_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None) -> Iterator[DistWriter]:
    """A :class:`DistWriter` on a fresh ``sys.path`` folder; imported test modules are dropped after."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    before = set(sys.modules)
    yield DistWriter(root)
    for name in set(sys.modules) - before:
        if name.startswith(PREFIX):
            del sys.modules[name]
    importlib.invalidate_caches()


def load(**kwargs: object) -> PluginManager:
    """A loaded manager; the RuntimeWarnings it gives for broken plugins are expected here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return PluginManager(**kwargs).load()  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- discovery
def test_plugin_found_through_a_real_entry_point(write_plugin: DistWriter) -> None:
    dist = write_plugin("good", GOOD.format(schedule="quarter"), version="1.2.3")
    pm = load()  # plain discovery: every installed plugin, ours among them
    info = pm.plugins["good"]
    assert (info.distribution, info.version) == (dist, "1.2.3")
    assert info.module == "gdtest_good.plugin"
    assert not info.builtin and info.ok
    assert info.registered == {"schedules": ["quarter"], "metrics": ["quarter-count"]}
    assert [p.name for p in pm.list_plugins()][0] == "graphdiff"  # built-ins come first

    cls = pm.get("schedules", "quarter")
    assert issubclass(cls, NoiseSchedule) and cls.__module__ == "gdtest_good.plugin"
    assert float(cls().alpha_bar(0.5)) == pytest.approx(0.625)
    origin = pm.registry("schedules").entry("quarter").origin
    assert "gdtest-good 1.2.3" in origin and "entry point good = gdtest_good.plugin" in origin
    assert pm.get("metrics", "quarter-count")([1, 2, 3], []) == {"count": 3.0}

    d = info.to_dict()
    assert d["distribution"] == dist and d["version"] == "1.2.3"
    assert d["registered"] == {"metrics": ["quarter-count"], "schedules": ["quarter"]}


def test_plugin_usable_through_the_process_wide_manager(write_plugin: DistWriter) -> None:
    write_plugin("good", GOOD.format(schedule="quarter"))
    os.environ["GRAPHDIFF_PLUGINS"] = "good"  # restored by clean_env's monkeypatch
    reset_manager(None)
    try:
        assert "quarter" in graphdiff.registry("schedules")
        from graphdiff.schedules import build_schedule

        assert float(build_schedule("quarter").alpha_bar(1.0)) == pytest.approx(0.25)
    finally:
        del os.environ["GRAPHDIFF_PLUGINS"]


def test_new_plugin_seen_despite_stale_import_caches(write_plugin: DistWriter) -> None:
    write_plugin("first", GOOD.format(schedule="first-sched"))
    pm1 = load(allow=["first", "second"])
    assert set(pm1.plugins) == {"graphdiff", "first"}
    # Install a second plugin into the same folder but keep the folder's mtime, as on a file
    # system with coarse timestamps: importlib's path and metadata caches would look valid.
    root = write_plugin.root
    stat = root.stat()
    write_plugin("second", GOOD.format(schedule="second-sched"))
    os.utime(root, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    pm2 = load(allow=["first", "second"])
    assert set(pm2.plugins) == {"graphdiff", "first", "second"}
    assert pm2.plugins["second"].ok, pm2.errors
    assert "second-sched" in pm2.registry("schedules")


def test_plugin_looking_things_up_at_import_does_not_deadlock(write_plugin: DistWriter) -> None:
    write_plugin("eager", '''
import graphdiff

COSINE = graphdiff.registry("schedules").get("cosine")   # runs during discovery

@graphdiff.hookimpl
def register_metrics(register):
    register("eager-metric", lambda generated, reference: {})
''')
    os.environ["GRAPHDIFF_PLUGINS"] = "eager"
    reset_manager(None)
    result: dict[str, object] = {}
    thread = threading.Thread(target=lambda: result.update(pm=get_manager()), daemon=True)
    try:
        thread.start()
        thread.join(timeout=30)
    finally:
        del os.environ["GRAPHDIFF_PLUGINS"]
    assert not thread.is_alive(), "get_manager() deadlocked on a plugin that uses the registry at import"
    pm = result["pm"]
    assert isinstance(pm, PluginManager) and "eager-metric" in pm.registry("metrics")
    assert sys.modules["gdtest_eager.plugin"].COSINE is CosineSchedule


# ---------------------------------------------------------------------------- broken plugins
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_plugin_is_reported_and_the_others_load(write_plugin: DistWriter, case: str) -> None:
    ep, source, expected = BROKEN[case]
    bad_dist = write_plugin(ep, source, version="0.0.1")
    write_plugin("good", GOOD.format(schedule="quarter"))
    with pytest.warns(RuntimeWarning) as caught:
        pm = PluginManager(allow=[ep, "good"]).load()

    bad = pm.plugins[ep]
    assert not bad.ok
    assert any(expected in e for e in bad.errors), bad.errors
    # the message names the distribution and the entry point
    assert len(pm.errors) == 1
    (message,) = pm.errors
    assert f"{bad_dist} 0.0.1" in message
    assert f"entry point {ep} = {PREFIX}{ep}.plugin" in message
    assert any(f"{bad_dist} 0.0.1" in str(w.message) for w in caught)
    assert bad.to_dict()["errors"] == bad.errors

    # the good plugin and the built-ins are unaffected
    assert pm.plugins["good"].ok
    assert pm.get("schedules", "quarter").name == "quarter"
    assert pm.get("schedules", "cosine") is CosineSchedule
    assert pm.registry("schedules").entry("cosine").origin == "graphdiff (built-in)"


@pytest.mark.parametrize("case", sorted(BROKEN))
@pytest.mark.parametrize("how", ["argument", "env"])
def test_strict_mode_raises(write_plugin: DistWriter, monkeypatch: pytest.MonkeyPatch,
                            case: str, how: str) -> None:
    ep, source, expected = BROKEN[case]
    bad_dist = write_plugin(ep, source)
    write_plugin("good", GOOD.format(schedule="quarter"))
    if how == "env":
        monkeypatch.setenv("GRAPHDIFF_STRICT_PLUGINS", "1")
        pm = PluginManager(allow=[ep, "good"])
    else:
        pm = PluginManager(allow=[ep, "good"], strict=True)
    with pytest.raises(PluginError) as info:
        pm.load()
    msg = str(info.value)
    assert expected in msg
    assert bad_dist in msg and f"entry point {ep} = {PREFIX}{ep}.plugin" in msg


def test_strict_env_off_values(write_plugin: DistWriter, monkeypatch: pytest.MonkeyPatch) -> None:
    ep, source, _ = BROKEN["raises"]
    write_plugin(ep, source)
    monkeypatch.setenv("GRAPHDIFF_STRICT_PLUGINS", "0")
    pm = load(allow=[ep])
    assert not pm.plugins[ep].ok  # reported, not raised


def test_two_distributions_with_one_entry_point_name(write_plugin: DistWriter) -> None:
    write_plugin("twin", GOOD.format(schedule="twin-a"), dist="gdtest-twin-a")
    # the second distribution points the same entry-point name at another module
    other = write_plugin.root / "gdtest_twin_b"
    other.mkdir()
    (other / "__init__.py").write_text("")
    (other / "plugin.py").write_text(GOOD.format(schedule="twin-b"))
    info = write_plugin.root / "gdtest_twin_b-1.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gdtest-twin-b\nVersion: 1.0.0\n")
    (info / "entry_points.txt").write_text("[graphdiff]\ntwin = gdtest_twin_b.plugin\n")

    pm = load(allow=["twin"])
    assert pm.plugins["twin"].ok
    clashes = [p for key, p in pm.plugins.items() if key.startswith("twin#")]
    assert len(clashes) == 1 and "already named 'twin'" in clashes[0].errors[0]
    assert {pm.plugins["twin"].distribution, clashes[0].distribution} == {"gdtest-twin-a", "gdtest-twin-b"}
    # exactly one of the two registered its schedule
    assert len({"twin-a", "twin-b"} & set(pm.registry("schedules").names())) == 1


# ---------------------------------------------------------------------------- conflicts
CLAIM = '''
import graphdiff
from graphdiff.schedules import NoiseSchedule


class Claimed(NoiseSchedule):
    def _alpha_bar(self, t):
        return 1 - t


@graphdiff.hookimpl
def register_schedules(register):
    register("{own}", Claimed)
    register("shared", Claimed)
'''


@pytest.mark.parametrize("first,second", [("aaa", "zzz"), ("zzz", "aaa")])
def test_two_plugins_claiming_one_name_leave_it_unused(write_plugin: DistWriter, first: str,
                                                       second: str) -> None:
    from graphdiff.errors import AmbiguousNameError

    write_plugin(first, CLAIM.format(own=f"own-{first}"))
    write_plugin(second, CLAIM.format(own=f"own-{second}"))
    with pytest.warns(RuntimeWarning, match="'shared' is also registered by"):
        pm = PluginManager(allow=[first, second]).load()
    schedules = pm.registry("schedules")
    # neither wins, whichever sorts first: the name is out and a look-up names both plugins
    assert "shared" not in schedules and "shared" not in schedules.names()
    with pytest.raises(AmbiguousNameError) as info:
        schedules.get("shared")
    msg = str(info.value)
    assert "'shared' is ambiguous" in msg
    assert f"entry point aaa = {PREFIX}aaa.plugin" in msg and f"entry point zzz = {PREFIX}zzz.plugin" in msg
    assert schedules.ambiguous()["shared"] == [pm.plugins["aaa"].origin, pm.plugins["zzz"].origin]
    for name, other in (("aaa", "zzz"), ("zzz", "aaa")):
        plugin = pm.plugins[name]
        assert plugin.registered == {"schedules": [f"own-{name}"]}
        (err,) = plugin.errors
        assert "'shared' is also registered by" in err and f"gdtest-{other}" in err
        assert pm.get("schedules", f"own-{name}").__module__ == f"{PREFIX}{name}.plugin"


def test_a_third_claimant_is_named_too(write_plugin: DistWriter) -> None:
    from graphdiff.errors import AmbiguousNameError

    for name in ("p1", "p2", "p3"):
        write_plugin(name, CLAIM.format(own=f"own-{name}"))
    pm = load(allow=["p1", "p2", "p3"])
    with pytest.raises(AmbiguousNameError, match="registered by 3 plugins") as info:
        pm.get("schedules", "shared")
    assert all(f"gdtest-{n}" in str(info.value) for n in ("p1", "p2", "p3"))
    assert len(pm.plugins["p1"].errors) == 1 and "gdtest-p3" in pm.plugins["p1"].errors[0]


def test_strict_mode_refuses_a_name_two_plugins_claim(write_plugin: DistWriter) -> None:
    write_plugin("aaa", CLAIM.format(own="own-aaa"))
    write_plugin("zzz", CLAIM.format(own="own-zzz"))
    with pytest.raises(PluginError) as info:
        PluginManager(allow=["aaa", "zzz"], strict=True).load()
    assert "'shared' is also registered by" in str(info.value)
    assert "gdtest-aaa" in str(info.value) and "gdtest-zzz" in str(info.value)


def test_a_plugin_registering_its_own_name_twice_keeps_the_first(clean_env: None) -> None:
    class Plugin:
        @graphdiff.hookimpl
        def register_metrics(self, register):
            register("twice", lambda generated, reference: {"n": 1.0})
            register("twice", lambda generated, reference: {"n": 2.0})

    with pytest.warns(RuntimeWarning, match="registered twice"):
        pm = PluginManager(autoload=False)
        info = pm.add_plugin(Plugin(), "self-dup")
    assert pm.get("metrics", "twice")([], []) == {"n": 1.0}
    assert info.registered == {"metrics": ["twice"]} and len(info.errors) == 1


RAISES_LATE = '''
import graphdiff
from graphdiff.schedules import NoiseSchedule


class Half(NoiseSchedule):
    def _alpha_bar(self, t):
        return 1 - t / 2


@graphdiff.hookimpl
def register_schedules(register):
    register("half-a", Half)
    register("{claim}", Half)
    raise RuntimeError("hook broke halfway")


@graphdiff.hookimpl
def register_metrics(register):
    register("late-metric", lambda generated, reference: {{}})
'''


def test_a_hook_that_raises_keeps_nothing(write_plugin: DistWriter) -> None:
    write_plugin("late", RAISES_LATE.format(claim="half-b"))
    with pytest.warns(RuntimeWarning, match="hook broke halfway"):
        pm = PluginManager(allow=["late"]).load()
    info = pm.plugins["late"]
    (err,) = info.errors
    assert "hook register_schedules raised RuntimeError: hook broke halfway" in err
    assert "rolled back what it registered (half-a, half-b)" in err
    assert "half-a" not in pm.registry("schedules") and "half-b" not in pm.registry("schedules")
    assert info.registered == {"metrics": ["late-metric"]}  # its other hook stands
    assert "Traceback" in info.tracebacks[err] and "hook broke halfway" in info.tracebacks[err]


def test_a_hook_that_raises_undoes_the_clash_it_made(write_plugin: DistWriter) -> None:
    write_plugin("aaa", CLAIM.format(own="own-aaa"))
    write_plugin("zzz", RAISES_LATE.format(claim="shared"))
    pm = load(allow=["aaa", "zzz"])
    # the failed hook's claim is gone, so the name stays with the plugin that registered it
    assert pm.get("schedules", "shared").__module__ == f"{PREFIX}aaa.plugin"
    assert pm.plugins["aaa"].ok and pm.registry("schedules").ambiguous() == {}
    assert len(pm.plugins["zzz"].errors) == 1


def test_plugins_command_shows_the_exception_and_with_debug_the_traceback(
        write_plugin: DistWriter, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from graphdiff.cli import cli

    write_plugin("late", RAISES_LATE.format(claim="half-b"))
    monkeypatch.setenv("GRAPHDIFF_PLUGINS", "late")
    monkeypatch.setenv("GRAPHDIFF_DEBUG", "0")  # off; restored (unset) after the test
    reset_manager(load())
    plain = CliRunner().invoke(cli, ["plugins"])
    assert plain.exit_code == 0
    assert "ERROR: hook register_schedules raised RuntimeError: hook broke halfway" in plain.output
    assert "Traceback" not in plain.output and "--debug" in plain.output
    assert "tracebacks" not in CliRunner().invoke(cli, ["plugins", "--json"]).output
    debug = CliRunner().invoke(cli, ["--debug", "plugins"])
    assert "Traceback (most recent call last)" in debug.output and 'raise RuntimeError("hook broke' in debug.output


# ---------------------------------------------------------------------------- environment
def test_disable_autoload_env_gives_only_builtins(write_plugin: DistWriter,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    write_plugin("good", GOOD.format(schedule="quarter"))
    monkeypatch.setenv("GRAPHDIFF_DISABLE_PLUGIN_AUTOLOAD", "1")
    pm = load()
    assert not pm.autoload
    assert list(pm.plugins) == ["graphdiff"]
    assert "quarter" not in pm.registry("schedules")
    assert "cosine" in pm.registry("schedules")
    # an explicit argument wins over the environment
    assert "good" in load(autoload=True, allow=["good"]).plugins


def test_allow_list_env_loads_only_named_plugins(write_plugin: DistWriter,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    write_plugin("a", GOOD.format(schedule="sched-a"))
    write_plugin("b", GOOD.format(schedule="sched-b"))
    monkeypatch.setenv("GRAPHDIFF_PLUGINS", "a")
    pm = load()
    assert set(pm.plugins) == {"graphdiff", "a"}
    assert "sched-a" in pm.registry("schedules") and "sched-b" not in pm.registry("schedules")
    assert "gdtest_b.plugin" not in sys.modules  # not even imported

    monkeypatch.setenv("GRAPHDIFF_PLUGINS", " a , b ")
    assert set(load().plugins) == {"graphdiff", "a", "b"}


def test_allow_list_names_a_missing_plugin(write_plugin: DistWriter,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    write_plugin("a", GOOD.format(schedule="sched-a"))
    monkeypatch.setenv("GRAPHDIFF_PLUGINS", "a,nosuchplugin")
    with pytest.warns(RuntimeWarning, match="GRAPHDIFF_PLUGINS names 'nosuchplugin'"):
        pm = PluginManager().load()
    assert set(pm.plugins) == {"graphdiff", "a"}


# ---------------------------------------------------------------------------- plugins added by hand
def test_add_plugin_before_load_runs_hooks_once(clean_env: None) -> None:
    calls: list[str] = []

    class Plugin:
        @graphdiff.hookimpl
        def register_metrics(self, register):
            calls.append("metrics")
            register("always-one", lambda generated, reference: {"one": 1.0})

        @graphdiff.hookimpl
        def register_targets(self):  # declares no argument: still called, with none
            calls.append("targets")

    pm = PluginManager(autoload=False)
    info = pm.add_plugin(Plugin(), "by-hand", distribution="my-dist", version="2.0")
    pm.load()
    assert sorted(calls) == ["metrics", "targets"]
    assert info.ok, info.errors
    assert info.registered == {"metrics": ["always-one"]}
    assert "my-dist 2.0" in info.origin
    with pytest.raises(PluginError, match="already loaded"):
        pm.add_plugin(Plugin(), "by-hand")


def test_isolated_manager_is_installed_and_restored(clean_env: None) -> None:
    class Plugin:
        @graphdiff.hookimpl
        def register_metrics(self, register):
            register("iso-metric", lambda generated, reference: {})

    outer = PluginManager(autoload=False).load()
    reset_manager(outer)
    with isolated_manager(Plugin()) as pm:
        assert get_manager() is pm and pm is not outer
        assert not pm.autoload and "iso-metric" in graphdiff.registry("metrics")
        assert "Plugin" in pm.plugins
    assert get_manager() is outer
    assert "iso-metric" not in outer.registry("metrics")


def test_graphdiff_plugins_fixture(graphdiff_plugins, clean_env: None) -> None:
    class Plugin:
        @graphdiff.hookimpl
        def register_metrics(self, register):
            register("fixture-metric", lambda generated, reference: {})

    pm = graphdiff_plugins(Plugin(), builtins=False)
    assert get_manager() is pm
    assert list(pm.plugins) == ["Plugin"]
    assert pm.registry("schedules").names() == []
    assert pm.registry("metrics").names() == ["fixture-metric"]
    strict = graphdiff_plugins(strict=True)
    assert strict.strict and get_manager() is strict


def test_plugins_add_commands_to_the_cli():
    """A registered click command becomes a ``graphdiff`` subcommand; a core name is not taken."""
    import click
    from click.testing import CliRunner

    from graphdiff.cli import cli
    from graphdiff.plugins import get_manager

    @click.command("hello-plugin")
    @click.option("--name", default="world")
    def hello(name):
        click.echo(f"hello {name}")

    @click.command("train")
    def fake_train():
        click.echo("plugin train")

    registry = get_manager().registry("commands")
    registry.register("hello-plugin", hello, origin="test")
    registry.register("train", fake_train, origin="test")
    try:
        res = CliRunner().invoke(cli, ["hello-plugin", "--name", "graphs"])
        assert res.exit_code == 0 and res.output == "hello graphs\n"
        assert "hello-plugin" in CliRunner().invoke(cli, ["--help"]).output
        res = CliRunner().invoke(cli, ["train", "--help"])
        assert "plugin train" not in res.output and "CONFIG" in res.output
    finally:
        registry.unregister_origin("test")
    assert CliRunner().invoke(cli, ["hello-plugin"]).exit_code != 0

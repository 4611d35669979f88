"""Typed registries: look-up, clear errors for unknown and duplicate names, type checks."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import graphdiff
from graphdiff.errors import DuplicateNameError, GraphdiffError, RegistryError, UnknownNameError
from graphdiff.plugins import PluginManager
from graphdiff.registry import KINDS, Registry
from graphdiff.schedules import CosineSchedule, NoiseSchedule, build_schedule

NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_0123456789", min_size=1, max_size=12)


class HalfSchedule(NoiseSchedule):
    """ᾱ(t) = 1 − t/2 (a schedule that never reaches pure noise; fine for a test)."""

    name = "half"

    def _alpha_bar(self, t: torch.Tensor) -> torch.Tensor:
        return 1 - 0.5 * t


@pytest.fixture
def manager() -> PluginManager:
    """A loaded manager with built-ins only (no entry-point discovery)."""
    return PluginManager(autoload=False, strict=False).load()


# ---------------------------------------------------------------------------- Registry itself
def test_register_and_look_up() -> None:
    reg: Registry[int] = Registry("widgets")
    assert reg.register("one", 1, origin="plugin a", description="the first") == 1
    reg.register("two", 2, origin="plugin b")
    assert reg.get("one") == 1
    assert reg["two"] == 2
    assert "one" in reg and "three" not in reg
    assert len(reg) == 2
    assert list(reg) == ["one", "two"] == reg.names()
    entry = reg.entry("one")
    assert (entry.name, entry.obj, entry.origin, entry.description) == ("one", 1, "plugin a", "the first")
    assert [e.name for e in reg.entries()] == ["one", "two"]
    assert "widgets" in repr(reg) and "one" in repr(reg)


def test_unknown_name_lists_valid_names_and_close_match() -> None:
    reg: Registry[type] = Registry("schedules")
    for name in ("cosine", "linear", "sigmoid"):
        reg.register(name, object, origin="test")
    with pytest.raises(UnknownNameError) as info:
        reg.get("cosin")
    msg = str(info.value)
    assert "unknown schedule 'cosin'" in msg
    assert "did you mean 'cosine'?" in msg
    assert "Valid names: cosine, linear, sigmoid" in msg
    # entry() reports the same way; the error is a KeyError and a GraphdiffError
    with pytest.raises(KeyError, match="did you mean 'linear'"):
        reg.entry("lineer")
    assert isinstance(info.value, GraphdiffError) and isinstance(info.value, RegistryError)
    # str() is the plain message (KeyError would otherwise wrap it in quotes)
    assert not msg.startswith(("'", '"'))


def test_unknown_name_without_close_match_and_empty_registry() -> None:
    reg: Registry[int] = Registry("metrics")
    with pytest.raises(UnknownNameError, match=r"\(none registered\)"):
        reg.get("mmd")
    reg.register("wasserstein", 1)
    with pytest.raises(UnknownNameError) as info:
        reg.get("zzz")
    assert "did you mean" not in str(info.value)
    assert "Valid names: wasserstein" in str(info.value)


@given(names=st.sets(NAMES, min_size=1, max_size=8), probe=NAMES)
def test_unknown_message_always_lists_every_valid_name(names: set[str], probe: str) -> None:
    reg: Registry[str] = Registry("domains")
    for n in names:
        reg.register(n, n, origin="test")
    if probe in names:
        assert reg.get(probe) == probe
        return
    with pytest.raises(UnknownNameError) as info:
        reg.get(probe)
    msg = str(info.value)
    assert msg.endswith("Valid names: " + ", ".join(sorted(names)))
    assert f"unknown domain {probe!r}" in msg


@given(name=NAMES)
def test_one_letter_typo_suggests_the_name(name: str) -> None:
    reg: Registry[int] = Registry("denoisers")
    reg.register(name + "net", 1)
    reg.register("zzzzzzzzzzzzzzzzzzzz", 2)
    typo = name + "nte"  # a transposition
    with pytest.raises(UnknownNameError, match=f"did you mean {(name + 'net')!r}"):
        reg.get(typo)


def test_duplicate_names_both_origins() -> None:
    reg: Registry[int] = Registry("schedules")
    reg.register("cosine", 1, origin="graphdiff (built-in)")
    with pytest.raises(DuplicateNameError) as info:
        reg.register("cosine", 2, origin="plugin 'mine' (my-dist 1.0)")
    msg = str(info.value)
    assert "'cosine' registered twice" in msg
    assert "first by graphdiff (built-in)" in msg
    assert "again by plugin 'mine' (my-dist 1.0)" in msg
    assert reg.get("cosine") == 1  # the first registration stays


def test_an_ambiguous_name_is_out_and_names_every_claimant() -> None:
    from graphdiff.errors import AmbiguousNameError

    reg: Registry[int] = Registry("metrics")
    reg.register("mmd", 1, origin="plugin 'a'")
    reg.register("other", 3, origin="plugin 'a'")
    assert reg.mark_ambiguous("mmd", "plugin 'b'") == ["plugin 'a'", "plugin 'b'"]
    assert "mmd" not in reg and reg.names() == ["other"]
    for look_up in (reg.get, reg.entry):
        with pytest.raises(AmbiguousNameError, match="'mmd' is ambiguous.*plugin 'a'; plugin 'b'"):
            look_up("mmd")
    with pytest.raises(DuplicateNameError, match="already claimed by plugin 'a' and plugin 'b'"):
        reg.register("mmd", 2, origin="plugin 'c'")
    assert reg.ambiguous() == {"mmd": ["plugin 'a'", "plugin 'b'"]}
    assert reg.claimants("mmd") == ["plugin 'a'", "plugin 'b'"]
    assert (reg.claimants("other"), reg.claimants("nothing")) == (["plugin 'a'"], [])


def test_snapshot_and_restore_undo_registrations_and_ambiguities() -> None:
    reg: Registry[int] = Registry("metrics")
    reg.register("kept", 1, origin="a")
    saved = reg.snapshot()
    reg.register("new", 2, origin="b")
    reg.mark_ambiguous("kept", "b")
    assert reg.restore(saved) == ["new"]
    assert reg.names() == ["kept"] and reg.get("kept") == 1 and reg.ambiguous() == {}


@pytest.mark.parametrize("bad", ["", "   ", None, 3])
def test_bad_names_rejected(bad: object) -> None:
    reg: Registry[int] = Registry("targets")
    with pytest.raises(ValueError, match="non-empty string"):
        reg.register(bad, 1)  # type: ignore[arg-type]
    assert len(reg) == 0


def test_check_runs_before_accepting() -> None:
    def positive(name: str, obj: int) -> None:
        if obj <= 0:
            raise ValueError(f"{name!r} must be positive, got {obj}")

    reg: Registry[int] = Registry("numbers", check=positive)
    reg.register("ok", 3)
    with pytest.raises(ValueError, match="'bad' must be positive, got -1"):
        reg.register("bad", -1)
    assert "bad" not in reg


def test_unregister_origin_drops_only_that_origin() -> None:
    reg: Registry[int] = Registry("metrics")
    reg.register("a", 1, origin="p1")
    reg.register("b", 2, origin="p2")
    reg.register("c", 3, origin="p1")
    reg.unregister_origin("p1")
    assert reg.names() == ["b"]


# ---------------------------------------------------------------------------- the manager's typed registries
def test_every_kind_has_a_registry(manager: PluginManager) -> None:
    for kind in KINDS:
        assert manager.registry(kind).kind == kind
    with pytest.raises(GraphdiffError, match="unknown extension kind 'schedule'.*schedules"):
        manager.registry("schedule")


def test_builtin_schedules_are_registered(manager: PluginManager) -> None:
    schedules = manager.registry("schedules")
    assert {"cosine", "linear", "polynomial", "sigmoid"} <= set(schedules.names())
    assert manager.get("schedules", "cosine") is CosineSchedule
    assert schedules.entry("cosine").origin == "graphdiff (built-in)"
    assert schedules.entry("cosine").description  # the first docstring line
    with pytest.raises(UnknownNameError, match="did you mean 'sigmoid'"):
        manager.get("schedules", "sigmod")


@pytest.mark.parametrize(
    ("kind", "obj", "expected"),
    [
        ("schedules", object(), "must be a subclass of graphdiff.schedules.NoiseSchedule"),
        ("schedules", CosineSchedule(), "must be a subclass of graphdiff.schedules.NoiseSchedule"),
        ("schedules", int, "must be a subclass of graphdiff.schedules.NoiseSchedule"),
        ("domains", object(), "must be an instance of graphdiff.domain.Domain, got object"),
        ("targets", "energy", "must be an instance of graphdiff.targets.Target, got str"),
        ("metrics", 42, "must be callable, got int"),
        ("objectives", 1.5, "must be callable, got float"),
        ("encoders", dict, "must be a subclass of torch.nn.Module"),
        ("denoisers", torch.nn.Linear, "must be a subclass of graphdiff.nn.base.Denoiser"),
    ],
)
def test_wrong_type_is_rejected_with_a_clear_message(
    manager: PluginManager, kind: str, obj: object, expected: str
) -> None:
    with pytest.raises(TypeError) as info:
        manager.registry(kind).register("thing", obj, origin="test")
    assert expected in str(info.value)
    assert "'thing'" in str(info.value)
    assert "thing" not in manager.registry(kind)


def test_right_type_is_accepted(manager: PluginManager) -> None:
    manager.registry("schedules").register("half", HalfSchedule, origin="test")
    manager.registry("encoders").register("linear", torch.nn.Linear, origin="test")
    manager.registry("metrics").register("count", lambda gen, ref: {"n": len(gen)}, origin="test")
    assert manager.get("schedules", "half") is HalfSchedule
    assert manager.get("metrics", "count")([1, 2], [])["n"] == 2


def test_registered_schedule_usable_through_the_public_api(graphdiff_plugins) -> None:
    class Plugin:
        @graphdiff.hookimpl
        def register_schedules(self, register):
            register("half", HalfSchedule, description="test schedule")

    pm = graphdiff_plugins(Plugin())
    assert graphdiff.registry("schedules") is pm.registry("schedules")
    sched = build_schedule("half")
    assert isinstance(sched, HalfSchedule)
    assert torch.allclose(sched.alpha_bar(torch.tensor([0.0, 0.5, 1.0])),
                          torch.tensor([1.0, 0.75, 0.5], dtype=torch.float64))
    assert pm.plugins["Plugin"].registered == {"schedules": ["half"]}
    with pytest.raises(UnknownNameError, match="did you mean 'half'"):
        build_schedule("halt")

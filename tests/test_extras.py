import re
from pathlib import Path

import pytest

import graphdiff
from graphdiff.extras import Extra, MissingExtraError, UnknownExtraError, declared, missing, require


class Phantom:
    """A plugin declaring one feature whose module is missing and one whose modules are there."""

    __name__ = "phantom"

    @graphdiff.hookimpl
    def register_extras(self, register):
        register("phantom", Extra(("graphdiff_no_such_module",), "pip install graphdiff-phantom", "a phantom part"))
        register("phantom-ok", Extra(("json",), "pip install graphdiff-phantom", "a part that is there"))


def test_installed_extra_passes():
    require("plots")  # matplotlib is a core dependency of the figures


def test_a_plugin_declares_its_extras_and_require_finds_them(graphdiff_plugins):
    graphdiff_plugins(Phantom())
    assert {"phantom", "phantom-ok", "plots"} <= set(declared())
    require("phantom-ok", "plots")
    assert missing("plots", "phantom", "phantom-ok") == ["phantom"]
    with pytest.raises(MissingExtraError) as err:
        require("plots", "phantom")
    msg = str(err.value)
    assert "pip install graphdiff-phantom" in msg and "graphdiff_no_such_module" in msg
    assert isinstance(err.value, ImportError)


def test_unknown_extra_is_a_key_error():
    with pytest.raises(KeyError, match="known") as err:
        require("crystal")
    assert "did you mean 'crystals'" in str(err.value)  # the crystals plugin is installed here


def test_a_plugin_that_is_not_installed_declares_nothing(graphdiff_plugins):
    graphdiff_plugins()  # the core's built-ins only
    assert set(declared()) == {"notebooks", "orbits", "periodic", "plots"}
    with pytest.raises(UnknownExtraError, match="install the plugin that provides") as err:
        require("crystals", "plots")
    assert isinstance(err.value, ImportError) and isinstance(err.value, KeyError)
    assert "'crystals'" in str(err.value) and "plugin discovery is off" in str(err.value)


def test_the_core_names_no_plugin_package():
    source = (Path(graphdiff.__file__).parent / "extras.py").read_text(encoding="utf-8")
    assert not re.search(r"graphdiff[-_](crystals|molecules|social|traffic)", source)
